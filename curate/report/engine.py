"""``Workspace.report``: write the curation report of a version (HTML or Markdown).

The file is written under a temporary name and renamed into place, so an
interrupted report never leaves half a file behind (an older report at the
same path stays as it was until the new one is complete).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from curate.errors import InvalidInput
from curate.outputs import check_output_file, output_errors
from curate.report.collect import collect
from curate.report.models import ReportFormat, ReportRequest, ReportResult, ReportStep
from curate.report.render import render_html, render_markdown

if TYPE_CHECKING:
    from curate.api import Workspace
    from curate.evaluate.models import EvaluationResult

_SUFFIXES = {".html": ReportFormat.HTML, ".htm": ReportFormat.HTML, ".md": ReportFormat.MARKDOWN}


def report_format(out: Path, fmt: ReportFormat | str | None) -> ReportFormat:
    if fmt is not None:
        try:
            return ReportFormat(fmt)
        except ValueError:
            raise InvalidInput(f"unknown report format {fmt!r}: use html or md") from None
    found = _SUFFIXES.get(out.suffix.lower())
    if found is None:
        raise InvalidInput(
            f"cannot tell the report format from {out.name!r}",
            hint="name the file .html or .md, or pass --format",
        )
    return found


def check_report_out(path: Path) -> None:
    """Raise unless a report can be written at ``path`` (missing folders are made)."""
    if path.is_dir():
        raise InvalidInput(f"{path} is a folder; name the report file, e.g. {path}/report.html")
    check_output_file(path)


@contextmanager
def _cleanup(tmp: Path, path: Path) -> Iterator[None]:
    """Remove the temporary report file and assets folder, whatever happens."""
    try:
        yield
    finally:
        tmp.unlink(missing_ok=True)
        shutil.rmtree(path.with_name(f".{path.stem}_files.tmp-{os.getpid()}"), ignore_errors=True)


def write_report(
    ws: Workspace,
    request: ReportRequest,
    out: str | Path,
    *,
    evaluation: EvaluationResult | None = None,
    steps: list[ReportStep] | None = None,
    notes: list[str] | None = None,
) -> ReportResult:
    started = time.perf_counter()
    path = Path(out)
    fmt = report_format(path, request.format)
    check_report_out(path)
    data = collect(ws, request, evaluation=evaluation, steps=steps, notes=notes)
    if evaluation is not None and evaluation.candidate != data.version.name:
        raise InvalidInput(
            f"the evaluation is of {evaluation.candidate}, the report of {data.version.name}"
        )
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    assets: Path | None = None
    with output_errors(out), _cleanup(tmp, path):
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt is ReportFormat.HTML:
            text, n_images, sections = render_html(data)
        else:
            assets = path.with_name(f"{path.stem}_files")
            tmp_assets = path.with_name(f".{assets.name}.tmp-{os.getpid()}")
            shutil.rmtree(tmp_assets, ignore_errors=True)
            tmp_assets.mkdir()

            def write_asset(name: str, content: bytes) -> None:
                (tmp_assets / name).write_bytes(content)

            text, n_images, sections = render_markdown(data, assets.name, write_asset)
        tmp.write_text(text, encoding="utf-8")
        if assets is not None:
            shutil.rmtree(assets, ignore_errors=True)
            tmp_assets.rename(assets)
        os.replace(tmp, path)
    ev = evaluation
    summary: dict = {
        "samples": data.version.stats.samples,
        "against_samples": data.against.stats.samples if data.against else None,
        "issues": data.issue_counts,
        "made": data.lineage.get("origins", {}),
    }
    if ev is not None:
        summary["accuracy"] = {a.role: a.accuracy for a in ev.arms}
        summary["macro_f1"] = {a.role: a.macro_f1 for a in ev.arms}
        summary["gap_closed_accuracy"] = ev.gap_closed_accuracy
        summary["gap_closed_macro_f1"] = ev.gap_closed_macro_f1
    return ReportResult(
        path=str(path.absolute()),
        format=fmt,
        version=data.version.name,
        against=data.against.name if data.against else None,
        assets=str(assets.absolute()) if assets is not None else None,
        sections=sections,
        images=n_images,
        bytes=path.stat().st_size,
        evaluation=ev is not None,
        seconds=round(time.perf_counter() - started, 3),
        summary=summary,
    )
