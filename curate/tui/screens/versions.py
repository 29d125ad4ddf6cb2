"""Versions: log, working changes, diff of two versions, commit, tag and export dialogs."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label

from curate.tui import messages as m
from curate.tui.screens.base import CurateScreen
from curate.tui.screens.dialogs import ConfirmDialog, ExportChoice, ExportDialog, TextPrompt
from curate.tui.widgets.empty import EmptyState

WORKING = "working"
NO_VERSIONS_YET = "No versions yet: press c to commit"

# The log's columns. Every column but the message is as wide as its content;
# the message takes what they leave (cut with an ellipsis), so version, tags,
# samples and date stay visible at 80 columns. Where the message would get
# less than MESSAGE_MIN, the hash goes (the Overview and `curate log` show
# it), then the time of day.
MESSAGE_MIN = 12
TAGS_MAX = 20
DATE_LONG, DATE_SHORT = "%Y-%m-%d %H:%M", "%Y-%m-%d"
HASH_WIDTH = 8


def fit_log_columns(width: int, versions: list[Any]) -> tuple[dict[str, int], str]:
    """(content width of each column, date format) for a log table ``width`` cells wide.

    Column keys in order: mark, version, message, tags, samples, date and,
    when it fits, hash. Each column also takes two cells of padding.
    """
    fixed = {
        "mark": 1,
        "version": max([len("version"), *(len(v.name) for v in versions)]),
        "tags": min(TAGS_MAX, max([len("tags"), *(len(", ".join(v.tags)) for v in versions)])),
        "samples": max([len("samples"), *(len(str(v.stats.samples)) for v in versions)]),
    }
    for date_format, hash_shown in ((DATE_LONG, True), (DATE_LONG, False), (DATE_SHORT, False)):
        date_width = len("2026-01-01 00:00" if date_format == DATE_LONG else "2026-01-01")
        widths = {**fixed, "date": date_width}
        if hash_shown:
            widths["hash"] = HASH_WIDTH
        message = width - sum(widths.values()) - 2 * (len(widths) + 1)
        if message >= MESSAGE_MIN:
            break
    widths["message"] = max(message, 1)
    order = ["mark", "version", "message", "tags", "samples", "date", "hash"]
    return {key: widths[key] for key in order if key in widths}, date_format


def _cut(text: str, width: int) -> Text:
    out = Text(text, no_wrap=True)
    out.truncate(width, overflow="ellipsis")
    return out


def _delta(n: int) -> Text:
    if n == 0:
        return Text("0", style="dim")
    return Text(f"{n:+d}", style="green" if n > 0 else "red")


class VersionsScreen(CurateScreen):
    MODE = "versions"
    TITLE = "Versions"
    BINDINGS = [
        Binding("c", "commit", "Commit", tooltip="Freeze the working state as a new version"),
        Binding("d", "diff_parent", "Diff", tooltip="Diff the selected version with its parent"),
        Binding("w", "diff_working", "Diff working", tooltip="Selected version -> working state"),
        Binding("space", "mark", "Mark", tooltip="Mark a version; Diff then compares with it"),
        Binding("t", "tag", "Tag", tooltip="Tag the selected version"),
        Binding("e", "export", "Export", tooltip="Export the selected version"),
        Binding("r", "refresh", "Refresh"),
        Binding(
            "x",
            "discard",
            "Discard",
            tooltip="Forget the pending changes of the selected change's sample (curate reset)",
        ),
        Binding(
            "X",
            "discard_all",
            "Discard all",
            show=False,
            tooltip="Forget every pending change, after a confirmation (curate reset)",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.versions: list[Any] = []
        self.changes: list[Any] = []  # pending changes, in the #changes table's order
        self.marked: str | None = None
        self._user_diff = False  # the user asked for a diff (d, w): keep showing theirs

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="versions-body"):
            with Vertical(id="versions-left"):
                yield Label("Versions", classes="section-title")
                yield EmptyState(id="log-empty")
                # The message early: what a version is for is what people look for.
                # Columns are added when the log is read (_fill_log), sized to the pane.
                yield DataTable(id="log", cursor_type="row")
                yield Label("Working changes", classes="section-title", id="changes-title")
                changes = DataTable(id="changes", cursor_type="row")
                changes.add_columns("op", "sample", "change", "reason")
                yield changes
            with Vertical(id="versions-right"):
                yield Label("Diff: press d, w or space", classes="section-title", id="diff-title")
                classes = DataTable(id="diff-classes", cursor_type="row")
                classes.add_columns("class", "a", "b", "delta")
                yield classes
                yield Label("Relabels", classes="section-title", id="relabels-title")
                relabels = DataTable(id="relabels", cursor_type="row")
                relabels.add_columns("sample", "from", "to", "reason")
                yield relabels

    def on_mount(self) -> None:
        self.query_one("#log", DataTable).focus()
        self.action_refresh()

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            self.action_refresh()

    def action_refresh(self) -> None:
        self.post_message(m.HistoryRequested(self))

    def on_resize(self) -> None:
        # After the panes have their new sizes: the message column follows.
        self.call_after_refresh(self._fill_log)

    def _fill_log(self) -> None:
        """The log table from ``self.versions``, its columns fitted to the pane's width."""
        log = self.query_one("#log", DataTable)
        width = log.size.width or log.parent.size.width
        if len(self.versions) > log.size.height - 1:  # rows beyond the pane: a scrollbar
            width -= log.styles.scrollbar_size_vertical
        widths, date_format = fit_log_columns(width, self.versions)
        row = log.cursor_row
        log.clear(columns=True)
        for key, w in widths.items():
            log.add_column("" if key == "mark" else key, key=key, width=w)
        for v in self.versions:
            cells = {
                "mark": "*" if v.name == self.marked else "",
                "version": v.name,
                "message": _cut(v.message or "", widths["message"]),
                "tags": _cut(", ".join(v.tags), widths["tags"]),
                "samples": str(v.stats.samples),
                "date": v.created_at.strftime(date_format),
                "hash": v.hash[:HASH_WIDTH],
            }
            log.add_row(*(cells[key] for key in widths), key=v.name)
        if self.versions:
            log.move_cursor(row=min(max(row, 0), len(self.versions) - 1))
        self.query_one("#log-empty", EmptyState).text = "" if self.versions else NO_VERSIONS_YET

    def on_history_loaded(self, message: m.HistoryLoaded) -> None:
        self.versions = list(message.versions)
        self._fill_log()
        if self.versions and not self._user_diff:
            # Until the user asks for another diff: what a commit would record.
            self.post_message(m.DiffRequested(self, self.versions[0].name, None))
        changes = self.query_one("#changes", DataTable)
        changes.clear()
        self.changes = list(message.changes)
        for c in message.changes:
            if c.op == "relabel":
                what = f"{c.from_label} → {c.label}"
            elif c.op == "move":
                what = f"→ {c.split}"
            elif c.op in ("add", "restore"):
                what = f"{c.label or ''} {c.split or ''}".strip()
            else:
                what = c.from_label or ""
            changes.add_row(c.op, c.sample_id[:8], what, c.reason or "")
        self.query_one("#changes-title", Label).update(
            f"Working changes ({len(message.changes)} pending)"
        )

    @property
    def selected(self) -> str | None:
        log = self.query_one("#log", DataTable)
        if not self.versions or not 0 <= log.cursor_row < len(self.versions):
            return None
        return self.versions[log.cursor_row].name

    def _need_version(self) -> str | None:
        name = self.selected
        if name is None:
            self.notify("no version yet: commit first (c)", severity="warning")
        return name

    # -- diff ----------------------------------------------------------------------------
    def action_mark(self) -> None:
        name = self._need_version()
        if name is None:
            return
        self.marked = None if self.marked == name else name
        log = self.query_one("#log", DataTable)
        for v in self.versions:
            log.update_cell(v.name, "mark", "*" if v.name == self.marked else "")

    def action_diff_parent(self) -> None:
        name = self._need_version()
        if name is None:
            return
        if self.marked is not None and self.marked != name:
            a, b = self.marked, name
        else:
            v = next(v for v in self.versions if v.name == name)
            if v.parent is None:
                self.notify(f"{name} has no parent; mark another version with space")
                return
            parent = next((p.name for p in self.versions if p.hash == v.parent), v.parent)
            a, b = parent, name
        self._user_diff = True
        self.post_message(m.DiffRequested(self, a, b))

    def action_diff_working(self) -> None:
        name = self._need_version()
        if name is not None:
            self._user_diff = True
            self.post_message(m.DiffRequested(self, name, None))

    def on_diff_loaded(self, message: m.DiffLoaded) -> None:
        d = message.diff
        s = d.summary
        summary = ", ".join(f"{v} {k}" for k, v in s.items() if v) or "identical"
        self.query_one("#diff-title", Label).update(f"{d.a} → {d.b}: {summary}")
        classes = self.query_one("#diff-classes", DataTable)
        classes.clear()
        for name, c in d.classes.items():
            classes.add_row(name, str(c.a), str(c.b), _delta(c.delta))
        relabels = self.query_one("#relabels", DataTable)
        relabels.clear()
        for r in d.relabeled:
            relabels.add_row(r.sample_id[:8], r.from_ or "", r.to or "", r.reason or "")
        self.query_one("#relabels-title", Label).update(f"Relabels ({len(d.relabeled)})")

    # -- discard pending changes ----------------------------------------------------------
    def action_discard(self) -> None:
        table = self.query_one("#changes", DataTable)
        if not self.changes or not 0 <= table.cursor_row < len(self.changes):
            self.notify("no pending change selected", severity="warning")
            return
        self.post_message(m.ResetRequested(self, [self.changes[table.cursor_row].sample_id]))

    def action_discard_all(self) -> None:
        if not self.changes:
            self.notify("no pending changes")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.post_message(m.ResetRequested(self, None))

        self.app.push_screen(
            ConfirmDialog(
                "Discard all",
                f"Forget all {len(self.changes)} pending changes? Committed versions stay.",
                confirm="Discard all",
            ),
            answered,
        )

    def on_changes_reset(self, message: m.ChangesReset) -> None:
        self.notify(f"discarded {message.report.recorded} pending change(s)")
        self.action_refresh()

    # -- commit, tag, export ----------------------------------------------------------------
    def action_commit(self) -> None:
        def done(text: str | None) -> None:
            if text is not None:
                self.post_message(m.CommitRequested(self, text))

        self.app.push_screen(TextPrompt("Commit message", "what changed and why"), done)

    def on_committed(self, message: m.Committed) -> None:
        v = message.result.version
        self.notify(f"committed {v.name} ({v.hash[:8]}): {v.stats.samples} samples")
        self.action_refresh()

    def action_tag(self) -> None:
        name = self._need_version()
        if name is None:
            return

        def done(text: str | None) -> None:
            if text:
                self.post_message(m.TagRequested(self, text, name))

        self.app.push_screen(TextPrompt(f"Tag {name} as", "e.g. baseline"), done)

    def on_tagged(self, message: m.Tagged) -> None:
        t = message.tag
        self.notify(f"tagged {t.version} as {t.name}")
        self.action_refresh()

    def action_export(self) -> None:
        name = self._need_version()
        if name is None:
            return

        def done(choice: ExportChoice | None) -> None:
            if choice is not None:
                self.post_message(
                    m.ExportRequested(
                        self,
                        version=choice.version,
                        format=choice.format,
                        out=choice.out,
                        overwrite=choice.overwrite,
                    )
                )

        default_out = str(self.app.ws.root / "exports" / name)
        self.app.push_screen(ExportDialog(name, default_out), done)

    def on_exported(self, message: m.Exported) -> None:
        r = message.result
        self.notify(
            f"{r.version}: {r.samples} samples as {r.format.value} in {r.out}",
            title="Export finished",
        )
        for warning in r.warnings:  # the same warnings the CLI prints
            self.notify(warning, title="Export", severity="warning", timeout=12)
