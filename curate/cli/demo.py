"""`curate demo`: the whole loop on the bundled sample data."""

from __future__ import annotations

from pathlib import Path

import click

from curate.cli.render import emit_json, json_option


@click.command("demo")
@click.option(
    "--out",
    default="curate-demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the demo workspace and its outputs.",
)
@click.option(
    "--data",
    default=None,
    type=click.Path(exists=True, file_okay=False),
    help="Image folder to use instead of the bundled sample digits.",
)
@click.option("--overwrite", is_flag=True, help="Replace a workspace left by an earlier demo.")
@json_option
def demo_cmd(out: str, data: str | None, overwrite: bool, as_json: bool) -> None:
    """Run curate end to end on the bundled sample data and say where everything went."""
    from curate.demo import run_demo

    def step(message: str) -> None:
        click.echo(f"==> {message}", err=True)

    result = run_demo(Path(out), data=Path(data) if data else None, overwrite=overwrite, step=step)
    if as_json:
        emit_json(result)
        return
    status = result["status"]
    click.echo(f"Workspace: {result['workspace']}")
    click.echo(f"Samples: {status['samples']} in {len(status['classes'])} classes")
    click.echo("Per class: " + ", ".join(f"{k}={v}" for k, v in status["classes"].items()))
    click.echo(f"Quarantined: {status['quarantined']}, label conflicts: {status['conflicts']}")
