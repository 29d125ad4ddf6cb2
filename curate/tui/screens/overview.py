"""Overview: workspace, version and working changes, classes by split, issues, balancing plan."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Label, Static

from curate.tui import messages as m
from curate.tui.screens.base import CurateScreen
from curate.tui.screens.dialogs import ScanDialog
from curate.tui.widgets.charts import ClassBars, KeyValues


class OverviewScreen(CurateScreen):
    MODE = "overview"
    TITLE = "Overview"
    BINDINGS = [
        Binding("s", "scan", "Scan", tooltip="Scan for label errors, duplicates, outliers"),
        Binding("r", "refresh", "Refresh", tooltip="Read the workspace again"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.extractors: list[str] = []

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="overview-body"):
            with VerticalScroll(id="overview-left"):
                yield Static("reading workspace...", id="summary")
                yield Label("Classes by split", classes="section-title")
                yield ClassBars(id="class-bars")
            with VerticalScroll(id="overview-right"):
                yield Label("Issues", classes="section-title", id="issues-title")
                yield KeyValues("no scan yet: press s", id="issues")
                yield Label("Balancing plan", classes="section-title")
                yield Static("", id="plan-info", classes="dim")
                yield KeyValues("no labeled samples", header=("class", "count", "need"), id="plan")

    def on_mount(self) -> None:
        self.action_refresh()

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            self.action_refresh()

    def action_refresh(self) -> None:
        self.post_message(m.OverviewRequested(self))

    def action_scan(self) -> None:
        def chosen(options: dict | None) -> None:
            if options is not None:
                self.post_message(m.ScanRequested(self, **options))

        self.app.push_screen(ScanDialog(self.extractors), chosen)

    def on_scan_finished(self, message: m.ScanFinished) -> None:
        r = message.result
        found = ", ".join(f"{n} {k}" for k, n in r.issues.items() if n) or "no issues"
        self.notify(f"scan run {r.run_id}: {found}", title="Scan finished")
        self.action_refresh()

    def on_overview_loaded(self, message: m.OverviewLoaded) -> None:
        d = message.data
        self.extractors = d.extractors
        s = d.status
        if d.head is not None:
            head = f"{d.head.name} ({d.head.hash[:8]})"
            if d.head.tags:
                head += " " + ", ".join(d.head.tags)
        else:
            head = "no version yet"
        splits = ", ".join(f"{k or 'none'} {v}" for k, v in s.splits.items()) or "no splits"
        lines = [
            f"[b]{d.workspace}[/b]  {s.samples} samples, {len(s.classes)} classes ({splits})",
            f"version [b]{head}[/b]   working changes: [b]{d.pending}[/b] pending",
        ]
        extra = []
        if s.unlabeled:
            extra.append(f"{s.unlabeled} unlabeled")
        if s.conflicts:
            extra.append(f"{s.conflicts} label conflicts")
        if s.quarantined:
            extra.append(f"{s.quarantined} quarantined inputs")
        if extra:
            lines.append(", ".join(extra))
        self.query_one("#summary", Static).update("\n".join(lines))
        self.query_one(ClassBars).classes_ = list(s.class_details)
        issues = self.query_one("#issues", KeyValues)
        if d.scan_run is not None:
            self.query_one("#issues-title", Label).update(f"Issues (scan run {d.scan_run})")
            issues.rows = [(kind.replace("_", " "), str(n)) for kind, n in d.issues.items()]
            if d.status.conflicts:
                issues.rows = [*issues.rows, ("label conflicts", str(d.status.conflicts))]
        else:
            self.query_one("#issues-title", Label).update("Issues")
            issues.rows = []
        plan = self.query_one("#plan", KeyValues)
        if d.plan is not None:
            where = d.plan.split or "all samples"
            self.query_one("#plan-info", Static).update(
                f"{where}, target {d.plan.target}, ratio {d.plan.imbalance_ratio:.1f}"
                + (f" ({len(d.plan.empty_classes)} empty)" if d.plan.empty_classes else "")
            )
            plan.rows = [
                (c.name, str(c.count), f"+{c.needed}" if c.needed else "") for c in d.plan.classes
            ]
        else:
            self.query_one("#plan-info", Static).update("")
            plan.rows = []
