"""`curate export VERSION --format hf|parquet|imagefolder|webdataset --out DIR`."""

from __future__ import annotations

import click

from curate.cli.engine_options import engine_options
from curate.cli.render import (
    emit_json,
    json_option,
    on_interrupt,
    open_workspace,
    progress_bar,
    warn_pending_changes,
)

FORMATS_HELP = (
    "hf: datasets.save_to_disk folder (load with datasets.load_from_disk). "
    "parquet: data/<split>-00000-of-00001.parquet with HF features "
    "(load_dataset('parquet', data_dir=DIR/data)). "
    "imagefolder: <split>/<label>/<sample_id>.png + <split>/metadata.jsonl. "
    "webdataset: <split>-NNNNNN.tar shards with .png/.cls/.json per sample."
)


@click.command("export")
@click.argument("version")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["hf", "parquet", "imagefolder", "webdataset"]),
    required=True,
    help=FORMATS_HELP,
)
@click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False), help="Folder to write."
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace DIR if it holds an earlier export (curate-manifest.json); any other "
    "non-empty folder, and a workspace, are refused.",
)
@click.option(
    "--shard-samples",
    type=click.IntRange(min=1),
    default=None,
    help="webdataset: samples per tar shard (default: 8 shards per split, more for a split "
    "of over 80,000 so none holds more than 10,000). A DataLoader or WebLoader needs at "
    "least as many shards in a split as it has workers.",
)
@engine_options
@json_option
@click.pass_context
def export_cmd(
    ctx,
    version: str,
    fmt: str,
    out: str,
    overwrite: bool,
    shard_samples: int | None,
    as_json: bool,
    engine,
) -> None:
    """Write VERSION (number, tag, hash prefix or HEAD) for a training pipeline.

    Deterministic: the same version gives byte-identical files. Every export
    has curate-manifest.json with the version hash, the class list (label
    index = position) and the lineage columns (origin, parents, recipe).
    All or nothing: DIR appears only when the export is complete.
    """
    from curate.export.engine import check_out

    with open_workspace(ctx) as ws:
        chosen = ws.version(version)  # bad names and folders fail before the progress bar
        check_out(out, overwrite, workspace=ws.root)
        warn_pending_changes(ws, version)
        with (
            progress_bar("exporting") as progress,
            # All or nothing: the files are written aside and renamed in at the end.
            on_interrupt(
                "interrupted: nothing was exported; the previous export, if any, is untouched"
            ),
        ):
            result = chosen.export(
                fmt,
                out,
                overwrite=overwrite,
                shard_samples=shard_samples or 0,
                progress=progress,
                engine=engine,
            )
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        emit_json(result)
        return
    click.echo(
        f"Exported {result.version} ({result.hash[:12]}) as {result.format.value}: "
        f"{result.samples} samples ({', '.join(f'{k} {v}' for k, v in result.splits.items())}), "
        f"{result.files} files, {result.bytes / 1e6:.1f} MB in {result.seconds:.2f}s -> {result.out}"
    )
    if result.skipped_unlabeled:
        click.echo(
            f"Skipped {result.skipped_unlabeled} unlabeled sample(s) (imagefolder needs a label)."
        )
