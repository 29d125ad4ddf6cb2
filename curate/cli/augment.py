"""`curate augment ...`: policies, previews, materialized augmentation, replay."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import click

from curate.cli.engine_options import engine_options
from curate.cli.render import (
    cancel_on_interrupt,
    emit_json,
    json_option,
    open_workspace,
    progress_bar,
    stderr_console,
    workspace_option,
)

#: `augment replay`'s exit code when the rebuilt bytes differ: a script can tell a
#: failed check from a sample not found (1) and bad arguments (2).
REPLAY_DIFFERS = 3

POLICY_HELP = "Policy: a YAML/JSON file or a preset name (see `curate augment presets`)."


def _load(policy: str):
    from curate.augment.policy import load_policy

    loaded = load_policy(policy)
    for issue in loaded.warnings:
        click.echo(f"warning: {issue}", err=True)
    return loaded


@click.group("augment")
@workspace_option  # `curate augment -w DIR run ...`, as `curate -w DIR augment run ...`
def augment_group() -> None:
    """Augmentation policies: validate, preview, materialize, replay.

    A policy is a short YAML list of albumentations transforms:

    \b
      name: light
      seed: 1
      pipeline:
        - {transform: Rotate, limit: 10, p: 1.0}
        - {transform: RandomBrightnessContrast, p: 0.5}

    Use it materialized (`curate augment run --policy FILE --balance`) or
    online in a DataLoader (`version.to_torch("train", transform=policy)`).
    """


@augment_group.command("presets")
@json_option
@workspace_option  # accepted and ignored: policies need no workspace
def presets_cmd(as_json: bool) -> None:
    """List the policy presets (curate's own and any installed plugin's)."""
    from curate.augment.policy import list_presets, load_preset

    rows = []
    for info in list_presets():
        policy = load_preset(info.name)
        rows.append(
            {
                "name": info.name,
                "description": policy.description,
                "hash": policy.hash,
                "steps": len(policy.pipeline),
                "distribution": info.distribution,
            }
        )
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        click.echo(f"{row['name']:<16} {row['hash'][:12]}  {row['description']}")


@augment_group.command("validate")
@click.argument("policy")
@json_option
@workspace_option  # accepted and ignored: policies need no workspace
def validate_cmd(policy: str, as_json: bool) -> None:
    """Check a policy file: every error with the path of its field.

    Builds the pipeline, so albumentations' own parameter checks run. Exit
    code 2 when the policy is invalid.
    """
    from curate.augment.policy import PolicyInvalid, load_policy

    try:
        loaded = load_policy(policy)
    except PolicyInvalid as exc:
        if as_json:
            emit_json({"valid": False, "issues": [i.model_dump() for i in exc.issues]})
        else:
            for issue in exc.issues:
                click.echo(f"{issue.level}: {issue}", err=True)
        raise SystemExit(2) from None
    if as_json:
        emit_json(
            {
                "valid": True,
                "name": loaded.name,
                "hash": loaded.hash,
                "issues": [i.model_dump() for i in loaded.warnings],
            }
        )
        return
    for issue in loaded.warnings:
        click.echo(f"warning: {issue}", err=True)
    click.echo(f"{policy}: valid policy {loaded.name!r} ({loaded.short_hash})")


@augment_group.command("show")
@click.argument("policy")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "json", "albumentations"]),
    default="yaml",
    show_default=True,
    help="albumentations: the pipeline as `A.to_dict` writes it (load with `A.from_dict`).",
)
@click.option(
    "--class", "class_name", default=None, help="With albumentations: that class's pipeline."
)
@workspace_option  # accepted and ignored: policies need no workspace
def show_cmd(policy: str, fmt: str, class_name: str | None) -> None:
    """Print a policy (a preset or a file) in canonical form; its hash goes to stderr."""
    import json

    loaded = _load(policy)
    if fmt == "yaml":
        click.echo(loaded.to_yaml(), nl=False)
    elif fmt == "json":
        click.echo(loaded.to_json())
    else:
        click.echo(json.dumps(loaded.to_albumentations(class_name), indent=2))
    click.echo(f"hash: {loaded.hash}", err=True)


@augment_group.command("preview")
@click.option("--policy", "-p", "policy", required=True, help=POLICY_HELP)
@click.option("--class", "class_name", default=None, help="Only samples of this class.")
@click.option(
    "-n", "count", type=click.IntRange(min=1), default=16, show_default=True, help="Samples."
)
@click.option(
    "--views", type=click.IntRange(min=1, max=16), default=3, show_default=True,
    help="Augmented views per sample.",
)  # fmt: skip
@click.option(
    "--out", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True,
    help="Image file to write: .png (or no extension), .jpg or .webp.",
)  # fmt: skip
@workspace_option
@json_option
@click.pass_context
def preview_cmd(
    ctx: click.Context,
    policy: str,
    class_name: str | None,
    count: int,
    views: int,
    out: Path,
    as_json: bool,
) -> None:
    """Write a grid: train samples (framed) each followed by augmented views.

    The views use the seeds `curate augment run` uses for the same samples,
    so the grid shows what materializing will add.
    """
    from curate.outputs import check_output_file, image_format, write_atomically

    fmt = image_format(out)
    loaded = _load(policy)
    check_output_file(out)
    with open_workspace(ctx) as ws:
        grid = ws.augment_preview(loaded, class_name=class_name, n=count, views=views)
    encoded = io.BytesIO()
    grid.save(encoded, format=fmt)
    write_atomically(out, encoded.getvalue())
    if as_json:
        emit_json(
            {"out": str(out), "width": grid.width, "height": grid.height, "policy": loaded.hash}
        )
        return
    click.echo(
        f"Wrote {out} ({grid.width}x{grid.height}) for policy {loaded.name} ({loaded.short_hash})"
    )


@augment_group.command("run")
@click.option("--policy", "-p", "policy", required=True, help=POLICY_HELP)
@click.option(
    "--balance/--no-balance",
    default=True,
    show_default=True,
    help="Top up every class below the target (from the balancing plan).",
)
@click.option(
    "--target-per-class",
    type=click.IntRange(min=1),
    default=None,
    help="Train samples each class should reach (default: the largest class).",
)
@click.option(
    "--copies",
    type=click.IntRange(min=1),
    default=None,
    help="Instead of balancing: each train sample gets this many augmented copies "
    "in all (copies made by this policy before count, so a rerun completes).",
)
@click.option("--class", "classes", multiple=True, help="Only this class (repeatable).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes (default: the CPU cores this process may use).",
)
@click.option("--dry-run", is_flag=True, help="Show what would be generated; store nothing.")
@engine_options
@workspace_option
@json_option
@click.pass_context
def run_cmd(
    ctx: click.Context,
    policy: str,
    balance: bool,
    target_per_class: int | None,
    copies: int | None,
    classes: tuple[str, ...],
    workers: int | None,
    dry_run: bool,
    as_json: bool,
    engine,
) -> None:
    """Generate augmented train samples for the classes that need them.

    Parents come from the train split only (never val or test). Split first:
    a workspace without splits uses all samples as parents and puts the new
    ones in train, and a later split keeps those parents in train too. Results
    are pending `add` changes with lineage (parent, policy hash, seed,
    applied parameters); `curate augment replay` rebuilds any of them bit
    for bit. Ctrl-C keeps every finished sample; run again to continue.
    """
    from curate.errors import InvalidInput

    # The API's own checks name its arguments; these name the flags.
    if copies is not None and target_per_class is not None:
        raise InvalidInput("--copies and --target-per-class exclude each other")
    if copies is None and not balance:
        raise InvalidInput("nothing to do with --no-balance", hint="add --copies N")
    loaded = _load(policy)
    with (
        open_workspace(ctx) as ws,
        cancel_on_interrupt() as stop,
        progress_bar("augmenting", enabled=not dry_run) as progress,
    ):
        report = ws.augment(
            loaded,
            balance=balance,
            target_per_class=target_per_class,
            copies=copies,
            classes=list(classes) or None,
            workers=workers,
            dry_run=dry_run,
            progress=progress,
            cancel=stop.is_set,
            engine=engine,
        )
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        emit_json(report)
        return
    from rich.table import Table

    console = stderr_console()
    console.file = sys.stdout
    title = (
        f"Policy {report.policy_name} ({report.policy_hash[:12]}), counts from {report.counts_from}"
        + (f", target {report.target}" if report.target is not None else "")
    )
    table = Table(title=title)
    # A dry run made nothing: its outcome columns would be all zeros.
    outcome = () if report.dry_run else ("added", "duplicates", "unchanged")
    columns = ("class", "count", "parents", "needed", *outcome, "note")
    for col in columns:
        table.add_column(col, justify="left" if col in ("class", "note") else "right")
    for c in report.classes:
        if c.needed or c.added or c.note:
            cells = {"class": c.name, "note": c.note or ""}
            table.add_row(
                *(cells[col] if col in cells else str(getattr(c, col)) for col in columns)
            )
    console.print(table)
    if report.dry_run:
        console.print(f"Dry run: {report.needed} samples would be generated; nothing stored.")
        return
    if report.needed == 0:
        what = "copies" if report.target is None else "target"
        console.print(f"Nothing to generate: every class already has its {what}.")
        return
    workers = f"{report.workers} worker{'s' if report.workers != 1 else ''}"
    console.print(
        f"Added {report.added} augmented samples as pending changes in {report.seconds:.1f}s "
        f"({report.images_per_second:.0f} images/s, {workers})."
    )


@augment_group.command("replay")
@click.argument("sample")
@click.option(
    "--out", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write the bytes here."
)
@workspace_option
@json_option
@click.pass_context
def replay_cmd(ctx: click.Context, sample: str, out: Path | None, as_json: bool) -> None:
    """Rebuild an augmented SAMPLE from its recipe and compare.

    SAMPLE is a sid (`sid:N` to be explicit), a sample id, a unique id
    prefix or a source path.

    Exit code 3 when the rebuilt bytes differ from the stored ones (e.g.
    after an albumentations or Pillow upgrade); 1 when SAMPLE is not found or
    has no recipe, 2 for bad arguments.
    """
    from curate.outputs import check_output_file, write_atomically

    if out is not None:
        check_output_file(out)
    with open_workspace(ctx) as ws:
        check = ws.verify_replay(sample)
    if out is not None:
        write_atomically(out, check.data)
    if as_json:
        emit_json(check)
    else:
        verdict = "identical to" if check.identical else "DIFFERENT from"
        click.echo(
            f"Replayed sample {check.sid} ({check.sample_id[:12]}): {verdict} the stored bytes"
        )
    if not check.identical:
        raise SystemExit(REPLAY_DIFFERS)
