"""Ingest throughput vs its floor, and catalog insert rate.

    python benchmarks/bench_ingest.py [--files 50000] [--rows 1000000]

1. Writes N small PNGs (28x28 grayscale, 10 class folders) to a temp folder.
2. Times the floor in the same run: read + sha256 + full Pillow decode of every
   file with the same thread pool the engine uses (what ingest cannot avoid).
3. Times `curate ingest` (Workspace.ingest) of the folder; reports files/s and
   the ratio to the floor.
4. Times catalog inserts alone: commit_batch() of pre-built Arrow rows (no
   pixels), in the engine's batch size, into a fresh catalog -> rows/s.
Prints a table and a JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image

from curate.api import Workspace
from curate.ingest.decode import inspect_image
from curate.ingest.engine import BATCH_SIZE, READ_THREADS
from curate.store import ingest_repo


def make_pngs(root: Path, n: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        arr = rng.integers(0, 256, (28, 28), dtype=np.uint8)
        path = root / str(i % 10) / f"{i:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(path)
        paths.append(path)
    return paths


def floor(paths: list[Path]) -> float:
    def work(p: Path) -> str:
        data = p.read_bytes()
        inspect_image(data)
        return hashlib.sha256(data).hexdigest()

    start = time.perf_counter()
    with ThreadPoolExecutor(READ_THREADS) as pool:
        for _ in pool.map(work, paths, chunksize=256):
            pass
    return time.perf_counter() - start


def catalog_inserts(tmp: Path, rows: int) -> float:
    ws = Workspace.init(tmp / "ws-inserts")
    rng = np.random.default_rng(1)
    batches = []
    for start in range(0, rows, BATCH_SIZE):
        n = min(BATCH_SIZE, rows - start)
        ids = [
            hashlib.sha256(int(x).to_bytes(8, "little")).hexdigest()
            for x in range(start, start + n)
        ]
        batches.append(
            pa.table(
                {
                    "sample_id": ids,
                    "uri": [f"/data/{i}.png" for i in range(start, start + n)],
                    "label": [str(x) for x in rng.integers(0, 10, n)],
                    "split": [None] * n,
                    "width": pa.array([28] * n, pa.int32()),
                    "height": pa.array([28] * n, pa.int32()),
                    "channels": pa.array([1] * n, pa.int8()),
                    "mode": ["L"] * n,
                    "format": ["PNG"] * n,
                    "nbytes": pa.array([800] * n, pa.int64()),
                    "pack": ["pack-bench.pack"] * n,
                    "pack_offset": pa.array(range(start * 800, (start + n) * 800, 800), pa.int64()),
                    "sid": pa.nulls(n, pa.int64()),
                },
                schema=ingest_repo.INCOMING_SCHEMA,
            )
        )
    with ws.writing() as cat:
        ingest_id = ingest_repo.begin_ingest(cat, "bench", "imagefolder", {})
        start = time.perf_counter()
        for batch in batches:
            ingest_repo.commit_batch(cat, ingest_id, batch, [])
        seconds = time.perf_counter() - start
        assert cat.scalar("SELECT count(*) FROM samples") == rows
    ws.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        t0 = time.perf_counter()
        paths = make_pngs(tmp / "src", args.files)
        gen = time.perf_counter() - t0
        floor_s = floor(paths)
        ws = Workspace.init(tmp / "ws")
        t0 = time.perf_counter()
        report = ws.ingest(tmp / "src")
        ingest_s = time.perf_counter() - t0
        assert report.added_samples == args.files, report
        ws.close()
        insert_s = catalog_inserts(tmp, args.rows)
    result = {
        "files": args.files,
        "generate_s": round(gen, 2),
        "floor_files_per_s": round(args.files / floor_s),
        "ingest_files_per_s": round(args.files / ingest_s),
        "ingest_vs_floor": round(floor_s / ingest_s, 3),
        "catalog_rows": args.rows,
        "catalog_rows_per_s": round(args.rows / insert_s),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }
    print(f"floor (read+sha256+decode): {result['floor_files_per_s']:>9,} files/s")
    print(
        f"curate ingest:              {result['ingest_files_per_s']:>9,} files/s  ({result['ingest_vs_floor']:.2f}x the floor)"
    )
    print(
        f"catalog inserts:            {result['catalog_rows_per_s']:>9,} rows/s  (target >= 200,000)"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
