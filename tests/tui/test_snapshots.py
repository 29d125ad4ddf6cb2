"""SVG snapshots of each screen on the scanned digits workspace (pytest-textual-snapshot).

Content is deterministic: the same sample data, split seed, scan seed and a
pinned commit time. Update after an intended change with
``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at the
report before committing the new SVGs.
"""

from __future__ import annotations

import pytest

from curate.tui.app import CurateApp
from tests.tui.conftest import SIZE, SMALL, settle, tables_laid_out


def _settled(*keys: str):
    async def run_before(pilot) -> None:
        app = pilot.app
        await settle(app, pilot, rounds=6)
        for key in keys:
            await pilot.press(key)
            await settle(app, pilot, rounds=6)
        app.clear_notifications()
        # A DataTable sizes its columns as rows arrive; let the header catch
        # up with a full layout pass before the screenshot.
        await pilot.pause(0.1)
        app.screen.refresh(layout=True)
        await pilot.pause(0.1)
        await tables_laid_out(app, pilot)

    return run_before


@pytest.mark.parametrize(
    "keys",
    [("1",), ("2",), ("3",), ("4",), ("5", "w")],
    ids=["overview", "review", "augment", "synthesize", "versions"],
)
def test_screen_at_80x24(snap_compare, digits_template, keys):
    app = CurateApp(digits_template)
    assert snap_compare(app, terminal_size=SMALL, run_before=_settled(*keys))


def test_review_at_100x32(snap_compare, digits_template):
    app = CurateApp(digits_template)
    assert snap_compare(app, terminal_size=SIZE, run_before=_settled("2"))


def test_help_on_review(snap_compare, digits_template):
    app = CurateApp(digits_template)
    assert snap_compare(app, terminal_size=SIZE, run_before=_settled("2", "question_mark"))


def test_class_picker(snap_compare, digits_template):
    app = CurateApp(digits_template)
    assert snap_compare(app, terminal_size=SMALL, run_before=_settled("2", "r"))
