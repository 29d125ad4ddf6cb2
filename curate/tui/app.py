"""The curate TUI application: owns the workspace, the workers and the error handler.

How every action flows (STYLE.md, "The TUI calls the library one way"):

1. a screen posts a ``...Requested`` message (:mod:`curate.tui.messages`);
2. a handler here starts ONE thread worker (grouped, with a description)
   whose body is one call of the :class:`curate.api.Workspace` API, given a
   ``progress`` callback that posts :class:`JobProgressed` and a ``cancel``
   callback that reads the worker's cancelled flag;
3. the body posts the past-tense message to the screen that asked;
4. that screen's handler sets attributes on its widgets, which only render.

Errors never reach the screen as tracebacks: the body catches them and posts
:class:`JobFailed`, which :meth:`CurateApp.on_job_failed` (the one handler)
turns into a modal (or a notification for a cancelled job).

Threads and the catalog: the app holds the catalog open only while workers
use it (:class:`curate.tui.catalog_gate.CatalogGate`): an idle TUI holds
nothing, so ``curate status`` or ``curate scan`` in another terminal work
while it is open (DuckDB lets no other process open a file one process has
open for writing). Workers share one connection, each thread with its own
cursor. Writes are queued FIFO (each write job waits for the one started
before it), so review decisions land in the order they were made.
"""

from __future__ import annotations

import itertools
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.message_pump import MessagePump
from textual.screen import Screen
from textual.worker import Worker, WorkerState, get_current_worker

from curate.errors import Cancelled, CurateError
from curate.tui import messages as m
from curate.tui.catalog_gate import CatalogGate
from curate.tui.screens.augment import AugmentScreen
from curate.tui.screens.dialogs import ErrorModal
from curate.tui.screens.help import HelpScreen
from curate.tui.screens.overview import OverviewScreen
from curate.tui.screens.review import ReviewScreen
from curate.tui.screens.synthesize import SynthesizeScreen
from curate.tui.screens.versions import VersionsScreen
from curate.tui.widgets.jobs import JobPanel

# Progress messages are rate limited: engines may report per sample.
_PROGRESS_INTERVAL_S = 0.1


class ProgressThrottle:
    """Which progress reports of one job reach the job panel.

    At most one per ``interval`` seconds, except that the last of a stage
    (done >= total) and the first of a new stage (its message differs from the
    last one posted) always pass: dropping the latter left the panel at
    "decoding images 1731/1731" while the scan went on.
    """

    def __init__(self, interval: float = _PROGRESS_INTERVAL_S) -> None:
        self.interval = interval
        self._last_at: float | None = None
        self._last_message: str | None = None

    def passes(self, done: int, total: int | None, message: str, now: float) -> bool:
        """True when this report should be posted (and it is then counted as posted)."""
        due = self._last_at is None or now - self._last_at >= self.interval
        finished = total is not None and done >= total
        if not (due or finished or message != self._last_message):
            return False
        self._last_at, self._last_message = now, message
        return True


SCREENS_IN_ORDER = [
    ("overview", "Overview"),
    ("review", "Review"),
    ("augment", "Augment"),
    ("synthesize", "Synthesize"),
    ("versions", "Versions"),
]


#: API hints that name a CLI flag, as the TUI says them (its controls, not flags).
TUI_HINTS = {
    "pass --overwrite to replace an earlier export, or name a new or empty folder": (
        'tick "overwrite a non-empty folder" to replace an earlier export, '
        "or name a new or empty folder"
    ),
    "pass --force to move it": "pick another name (moving a tag: curate tag NAME VERSION --force)",
}


class CurateApp(App[None]):
    """``curate tui``. ``workspace`` is a path or an open :class:`Workspace` (tests).

    ``graphics`` is kitty | sixel | halfblock | auto (default: ``$CURATE_TUI_GRAPHICS``,
    else auto, which asks the terminal); images are drawn with it.
    """

    TITLE = "curate"
    CSS_PATH = "app.tcss"
    MODES = {
        "overview": OverviewScreen,
        "review": ReviewScreen,
        "augment": AugmentScreen,
        "synthesize": SynthesizeScreen,
        "versions": VersionsScreen,
    }
    DEFAULT_MODE = "overview"
    BINDINGS = [
        Binding("1", "switch_mode('overview')", "Overview", show=False),
        Binding("2", "switch_mode('review')", "Review", show=False),
        Binding("3", "switch_mode('augment')", "Augment", show=False),
        Binding("4", "switch_mode('synthesize')", "Synthesize", show=False),
        Binding("5", "switch_mode('versions')", "Versions", show=False),
        Binding("question_mark,f1", "help", "Help"),
        # priority: cancels even from an editor; check_action lets ctrl+x reach the
        # editor (cut) while no job runs.
        Binding("ctrl+x", "cancel_jobs", "Cancel job", priority=True),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, workspace: Any, *, graphics: str | None = None) -> None:
        super().__init__()
        from curate.api import Workspace
        from curate.tui.graphics import select_graphics

        # Before the app runs: detection asks the terminal (see curate.tui.graphics).
        self.graphics = select_graphics(graphics)

        if isinstance(workspace, Workspace):
            self.ws = workspace
            self._owns_ws = False
        else:
            self.ws = Workspace.open(Path(workspace))
            self._owns_ws = True
        # Migrate now (a clear error before any UI when another process holds
        # the workspace), then let go: workers open the catalog as they need it.
        with self.ws.writing():
            pass
        self.ws.disconnect()
        self.catalog = CatalogGate(self.ws)
        self.jobs: dict[int, m.JobState] = {}  # long jobs, shown in the job panel
        self._job_workers: dict[int, Worker[None]] = {}
        self._job_ids = itertools.count(1)
        self._write_tail = threading.Event()
        self._write_tail.set()

    @property
    def workspace_name(self) -> str:
        return self.ws.root.name

    def on_unmount(self) -> None:
        self.catalog.release_now()
        if self._owns_ws:
            self.ws.close()

    # -- jobs ------------------------------------------------------------------------------
    def run_job(
        self,
        call: Callable[..., Any],
        *,
        reply_to: MessagePump,
        finished: Callable[[Any], Message],
        group: str,
        description: str,
        write: bool = False,
        exclusive: bool = True,
        progress: bool = False,
        catalog: bool = True,
        once: str | None = None,
    ) -> Worker[None] | None:
        """Run ``call`` (one API call) in a thread worker; post ``finished(result)`` to ``reply_to``.

        ``progress=True`` passes ``progress=`` and ``cancel=`` keyword callbacks
        to ``call`` and shows the job in the job panel. ``write=True`` queues
        the call after every write started before it. The catalog is held
        open (read-write for a write) while ``call`` runs; ``catalog=False``
        for calls that do not read it.

        ``once`` names a job that must not run twice (a write the user waits
        for): while one of ``group`` runs, a second request only says so and
        returns None. Without it, ``exclusive`` would cancel the running one,
        throwing away a long GAN fit for a repeated key press.
        """
        if once is not None and self._group_running(group):
            self.notify(f"{once} already running (ctrl+x cancels it)", severity="warning")
            return None
        job_id = next(self._job_ids)
        if write:
            previous, done = self._write_tail, threading.Event()
            self._write_tail = done
        else:
            previous, done = None, None
        if progress:
            self.jobs[job_id] = m.JobState(job_id, description)
            self._refresh_job_panels()
            self.refresh_bindings()

        def body() -> None:
            worker = get_current_worker()
            throttle = ProgressThrottle()

            def report(done_: int, total: int | None, message: str = "") -> None:
                if throttle.passes(done_, total, message, time.monotonic()):
                    self.post_message(m.JobProgressed(job_id, done_, total, message))

            def cancel() -> bool:
                return worker.is_cancelled

            try:
                if previous is not None:
                    previous.wait()
                kwargs = {"progress": report, "cancel": cancel} if progress else {}
                if catalog:
                    with self.catalog.use(write=write):
                        result = call(**kwargs)
                else:
                    result = call(**kwargs)
                reply_to.post_message(finished(result))
            except Exception as exc:  # noqa: BLE001 - every error goes to the one handler
                if not isinstance(exc, CurateError):
                    self.log.error(traceback.format_exc())
                self.post_message(m.JobFailed(description, exc))
            finally:
                if done is not None:
                    done.set()
                self.post_message(m.JobEnded(job_id))

        worker = self.run_worker(
            body,
            name=description,
            group=group,
            description=description,
            exclusive=exclusive,
            thread=True,
            exit_on_error=False,
        )
        if progress:
            self._job_workers[job_id] = worker
        return worker

    def _group_running(self, group: str) -> bool:
        """A worker of ``group`` is pending or running (a cancelled one no longer counts:
        ctrl+x then the key again starts afresh, queued behind the cancelled write)."""
        live = (WorkerState.PENDING, WorkerState.RUNNING)
        return any(
            w.group == group and w.state in live and not w.is_cancelled for w in self.workers
        )

    def _refresh_job_panels(self) -> None:
        # Every screen of the stack, not only the front one: a job that ends under
        # an error modal must not leave its bar on the screen below. Screens of
        # other modes catch up when they come back (CurateScreen.on_screen_resume).
        for screen in self.screen_stack:
            for panel in screen.query(JobPanel):
                panel.jobs = list(self.jobs.values())

    def on_job_progressed(self, message: m.JobProgressed) -> None:
        state = self.jobs.get(message.job_id)
        if state is None:
            return
        state.done, state.total, state.message = message.done, message.total, message.message
        self._refresh_job_panels()

    def on_job_ended(self, message: m.JobEnded) -> None:
        self._job_workers.pop(message.job_id, None)
        if self.jobs.pop(message.job_id, None) is not None:
            self._refresh_job_panels()
            self.refresh_bindings()

    def on_job_failed(self, message: m.JobFailed) -> None:
        """The one error handler: a CurateError becomes a modal, never a traceback."""
        error = message.error
        if isinstance(error, Cancelled):
            self.notify(error.message, title=f"{message.description}: cancelled")
            return
        if not isinstance(error, CurateError):
            from curate.store.faults import environment_error

            # A full disk or a folder without write access is the machine's
            # problem, not a bug: the same one line the CLI prints.
            error = environment_error(error) or error
        if isinstance(error, CurateError):
            hint = TUI_HINTS.get(error.hint or "", error.hint)
            self.push_screen(ErrorModal(error.title, error.message, hint))
            return
        self.push_screen(
            ErrorModal(
                "Internal error",
                f"{message.description} failed: {type(error).__name__}: {error}",
                "this is a bug in curate; the traceback is in the Textual log (textual console)",
            )
        )

    def on_screen_resume(self) -> None:
        self._refresh_job_panels()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_jobs":
            return bool(self.jobs)
        return True

    async def action_quit(self) -> None:
        """Quit; while a job runs, ask first (quitting cancels it)."""
        if not self.jobs:
            self.exit()
            return
        from curate.tui.screens.dialogs import ConfirmDialog

        names = ", ".join(j.description for j in self.jobs.values())

        def answered(yes: bool | None) -> None:
            if yes:
                self.action_cancel_jobs()
                self.exit()

        self.push_screen(
            ConfirmDialog(
                "Quit",
                f"Still running: {names}. Quitting cancels it; finished batches are kept.",
                confirm="Quit",
            ),
            answered,
        )

    def action_cancel_jobs(self) -> None:
        running = [w for w in self._job_workers.values() if not w.is_cancelled]
        for worker in running:
            worker.cancel()
        if running:
            self.notify(f"cancelling {len(running)} job(s); finished batches are kept")

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.screen))

    # -- requests -> API calls ------------------------------------------------------------
    def on_overview_requested(self, message: m.OverviewRequested) -> None:
        self.run_job(
            self._overview_data,
            reply_to=message.reply_to,
            finished=m.OverviewLoaded,
            group="overview",
            description="read overview",
        )

    def _overview_data(self) -> m.OverviewData:
        ws = self.ws
        status = ws.status()
        log = ws.log()
        head = log[0] if log else None
        pending = len(ws.changes())
        try:
            plan = ws.balancing_plan()
        except CurateError:
            plan = None  # nothing labeled yet
        issues, run = self._issue_counts()
        from curate.plugins.registry import list_plugins

        return m.OverviewData(
            extractors=[p.name for p in list_plugins("curate.extractors")],
            workspace=self.workspace_name,
            status=status,
            head=head,
            pending=pending,
            plan=plan,
            issues=issues,
            scan_run=run,
        )

    def _issue_counts(self) -> tuple[dict[str, int], int | None]:
        """Issues by kind in the latest scan run (counted from ``ws.findings``)."""
        runs = self.ws.scan_runs()
        if not runs:
            return {}, None
        table = self.ws.findings(as_arrow=True)
        counts = {k: 0 for k in ("label", "duplicate", "near_duplicate", "outlier", "quality")}
        for kind in table.column("kind").to_pylist():
            counts[kind] = counts.get(kind, 0) + 1
        return counts, runs[-1].run_id

    def on_scan_requested(self, message: m.ScanRequested) -> None:
        self.run_job(
            lambda **kw: self.ws.scan(**message.options, **kw),
            reply_to=message.reply_to,
            finished=m.ScanFinished,
            group="scan",
            description="scan",
            write=True,
            progress=True,
            once="scan",
        )

    def on_findings_requested(self, message: m.FindingsRequested) -> None:
        def call() -> tuple[list[Any], list[str], bool]:
            classes = [name for _, name in self.ws.classes()]
            # Before the first scan ws.findings raises NotFound; for the Review
            # screen that is an empty state ("no scan yet"), not an error modal.
            # Conflicts are read from the catalog and need no scan.
            if message.kind != "conflict" and not self.ws.scan_runs():
                return [], classes, False
            findings = self.ws.findings(
                kind=message.kind, classes=message.classes, limit=message.limit
            )
            return findings, classes, True

        self.run_job(
            call,
            reply_to=message.reply_to,
            finished=lambda r: m.FindingsLoaded(*r),
            group="findings",
            description="read findings",
        )

    def on_preview_requested(self, message: m.PreviewRequested) -> None:
        from curate.imaging import decode

        def call() -> tuple[int, Any, list[tuple[int, Any]]]:
            image = decode(self.ws.read_bytes(message.sid))
            near = [(sid, decode(self.ws.read_bytes(sid))) for sid in message.neighbours]
            return message.sid, image, near

        self.run_job(
            call,
            reply_to=message.reply_to,
            finished=lambda r: m.PreviewDecoded(*r),
            group="preview",
            description="decode preview",
        )

    def on_decision_requested(self, message: m.DecisionRequested) -> None:
        d = message.decision
        ws = self.ws
        if d.action == "accept":

            def call() -> Any:
                return ws.accept("label", samples=[d.sid], run_id=d.run_id)
        elif d.action == "relabel":

            def call() -> Any:
                return ws.relabel([d.sid], d.label, reason=d.reason)
        elif d.action == "drop":

            def call() -> Any:
                return ws.drop([d.sid], reason=d.reason)
        elif d.action == "restore":

            def call() -> Any:
                return ws.restore([d.sid], reason=d.reason)
        else:
            raise ValueError(f"unknown decision {d.action!r}")
        self.run_job(
            call,
            reply_to=message.reply_to,
            finished=lambda report: m.ChangeRecorded(d, report),
            group="decisions",
            description=f"{d.action} {d.sample_id[:12]}",
            write=True,
            exclusive=False,
        )

    def on_accept_all_requested(self, message: m.AcceptAllRequested) -> None:
        self.run_job(
            lambda: self.ws.accept(
                "label", min_confidence=message.min_confidence, dry_run=message.dry_run
            ),
            reply_to=message.reply_to,
            finished=m.SuggestionsAccepted,
            group="decisions",
            description="accept label suggestions",
            write=not message.dry_run,
            exclusive=False,
        )

    def on_revert_relabels_requested(self, message: m.RevertRelabelsRequested) -> None:
        ws = self.ws

        def call() -> int:
            by_label: dict[str, list[int]] = {}
            for sid, label in message.relabels:
                by_label.setdefault(label, []).append(sid)
            return sum(
                ws.relabel(sids, label, reason=message.reason).recorded
                for label, sids in sorted(by_label.items())
            )

        self.run_job(
            call,
            reply_to=message.reply_to,
            finished=m.RelabelsReverted,
            group="decisions",
            description="undo accept all",
            write=True,
            exclusive=False,
        )

    # versions
    def on_history_requested(self, message: m.HistoryRequested) -> None:
        self.run_job(
            lambda: (self.ws.log(), self.ws.changes()),
            reply_to=message.reply_to,
            finished=lambda r: m.HistoryLoaded(*r),
            group="history",
            description="read history",
        )

    def on_diff_requested(self, message: m.DiffRequested) -> None:
        self.run_job(
            lambda: self.ws.diff(message.a, message.b),
            reply_to=message.reply_to,
            finished=m.DiffLoaded,
            group="diff",
            description="diff versions",
        )

    def on_reset_requested(self, message: m.ResetRequested) -> None:
        self.run_job(
            lambda: self.ws.reset(message.samples),
            reply_to=message.reply_to,
            finished=m.ChangesReset,
            group="decisions",
            description="discard pending changes",
            write=True,
            exclusive=False,
        )

    def on_commit_requested(self, message: m.CommitRequested) -> None:
        self.run_job(
            lambda: self.ws.commit(message.message),
            reply_to=message.reply_to,
            finished=m.Committed,
            group="commit",
            description="commit",
            write=True,
            once="commit",
        )

    def on_tag_requested(self, message: m.TagRequested) -> None:
        self.run_job(
            lambda: self.ws.tag(message.name, message.version),
            reply_to=message.reply_to,
            finished=m.Tagged,
            group="tag",
            description="tag",
            write=True,
            once="tagging",
        )

    def on_export_requested(self, message: m.ExportRequested) -> None:
        self.run_job(
            lambda **kw: self.ws.export(
                message.version, message.format, message.out, overwrite=message.overwrite, **kw
            ),
            reply_to=message.reply_to,
            finished=m.Exported,
            group="export",
            description=f"export {message.version} as {message.format}",
            progress=True,
            once="export",
        )

    # augment
    def on_presets_requested(self, message: m.PresetsRequested) -> None:
        from curate.augment.policy import list_presets

        self.run_job(
            lambda: (list_presets(), [name for _, name in self.ws.classes()]),
            reply_to=message.reply_to,
            finished=lambda r: m.PresetsLoaded(*r),
            group="presets",
            description="list presets",
        )

    def on_preset_requested(self, message: m.PresetRequested) -> None:
        from curate.augment.policy import load_preset

        self.run_job(
            lambda: load_preset(message.name).to_yaml(),
            reply_to=message.reply_to,
            finished=lambda text: m.PresetLoaded(message.name, text),
            group="presets",
            description=f"load preset {message.name}",
            catalog=False,
        )

    def on_policy_validation_requested(self, message: m.PolicyValidationRequested) -> None:
        from curate.augment.policy import validate_policy_text

        self.run_job(
            lambda: validate_policy_text(message.text),
            reply_to=message.reply_to,
            finished=lambda issues: m.PolicyValidated(message.text, issues),
            group="validate",
            description="validate policy",
            catalog=False,
        )

    def on_augment_preview_requested(self, message: m.AugmentPreviewRequested) -> None:
        from curate.augment.policy import parse_policy_text

        def call() -> Any:
            policy = parse_policy_text(message.text)
            image = self.ws.augment_preview(
                policy, class_name=message.class_name, n=message.n, views=message.views
            )
            import numpy as np

            return np.asarray(image.convert("RGB"))

        self.run_job(
            call,
            reply_to=message.reply_to,
            finished=m.AugmentPreviewed,
            group="augment-preview",
            description="preview augmentation",
        )

    def on_augment_requested(self, message: m.AugmentRequested) -> None:
        from curate.augment.policy import parse_policy_text

        self.run_job(
            lambda **kw: self.ws.augment(
                parse_policy_text(message.text), dry_run=message.dry_run, **kw
            ),
            reply_to=message.reply_to,
            finished=m.Augmented,
            group="augment",
            description="augment (dry run)" if message.dry_run else "augment",
            write=True,
            progress=True,
            once="augmentation",
        )

    # synthesize
    def on_generators_requested(self, message: m.GeneratorsRequested) -> None:
        from curate.synthesize import list_generators

        def call() -> tuple[list[dict[str, Any]], Any]:
            try:
                plan = self.ws.balancing_plan()
            except CurateError:
                plan = None
            return list_generators(load=True), plan

        self.run_job(
            call,
            reply_to=message.reply_to,
            finished=lambda r: m.GeneratorsLoaded(*r),
            group="generators",
            description="list generators",
        )

    def on_synthesis_requested(self, message: m.SynthesisRequested) -> None:
        from curate.imaging import decode

        def call(**kw: Any) -> tuple[Any, list[tuple[int, Any]]]:
            result = self.ws.synthesize(**message.fields, **kw)
            shown = [(sid, decode(self.ws.read_bytes(sid))) for sid in result.admitted_sids[:24]]
            return result, shown

        self.run_job(
            call,
            reply_to=message.reply_to,
            finished=lambda r: m.Synthesized(*r),
            group="synthesize",
            description=f"synthesize with {message.fields.get('generator')}",
            write=True,
            progress=True,
            once="synthesis",
        )

    # -- command palette -------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for mode, title in SCREENS_IN_ORDER:
            yield SystemCommand(
                f"Go to {title}",
                f"Switch to the {title} screen",
                lambda mode=mode: self.switch_mode(mode),
            )
        yield SystemCommand("Help", "Keys of this screen and what they do", self.action_help)
        yield SystemCommand("Cancel jobs", "Cancel running jobs", self.action_cancel_jobs)
        # Each screen's own actions, by the descriptions of its bindings.
        for binding in getattr(screen, "BINDINGS", []):
            if not isinstance(binding, Binding) or not binding.description:
                continue
            action = binding.action
            yield SystemCommand(
                f"{screen.TITLE}: {binding.description}",
                binding.tooltip or binding.description,
                lambda action=action, screen=screen: self.call_later(screen.run_action, action),
            )
