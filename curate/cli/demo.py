"""`curate demo`: the whole loop on the bundled sample data, with the measured payoff."""

from __future__ import annotations

from pathlib import Path

import click

from curate.cli.render import emit_json, json_option, progress_bar


@click.command("demo")
@click.option(
    "--out",
    default="curate-demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the demo workspace, its exports and the report.",
)
@click.option(
    "--data",
    default=None,
    type=click.Path(exists=True, file_okay=False),
    help="Image folder to use instead of the bundled sample digits.",
)
@click.option(
    "--truth",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="CSV of clean labels (path,true_label) for the evaluation. "
    "Default: ground_truth.csv next to the data folder, when there is one.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace the folder left by an earlier demo (never a folder the demo did not make).",
)
@click.option(
    "--generator",
    default="gan",
    show_default=True,
    help="Generator for the rare classes; 'none' skips synthesis.",
)
@click.option(
    "--fit-steps",
    type=click.IntRange(min=0),
    default=None,
    # The figures are curate.demo's CPU_FIT_STEPS / GPU_FIT_STEPS (a test keeps them so);
    # importing that module here would slow `curate demo --help`.
    help="Generator training steps (default: 2000 on a GPU, a short 600 on a CPU; "
    "20 with --quick).",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where the scan and the generator run (auto: CUDA when present).",
)
@click.option(
    "--quick",
    is_flag=True,
    help="Small settings (fast scan, short generator and classifier runs): "
    "about half a minute on two CPU cores.",
)
@json_option
def demo_cmd(
    out: str,
    data: str | None,
    truth: str | None,
    overwrite: bool,
    generator: str,
    fit_steps: int | None,
    device: str,
    quick: bool,
    as_json: bool,
) -> None:
    """Run curate end to end on the bundled sample data and show what curation bought.

    Ingests the sample digits into a fresh workspace, scans them, splits
    train/test and commits the raw version, accepts the confident label fixes,
    drops exact duplicates, balances the rare classes (generator + augmentation
    preset, train split only), commits the curated version, exports it
    (Hugging Face datasets and parquet), evaluates raw vs curated vs a
    clean-label oracle on the held-out split and writes report.html/report.md.
    """
    import os

    # The Hugging Face export's own per-split bars would interleave with ours.
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    from curate.demo import DemoSettings, run_demo

    settings = DemoSettings.quick() if quick else DemoSettings()
    changes: dict = {
        "generator": None if generator.lower() == "none" else generator,
        "device": device,
    }
    if fit_steps is not None:
        changes["fit_steps"] = fit_steps
    settings = settings.model_copy(update=changes)

    def step(message: str) -> None:
        styled = message if message.startswith(" ") else click.style(message, bold=True)
        click.echo(styled, err=True)

    result = run_demo(
        Path(out),
        data=Path(data) if data else None,
        truth=Path(truth) if truth else None,
        overwrite=overwrite,
        settings=settings,
        step=step,
        progress_bar=progress_bar,
    )
    if as_json:
        emit_json(result)
        return
    o = result.outputs
    rows = [("workspace", o["workspace"])]
    rows += [(f"export {k[7:]}", v) for k, v in o.items() if k.startswith("export_")]
    if "evaluation" in o:
        rows.append(("evaluation", o["evaluation"]))
    rows += [("report", f"{o['report_html']}   (open it in a browser)"), ("", o["report_md"])]
    click.echo("")
    click.echo(click.style(f"Done in {result.seconds:.0f} s. Where everything went:", bold=True))
    for name, where in rows:
        click.echo(f"  {name:<16}{where}")
    same = result.raw == result.curated  # curation changed nothing on this data
    click.echo(
        f"  versions        {result.raw} = raw = curated (curation changed nothing) "
        f"(`curate -w {out} log`)"
        if same
        else f"  versions        {result.raw} = raw, {result.curated} = curated "
        f"(`curate -w {out} log`, `curate -w {out} diff raw curated`)"
    )
    click.echo(
        f"  next            `curate tui {out}` to go through it by hand; your own images: "
        "`curate demo --data FOLDER --out DIR`"
    )
    if result.accuracy:
        acc, f1 = result.accuracy, result.macro_f1
        click.echo("")
        click.echo("Held-out accuracy / macro-F1 (clean labels):")
        names = (
            ("baseline", "raw"),
            ("candidate", "raw = curated" if same else "curated"),
            ("oracle", "oracle"),
        )
        for role, name in names:
            if role in acc:
                click.echo(f"  {name:<{13 if same else 8}} {acc[role]:.2%} / {f1[role]:.2%}")
        gap = result.gap_closed_accuracy
        if gap is not None:
            click.echo(f"  curation closed {gap:.0%} of the raw -> oracle accuracy gap")
    for note in result.skipped:
        click.echo(f"skipped: {note}", err=True)
