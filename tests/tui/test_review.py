"""Review screen: decisions go through the working-changes API and show in `curate changes`."""

from __future__ import annotations

from click.testing import CliRunner

from curate.api import Workspace
from curate.tui import messages as m
from curate.tui.app import CurateApp
from curate.tui.screens.dialogs import ClassPicker, ConfirmDialog
from curate.tui.screens.review import ReviewScreen
from curate.tui.widgets.image import PixelImage, ThumbnailStrip
from tests.tui.conftest import SIZE, call, drive, settle


def _of(messages, cls):
    """Messages of ``cls``, once each (a bubbling message is seen by several pumps)."""
    return list({id(x): x for x in messages if isinstance(x, cls)}.values())


def _pending(path):
    with Workspace.open(path) as ws:
        return [
            (c.op, c.sample_id, c.from_label, c.label, c.split, c.label_source, c.reason, c.run_id)
            for c in ws.changes()
        ]


async def _open_review(app, pilot):
    await settle(app, pilot)
    await pilot.press("2")
    await settle(app, pilot)
    screen = app.screen
    assert isinstance(screen, ReviewScreen)
    return screen


@drive
async def test_findings_and_preview_match_the_api(digits_ws):
    with Workspace.open(digits_ws) as ws:
        expected = ws.findings(limit=2000)
    seen: list = []
    app = CurateApp(digits_ws)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        screen = await _open_review(app, pilot)
        assert [f.sid for f in screen.findings] == [f.sid for f in expected]
        assert len(_of(seen, m.FindingsLoaded)) >= 1
        # The first (most suspicious) finding is previewed with its neighbours.
        decoded = _of(seen, m.PreviewDecoded)[-1]
        assert decoded.sid == expected[0].sid
        assert screen.query_one(PixelImage).image is decoded.image
        neighbours = [n["sid"] for n in expected[0].details["neighbours"]][:4]
        assert [sid for sid, _ in decoded.neighbours] == neighbours
        assert len(screen.query_one(ThumbnailStrip).items) == len(neighbours)
        # Filter by kind: a new request, and only outliers listed.
        screen.query_one("#kind-filter").value = "outlier"
        await settle(app, pilot)
        assert _of(seen, m.FindingsRequested)[-1].kind == "outlier"
        assert {f.kind.value for f in screen.findings} <= {"outlier"}
        assert len(screen.findings) == len([f for f in expected if f.kind.value == "outlier"])


@drive
async def test_decisions_land_in_the_catalog_and_undo_cancels_them(digits_ws):
    seen: list = []
    app = CurateApp(digits_ws)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        screen = await _open_review(app, pilot)
        first, second, third = screen.findings[:3]
        assert first.suggested_label and first.suggested_label != first.given_label

        await pilot.press("a")  # accept the suggestion of the first
        await settle(app, pilot)
        recorded = _of(seen, m.ChangeRecorded)[-1]
        assert recorded.decision.action == "accept" and recorded.recorded == 1
        assert recorded.report.run_id == first.run_id  # an AcceptReport of the scan run
        assert screen.selected.sid == second.sid  # moved on

        await pilot.press("d")  # drop the second
        await settle(app, pilot)
        await pilot.press("k")  # keep the third: nothing recorded
        await settle(app, pilot)
        assert screen.status[third.sid] == "kept"

    # The app released the workspace: read the catalog as `curate changes` does.
    pending = _pending(digits_ws)
    assert [(op, sid) for op, sid, *_ in pending] == [
        ("relabel", first.sample_id),
        ("drop", second.sample_id),
    ]
    assert pending[0][2:4] == (first.given_label, first.suggested_label)
    # An accepted suggestion, tied to its scan run, as `curate accept` records it.
    assert pending[0][5] == "accepted-suggestion" and pending[0][7] == first.run_id
    assert pending[0][6].startswith(f"scan run {first.run_id}: label issue")
    assert pending[1][5:] == (None, f"review: dropped ({second.kind.value} finding)", None)

    # Undo twice in a new session is not possible (the stack is per session), so
    # undo within one: drop -> restore, accept -> relabel back.
    seen.clear()
    app = CurateApp(digits_ws)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        screen = await _open_review(app, pilot)
        # The last session's accept still shows (from the catalog, not the session).
        table = screen.query_one("#findings")
        key = f"{first.kind.value}:{first.sid}"
        assert str(table.get_cell(key, "decision")) == f"→ {first.suggested_label}"
        assert second.sid not in screen._by_sid  # dropped: no longer listed
        target = screen.selected
        await pilot.press("d")
        await settle(app, pilot)
        await pilot.press("u")
        await settle(app, pilot)
        undo = _of(seen, m.ChangeRecorded)[-1]
        assert undo.decision.action == "restore" and undo.decision.undo_of.action == "drop"
        assert screen.selected.sid == target.sid  # undo goes back to the sample
        await pilot.press("u")
        await settle(app, pilot)
    with Workspace.open(digits_ws) as ws:
        live = set(ws.samples().column("sample_id").to_pylist())
    assert target.sample_id in live  # restored
    # The restore cancelled the drop it undid: nothing of it is left to commit,
    # while the first session's decisions (an accepted relabel of the same
    # sample among them) stay pending.
    ops = [(op, sid) for op, sid, *_ in _pending(digits_ws)]
    assert ops == [("relabel", first.sample_id), ("drop", second.sample_id)]


@drive
async def test_relabel_with_the_class_picker(digits_ws):
    seen: list = []
    app = CurateApp(digits_ws)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        screen = await _open_review(app, pilot)
        f = screen.selected
        await pilot.press("r")
        await settle(app, pilot)
        assert isinstance(app.screen, ClassPicker)
        target = "3" if f.current_label != "3" else "4"
        picker = app.screen.query_one("#class-options")
        picker.highlighted = app.screen.class_names.index(target)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is screen
        await pilot.press("u")  # undo: relabel back to the label it had
        await settle(app, pilot)
        undo = _of(seen, m.ChangeRecorded)[-1]
        assert undo.decision.undo_of.action == "relabel" and undo.report.cancelled == 2
    # Relabeled and back: both changes cancelled out, the label is as it was.
    assert _pending(digits_ws) == []
    with Workspace.open(digits_ws) as ws:
        t = ws.samples()
        labels = dict(zip(t["sample_id"].to_pylist(), t["label"].to_pylist(), strict=True))
    assert labels[f.sample_id] == f.current_label


@drive
async def test_class_picker_jumps_to_what_is_typed(digits_ws):
    app = CurateApp(digits_ws)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_review(app, pilot)
        f = screen.selected
        target = "3" if f.current_label != "3" else "4"
        await pilot.press("r")
        await settle(app, pilot)
        await pilot.press(target)
        picker = app.screen
        assert isinstance(picker, ClassPicker)
        assert picker.query_one("#class-options").highlighted == picker.class_names.index(target)
        await pilot.press("enter")
        await settle(app, pilot)
        assert screen.status[f.sid] == f"→ {target}"
    assert [(p[0], p[3]) for p in _pending(digits_ws)] == [("relabel", target)]


@drive
async def test_accept_all_asks_first_and_undoes_as_one_step(digits_ws):
    with Workspace.open(digits_ws) as ws:
        would = ws.accept("label", dry_run=True).accepted
    assert would > 2
    seen: list = []
    app = CurateApp(digits_ws)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        screen = await _open_review(app, pilot)
        await pilot.press("A")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmDialog)
        assert f"Relabel {would} samples" in str(app.screen.query_one("#confirm-message").render())
        await pilot.press("enter")  # the focused button is Cancel: nothing happens
        await settle(app, pilot)
        assert app.screen is screen and not call(app, app.ws.changes)
        await pilot.press("A")
        await settle(app, pilot)
        await pilot.press("y")
        await settle(app, pilot)
        accepted = _of(seen, m.SuggestionsAccepted)[-1].report
        assert not accepted.dry_run and accepted.accepted == would
        assert len(call(app, app.ws.changes)) == would
        await pilot.press("u")  # one step undoes them all
        await settle(app, pilot)
        assert _of(seen, m.RelabelsReverted)[-1].recorded == would
    assert _pending(digits_ws) == []  # each relabel back cancelled the one it undid
    with Workspace.open(digits_ws) as ws:  # every label is what it was
        assert ws.diff("HEAD", "working").relabeled == []


@drive
async def test_tui_and_cli_record_the_same_changes(digits_template, tmp_path):
    """Same decisions, once by keys in the TUI and once as `curate` commands."""
    import shutil

    tui_ws = tmp_path / "a" / "digits"
    cli_ws = tmp_path / "b" / "digits"
    shutil.copytree(digits_template, tui_ws)
    shutil.copytree(digits_template, cli_ws)

    app = CurateApp(tui_ws)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_review(app, pilot)
        f1, f2, f3 = screen.findings[:3]
        await pilot.press("a")  # accept f1
        await settle(app, pilot)
        await pilot.press("d")  # drop f2
        await settle(app, pilot)
        await pilot.press("r")  # relabel f3 as "0" (or "1")
        await settle(app, pilot)
        label3 = "0" if f3.current_label != "0" else "1"
        app.screen.query_one("#class-options").highlighted = app.screen.class_names.index(label3)
        await pilot.press("enter")
        await settle(app, pilot)
    tui = _pending(tui_ws)
    reasons = [r[6] for r in tui]

    from curate.cli import cli

    runner = CliRunner()
    assert tui[0][5] == "accepted-suggestion" and tui[0][7] == f1.run_id
    for args in (
        ["accept", "--type", "label", f1.sample_id],
        ["drop", f2.sample_id, "-m", reasons[1]],
        ["relabel", f3.sample_id, label3, "-m", reasons[2]],
    ):
        result = runner.invoke(cli, ["-w", str(cli_ws), *args])
        assert result.exit_code == 0, result.output
    assert _pending(cli_ws) == tui
    with Workspace.open(tui_ws) as a, Workspace.open(cli_ws) as b:
        cols = ["sample_id", "label", "split"]
        assert a.samples().select(cols).to_pylist() == b.samples().select(cols).to_pylist()
        assert a.diff("HEAD", None).model_dump() == b.diff("HEAD", None).model_dump()


@drive
async def test_the_mouse_reaches_screens_rows_and_actions(digits_ws):
    """Click the nav bar to Review, a row to select it, the footer's Drop to drop it."""
    from textual.widgets import DataTable

    seen: list = []
    app = CurateApp(digits_ws)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await settle(app, pilot)
        nav = app.screen.query_one("#nav")
        column = str(nav.render()).index("2 Review") + 1  # +1: the bar's left padding
        assert await pilot.click("#nav", offset=(column, 0))
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ReviewScreen)
        table = screen.query_one(DataTable)
        row = 3
        assert await pilot.click(table, offset=(2, row + 1))  # +1: the header row
        await settle(app, pilot)
        assert table.cursor_row == row
        target = screen.findings[row]
        assert _of(seen, m.PreviewRequested)[-1].sid == target.sid
        drop = next(k for k in screen.query("FooterKey") if k.description == "Drop")
        assert await pilot.click(drop)
        await settle(app, pilot)
        assert _of(seen, m.ChangeRecorded)[-1].decision.sid == target.sid
    assert [(op, sid) for op, sid, *_ in _pending(digits_ws)] == [("drop", target.sample_id)]


def test_scores_too_small_for_four_decimals_keep_their_exponent():
    """Clear label mistakes score ~1e-10: the score column must not show them all as 0.0000."""
    from curate.tui.screens.review import _score

    assert [_score(v) for v in (1.33e-10, 3e-5, 1e-4, 0.0012, 0.5, 0.0)] == [
        "1e-10",
        "3e-05",
        "0.0001",
        "0.0012",
        "0.5000",
        "0.0000",
    ]
    assert all(len(_score(v)) <= 6 for v in (1e-300, 9.99e-5, 0.99999, 1.0))
    assert _score(None) == ""


def _two_findings_for_one_sample(path):
    """A scan run whose findings name one sample twice (label and near duplicate).

    A default scan of the demo gives such runs (100 findings for 98 samples).
    Returns (sid named twice, sample_id, sid named once).
    """
    import pyarrow as pa

    from curate.store import findings_repo

    with Workspace.open(path) as ws:
        t = ws.samples()
        sids = sorted(t.column("sid").to_pylist())[:2]
        ids = dict(zip(t["sid"].to_pylist(), t["sample_id"].to_pylist(), strict=True))
        table = pa.table(
            {
                "sid": [sids[0], sids[0], sids[1]],
                "kind": ["label", "near_duplicate", "label"],
                "score": [0.001, 0.002, 0.003],
                "is_issue": [True] * 3,
                "suggested_class_id": pa.array([None] * 3, pa.int32()),
                "details": ["{}"] * 3,
            }
        )
        with ws.writing() as cat:
            findings_repo.record_run(
                cat, extractor="test", config={}, seed=0, timing={}, started_at=0.0, findings=table
            )
    return sids[0], ids[sids[0]], sids[1]


@drive
async def test_a_sample_with_two_findings_gets_two_rows_and_one_decision(digits_ws):
    """Each finding is a row; a drop typed on one row marks every row of the sample."""
    twice, sample_id, once = _two_findings_for_one_sample(digits_ws)
    app = CurateApp(digits_ws)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_review(app, pilot)
        table = screen.query_one("#findings")
        assert [(f.sid, f.kind.value) for f in screen.findings] == [
            (twice, "label"),
            (twice, "near_duplicate"),
            (once, "label"),
        ]
        assert table.row_count == 3
        await pilot.press("d")  # drop on the label row
        await settle(app, pilot)
        marks = [str(table.get_cell_at((row, 5))) for row in range(3)]
        assert marks[:2] == ["drop", "drop"] and marks[2] != "drop"
        assert screen.selected.kind.value == "near_duplicate"  # moved on, to the next row
        assert [(c.op, c.sample_id) for c in call(app, app.ws.changes)] == [("drop", sample_id)]


@drive
async def test_keys_typed_before_the_write_returns_act_on_their_own_rows(digits_ws):
    """a then d, no waiting between: accept the first finding, drop the second."""
    from textual import events

    seen: list = []
    app = CurateApp(digits_ws)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        screen = await _open_review(app, pilot)
        first, second, third, fourth = screen.findings[:4]
        # Posted at once, as a fast typist's keys arrive: none waits for a write.
        for key in "addk":
            app.post_message(events.Key(key, key))
        await pilot.pause()
        assert screen.selected is screen.findings[4]  # moved on at once, four rows
        table = screen.query_one("#findings")
        assert str(table.get_cell_at((1, 5))) in ("drop…", "drop")  # pending, then recorded
        await settle(app, pilot)
        assert str(table.get_cell_at((1, 5))) == "drop"
        ops = [(c.op, c.sample_id) for c in call(app, app.ws.changes)]
        assert ops == [
            ("relabel", first.sample_id),
            ("drop", second.sample_id),
            ("drop", third.sample_id),
        ]
        assert screen.status[fourth.sid] == "kept"
        # Undo goes back in the order typed: keep, then the second drop.
        await pilot.press("u", "u")
        await settle(app, pilot)
        assert fourth.sid not in screen.status and third.sid not in screen.status
        ops = [(c.op, c.sample_id) for c in call(app, app.ws.changes)]
        assert ops == [("relabel", first.sample_id), ("drop", second.sample_id)]


@drive
async def test_a_failed_write_clears_its_mark_and_shows_the_error(digits_ws, monkeypatch):
    from curate.errors import CurateError

    def refuse(self, *args, **kwargs):
        raise CurateError("the catalog said no")

    monkeypatch.setattr(Workspace, "drop", refuse)
    app = CurateApp(digits_ws)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_review(app, pilot)
        first = screen.findings[0]
        await pilot.press("d")
        await settle(app, pilot)
        assert app.screen is not screen  # the error modal
        await pilot.pause(0.5)  # the screen notices the write ended without a report
        assert screen.status.get(first.sid) is None and not screen._pending
        table = screen.query_one("#findings")
        assert str(table.get_cell_at((0, 5))) == ""
        assert not screen.undo_stack
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen is screen
        assert str(table.get_cell_at((0, 5))) == ""
    assert _pending(digits_ws) == []


@drive
async def test_dropped_rows_stay_listed_across_a_modal_and_undo_clears_marks(digits_ws):
    app = CurateApp(digits_ws)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_review(app, pilot)
        table = screen.query_one("#findings")
        count = screen.query_one("#findings-count")
        n = len(screen.findings)
        first, second = screen.findings[:2]
        await pilot.press("d")  # drop the first
        await settle(app, pilot)
        await pilot.press("question_mark")  # help, then back: the list is read again
        await settle(app, pilot)
        assert app.screen is not screen
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen is screen
        assert len(screen.findings) == n and str(count.render()) == f"{n} findings"
        assert str(table.get_cell_at((0, 5))) == "drop"
        await pilot.press("u")  # restore: the row stays, unmarked
        await settle(app, pilot)
        assert len(screen.findings) == n and str(table.get_cell_at((0, 5))) == ""
        assert screen.selected.sid == first.sid

        await pilot.press("n", "a")  # accept the second, a modal, undo
        await settle(app, pilot)
        assert str(table.get_cell_at((1, 5))) == f"✓ {second.suggested_label}"
        await pilot.press("question_mark")
        await settle(app, pilot)
        await pilot.press("escape")
        await settle(app, pilot)
        await pilot.press("u")
        await settle(app, pilot)
        assert str(table.get_cell_at((1, 5))) == ""  # nothing pending: no mark
        assert call(app, app.ws.changes) == []
        await pilot.press("R")  # an explicit reload: all listed again (nothing dropped)
        await settle(app, pilot)
        assert len(screen.findings) == n
