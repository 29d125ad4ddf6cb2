"""`curate synth` (generate, gate and admit samples) and `curate generators` (list them)."""

from __future__ import annotations

import sys

import click

from curate.cli.render import (
    cancel_on_interrupt,
    emit_json,
    json_option,
    open_workspace,
    parse_key_values,
    progress_bar,
)
from curate.errors import InvalidInput


@click.command("synth")
@click.option(
    "--generator",
    "-g",
    required=True,
    help="Generator plugin: ddpm, gan, pipeline or any installed one (see `curate generators`).",
)
@click.option(
    "--classes",
    help="Comma-separated class names. Default: every class the balancing plan says is short.",
)
@click.option(
    "--n",
    type=click.IntRange(min=1),
    help="Images to generate per class. Default: what the balancing plan says each class needs.",
)
@click.option(
    "--target",
    type=click.IntRange(min=1),
    help="Balancing target per class (default: the largest class's count).",
)
@click.option(
    "--fit-steps",
    type=click.IntRange(min=0),
    help="Training steps (default: the generator's). A matching fitted checkpoint is reused.",
)
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="auto (CUDA when present), cpu, cuda or cuda:N.",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed.")
@click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Generator option (repeatable); VALUE is read as JSON when it parses. "
    "`curate generators` lists each generator's options.",
)
@click.option(
    "--min-confidence",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Gate: the classifier's probability of the target class must reach this.",
)
@click.option(
    "--near-duplicate-distance",
    type=click.FloatRange(min=0),
    default=None,
    help="Gate: RMS pixel distance (0-1 scale) at or below which an image counts as a copy "
    "of a real one. Default: calibrated on the training images.",
)
@click.option(
    "--fill/--no-fill",
    default=False,
    help="Keep generating until N per class pass the gate (at most --max-attempts x N).",
)
@click.option(
    "--max-attempts",
    type=click.FloatRange(min=1),
    default=3.0,
    show_default=True,
    help="With --fill: stop after generating this many times N.",
)
@click.option("--refit", is_flag=True, help="Fit again even if a matching checkpoint exists.")
@click.option(
    "--ray-address",
    default=None,
    help="Run the generator in a Ray actor on a GPU host (ray://host:10001, auto, or "
    "'local'). Needs `pip install \"curate[remote]\"` on both sides.",
)
@click.option(
    "--remote-gpus",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="GPUs the Ray actor reserves.",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default=None,
    help="ray: host the generator in a Ray actor with --remote-gpus GPUs on the cluster at "
    "--ray-address or $CURATE_RAY_ADDRESS (default: a local Ray instance). "
    "Default: $CURATE_ENGINE, else local.",
)
@click.option("--progress/--no-progress", "show_progress", default=True, help="Progress bar.")
@json_option
@click.pass_context
def synth_cmd(
    ctx: click.Context,
    generator: str,
    classes: str | None,
    n: int | None,
    target: int | None,
    fit_steps: int | None,
    device: str,
    seed: int,
    params: tuple[str, ...],
    min_confidence: float,
    near_duplicate_distance: float | None,
    fill: bool,
    max_attempts: float,
    refit: bool,
    ray_address: str | None,
    remote_gpus: float,
    engine: str | None,
    show_progress: bool,
    as_json: bool,
) -> None:
    """Generate images for rare classes, gate them, admit the good ones.

    The generator is fitted on the workspace's original training images
    (once: the checkpoint is cached by content) and samples each class. Every
    image then passes the quality gate: the classifier must predict its
    class (--min-confidence), it must not copy a training image (memorised)
    nor a val/test image (leakage), and not repeat another image. Survivors
    become pending additions to the train split with origin "synthetic" and
    their lineage (generator, checkpoint hash, seed, class, options).

    Ctrl-C stops after the current batch, keeps what was admitted, prints
    the result and exits with status 130.
    """
    from curate.synthesize import GateSettings, SynthRequest

    class_list = None
    if classes is not None:
        class_list = [c.strip() for c in classes.split(",") if c.strip()]
        if not class_list:
            raise InvalidInput("--classes is empty")
    from curate.plugins.registry import parse_params

    request = parse_params(
        SynthRequest,
        {
            "generator": generator,
            "classes": class_list,
            "n": n,
            "target": target,
            "fit_steps": fit_steps,
            "device": device,
            "seed": seed,
            "params": parse_key_values(params),
            "gate": GateSettings(
                min_confidence=min_confidence, near_duplicate_distance=near_duplicate_distance
            ),
            "fill": fill,
            "max_attempts": max_attempts,
            "refit": refit,
            "ray_address": ray_address,
            "remote_gpus": remote_gpus,
            "engine": engine,
        },
    )
    with (
        open_workspace(ctx) as ws,
        cancel_on_interrupt() as stop,
        progress_bar("synthesizing", enabled=show_progress) as progress,
    ):
        result = ws.synthesize(request, progress=progress, cancel=stop.is_set)
    if as_json:
        emit_json(result)
    else:
        _render(result)
    if result.cancelled:
        sys.exit(130)  # like any interrupted command, after reporting what was kept


def _render(result) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)  # stdout: the result is the command's output
    if result.fit_cancelled and result.checkpoint is None:
        fit = "the fit was stopped before it finished"
    elif result.checkpoint_reused:
        fit = "reused a fitted checkpoint"
    elif result.fit is not None and result.fit.steps:
        fit = f"fitted {result.fit.steps} steps in {result.fit.seconds:.1f}s"
    else:
        fit = "no fitting needed"
    checkpoint = f"; checkpoint {result.checkpoint[:12]}" if result.checkpoint else ""
    console.print(f"{result.generator} on {result.device} ({result.where}): {fit}{checkpoint}")
    if result.classes:  # none when a cancel stopped the first fit: nothing was sampled
        table = Table(title=f"{result.admitted} admitted, {result.rejected} rejected")
        for col in ("class", "asked", "made", "admitted", "rejected", "conf", "FD", "FD real"):
            table.add_column(col, justify="left" if col == "class" else "right")
        for c in result.classes:
            table.add_row(
                c.class_name,
                str(c.requested),
                str(c.generated),
                str(c.admitted),
                str(c.rejected),
                "-" if c.mean_confidence is None else f"{c.mean_confidence:.2f}",
                "-" if c.feature_distance is None else f"{c.feature_distance:.2f}",
                "-" if c.real_split_half_distance is None else f"{c.real_split_half_distance:.2f}",
            )
        console.print(table)
    for c in result.classes:
        if c.reasons:
            why = ", ".join(f"{k} {v}" for k, v in c.reasons.items())
            console.print(f"Rejected {c.class_name}: {why}")
    if result.classes:
        console.print(
            f"Gate: classifier {result.classifier}, near-duplicate distance "
            f"{result.near_duplicate_distance}, leakage check "
            f"{'on' if result.leakage_checked else 'off'}. FD: feature distance real vs "
            "admitted (FD real: between two halves of the real images)."
        )
    # A cancel is said once, by the engine's note: it knows what the cancel stopped.
    for note in result.notes:
        console.print(f"Note: {note}")
    if result.admitted:
        console.print(
            f"{result.admitted} samples are pending additions to train (origin synthetic)."
        )


@click.command("generators")
@json_option
def generators_cmd(as_json: bool) -> None:
    """List installed generators with their capabilities and options."""
    from curate.synthesize import list_generators

    rows = list_generators(load=True)
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        if "error" in row:
            click.echo(f"{row['name']}: cannot load ({row['error']})")
            continue
        flags = [
            k
            for k in (
                "supports_class_conditional",
                "needs_fit",
                "needs_gpu",
                "deterministic_with_seed",
            )
            if row.get(k)
        ]
        click.echo(f"{row['name']} - {row['description']} [{', '.join(flags)}]")
        click.echo(f"  from {row['distribution']} ({row['entry_point']})")
        for p in row["params"]:
            default = "required" if p["required"] else f"default {p['default']!r}"
            click.echo(f"  -p {p['name']}=...  ({p['stage']}, {default}) {p['description']}")
