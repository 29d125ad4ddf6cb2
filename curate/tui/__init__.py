"""The Textual TUI: ``curate tui [WORKSPACE]``, a thin view over :mod:`curate.api`.

Everything here may import textual; nothing outside ``curate.tui`` imports this
package at module level (``import curate`` and ``curate --help`` stay light; a
test checks). The TUI has no logic of its own: every action is one call of the
Workspace API made in a thread worker (see :mod:`curate.tui.app`).
"""

from __future__ import annotations

from pathlib import Path


def run(workspace: str | Path, *, graphics: str | None = None) -> None:
    """Run the TUI on the workspace at ``workspace`` until the user quits.

    ``graphics``: kitty | sixel | halfblock | auto (see :mod:`curate.tui.graphics`).
    """
    from curate.tui.app import CurateApp

    CurateApp(workspace, graphics=graphics).run()
