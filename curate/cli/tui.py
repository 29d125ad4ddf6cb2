"""`curate tui [WORKSPACE]`: the terminal UI (Textual is imported only when it runs)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from curate.tui.graphics import GRAPHICS_CHOICES


@click.command("tui")
# Not named "workspace": that is the -w option every command takes (curate.cli.LazyGroup).
@click.argument(
    "workspace_dir",
    metavar="[WORKSPACE]",
    required=False,
    type=click.Path(file_okay=False, path_type=str),
)
@click.option(
    "--graphics",
    type=click.Choice(GRAPHICS_CHOICES),
    default=None,
    help="How images are drawn: kitty or sixel graphics, or colour half-blocks (any "
    "truecolor terminal). Default: $CURATE_TUI_GRAPHICS, else auto (ask the terminal).",
)
@click.pass_context
def tui_cmd(ctx: click.Context, workspace_dir: str | None, graphics: str | None) -> None:
    """Curate in the terminal: overview, review findings, augment, synthesize, versions.

    WORKSPACE defaults to --workspace, then the nearest workspace at or above
    the current folder. Keys: 1-5 switch screens, ? shows the keys of the
    screen, ctrl+p finds any action by name, q quits. An idle TUI holds
    nothing, so other curate commands work while it is open; while one of its
    jobs runs they wait a few seconds, then report the workspace busy.
    """
    from curate.workspace_paths import find_workspace

    given = workspace_dir or (ctx.obj or {}).get("workspace")
    paths = find_workspace(Path(given) if given else None)  # a clear error before any UI
    # Without a terminal on both ends Textual never sees a key and spins a core
    # forever (`curate tui WS </dev/null`): refuse before starting it.
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        from curate.cli.render import error_line

        error_line("curate tui needs an interactive terminal", exit_code=2, kind="UsageError")
        ctx.exit(2)
    from curate.tui import run

    run(paths.root, graphics=graphics)
