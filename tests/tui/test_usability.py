"""Empty states, the Versions log at 80 and 120 columns, help and quit in the footer.

An empty state (no scan yet, a filter that matches nothing, no version yet)
is one calm line inside the screen, never the error modal.
"""

from __future__ import annotations

import pytest

from curate.tui import messages as m
from curate.tui.app import CurateApp
from curate.tui.screens.dialogs import ErrorModal
from curate.tui.screens.review import ReviewScreen
from curate.tui.screens.versions import VersionsScreen
from tests.tui.conftest import SMALL, call, drive, settle


def _failures(seen: list) -> list:
    failed = {id(x): x for x in seen if isinstance(x, m.JobFailed)}.values()
    return [(f.description, repr(f.error)) for f in failed]


def _empty_text(screen, selector: str) -> str:
    """The empty-state line of ``selector`` as shown ("" while hidden)."""
    widget = screen.query_one(selector)
    return str(widget.render()) if widget.display else ""


@pytest.fixture
def unscanned_ws(tmp_path):
    """digits ingested (every sample labeled), never scanned nor committed."""
    from curate.api import Workspace
    from tests.conftest import SAMPLE_DIGITS

    root = tmp_path / "unscanned"
    ws = Workspace.init(root)
    try:
        ws.ingest(SAMPLE_DIGITS)
    finally:
        ws.close()
    return root


@drive
async def test_review_before_any_scan_is_an_empty_state_not_an_error(unscanned_ws):
    seen: list = []
    app = CurateApp(unscanned_ws)
    async with app.run_test(size=SMALL, message_hook=seen.append) as pilot:
        await pilot.press("2")
        await settle(app, pilot)
        assert isinstance(app.screen, ReviewScreen), app.screen
        assert not _failures(seen)
        assert (
            _empty_text(app.screen, "#findings-empty")
            == "No scan yet: press 1 for Overview, then s to scan"
        )
        # The advice works: scan (as Overview's s does), come back, the list fills.
        call(app, app.ws.scan, "pixels", folds=2, seed=0, write=True)
        await pilot.press("1")
        await settle(app, pilot)
        await pilot.press("2")
        await settle(app, pilot)
        assert not _failures(seen)
        assert app.screen.findings
        assert _empty_text(app.screen, "#findings-empty") == ""


@drive
async def test_a_filter_matching_nothing_says_so(digits_template):
    seen: list = []
    app = CurateApp(digits_template)
    async with app.run_test(size=SMALL, message_hook=seen.append) as pilot:
        await pilot.press("2")
        await settle(app, pilot)
        screen = app.screen
        assert screen.findings and _empty_text(screen, "#findings-empty") == ""
        # digits has no image under two labels: the conflict filter matches nothing.
        assert not call(app, app.ws.findings, "conflict")
        screen.query_one("#kind-filter").value = "conflict"
        await settle(app, pilot)
        assert not screen.findings
        assert _empty_text(screen, "#findings-empty") == "No findings match this filter"
        assert "scan" not in str(screen.query_one("#preview-info").render())
        assert not _failures(seen)


@drive
async def test_versions_before_any_commit_say_how_to_commit(unscanned_ws):
    seen: list = []
    app = CurateApp(unscanned_ws)
    async with app.run_test(size=SMALL, message_hook=seen.append) as pilot:
        await pilot.press("5")
        await settle(app, pilot)
        assert isinstance(app.screen, VersionsScreen)
        assert _empty_text(app.screen, "#log-empty") == "No versions yet: press c to commit"
        await pilot.press("c", *"first", "enter")  # the advice works
        await settle(app, pilot)
        assert not isinstance(app.screen, ErrorModal) and not _failures(seen)
        assert [v.name for v in app.screen.versions] == ["v1"]
        assert _empty_text(app.screen, "#log-empty") == ""


LONG_MESSAGE = "dropped the blurry sevens and relabeled every four that the scan flagged " * 2


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@drive
async def test_versions_log_cuts_the_message_not_tags_samples_or_date(digits_ws, size):
    app = CurateApp(digits_ws)
    async with app.run_test(size=size) as pilot:
        sample = call(app, app.ws.samples).column("sample_id")[0].as_py()
        call(app, app.ws.drop, [sample], reason="test", write=True)
        call(app, app.ws.commit, LONG_MESSAGE, write=True)
        call(app, app.ws.tag, "release", "v2", write=True)
        await pilot.press("5")
        await settle(app, pilot)
        log = app.screen.query_one("#log")
        assert log.virtual_size.width <= log.scrollable_content_region.width  # no h-scroll
        lines = [log.render_line(y).text for y in range(3)]
        header, rows = lines[0], lines[1:]
        for word in ("version", "message", "tags", "samples", "date"):
            assert word in header, header
        versions = app.screen.versions
        for line, v, tag in zip(rows, versions, ["release", ""], strict=True):
            assert f" {v.name} " in line and tag in line, line
            assert str(v.stats.samples) in line, line
            assert v.created_at.strftime("%Y-%m-%d") in line, line
        assert "…" in rows[0] and LONG_MESSAGE[:6] in rows[0]
        if size == (120, 40):
            assert versions[0].hash[:8] in rows[0]  # room for the hash too
        # Resized, the columns follow the pane.
        await pilot.resize_terminal(*reversed_size(size))
        await settle(app, pilot)
        await pilot.pause(0.1)
        line = log.render_line(1).text
        assert "release" in line and str(versions[0].stats.samples) in line, line
        assert versions[0].created_at.strftime("%Y-%m-%d") in line, line


def reversed_size(size: tuple[int, int]) -> tuple[int, int]:
    return (120, 40) if size == (80, 24) else (80, 24)


@drive
async def test_footer_shows_help_and_quit_first_at_80_columns(digits_template):
    app = CurateApp(digits_template)
    async with app.run_test(size=SMALL) as pilot:
        for screen_key in "12345":
            await pilot.press(screen_key)
            await settle(app, pilot)
            for running in (False, True):
                if running:  # a long job adds "^x Cancel job" to the footer
                    app.jobs[999] = m.JobState(999, "test job")
                else:
                    app.jobs.pop(999, None)
                app.refresh_bindings()
                await pilot.pause(0.1)
                await pilot.pause()
                keys = {k.key: k for k in app.screen.query("FooterKey")}
                palette = next(k for k in keys.values() if k.has_class("-command-palette"))
                for key in ("question_mark", "q"):
                    assert key in keys, (screen_key, sorted(keys))
                    region = keys[key].region
                    assert region.width and region.right <= palette.region.x, (screen_key, key)
            app.jobs.pop(999, None)
            app.refresh_bindings()


@drive
async def test_nav_bar_cuts_a_long_workspace_name_not_the_screens_or_help(tmp_path):
    """At 80 columns a long name gave way to nothing: "? help" and screens were cut off.
    The name is plain text, not markup (a "[b]" in it used to be eaten as a style)."""
    from curate.api import Workspace

    name = "[b]customer-photos-2026-november-curated"
    Workspace.init(tmp_path / name).close()
    app = CurateApp(tmp_path / name)
    async with app.run_test(size=SMALL) as pilot:
        await settle(app, pilot)
        nav = app.screen.query_one("#nav")
        shown = str(nav.render())
        assert shown.endswith("? help") and "5 Versions" in shown, shown
        assert len(shown) <= SMALL[0], shown
        assert shown.startswith("curate · [b]") and "…" in shown, shown
        await pilot.resize_terminal(160, 24)
        await settle(app, pilot)
        assert name in str(nav.render())
