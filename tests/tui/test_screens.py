"""Overview, Versions, Augment, Synthesize, help, palette and the error modal, driven by keys."""

from __future__ import annotations

import time

import pytest

from curate.augment.engine import UNSPLIT_WARNING
from curate.tui import messages as m
from curate.tui.app import CurateApp
from curate.tui.screens.dialogs import (
    ConfirmDialog,
    ErrorModal,
    ExportDialog,
    ScanDialog,
    TextPrompt,
)
from curate.tui.screens.help import HelpScreen
from curate.tui.screens.overview import OverviewScreen
from curate.tui.screens.versions import VersionsScreen
from curate.tui.widgets.charts import ClassBars
from curate.tui.widgets.jobs import JobPanel
from tests.tui.conftest import SIZE, call, drive, settle, wait_until


def _of(messages, cls):
    """Messages of ``cls``, once each (a bubbling message is seen by several pumps)."""
    return list({id(x): x for x in messages if isinstance(x, cls)}.values())


@drive
async def test_overview_shows_the_catalog(digits_template):
    seen: list = []
    app = CurateApp(digits_template)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, OverviewScreen)
        data = _of(seen, m.OverviewLoaded)[-1].data
        status = call(app, app.ws.status)
        bars = app.screen.query_one(ClassBars).classes_
        assert [(c.name, c.count, c.by_split) for c in bars] == [
            (c.name, c.count, c.by_split) for c in status.class_details
        ]
        assert data.head.name == "v1" and data.pending == 0
        findings = call(app, app.ws.findings, as_arrow=True)
        assert data.issues["label"] == findings.column("kind").to_pylist().count("label") > 0
        plan = call(app, app.ws.balancing_plan)
        rows = app.screen.query_one("#plan").rows
        assert [(r[0], int(r[1])) for r in rows] == [(c.name, c.count) for c in plan.classes]


@drive
async def test_scan_runs_as_a_job_and_can_be_cancelled(digits_ws):
    seen: list = []
    app = CurateApp(digits_ws)
    real_scan = app.ws.scan

    def scan_after_ctrl_x(*args, cancel, **kwargs):
        # Hold the real scan until the key press has cancelled the worker, so the
        # engine sees cancel() == True at its first check however fast it is.
        deadline = time.monotonic() + 30
        while not cancel() and time.monotonic() < deadline:
            time.sleep(0.01)
        return real_scan(*args, cancel=cancel, **kwargs)

    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await settle(app, pilot)
        runs_before = len(call(app, app.ws.scan_runs))
        # Start a scan and cancel it with ctrl+x: the engine stops, nothing is recorded.
        app.ws.scan = scan_after_ctrl_x
        await pilot.press("s")
        await settle(app, pilot)
        assert isinstance(app.screen, ScanDialog)
        app.screen.query_one("#extractor").value = "pixels"
        app.screen.query_one("#folds").value = "2"
        await pilot.click("#ok")
        await pilot.pause()
        assert app.jobs
        await pilot.pause()
        panel, footer = app.screen.query_one(JobPanel), app.screen.query_one("Footer")
        assert panel.jobs and panel.region.height >= 1  # shown, above the footer
        assert panel.region.bottom <= footer.region.y
        # q while a job runs asks first; escape keeps the app and the job.
        # (pauses, not settle: settle waits for workers, and this one waits for ctrl+x)
        await pilot.press("q")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfirmDialog) and app.is_running and app.jobs
        await pilot.press("escape")
        await pilot.pause(0.2)
        overview = app.screen
        # Another mode's screen shows the running job too, and loses it when it ends.
        await pilot.press("2")
        await pilot.pause(0.5)
        assert app.screen.query_one(JobPanel).jobs
        await pilot.press("ctrl+x")
        await wait_until(pilot, lambda: _of(seen, m.JobFailed) or _of(seen, m.ScanFinished))
        failed = _of(seen, m.JobFailed)
        assert [type(f.error).__name__ for f in failed] == ["Cancelled"]
        await wait_until(pilot, lambda: not app.jobs)
        await pilot.press("1")
        await settle(app, pilot)
        assert app.screen is overview and not overview.query_one(JobPanel).jobs  # not stale
        assert not _of(seen, m.ScanFinished)
        assert len(call(app, app.ws.scan_runs)) == runs_before
        # A full scan posts ScanFinished with the new run, and the overview follows.
        app.ws.scan = real_scan
        await pilot.press("s")
        await settle(app, pilot)
        app.screen.query_one("#extractor").value = "pixels"
        app.screen.query_one("#folds").value = "2"
        await pilot.click("#ok")
        await wait_until(
            pilot, lambda: _of(seen, m.ScanFinished) or len(_of(seen, m.JobFailed)) > 1
        )
        await settle(app, pilot)
        finished = _of(seen, m.ScanFinished)
        assert len(finished) == 1
        assert len(call(app, app.ws.scan_runs)) == runs_before + 1
        assert _of(seen, m.OverviewLoaded)[-1].data.scan_run == finished[0].result.run_id
        assert any(isinstance(x, m.JobProgressed) for x in seen)


@drive
async def test_versions_commit_tag_diff_export(digits_ws, tmp_path):
    seen: list = []
    app = CurateApp(digits_ws)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await settle(app, pilot)
        await pilot.press("5")
        await settle(app, pilot)
        assert isinstance(app.screen, VersionsScreen)
        # Nothing pending: the commit fails with the API's message, as a modal.
        await pilot.press("c")
        await pilot.press(*"empty", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ErrorModal)
        assert "nothing to commit" in app.screen.message.lower()
        await pilot.press("escape")
        expected_failures = len(_of(seen, m.JobFailed))

        def no_new_failures() -> None:
            failed = _of(seen, m.JobFailed)[expected_failures:]
            assert not failed, [(f.description, repr(f.error)) for f in failed]
            assert isinstance(app.screen, VersionsScreen), app.screen

        # A pending change, then commit through the dialog.
        sample = call(app, app.ws.samples).column("sample_id")[0].as_py()
        call(app, app.ws.drop, [sample], reason="test", write=True)
        await pilot.press("r")
        await settle(app, pilot)
        no_new_failures()
        assert "1 pending" in str(app.screen.query_one("#changes-title").render())
        await pilot.press("c")
        assert isinstance(app.screen, TextPrompt)
        await pilot.press(*"drop one", "enter")
        await settle(app, pilot)
        no_new_failures()
        log = call(app, app.ws.log)
        assert [v.name for v in log] == ["v2", "v1"] and log[0].message == "drop one"
        assert _of(seen, m.Committed)[-1].result.version.name == "v2"
        # Diff v2 with its parent: one removed sample, class table per class.
        await pilot.press("d")
        await settle(app, pilot)
        no_new_failures()
        diff = _of(seen, m.DiffLoaded)[-1].diff
        assert (diff.a, diff.b) == ("v1", "v2") and len(diff.removed) == 1
        assert app.screen.query_one("#diff-classes").row_count == len(diff.classes)
        # Tag it.
        await pilot.press("t")
        await pilot.press(*"curated", "enter")
        await settle(app, pilot)
        no_new_failures()
        assert [(t.name, t.version) for t in call(app, app.ws.tags)] == [("curated", "v2")]
        # Export it as parquet.
        out = tmp_path / "export"
        no_new_failures()
        await pilot.press("e")
        await settle(app, pilot)
        assert isinstance(app.screen, ExportDialog)
        app.screen.query_one("#format").value = "parquet"
        app.screen.query_one("#out").value = str(out)
        await settle(app, pilot)
        await pilot.click("#ok")
        await settle(app, pilot)
        no_new_failures()
        exported = _of(seen, m.Exported)[-1].result
        assert exported.version == "v2" and exported.samples == log[0].stats.samples
        assert any(out.iterdir())
        assert exported.warnings == []  # every sample has a split
        warned = exported.model_copy(update={"warnings": ["12 sample(s) have no split"]})
        app.screen.post_message(m.Exported(warned))
        await settle(app, pilot)
        assert "12 sample(s) have no split" in [n.message for n in app._notifications]
        # The same folder again: the error's hint names the dialog's checkbox, not a flag.
        await pilot.press("e")
        await settle(app, pilot)
        app.screen.query_one("#format").value = "parquet"
        app.screen.query_one("#out").value = str(out)
        await settle(app, pilot)
        await pilot.click("#ok")
        await settle(app, pilot)
        assert isinstance(app.screen, ErrorModal)
        assert "overwrite a non-empty folder" in app.screen.hint and "--" not in app.screen.hint


@drive
async def test_augment_validates_previews_and_runs(digits_ws):
    from curate.augment.policy import load_preset

    seen: list = []
    app = CurateApp(digits_ws)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await settle(app, pilot)
        await pilot.press("3")
        await settle(app, pilot, rounds=6)
        editor = app.screen.query_one("#policy")
        assert editor.text == load_preset("light").to_yaml()
        assert _of(seen, m.PolicyValidated)[-1].issues == []
        # A bad value: the validator names the field.
        editor.load_text(editor.text.replace("rotate: [-10, 10]", "rotate: [-10, 10, 3]"))
        await pilot.pause(0.5)
        await settle(app, pilot)
        issues = _of(seen, m.PolicyValidated)[-1].issues
        assert issues and issues[0].path.startswith("pipeline[0]")
        assert "pipeline[0]" in str(app.screen.query_one("#validation").render())
        await pilot.press("ctrl+r")  # refused while invalid
        await settle(app, pilot)
        assert not _of(seen, m.AugmentPreviewRequested)
        editor.load_text(load_preset("light").to_yaml())
        await pilot.pause(0.5)
        await settle(app, pilot)
        app.screen.query_one("#preview-class").value = "5"
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        image = _of(seen, m.AugmentPreviewed)[-1].image
        assert image.ndim == 3 and app.screen.query_one("#augment-preview").image is image
        # Dry run writes nothing; the real run adds pending samples.
        pending = len(call(app, app.ws.changes))
        await pilot.press("ctrl+o")
        await settle(app, pilot)
        report = _of(seen, m.Augmented)[-1].report
        assert report.dry_run and len(call(app, app.ws.changes)) == pending
        needs = ", ".join(f"{c.name} +{c.needed}" for c in report.classes if c.needed)
        assert any(needs in n.message for n in app._notifications)  # per class, not a total
        await pilot.press("ctrl+g")
        await settle(app, pilot)
        report = _of(seen, m.Augmented)[-1].report
        assert not report.dry_run and report.added > 0
        assert len(call(app, app.ws.changes)) == pending + report.added
        assert report.warnings == []  # split first: nothing to warn about
        # A run's warnings are shown, as the CLI prints them.
        warned = report.model_copy(update={"warnings": [UNSPLIT_WARNING]})
        app.screen.post_message(m.Augmented(warned))
        await settle(app, pilot)
        assert UNSPLIT_WARNING in [n.message for n in app._notifications]


@drive
async def test_synthesize_form_and_api_errors(digits_ws):
    seen: list = []
    app = CurateApp(digits_ws)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await settle(app, pilot)
        await pilot.press("4")
        await settle(app, pilot, rounds=6)
        loaded = _of(seen, m.GeneratorsLoaded)[-1]
        names = [g["name"] for g in loaded.generators]
        assert app.screen.query_one("#generator").value == "gan"  # fast on a CPU
        form_rows = app.screen.query_one("#synth-params").rows
        gan = loaded.generators[names.index("gan")]
        assert [r["name"] for r in form_rows] == [p["name"] for p in gan["params"]]
        ticked = [c.name for c in app.screen.query("Checkbox") if c.value]
        assert ticked == [c.name for c in loaded.plan.classes if c.needed > 0]
        # An option the generator's Params refuse: the API's error, as a modal.
        first_int = next(r for r in form_rows if r["type"] == "int")
        field = next(
            i for i in app.screen.query("#synth-params Input") if i.name == first_int["name"]
        )
        field.value = '"many"'
        await pilot.press("ctrl+g")
        await settle(app, pilot)
        assert isinstance(app.screen, ErrorModal)
        assert first_int["name"] in app.screen.message
        assert not _of(seen, m.Synthesized)
        assert call(app, app.ws.changes) == []


@drive
async def test_help_and_command_palette(digits_template):
    app = CurateApp(digits_template)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("2")
        await settle(app, pilot)
        review = app.screen
        titles = [c.title for c in app.get_system_commands(review)]
        for expected in ("Go to Versions", "Review: Accept", "Review: Drop", "Review: Undo"):
            assert expected in titles
        await pilot.press("question_mark")
        await settle(app, pilot)
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await settle(app, pilot)
        await pilot.press(*"Go to Versions")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, VersionsScreen)


@drive
async def test_every_screen_fits_80x24_and_resizes_cleanly(digits_template):
    """Each screen at 80x24, grown to 140x45, shrunk again: the layout and the images follow."""
    from curate.tui.widgets.image import HalfBlockImage

    seen: list = []
    app = CurateApp(digits_template)
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        for key in "12345":
            await pilot.press(key)
            await settle(app, pilot, rounds=6)
            assert not isinstance(app.screen, ErrorModal), key
            for width, height in ((80, 24), (140, 45), (80, 24)):
                if (width, height) != app.screen.size:
                    await pilot.resize_terminal(width, height)
                    await settle(app, pilot)
                screen = app.screen
                assert screen.size == (width, height)
                assert screen.query_one("#nav").region.y == 0
                assert screen.query_one("Footer").region.bottom == height
                # Whole widgets only (the footer's keys scroll, as Textual's footer does).
                for widget in screen.query("*").exclude("Footer, FooterKey, FooterLabel"):
                    if widget.display and widget.region.area:
                        assert widget.region.right <= width, (key, widget)
                for image in screen.query(HalfBlockImage):
                    if image.image is not None:
                        lines = image._layout_lines()  # fitted to the new size
                        assert 0 < len(lines) <= image.size.height
                        assert max(sum(len(s.text) for s in line) for line in lines) <= (
                            image.size.width
                        )
        assert not _of(seen, m.JobFailed)
        assert _of(seen, m.PreviewDecoded)  # the review pane had an image to re-fit


@pytest.mark.slow
@drive
async def test_synthesize_runs_a_generator_and_shows_what_was_admitted(tmp_path):
    """The real path once, on a small slice of the sample data (gate training dominates)."""
    import shutil

    from curate.api import Workspace
    from tests.conftest import SAMPLE_DIGITS

    data = tmp_path / "data"
    for cls, n in (("2", 30), ("5", 10), ("9", 30)):
        (data / cls).mkdir(parents=True)
        for src in sorted((SAMPLE_DIGITS / cls).iterdir())[:n]:
            shutil.copy(src, data / cls / src.name)
    root = tmp_path / "small"
    with Workspace.init(root) as ws:
        ws.ingest(data)
    seen: list = []
    app = CurateApp(root)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await settle(app, pilot)
        await pilot.press("4")
        await wait_until(pilot, lambda: _of(seen, m.GeneratorsLoaded), 120)
        await settle(app, pilot, rounds=6)
        app.screen.query_one("#generator").value = "gan"
        await settle(app, pilot)
        for box in app.screen.query("Checkbox"):
            box.value = box.name == "5"
        app.screen.query_one("#synth-n").value = "4"
        app.screen.query_one("#synth-steps").value = "2"
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: _of(seen, m.Synthesized) or _of(seen, m.JobFailed), 300)
        assert not _of(seen, m.JobFailed)
        request = _of(seen, m.SynthesisRequested)[-1].fields
        assert (request["generator"], request["classes"], request["n"]) == ("gan", ["5"], 4)
        result = _of(seen, m.Synthesized)[-1].result
        assert result.generated == 4 and result.admitted + result.rejected == 4
        assert any(isinstance(x, m.JobProgressed) for x in seen)
        await settle(app, pilot)
        grid = app.screen.query_one("ThumbnailGrid")
        assert len(grid.items) == result.admitted
        adds = [c for c in call(app, app.ws.changes) if c.op == "add"]
        assert len(adds) == result.admitted


@drive
async def test_versions_discards_pending_changes(digits_ws):
    app = CurateApp(digits_ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        sids = call(app, app.ws.samples).column("sid").to_pylist()[:3]
        call(app, app.ws.drop, sids, write=True)
        await pilot.press("5")
        await settle(app, pilot)
        screen = app.screen
        assert len(screen.changes) == 3
        first = screen.changes[0].sample_id
        await pilot.press("x")  # the selected change's sample only
        await settle(app, pilot)
        assert len(screen.changes) == 2 and first not in [c.sample_id for c in screen.changes]
        await pilot.press("X")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")  # asked, declined: nothing forgotten
        await settle(app, pilot)
        assert len(call(app, app.ws.changes)) == 2
        await pilot.press("X")
        await settle(app, pilot)
        await pilot.press("y")
        await settle(app, pilot)
        assert call(app, app.ws.changes) == [] and screen.changes == []


@drive
async def test_a_file_system_error_is_told_as_such_not_as_a_bug(digits_ws):
    app = CurateApp(digits_ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        denied = PermissionError(13, "Permission denied", "/data/exports/out")
        app.post_message(m.JobFailed("export", denied))
        await pilot.pause()
        assert isinstance(app.screen, ErrorModal)
        assert app.screen.error_title != "Internal error"
        assert app.screen.message == "permission denied: /data/exports/out"
        await pilot.press("escape")
        app.post_message(m.JobFailed("export", ValueError("a bug")))
        await pilot.pause()
        assert app.screen.error_title == "Internal error"  # real bugs still say so


@drive
async def test_a_lone_minus_in_a_number_field_warns_instead_of_crashing(digits_ws):
    """An integer Input lets a lone '-' through; submitting it crashed the app with
    ValueError (scan dialog's folds and seed)."""
    app = CurateApp(digits_ws)
    seen = []
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await settle(app, pilot)
        await pilot.press("s")
        await settle(app, pilot)
        assert isinstance(app.screen, ScanDialog)
        app.screen.query_one("#folds").value = "-"
        await pilot.click("#ok")
        await pilot.pause(0.2)
        assert app.is_running and isinstance(app.screen, ScanDialog)  # still asking
        assert not app.jobs
        assert any("folds: '-' is not a whole number" in str(n.message) for n in app._notifications)


@drive
async def test_synthesize_form_warns_on_a_lone_minus(digits_ws):
    """The synthesize form's n, fit steps and seed: a lone '-' warns, nothing is posted."""
    seen: list = []
    app = CurateApp(digits_ws)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await settle(app, pilot)
        await pilot.press("4")
        await settle(app, pilot, rounds=6)
        for field in ("n", "steps", "seed"):
            app.screen.query_one(f"#synth-{field}").value = "-"
            await pilot.press("ctrl+g")
            await pilot.pause(0.2)
            assert app.is_running
            notes = [str(n.message) for n in app._notifications]
            assert any(f"{field}: '-' is not a whole number" in t for t in notes), notes
            app.screen.query_one(f"#synth-{field}").value = ""
        assert not _of(seen, m.SynthesisRequested) and not app.jobs


@drive
async def test_class_bars_of_an_unsplit_workspace_are_drawn(tmp_path):
    """status names samples without a split "-"; the chart summed only None/""/"none",
    so an unsplit workspace drew no bars at all."""
    from textual.app import App

    from curate.api import Workspace
    from tests.conftest import SAMPLE_DIGITS

    ws = Workspace.init(tmp_path / "ws")
    try:
        ws.ingest(SAMPLE_DIGITS)
        details = list(ws.status().class_details)
    finally:
        ws.close()
    assert all(set(c.by_split) == {"-"} for c in details)

    class Bars(App):
        def compose(self):
            yield ClassBars()

    app = Bars()
    async with app.run_test(size=(60, 20)) as pilot:
        bars = app.query_one(ClassBars)
        bars.classes_ = details
        await pilot.pause()
        lines = [str(line) for line in bars.render().renderables]
    assert all("█" in line for line in lines[:-1]), lines
    assert "no split" in lines[-1]


def test_progress_throttle_never_drops_the_first_report_of_a_stage():
    """A new stage's first report (done=0, total=None) came within 0.1 s of the last
    report of the stage before and was dropped: the panel stuck at "decoding 1731/1731"."""
    from curate.tui.app import ProgressThrottle

    t = ProgressThrottle(interval=0.1)
    assert t.passes(0, 1731, "decoding images", now=10.0)  # the first report
    assert not t.passes(5, 1731, "decoding images", now=10.01)  # too soon
    assert t.passes(6, 1731, "decoding images", now=10.2)  # due
    assert t.passes(1731, 1731, "decoding images", now=10.21)  # the end of a stage
    assert t.passes(0, None, "extracting features", now=10.22)  # a new stage
    assert not t.passes(1, None, "extracting features", now=10.23)
    assert t.passes(2, None, "extracting features", now=10.4)


@drive
async def test_the_same_write_job_key_again_does_not_cancel_the_running_job(digits_ws):
    """ctrl+g while a synthesis ran cancelled it (an exclusive worker group): a long GAN
    fit thrown away for a repeated key. Now the second press only says it is running."""
    import threading

    from curate.errors import Cancelled

    seen: list = []
    app = CurateApp(digits_ws)
    release, calls = threading.Event(), []

    def blocking_synthesize(*args, cancel, **kwargs):
        calls.append(kwargs)
        deadline = time.monotonic() + 30
        while not release.is_set() and not cancel() and time.monotonic() < deadline:
            time.sleep(0.01)
        raise Cancelled("stopped by the test")

    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await settle(app, pilot)
        app.ws.synthesize = blocking_synthesize
        await pilot.press("4")
        await settle(app, pilot, rounds=6)
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: calls)
        (worker,) = [w for w in app.workers if w.group == "synthesize"]
        await pilot.press("ctrl+g")
        await pilot.pause(0.3)
        assert len(calls) == 1 and not worker.is_cancelled and len(app.jobs) == 1
        notes = [str(n.message) for n in app._notifications]
        assert "synthesis already running (ctrl+x cancels it)" in notes, notes
        release.set()
        await wait_until(pilot, lambda: not app.jobs)
        # Once it has ended, the key starts a new one.
        release.clear()
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: len(calls) == 2)
        release.set()
        await wait_until(pilot, lambda: not app.jobs)


@drive
async def test_augment_zooms_the_preview_and_restores_it(digits_ws):
    """ctrl+f did nothing: PixelImage is not focusable, so Screen.maximize refused it."""
    from curate.tui.widgets.image import PixelImage

    app = CurateApp(digits_ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("3")
        await settle(app, pilot, rounds=6)
        screen = app.screen
        await pilot.press("ctrl+f")  # nothing previewed yet: says so
        await pilot.pause()
        assert screen.maximized is None
        assert any("no preview to zoom" in str(n.message) for n in app._notifications)
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        preview = screen.query_one("#augment-preview", PixelImage)
        assert preview.image is not None
        for restore in ("ctrl+f", "escape"):
            await pilot.press("ctrl+f")
            await pilot.pause()
            assert screen.maximized is preview
            assert preview.region.width == SIZE[0]  # fills the screen's width
            await pilot.press(restore)
            await pilot.pause()
            assert screen.maximized is None and app.screen is screen, restore
