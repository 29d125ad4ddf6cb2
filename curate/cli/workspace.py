"""`curate init`, `curate ingest`, `curate status`."""

from __future__ import annotations

import click

from curate.cli.render import (
    cancel_on_interrupt,
    emit_json,
    json_option,
    on_interrupt,
    open_workspace,
    progress_bar,
)


@click.command("init")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@json_option
@click.pass_context
def init_cmd(ctx: click.Context, directory: str | None, as_json: bool) -> None:
    """Create a workspace in DIRECTORY (default: --workspace, else the current folder).

    A workspace is a `.curate/` folder holding the DuckDB catalog and the
    content-addressed object store; your images are copied in once.
    """
    from click.core import ParameterSource

    from curate.api import Workspace

    if directory is None:
        # `curate init -w DIR` / `curate -w DIR init` mean DIR, not the current
        # folder; $CURATE_WORKSPACE names where to work, not where to create one.
        named = (ctx.obj or {}).get("workspace")
        after_name = ctx.get_parameter_source("workspace") == ParameterSource.COMMANDLINE
        from_env = not after_name and (
            ctx.find_root().get_parameter_source("workspace") == ParameterSource.ENVIRONMENT
        )
        directory = named if named and not from_env else "."
    ws = Workspace.init(directory)
    ws.close()
    if as_json:
        emit_json({"workspace": str(ws.root)})
    else:
        click.echo(f"Created workspace {ws.root}")


@click.command("ingest")
@click.argument("source", type=click.Path(exists=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "imagefolder", "manifest", "hf"]),
    default="auto",
    show_default=True,
    help="imagefolder: one subfolder per class, optionally under train/ val/ test/. "
    "manifest: CSV or parquet with path,label[,split] columns (paths relative to it). "
    "hf: a Hugging Face dataset saved with save_to_disk, or local parquet/arrow files.",
)
@click.option(
    "--path-column", default="path", show_default=True, help="Manifest column with image paths."
)
@click.option(
    "--label-column",
    default=None,
    help="Manifest/HF column with labels. Default: 'label'; an HF dataset without one "
    "uses its only ClassLabel column.",
)
@click.option(
    "--split-column", default="split", show_default=True, help="Manifest column with splits."
)
@click.option(
    "--image-column", default=None, help="HF column with images (default: the Image feature)."
)
@click.option(
    "--root",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Manifest or HF dataset: the folder their relative image paths start from "
    "(default: the manifest's folder, the dataset's folder). No relative path may leave it.",
)
@click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=None,
    help="Quarantine images larger than this many pixels (decompression-bomb guard; default 64M).",
)
@click.option("--show-quarantine/--no-show-quarantine", default=True, help="List skipped inputs.")
@json_option
@click.pass_context
def ingest_cmd(
    ctx: click.Context,
    source: str,
    fmt: str,
    path_column: str,
    label_column: str | None,
    split_column: str,
    image_column: str | None,
    root: str | None,
    max_pixels: int | None,
    show_quarantine: bool,
    as_json: bool,
) -> None:
    """Add the images of SOURCE to the workspace.

    Idempotent: images are stored once under their content hash, and
    re-ingesting a source adds nothing. Bad inputs (corrupt, empty, not an
    image, too large, outside the source) are skipped with a reason and the
    rest goes on. Interrupting keeps every finished batch; run it again to
    complete.
    """
    from curate.errors import Cancelled

    read: list = [0, None]  # (inputs done, of total) at the latest progress report

    def kept(at_least: str = "") -> str:
        done, total = read
        if not done:  # a Ctrl-C inside the first step still stores what it read
            what = "the inputs read before the stop, if any," if at_least else "no input"
            return f"interrupted: {what} {'are' if at_least else 'was'} stored"
        of = f" of {total}" if total is not None else ""
        return (
            f"interrupted: {at_least}{done}{of} inputs were read and are stored "
            "(bad ones as quarantined); nothing is half-written"
        )

    def again(exact: bool = True) -> str:
        done, total = read
        if not done:
            return "run the same command again"
        rest = f"the other {total - done}" if exact and total is not None else "the rest"
        return f"run the same command again to ingest {rest}: what is stored is skipped"

    with (
        open_workspace(ctx) as ws,
        # First Ctrl-C: the engine stores what it read and stops (Cancelled);
        # a second one interrupts it (it still stores what it read).
        cancel_on_interrupt() as stop,
        progress_bar("ingesting") as bar,
        on_interrupt(lambda: kept("at least "), lambda: again(exact=False)),
    ):

        def progress(done: int, total: int | None, message: str = "") -> None:
            read[:] = done, total
            bar(done, total, message)

        try:
            report = ws.ingest(
                source,
                format=fmt,
                path_column=path_column,
                label_column=label_column,
                split_column=split_column,
                image_column=image_column,
                root=root,
                max_pixels=max_pixels,
                progress=progress,
                cancel=stop.is_set,
            )
        except Cancelled as exc:  # the engine says what it stored; the hint, how to go on
            message = exc.message.replace("cancelled:", "interrupted:", 1)
            raise Cancelled(message, hint=again()) from None
    # Every input was bad: the report says why, the exit code says it failed.
    nothing = (
        report.quarantined
        and not report.cancelled
        and report.added_sources == report.already_present == 0
    )
    if as_json:
        emit_json(report)
        if nothing:
            raise SystemExit(1)
        return
    click.echo(
        f"Ingested {report.seen} inputs from {report.source} ({report.format.value}) in {report.seconds:.1f}s: "
        f"{report.added_samples} new images, {report.added_sources} new paths, "
        f"{report.already_present} already present, {len(report.quarantined)} quarantined, "
        f"{report.conflicts} new label conflicts."
    )
    if report.new_classes:
        click.echo(f"New classes: {', '.join(report.new_classes)}")
    if report.split_conflicts:
        click.echo(
            f"warning: {report.split_conflicts} image(s) appear in more than one split of the "
            "source (the same image in train and test leaks); each stays in the split it was "
            "first seen in. `curate status` counts them; `curate split` re-splits with "
            "duplicates kept together.",
            err=True,
        )
    if report.unlabeled:
        click.echo(
            f"{report.unlabeled} new image(s) came without a label (imagefolder: one subfolder "
            "per class); `curate status` counts them as unlabeled."
        )
    if report.label_not_applied:
        click.echo(
            f"{report.label_not_applied} image(s) were already here without a label; the labels "
            "this source gives them were not applied: `curate relabel SAMPLE LABEL` does that "
            "(with --new-class for a label no class has yet)."
        )
    if report.quarantined and show_quarantine:
        click.echo("Quarantined:")
        for q in report.quarantined[:50]:
            click.echo(f"  {q.source}: {q.reason}")
        if len(report.quarantined) > 50:
            click.echo(f"  ... and {len(report.quarantined) - 50} more (curate status --json)")
    if nothing:
        from curate.errors import CurateError

        raise CurateError(
            f"nothing ingested: all {len(report.quarantined)} inputs were quarantined"
        )


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


@click.command("status")
@json_option
@click.pass_context
def status_cmd(ctx: click.Context, as_json: bool) -> None:
    """Samples, classes (per split), quarantined inputs and workspace size."""
    with open_workspace(ctx) as ws:
        status = ws.status()
        if as_json:
            payload = status.model_dump(mode="json")
            payload["quarantine"] = [{"source": u, "reason": r} for u, r in ws.quarantine()]
            emit_json(payload)
            return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    splits = sorted({s for c in status.class_details for s in c.by_split})
    if splits == ["-"]:
        splits = []  # no given splits: one column would only repeat the count
    table = Table(title=f"{status.samples} samples in {len(status.classes)} classes")
    table.add_column("class")
    table.add_column("id", justify="right")
    table.add_column("samples", justify="right")
    for split in splits:
        table.add_column(split, justify="right")
    for c in status.class_details:
        table.add_row(
            c.name, str(c.class_id), str(c.count), *(str(c.by_split.get(s, 0)) for s in splits)
        )
    console.print(table)
    console.print(f"Workspace: {status.path} ({_human_bytes(status.workspace_bytes)})")
    if status.unlabeled:
        console.print(f"Unlabeled: {status.unlabeled}")
    console.print(f"Label conflicts: {status.conflicts}")
    if status.split_conflicts:
        console.print(
            f"Split conflicts: {status.split_conflicts} image(s) given in more than one split "
            "(each kept in the first)"
        )
    reasons = ", ".join(f"{k}: {v}" for k, v in status.quarantine_reasons.items())
    console.print(f"Quarantined: {status.quarantined}" + (f" ({reasons})" if reasons else ""))
    # Versions (issue 4): text only, the --json keys stay as they are.
    from curate.store import versions_repo, worktree_repo

    with open_workspace(ctx) as ws:
        cat = ws.catalog()
        head, pending = versions_repo.head_id(cat), worktree_repo.pending_count(cat)
    console.print(
        f"Version: {f'v{head}' if head else 'none yet'}; pending changes: {pending}"
        + (" (curate changes / curate commit -m MSG)" if pending else "")
    )
