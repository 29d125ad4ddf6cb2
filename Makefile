.PHONY: test lint format bench sample-data

test:
	python -m pytest -q

lint:
	ruff check curate plugins tests benchmarks
	ruff format --check curate plugins tests benchmarks

format:
	ruff format curate plugins tests benchmarks
	ruff check --fix curate plugins tests benchmarks

bench:
	for b in benchmarks/bench_*.py; do python $$b || exit 1; done

sample-data:
	python sample_data/build.py
