"""`curate scan`, `curate issues`, `curate extractors`."""

from __future__ import annotations

import os
import sys

import click

from curate.cli.engine_options import engine_options
from curate.cli.render import (
    emit_json,
    json_option,
    on_interrupt,
    open_workspace,
    parse_key_values,
    progress_bar,
    stderr_console,
)

KINDS = ["label", "near_duplicate", "duplicate", "outlier", "quality", "conflict"]


def _stdout_console():
    console = stderr_console()
    console.file = sys.stdout
    return console


@click.command("scan")
@click.option(
    "--extractor",
    default=None,
    help="Feature extractor plugin (see `curate extractors`). Default: ensemble "
    "(k-means patch features + logistic regression, averaged with a pixel kNN).",
)
@click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Extractor option, repeatable (e.g. -p path=./vit for --extractor backbone).",
)
@click.option(
    "--folds",
    type=click.IntRange(2, 50),
    default=5,
    show_default=True,
    help="Cross-validation folds for out-of-sample predictions.",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="auto uses CUDA when torch sees a GPU.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same findings.")
@click.option(
    "--stream/--no-stream",
    "streaming",
    default=None,
    help="Keep pixels, features and embeddings on disk (.curate/cache/scan) and read them "
    "in chunks, so memory stays flat at millions of images. Default: on above 50,000 samples.",
)
@click.option(
    "--max-train",
    type=click.IntRange(min=10),
    default=50_000,
    show_default=True,
    help="Rows each fold's classifier heads train on at most (a stratified random subset "
    "above it; every sample is still predicted out of sample). Keeps 1M-sample scans "
    "practical on a CPU; below about 62,000 labeled samples (5 folds) it changes nothing.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes for decoding, feature maps and the folds of a CPU scan (local "
    "engine). Default: 1. Same findings either way. Pays off on large datasets: with 2 "
    "on 2 cores a 1M-image scan ran 1.48x faster, a 10k-image one slower (11.6 vs 10.0 s).",
)
@engine_options
@json_option
@click.pass_context
def scan_cmd(
    ctx: click.Context,
    extractor: str | None,
    params: tuple[str, ...],
    folds: int,
    device: str,
    seed: int,
    streaming: bool | None,
    max_train: int,
    workers: int | None,
    as_json: bool,
    engine,
) -> None:
    """Scan the live samples for label errors, imbalance, duplicates, outliers and bad images.

    Labels are checked with cleanlab on out-of-sample predicted probabilities
    (K-fold); duplicates by pixel hash and by nearest neighbours of image
    fingerprints; image quality by CleanVision-style checks. Every finding is
    recorded in the catalog as one scan run: list them with `curate issues`.
    """
    options = parse_key_values(params)
    with (
        open_workspace(ctx) as ws,
        progress_bar("scanning") as progress,
        # Findings are recorded in one transaction at the end: a stopped scan left none.
        on_interrupt("interrupted: the scan recorded nothing; run it again"),
    ):
        result = ws.scan(
            extractor,
            params=options,
            folds=folds,
            device=device,
            seed=seed,
            streaming=streaming,
            max_train=max_train,
            workers=workers,
            progress=progress,
            engine=engine,
        )
    if as_json:
        emit_json(result)
        return
    from rich.table import Table

    console = _stdout_console()
    console.print(
        f"Scan run {result.run_id}: {result.samples} samples ({result.labeled} labeled), "
        f"extractor {result.extractor}, device {result.device}, seed {result.seed}, "
        f"{result.seconds:.1f}s"
    )
    kinds = Table(title="Issues by kind")
    kinds.add_column("kind")
    kinds.add_column("issues", justify="right")
    for kind, count in result.issues.items():
        kinds.add_row(kind, str(count))
    console.print(kinds)
    if result.duplicate_groups:
        console.print(f"Duplicate groups (exact or near): {result.duplicate_groups}")
    if result.imbalance is not None:
        plan = result.imbalance
        table = Table(
            title=f"Classes (imbalance ratio {plan.imbalance_ratio:g}"
            + (f" among non-empty, {len(plan.empty_classes)} empty" if plan.empty_classes else "")
            + f", target {plan.target}"
            + (f" in split {plan.split!r}" if plan.split else "")
            + ")"
        )
        # The plan counts one split (train once there are splits) while a class's
        # sample count is every split's: both are shown, each under its own name,
        # so "needed" adds up against the column it comes from.
        in_plan = {c.class_id: c.count for c in plan.classes}
        table.add_column("class")
        table.add_column("all samples" if plan.split else "samples", justify="right")
        if plan.split:
            table.add_column(f"in {plan.split}", justify="right")
        table.add_column("label issues", justify="right")
        table.add_column("needed", justify="right")
        for c in result.classes:
            counts = [str(c.count)]
            if plan.split:
                counts.append(str(in_plan.get(c.class_id, 0)))
            table.add_row(c.name, *counts, str(c.label_issues), str(c.needed))
        console.print(table)
        # Every class below the target with what it needs, largest need first: a
        # bare list read as if a class one sample short were as rare as the rarest.
        under = sorted(plan.under_represented, key=lambda c: (-c.needed, c.name))
        if under:
            gaps = ", ".join(f"{c.name} (+{c.needed})" for c in under)
            console.print(f"Under-represented (below the target of {plan.target}): {gaps}")
        if plan.empty_classes:
            where = f"in {plan.split}" if plan.split else "at all"
            names = ", ".join(plan.empty_classes[:10])
            more = len(plan.empty_classes) - 10
            console.print(
                f"[yellow]Classes with no samples {where}:[/yellow] {names}"
                + (f" and {more} more" if more > 0 else "")
            )
    for note in result.warnings:
        console.print(f"[yellow]note:[/yellow] {note}")
    console.print("Next: curate issues --type label")


def _short_sources(sources: list[str | None]) -> tuple[str | None, list[str]]:
    """(the folder all sources share, each source relative to it) for a narrow table.

    Full paths stay in ``--json``; the table shows ``7/digit_0596.png`` under
    a caption naming the folder, instead of folding one long path per row.
    """
    paths = [s for s in sources if s]
    folder = None
    if len(paths) > 1 and all(os.path.isabs(p) for p in paths):
        common = os.path.commonpath(paths)
        if common not in ("", os.sep) and common not in paths:
            folder = common
    if folder is None:
        return None, [s or "-" for s in sources]
    return folder, [os.path.relpath(s, folder) if s else "-" for s in sources]


def _probability(value) -> str:
    return "?" if value is None else f"{value:.2g}"


def _evidence(f) -> str:
    d = f.details
    kind = f.kind.value
    if kind == "label":
        # One fact per line: a narrow terminal wraps the column predictably.
        agree = d.get("neighbour_agreement")
        lines = [
            f"p(given) {_probability(d.get('p_given'))}",
            f"p(suggested) {_probability(d.get('p_suggested'))}",
        ]
        if agree is not None:
            lines.append(f"kNN agree {agree:.0%}")
        return "\n".join(lines)
    if kind in ("duplicate", "near_duplicate"):
        if d.get("group_size") == 1 and d.get("files"):
            return f"one image in {len(d['files'])} files: " + ", ".join(d["files"][:3])
        return f"group {d.get('group')} of {d.get('group_size')}, keep sid {d.get('keep')}"
    if kind == "quality":
        return ", ".join(d.get("checks", [])) or "-"
    if kind == "outlier":
        return f"mean neighbour distance {d.get('mean_neighbour_distance')}"
    if kind == "conflict":
        return "labels: " + ", ".join(d.get("labels", []))
    return ""


@click.command("issues")
@click.option(
    "--type",
    "kind",
    type=click.Choice(KINDS),
    default="label",
    show_default=True,
    help="Kind of finding. conflict: the same image under two labels (needs no scan).",
)
@click.option(
    "--class",
    "classes",
    multiple=True,
    help="Only samples with this label when scanned (repeatable).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=None,
    help="At most N findings (default: 50 in the table, all with --json).",
)
@click.option("--run", "run_id", type=int, default=None, help="Scan run (default: the latest).")
@click.option(
    "--all", "include_all", is_flag=True, help="Include samples that are not flagged (ranked too)."
)
@json_option
@click.pass_context
def issues_cmd(
    ctx: click.Context,
    kind: str,
    classes: tuple[str, ...],
    limit: int | None,
    run_id: int | None,
    include_all: bool,
    as_json: bool,
) -> None:
    """List the findings of the latest scan, most suspicious first.

    SCORE: lower = more suspicious, for every kind (cleanlab's convention);
    the list is sorted by ascending score. For labels it is cleanlab's label
    quality (the out-of-sample probability of the given label, sharpened);
    SUGGESTED is the class the model predicts.

    With --json, one document: a list of objects with sample_id, sid, source
    (original path), kind, given_label, suggested_label, score, is_issue and
    details (evidence: probabilities, nearest neighbours, duplicate group).
    """
    if limit is None and not as_json:
        limit = 50
    query = {"classes": list(classes) or None, "only_issues": not include_all, "run_id": run_id}
    with open_workspace(ctx) as ws:
        found = ws.findings(kind, limit=limit, **query)
        total = len(found)
        if not as_json and limit is not None and total == limit:
            # the table shows the first N: say how many there are (a row count, no models)
            total = ws.findings(kind, as_arrow=True, **query).num_rows
    if as_json:
        emit_json([f.model_dump(mode="json") for f in found])
        return
    from rich.table import Table

    console = _stdout_console()
    if not found:
        console.print(f"showing 0 of {total} {kind} findings" if total else f"No {kind} issues.")
        return
    folder, sources = _short_sources([f.source for f in found])
    noun = f"{kind} finding{'s' if total != 1 else ''}"
    table = Table(
        title=f"showing {len(found)} of {total} {noun}"
        if total > len(found)
        else f"{total} {noun}",
        caption=f"sources under {folder}" if folder else None,
    )
    table.add_column("#", justify="right")
    table.add_column("sid", justify="right")
    table.add_column("source", overflow="fold")
    table.add_column("label")
    if kind == "label":
        table.add_column("suggested")
    table.add_column("score", justify="right")
    table.add_column("evidence", overflow="fold")
    for rank, (f, source) in enumerate(zip(found, sources, strict=True), start=1):
        label = f.given_label or f.current_label or "-"
        if f.current_label and f.given_label and f.current_label != f.given_label:
            label = f"{f.given_label} -> {f.current_label}"  # relabeled since (pending or not)
        row = [str(rank), str(f.sid), source, label]
        if kind == "label":
            row.append(f.suggested_label or "-")
        row += ["-" if f.score is None else f"{f.score:.3g}", _evidence(f)]
        table.add_row(*row)
    console.print(table)
    if total > len(found):
        console.print(f"… {total - len(found)} more (--limit N or --json)")


@click.command("extractors")
@json_option
def extractors_cmd(as_json: bool) -> None:
    """List the feature extractor plugins and their options."""
    from curate.plugins.registry import list_plugins, load_plugin, params_table

    rows = []
    for info in list_plugins("curate.extractors"):
        entry = {"name": info.name, "distribution": info.distribution, "options": []}
        try:
            entry["options"] = params_table(load_plugin(info.group, info.name).Params)
        except Exception as exc:  # a broken third-party plugin must not hide the others
            entry["error"] = str(exc)
        rows.append(entry)
    if as_json:
        emit_json(rows)
        return
    console = _stdout_console()
    for entry in rows:
        console.print(f"[bold]{entry['name']}[/bold] ({entry['distribution']})")
        if "error" in entry:
            console.print(f"  [red]cannot load:[/red] {entry['error']}")
        for opt in entry["options"]:
            default = "required" if opt["required"] else f"default {opt['default']!r}"
            console.print(f"  {opt['name']} ({opt['type']}, {default}): {opt['description']}")
