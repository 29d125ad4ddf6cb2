"""`curate report`: the curation report of a version, as self-contained HTML or Markdown."""

from __future__ import annotations

from pathlib import Path

import click

from curate.cli.evaluate import classifier_config, classifier_options, truth_options
from curate.cli.render import (
    emit_json,
    json_option,
    on_interrupt,
    open_workspace,
    progress_bar,
    warn_pending_changes,
)
from curate.errors import InvalidInput


def _first_problem(exc: ValueError) -> str:
    """One line from a pydantic error: the first field and what is wrong with it."""
    errors = getattr(exc, "errors", None)
    if callable(errors) and errors():
        first = errors()[0]
        where = ".".join(map(str, first.get("loc", ())))
        return f"{where}: {first['msg']}" if where else first["msg"]
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# The report is written aside and renamed in once complete.
REPORT_INTERRUPTED = "interrupted: no report was written; the previous one, if any, is untouched"


@click.command("report")
@click.argument("version", default="HEAD")
@click.option(
    "--against", default=None, help="Version to compare with. Default: the first version."
)
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(dir_okay=False),
    help="Report file: .html (self-contained, images embedded) or .md (+ NAME_files/).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "md"]),
    default=None,
    help="Override the format the suffix of --out implies.",
)
@click.option(
    "--evaluate",
    "run_evaluation",
    is_flag=True,
    help="Run `curate evaluate VERSION --against ...` and include its table.",
)
@truth_options
@classifier_options
@click.option(
    "--evaluation",
    "evaluation_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Include an evaluation saved by `curate evaluate --out FILE` instead of running one.",
)
@click.option(
    "--top-issues",
    type=click.IntRange(min=0, max=200),
    default=12,
    show_default=True,
    help="Label issues shown as thumbnails.",
)
@click.option(
    "--examples",
    type=click.IntRange(min=0, max=64),
    default=8,
    show_default=True,
    help="Augmented / synthetic examples shown per class.",
)
@json_option
@click.pass_context
def report_cmd(
    ctx,
    version: str,
    against: str | None,
    out: str,
    fmt: str | None,
    run_evaluation: bool,
    truth: str | None,
    truth_column: str | None,
    epochs: int | None,
    seeds: int | None,
    hidden: int | None,
    evaluation_file: str | None,
    top_issues: int,
    examples: int,
    as_json: bool,
) -> None:
    """Write the curation report of VERSION (default HEAD) against --against.

    Class distribution before and after (charts), the scan's issues and the
    decisions taken, thumbnails of the top label issues with given and
    suggested labels, augmented and synthetic counts per class with example
    grids, the diff and lineage totals; with --evaluate (or --evaluation
    FILE) the raw / curated / oracle accuracy table.
    """
    from curate.evaluate import EvaluationResult
    from curate.report.engine import check_report_out, report_format

    report_format(Path(out), fmt)  # a bad --out fails now, not after the evaluation
    check_report_out(Path(out))
    if run_evaluation and evaluation_file:
        raise InvalidInput("pass --evaluate or --evaluation FILE, not both")
    if (truth or epochs or seeds or hidden) and not run_evaluation:
        raise InvalidInput("--truth and the classifier options need --evaluate")
    evaluation = None
    if evaluation_file:
        try:
            evaluation = EvaluationResult.model_validate_json(Path(evaluation_file).read_text())
        except ValueError as exc:
            raise InvalidInput(
                f"{evaluation_file} is not an evaluation saved by `curate evaluate --out`",
                hint=_first_problem(exc),
            ) from None
    with open_workspace(ctx) as ws, on_interrupt(REPORT_INTERRUPTED):
        warn_pending_changes(ws, version)
        if run_evaluation:
            base = against
            if base is None:
                # the report's own default: the first version
                head = ws.version(version).version_id
                first = min((v.version_id for v in ws.log() if v.version_id < head), default=None)
                base = None if first is None else f"v{first}"
            with progress_bar("evaluate") as bar:
                evaluation = ws.evaluate(
                    version,
                    against=base,
                    truth=truth,
                    truth_column=truth_column,
                    classifier=classifier_config(epochs, seeds, hidden),
                    progress=bar,
                )
        result = ws.report(
            version,
            against=against,
            out=out,
            format=fmt,
            evaluation=evaluation,
            top_issues=top_issues,
            examples_per_class=examples,
        )
    if as_json:
        emit_json(result)
        return
    extra = f" and {result.assets}" if result.assets else ""
    click.echo(
        f"Wrote {result.path}{extra}: {len(result.sections)} sections, {result.images} images"
        + (", with the evaluation table" if result.evaluation else "")
    )
