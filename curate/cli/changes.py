"""Working changes: `curate relabel|drop|restore|accept|changes|reset|split`.

Each edit is pending (like git's index) until `curate commit`. Samples are
named by sid (the number `curate issues` shows; `sid:N` to be explicit),
sample id, a unique id prefix (4+ hex characters) or source path.
"""

from __future__ import annotations

import sys

import click

from curate.cli.render import emit_json, json_option, open_workspace, stderr_console

reason_option = click.option(
    "--reason", "-m", default=None, help="Why: kept with the change, shown by log/diff/SQL."
)


def _stdout_console():
    console = stderr_console()
    console.file = sys.stdout  # tables are results: stdout (stderr_console is for progress)
    return console


def _short(sample_id: str) -> str:
    return sample_id[:12]


def _report(report, verb: str, as_json: bool) -> None:
    if as_json:
        emit_json(report)
        return
    for d in report.details[:50]:
        extra = ""
        if "from" in d:
            extra = f": {d['from']} -> {d['to']}"
        elif d.get("label") is not None or d.get("split") is not None:
            label = d.get("label")
            split = d.get("split")
            extra = (
                f" (label {label if label is not None else 'none'}, "
                f"{'split ' + split if split else 'no split'})"
            )
        if "parent" in d:
            extra += f", with its parent {_short(d['parent'])}"
        click.echo(f"  {verb} {_short(d['sample_id'])}{extra}")
    if len(report.details) > 50:
        click.echo(f"  ... and {len(report.details) - 50} more")
    note = f", {report.unchanged} unchanged" if report.unchanged else ""
    if report.followed:
        note += f" ({report.followed} of them augmented copies, with their parent)"
    if report.cancelled:
        note += (
            f"; {report.cancelled} pending change(s) cancelled out "
            "(back where the last commit, or the ingest, left them)"
        )
    click.echo(f"{verb.capitalize()} {report.recorded} sample(s){note}. {_pending(report.pending)}")


def _pending(count: int) -> str:
    if not count:
        return "No pending changes."
    return f"{count} pending change(s); `curate commit -m MSG` to keep them."


@click.command("relabel")
@click.argument("sample")
@click.argument("label")
@reason_option
@click.option("--new-class", is_flag=True, help="Create LABEL if no class has that name yet.")
@json_option
@click.pass_context
def relabel_cmd(ctx, sample: str, label: str, reason, new_class: bool, as_json: bool) -> None:
    """Give SAMPLE the class LABEL (a pending change).

    SAMPLE is a sid (the number `curate issues` shows; `sid:N` to be
    explicit), a sample id, a unique id prefix or a source path. A number
    that is both a sid and the start of another sample's id is refused.
    """
    with open_workspace(ctx) as ws:
        report = ws.relabel(sample, label, reason=reason, new_class=new_class)
    _report(report, "relabeled", as_json)


@click.command("drop")
@click.argument("samples", nargs=-1, required=True)
@reason_option
@json_option
@click.pass_context
def drop_cmd(ctx, samples: tuple[str, ...], reason, as_json: bool) -> None:
    """Take SAMPLES out of the working state (kept in the catalog; `curate restore` undoes it)."""
    with open_workspace(ctx) as ws:
        report = ws.drop(list(samples), reason=reason)
    _report(report, "dropped", as_json)


@click.command("restore")
@click.argument("samples", nargs=-1, required=True)
@reason_option
@json_option
@click.pass_context
def restore_cmd(ctx, samples: tuple[str, ...], reason, as_json: bool) -> None:
    """Bring dropped SAMPLES back with the label and split they had last."""
    with open_workspace(ctx) as ws:
        report = ws.restore(list(samples), reason=reason)
    _report(report, "restored", as_json)


@click.command("accept")
@click.option(
    "--type",
    "kind",
    type=click.Choice(["label"]),
    default="label",
    show_default=True,
    help="Which findings to accept: label = relabel to the scan's suggested class "
    "(the only kind with a suggestion today).",
)
@click.option(
    "--min-confidence",
    type=click.FloatRange(0, 1),
    default=None,
    help="Only findings with confidence >= X, where confidence = 1 - label quality score "
    "(score 0.05 -> confidence 0.95).",
)
@click.option(
    "--limit", type=click.IntRange(min=0), default=None, help="At most N, most suspicious first."
)
@click.option(
    "--run",
    "run_id",
    type=click.IntRange(min=1),
    default=None,
    help="Accept the suggestions of this scan run (default: the newest with label findings).",
)
@click.option("--dry-run", is_flag=True, help="Show what would change; record nothing.")
@json_option
@click.argument("samples", nargs=-1)
@click.pass_context
def accept_cmd(
    ctx, kind: str, min_confidence, limit, run_id, dry_run: bool, as_json: bool, samples
) -> None:
    """Take the latest scan's suggestions, in bulk or for SAMPLES, as pending relabels.

    Reads the label findings of the newest scan run that has them, most
    suspicious (lowest score) first. Skips samples already dropped, already
    carrying the suggested label, or relabeled by hand since. Each relabel
    records the run id, score and confidence. SAMPLES (sids, sample ids,
    unique id prefixes or source paths) accepts just their suggestions, even for a
    sample relabeled by hand (the TUI's accept key records the same).
    """
    with open_workspace(ctx) as ws:
        report = ws.accept(
            kind,
            samples=list(samples) or None,
            run_id=run_id,
            min_confidence=min_confidence,
            limit=limit,
            dry_run=dry_run,
        )
    if as_json:
        emit_json(report)
        return
    for r in report.relabels[:50]:
        click.echo(
            f"  {_short(r['sample_id'])}: {r['from']} -> {r['to']} (confidence {r['confidence']})"
        )
    if len(report.relabels) > 50:
        click.echo(f"  ... and {len(report.relabels) - 50} more")
    skipped = {
        "dropped": report.skipped_not_live,
        "same label": report.skipped_same_label,
        "relabeled by hand": report.skipped_human_edit,
        "below --min-confidence": report.skipped_low_confidence,
        "over --limit": report.skipped_over_limit,
    }
    skipped_text = ", ".join(f"{v} {k}" for k, v in skipped.items() if v)
    verb = "Would accept" if dry_run else "Accepted"
    click.echo(
        f"{verb} {report.accepted} of {report.candidates} label suggestions from scan run "
        f"{report.run_id}" + (f" (skipped: {skipped_text})" if skipped_text else "") + "."
    )
    if report.followed:
        what = "would follow" if dry_run else "followed"
        click.echo(f"{report.followed} augmented copies {what} their parent's new label.")
    if not dry_run:
        click.echo(_pending(report.pending))


@click.command("changes")
@json_option
@click.pass_context
def changes_cmd(ctx, as_json: bool) -> None:
    """List pending changes (oldest first): what, to which sample, and why."""
    with open_workspace(ctx) as ws:
        changes = ws.changes()
    if as_json:
        emit_json([c.model_dump(mode="json") for c in changes])
        return
    if not changes:
        click.echo("No pending changes.")
        return
    from rich.table import Table

    table = Table(title=f"{len(changes)} pending change(s)")
    for col in ("op", "sample", "source", "label", "split", "reason"):
        table.add_column(col)
    for c in changes:
        label = f"{c.from_label} -> {c.label}" if c.op == "relabel" else c.label or ""
        source = c.source or ""
        if c.op == "add" and c.origin != "original":  # no path: say what it was made from
            source = c.origin
            if c.parents:
                more = f" +{len(c.parents) - 1}" if len(c.parents) > 1 else ""
                source += f" of {_short(c.parents[0])}{more}"
        table.add_row(
            c.op,
            _short(c.sample_id),
            source,
            label,
            c.split or "",
            c.reason or "",
        )
    _stdout_console().print(table)


@click.command("reset")
@click.argument("samples", nargs=-1)
@json_option
@click.pass_context
def reset_cmd(ctx, samples: tuple[str, ...], as_json: bool) -> None:
    """Forget pending changes: all of them, or only those of SAMPLES.

    Committed versions are never touched. Samples added by augmentation or
    synthesis and not yet committed leave the working state with their change.
    """
    with open_workspace(ctx) as ws:
        report = ws.reset(list(samples) if samples else None)
    if as_json:
        emit_json(report)
        return
    click.echo(f"Forgot {report.recorded} pending change(s); {report.pending} left.")


@click.command("split")
@click.option(
    "--ratios",
    default="0.8,0.1,0.1",
    show_default=True,
    help="Shares of train,val[,test]; must sum to 1.",
)
@click.option(
    "--names", default=None, help="Split names, comma-separated (default train,val,test)."
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Random seed of the assignment."
)
@click.option(
    "--resplit",
    is_flag=True,
    help="Re-assign every sample. Without it, samples keep the split they have "
    "(e.g. from ingest) and only unsplit ones are placed.",
)
@click.option("--dry-run", is_flag=True, help="Show the resulting split; record nothing.")
@json_option
@click.pass_context
def split_cmd(
    ctx, ratios: str, names, seed: int, resplit: bool, dry_run: bool, as_json: bool
) -> None:
    """Split samples into train/val/test, stratified by class and leakage-aware.

    Exact and near-duplicate groups from the latest scan never straddle two
    splits; augmented and synthetic samples stay in train with their
    parents. The result is recorded as pending `move` changes.
    """
    with open_workspace(ctx) as ws:
        report = ws.split(
            ratios,
            names=names.split(",") if names else None,
            seed=seed,
            resplit=resplit,
            dry_run=dry_run,
        )
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        emit_json(report)
        return
    from rich.table import Table

    table = Table(
        title=f"{report.samples} samples: "
        + ", ".join(f"{k} {v}" for k, v in report.splits.items())
    )
    table.add_column("class")
    for name in report.names:
        table.add_column(name, justify="right")
    for cls, counts in report.by_class.items():
        table.add_row(cls, *(str(counts.get(n, 0)) for n in report.names))
    _stdout_console().print(table)
    verb = "Would move" if dry_run else "Moved"
    click.echo(
        f"{verb} {report.moved} sample(s); {report.groups} duplicate/lineage group(s) "
        f"({report.grouped_samples} samples) kept in one split; "
        f"{report.straddling_fixed} straddling group(s) fixed."
    )
    if not dry_run and report.moved:
        click.echo(_pending(report.pending))
