"""Review: the ranked findings with a preview, and one key per decision.

Every decision is one call of the working-changes API (``ws.accept`` /
``ws.relabel`` / ``ws.drop`` / ``ws.restore``), so it shows in ``curate
changes`` exactly as the same command typed in a shell would. Accepting a
suggestion is ``ws.accept("label", samples=[sample], run_id=...)``, the same
accepted-suggestion change (with its scan run) as ``curate accept --type label
SAMPLE``; undo records the inverse change (relabel back, restore a drop)
through the same API, which cancels it out with the change it undoes (no
pending change is left when the sample is back as last committed).
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, Select, Static

from curate.tui import messages as m
from curate.tui.screens.base import CurateScreen
from curate.tui.screens.dialogs import ClassPicker, ConfirmDialog
from curate.tui.widgets.empty import EmptyState
from curate.tui.widgets.image import PixelImage, ThumbnailStrip

KINDS = ["label", "duplicate", "near_duplicate", "outlier", "quality", "conflict"]


def _kind_cell(kind: str) -> str:
    return kind.replace("near_duplicate", "near dup")


KIND_WIDTH = max(len(_kind_cell(k)) for k in KINDS)
FINDINGS_LIMIT = 2000
NEIGHBOURS_SHOWN = 4

# Empty states (not errors): why the list is empty and what to do. Review has
# no scan key of its own: the scan is Overview's (1, then s).
NO_SCAN_YET = "No scan yet: press 1 for Overview, then s to scan"
NO_MATCH = "No findings match this filter"
NOTHING_FLAGGED = "No findings: the latest scan flagged nothing"


def evidence(finding: Any) -> list[tuple[int, str]]:
    """(sid, caption) of the samples a finding names as evidence: its nearest neighbours."""
    out: list[tuple[int, str]] = []
    for item in (finding.details or {}).get("neighbours") or []:
        sid = item.get("sid") if isinstance(item, dict) else item
        if not isinstance(sid, int) or sid == finding.sid or any(s == sid for s, _ in out):
            continue
        label = item.get("label") if isinstance(item, dict) else None
        distance = item.get("distance") if isinstance(item, dict) else None
        caption = f"{label if label is not None else '?'}"
        if distance is not None:
            caption += f" {distance:.2f}"
        out.append((sid, caption))
    return out[:NEIGHBOURS_SHOWN]


def _score(value: float | None) -> str:
    """Six columns at most. Clear label mistakes score ~1e-10: four decimals
    would show the whole top of the list as 0.0000, so small scores keep
    their exponent instead."""
    if value is None:
        return ""
    return f"{value:.4f}" if value == 0 or abs(value) >= 1e-4 else f"{value:.0e}"


def _mark(d: Any) -> str:
    """The done column for a decision: short, so it fits at 80 columns."""
    if d.action == "accept":
        return f"✓ {d.label}"
    if d.action == "relabel":
        return f"→ {d.label}"
    return d.action


def _job_name(d: Any) -> str:
    """The name the app gives the worker that records ``d`` (its job description)."""
    return f"{d.action} {d.sample_id[:12]}"


def _why_unchanged(report: Any) -> str:
    """Why a decision recorded nothing, from its ChangeReport or AcceptReport."""
    if getattr(report, "skipped_not_live", 0):
        return "dropped (restore it first)"
    if getattr(report, "skipped_same_label", 0):
        return "already has the suggested label"
    return "already in that state"


class ReviewScreen(CurateScreen):
    MODE = "review"
    TITLE = "Review"
    BINDINGS = [
        Binding("a", "accept", "Accept", tooltip="Accept the scan's suggested label"),
        Binding("r", "relabel", "Relabel", tooltip="Pick a class for this sample"),
        Binding("d", "drop", "Drop", tooltip="Take the sample out of the working state"),
        Binding("k", "keep", "Keep", tooltip="Keep as is and go to the next finding"),
        Binding("u", "undo", "Undo", tooltip="Undo the last decision (records the inverse)"),
        # Shown only in the help screen: the arrow keys do the same, and the
        # footer keeps room for help and quit at 80 columns.
        Binding("n", "next", "Next", show=False),
        Binding("p", "previous", "Prev", show=False),
        Binding("o", "sort", "Sort", tooltip="Most or least suspicious first"),
        Binding("R", "reload", "Reload", show=False, tooltip="Read the findings again"),
        Binding(
            "A",
            "accept_all",
            "Accept all",
            show=False,
            tooltip="Accept every label suggestion of the latest scan (curate accept --type label)",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.findings: list[Any] = []
        self.class_names: list[str] = []
        # Decisions are per sample (a drop takes the sample out, whichever of
        # its findings it was typed on), rows are per finding: a sample can have
        # a label and a near-duplicate finding, and every row of it shows the mark.
        self.status: dict[int, str] = {}  # sid -> what this session decided
        self.current: dict[int, str | None] = {}  # sid -> label after decisions
        self.undo_stack: list[tuple[m.Decision, str | None]] = []  # (decision, label before)
        self._bulk: dict[int, list[tuple[int, str]]] = {}  # accept all: (sid, label before)
        self._by_sid: dict[int, Any] = {}  # sid -> its first listed finding
        self._rows_of: dict[int, list[str]] = {}  # sid -> the row keys of its findings
        # Decisions posted and not reported yet, in the order posted (writes run
        # in that order). The cursor moves on when a decision is made, so a key
        # typed before the write returns applies to the row it was typed on.
        self._pending: list[m.Decision] = []
        self._undone: dict[int, tuple[m.Decision, str | None]] = {}  # id(inverse) -> entry
        self._row_of: dict[int, str] = {}  # id(decision) -> the row key it was made on
        self._reconciling = False
        self._keep_drops = False  # the next FindingsLoaded keeps this session's dropped rows
        self._scanned: bool | None = None  # None until the first FindingsLoaded
        self.ascending = True
        self._preview_sid: int | None = None
        self._captions: dict[int, str] = {}

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="review-filters"):
            yield Select(
                [(k.replace("_", " "), k) for k in KINDS],
                prompt="all kinds",
                id="kind-filter",
            )
            yield Select([], prompt="all classes", id="class-filter")
            yield Label("", id="findings-count")
        with Horizontal(id="review-body"):
            with Vertical(id="findings-pane"):
                yield EmptyState(id="findings-empty")
                table = DataTable(id="findings", cursor_type="row", zebra_stripes=True)
                # Fixed widths where the content has a fixed format (an 8-character
                # id prefix, a known set of kinds, a 4-decimal score), so the table
                # does not reflow as rows load: an auto-width "kind" header was
                # sometimes drawn at the header's width before the rows widened it.
                table.add_column("sample", key="sample", width=8)
                table.add_column("kind", key="kind", width=KIND_WIDTH)
                table.add_column("given", key="given")
                table.add_column("sugg.", key="suggested")
                table.add_column("score", key="score", width=6)
                table.add_column("done", key="decision")
                yield table
            with Vertical(id="preview"):
                yield PixelImage(placeholder="no finding selected", id="preview-image")
                yield Static("", id="preview-info")
                yield Label(
                    "nearest: label, distance", id="neighbours-title", classes="section-title"
                )
                yield ThumbnailStrip(id="neighbours")

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        # Polls only while decisions are in flight: a failed write reports to the
        # app's one error handler, not here, so its mark is cleared by noticing
        # that its worker ended without a ChangeRecorded.
        self._pending_watch = self.set_interval(0.2, self._check_pending, pause=True)
        self.action_reload()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        # A scan or a commit elsewhere may have changed the findings: read them
        # again. What this screen did itself (drops among it) is kept: the list
        # is replaced only when it changed in other ways (on_findings_loaded).
        # Also after an empty state: a scan on Overview fills the list.
        if self.is_mounted and self._scanned is not None:
            self._request_findings(keep_drops=True)
            if self._pending:
                self._check_pending()

    # -- loading ---------------------------------------------------------------------------
    def action_reload(self) -> None:
        """Read the findings again; dropped samples leave the list (R)."""
        self._request_findings(keep_drops=False)

    def _request_findings(self, *, keep_drops: bool) -> None:
        self._keep_drops = keep_drops
        kind = self.query_one("#kind-filter", Select).value
        cls = self.query_one("#class-filter", Select).value
        self.post_message(
            m.FindingsRequested(
                self,
                kind=None if kind is Select.NULL else str(kind),
                classes=None if cls is Select.NULL else [str(cls)],
                limit=FINDINGS_LIMIT,
            )
        )

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id in ("kind-filter", "class-filter"):
            self.action_reload()

    def _unchanged_but_for_drops(self, findings: list[Any]) -> bool:
        """The new list is the listed one less samples this session dropped."""
        dropped = {sid for sid, s in self.status.items() if s == "drop"}
        dropped |= {d.sid for d in self._pending if d.action == "drop" and d.undo_of is None}
        key = lambda f: (f.kind.value, f.sid, f.run_id)  # noqa: E731
        old = {key(f) for f in self.findings}
        new = {key(f) for f in findings}
        return new <= old and all(k[1] in dropped for k in old - new)

    def on_findings_loaded(self, message: m.FindingsLoaded) -> None:
        keep, self._keep_drops = self._keep_drops, False
        scanned_before, self._scanned = self._scanned, message.scanned
        if (
            keep
            and scanned_before == message.scanned
            and self._unchanged_but_for_drops(message.findings)
        ):
            # Nothing changed outside this screen: keep the rows (a dropped
            # sample stays listed, marked, until R) and the cursor where it is.
            self._refresh_marks()
            return
        self.findings = list(message.findings)
        if not self.ascending:
            self.findings.reverse()
        if message.classes != self.class_names:
            self.class_names = list(message.classes)
            select = self.query_one("#class-filter", Select)
            with self.prevent(Select.Changed):
                value = select.value
                select.set_options([(c, c) for c in self.class_names])
                if value in self.class_names:
                    select.value = value
        self._fill_table()

    def _fill_table(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self._preview_sid, keep = None, self._preview_sid
        self._by_sid = {}
        self._rows_of = {}
        for i, f in enumerate(self.findings):
            self._by_sid.setdefault(f.sid, f)
            key = f"{f.kind.value}:{f.sid}"
            if key in table.rows:  # the same kind twice for a sample: still one row each
                key = f"{key}:{i}"
            self._rows_of.setdefault(f.sid, []).append(key)
            table.add_row(
                f.sample_id[:8],
                _kind_cell(f.kind.value),
                f.given_label or "",
                f.suggested_label or "",
                _score(f.score),
                self._decision_cell(f.sid),
                key=key,
            )
        n = len(self.findings)
        more = "+" if n >= FINDINGS_LIMIT else ""
        self.query_one("#findings-count", Label).update(
            f"{n}{more} findings" if self._scanned is not False else ""
        )
        self.query_one("#findings-empty", EmptyState).text = self._empty_text()
        if n:
            rows = [f.sid for f in self.findings]
            row = rows.index(keep) if keep in rows else 0
            table.move_cursor(row=row)
            self._show(row)
        else:
            self._show(None)

    def _empty_text(self) -> str:
        """What the empty state says: "" while there are findings."""
        if self.findings:
            return ""
        if self._scanned is False:
            return NO_SCAN_YET
        filtered = any(
            self.query_one(f"#{name}", Select).value is not Select.NULL
            for name in ("kind-filter", "class-filter")
        )
        return NO_MATCH if filtered else NOTHING_FLAGGED

    def _decision_cell(self, sid: int) -> Text:
        pending = next(
            (d for d in reversed(self._pending) if d.sid == sid and d.undo_of is None), None
        )
        if pending is not None:
            # Made, not yet recorded: the cursor has moved on; the mark goes
            # if the write fails.
            return Text(f"{_mark(pending)}…", style="dim")
        status = self.status.get(sid, "")
        if not status:
            # Decided before this session (or by `curate relabel`), or undone in
            # it: the label now (this session's, else the catalog's when the
            # findings were read) differs from the one the finding was made on.
            f = self._by_sid.get(sid)
            now = self.current.get(sid, f.current_label if f is not None else None)
            if f is not None and now and now != f.given_label:
                return Text(f"→ {now}", style="dim green")
        style = {"drop": "red", "kept": "dim"}.get(status, "green")
        return Text(status, style=style)

    # -- selection and preview ------------------------------------------------------------
    @property
    def selected(self) -> Any | None:
        table = self.query_one(DataTable)
        if not self.findings or table.cursor_row < 0 or table.cursor_row >= len(self.findings):
            return None
        return self.findings[table.cursor_row]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show(event.cursor_row)

    def _show(self, row: int | None) -> None:
        info = self.query_one("#preview-info", Static)
        if row is None or row >= len(self.findings):
            self.query_one(PixelImage).image = None
            self.query_one(ThumbnailStrip).items = []
            info.update("")  # an empty list says why above it (#findings-empty)
            self._preview_sid = None
            return
        f = self.findings[row]
        info.update(self._info_text(f))
        if f.sid != self._preview_sid:
            self._preview_sid = f.sid
            self._captions = dict(evidence(f))
            self.post_message(m.PreviewRequested(self, f.sid, list(self._captions)))

    def _info_text(self, f: Any) -> str:
        now = self.current.get(f.sid, f.current_label)
        lines = [
            f"[b]{f.sample_id[:16]}[/b] {f.kind.value}",
            f"given [b]{f.given_label or '-'}[/b]  now [b]{now or '-'}[/b]",
        ]
        if f.suggested_label:
            lines.append(f"suggested [b]{f.suggested_label}[/b]")
        if f.score is not None:
            lines.append(f"score {f.score:.3g} (lower = more suspicious)")
        if f.source:
            # The last three path parts: enough to find the file, and the same
            # wherever the dataset lives (absolute paths overflow an 80-column pane).
            lines.append(f"[dim]…/{'/'.join(PurePath(f.source).parts[-3:])}[/dim]")
        return "\n".join(lines)

    def on_preview_decoded(self, message: m.PreviewDecoded) -> None:
        if message.sid != self._preview_sid:
            return  # the selection moved on
        self.query_one(PixelImage).image = message.image
        self.query_one(ThumbnailStrip).items = [
            (image, self._captions.get(sid, f"#{sid}")) for sid, image in message.neighbours
        ]

    # -- decisions --------------------------------------------------------------------------
    def _post_decision(self, decision: m.Decision) -> None:
        """Mark the row as pending, move on, and ask the app to record the decision.

        The cursor moves now, not when the write returns: the next key (typed
        150 ms later, before the worker reopened the catalog) applies to the
        next row, not again to this one.
        """
        row_key = self._cursor_key()
        if row_key is not None:
            self._row_of[id(decision)] = row_key
        self._pending.append(decision)
        # Its place on the undo stack is taken now, in the order decisions were
        # made; the label before is filled in when the report comes.
        self.undo_stack.append((decision, None))
        self._pending_watch.resume()
        self._update_row(decision.sid)
        self.action_next()
        self.post_message(m.DecisionRequested(self, decision))

    def _decide(self, action: str, label: str | None = None, reason: str | None = None) -> None:
        f = self.selected
        if f is None:
            self.notify("no finding selected", severity="warning")
            return
        self._post_decision(m.Decision(action, f.sid, f.sample_id, label=label, reason=reason))

    def action_accept(self) -> None:
        f = self.selected
        if f is None:
            return
        if not f.suggested_label:
            self.notify("this finding has no suggested label", severity="warning")
            return
        self._post_decision(
            m.Decision("accept", f.sid, f.sample_id, label=f.suggested_label, run_id=f.run_id)
        )

    def action_relabel(self) -> None:
        f = self.selected
        if f is None:
            return

        def picked(label: str | None) -> None:
            if label is not None:
                self._decide("relabel", label=label, reason="review: relabeled")

        self.app.push_screen(
            ClassPicker(self.class_names, self.current.get(f.sid, f.current_label)), picked
        )

    def action_drop(self) -> None:
        f = self.selected
        if f is not None:
            self._decide("drop", reason=f"review: dropped ({f.kind.value} finding)")

    def action_keep(self) -> None:
        f = self.selected
        if f is None:
            return
        d = m.Decision("keep", f.sid, f.sample_id)
        row_key = self._cursor_key()
        if row_key is not None:
            self._row_of[id(d)] = row_key
        self.undo_stack.append((d, None))
        self.status[f.sid] = "kept"
        self._update_row(f.sid)
        self.action_next()

    def _cursor_key(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count or not 0 <= table.cursor_row < table.row_count:
            return None
        return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value

    def _forget_pending(self, d: m.Decision) -> bool:
        """Take ``d`` off the pending list; False when it was not there."""
        for i, p in enumerate(self._pending):
            if p is d:
                del self._pending[i]
                if not self._pending:
                    self._pending_watch.pause()
                return True
        return False

    def _stack_index(self, d: m.Decision) -> int | None:
        return next((i for i, (x, _) in enumerate(self.undo_stack) if x is d), None)

    def on_change_recorded(self, message: m.ChangeRecorded) -> None:
        d, report = message.decision, message.report
        self._forget_pending(d)
        if d.undo_of is not None:
            self._undone.pop(id(d), None)
            self.status.pop(d.sid, None)
            if d.action in ("relabel", "accept"):
                self.current[d.sid] = d.label
            self.notify(f"undid {d.undo_of.action} of {d.sample_id[:12]}")
            if d.action == "restore" and d.sid not in self._rows_of:
                # Dropped and no longer listed (read again since): list it again.
                self._request_findings(keep_drops=True)
        else:
            i = self._stack_index(d)
            if message.recorded == 0:
                self.notify(f"{d.sample_id[:12]}: {_why_unchanged(report)}; nothing recorded")
                if i is not None:
                    del self.undo_stack[i]
            elif i is not None:
                self.undo_stack[i] = (d, message.label_before)
            if d.action in ("accept", "relabel"):
                self.current[d.sid] = d.label
            if d.action in ("accept", "relabel", "drop"):
                self.status[d.sid] = _mark(d)
        self._update_row(d.sid)
        f = self.selected
        if f is not None and f.sid == d.sid:
            self.query_one("#preview-info", Static).update(self._info_text(f))

    # -- failed writes ---------------------------------------------------------------------
    def _check_pending(self) -> None:
        """Clear the marks of decisions whose write failed (the app showed the error).

        Three hops, so that no answer is still on its way when a decision is
        judged: on this screen (a DecisionRequested posted before has been passed
        on to the app), on the app (which has started its worker by then), back
        here (a ChangeRecorded posted before its worker ended has been handled).
        """
        if self._reconciling or not self._pending:
            return
        self._reconciling = True
        self.call_later(lambda: self.app.call_later(self._count_in_flight))

    def _count_in_flight(self) -> None:
        pending = list(self._pending)
        names = {_job_name(d) for d in pending}
        running = sum(
            1
            for w in self.app.workers
            if w.group == "decisions" and w.name in names and not w.is_finished
        )
        # Writes run one after another in the order posted: those still running
        # are the last ones; the ones before them ended.
        ended = pending[: max(0, len(pending) - running)]
        self.call_later(self._clear_failed, ended)

    def _clear_failed(self, ended: list[m.Decision]) -> None:
        self._reconciling = False
        for d in ended:
            if not self._forget_pending(d):
                continue  # its ChangeRecorded came
            i = self._stack_index(d)
            if i is not None:
                del self.undo_stack[i]
            back = self._undone.pop(id(d), None)
            if back is not None:
                self.undo_stack.append(back)  # the undo failed: it can be tried again
            self._update_row(d.sid)

    def _update_row(self, sid: int) -> None:
        table = self.query_one(DataTable)
        cell = self._decision_cell(sid)
        for key in self._rows_of.get(sid, []):
            if key in table.rows:
                # update_width: a long class name widens the column instead of being cut
                table.update_cell(key, "decision", cell, update_width=True)

    def _refresh_marks(self) -> None:
        for sid in self._rows_of:
            self._update_row(sid)

    def action_undo(self) -> None:
        if not self.undo_stack:
            self.notify("nothing to undo")
            return
        d, before = self.undo_stack[-1]
        if any(p is d for p in self._pending):
            self.notify(f"still recording the {d.action} of {d.sample_id[:12]}; undo it then")
            return
        self.undo_stack.pop()
        if d.action == "accept_all":
            back = self._bulk.pop(id(d))
            for sid, label in back:
                self.status.pop(sid, None)
                self.current[sid] = label
            self.post_message(
                m.RevertRelabelsRequested(self, back, reason="review: undo accept all")
            )
            return
        if d.action == "keep":
            self.status.pop(d.sid, None)
            self._update_row(d.sid)
            self._select(d)
            return
        if d.action in ("accept", "relabel"):
            if before is None:
                self.notify("cannot undo: the sample had no label before", severity="warning")
                return
            inverse = m.Decision(
                "relabel", d.sid, d.sample_id, label=before, reason="review: undo", undo_of=d
            )
        elif d.action == "drop":
            inverse = m.Decision("restore", d.sid, d.sample_id, reason="review: undo", undo_of=d)
        else:
            return
        self._select(d)
        self._pending.append(inverse)
        self._undone[id(inverse)] = (d, before)
        self._pending_watch.resume()
        self.post_message(m.DecisionRequested(self, inverse))

    def _select(self, d: m.Decision) -> None:
        """The row ``d`` was made on, else the first row of its sample."""
        table = self.query_one(DataTable)
        keys = [self._row_of.get(id(d)), *self._rows_of.get(d.sid, [])]
        key = next((k for k in keys if k is not None and k in table.rows), None)
        if key is not None:
            table.move_cursor(row=table.get_row_index(key))

    def action_accept_all(self) -> None:
        # Count first, then ask: one key must not make a hundred changes unasked.
        self.post_message(m.AcceptAllRequested(self, dry_run=True))

    def on_suggestions_accepted(self, message: m.SuggestionsAccepted) -> None:
        r = message.report
        if r.dry_run:
            if not r.accepted:
                self.notify(f"no label suggestion of scan run {r.run_id} is left to accept")
                return

            def answered(yes: bool | None) -> None:
                if yes:
                    self.post_message(m.AcceptAllRequested(self))

            self.app.push_screen(
                ConfirmDialog(
                    "Accept all",
                    f"Relabel {r.accepted} samples to the suggestions of scan run {r.run_id}? "
                    "They become pending changes; u undoes them as one step.",
                    confirm=f"Accept {r.accepted}",
                ),
                answered,
            )
            return
        if r.relabels:
            bulk = m.Decision("accept_all", -1, "", run_id=r.run_id)
            # (an unlabeled sample cannot get "no label" back by a relabel)
            self._bulk[id(bulk)] = [(x["sid"], x["from"]) for x in r.relabels if x["from"]]
            self.undo_stack.append((bulk, None))
        for x in r.relabels:
            self.current[x["sid"]] = x["to"]
            self.status[x["sid"]] = f"✓ {x['to']}"
        self.notify(
            f"accepted {r.accepted} of {r.candidates} label suggestions (scan run {r.run_id}); "
            f"{r.pending} pending changes"
        )
        self._request_findings(keep_drops=True)

    def on_relabels_reverted(self, message: m.RelabelsReverted) -> None:
        self.notify(f"undid accept all: {message.recorded} samples have their labels back")
        self._request_findings(keep_drops=True)

    # -- navigation --------------------------------------------------------------------------
    def action_next(self) -> None:
        self.query_one(DataTable).action_cursor_down()

    def action_previous(self) -> None:
        self.query_one(DataTable).action_cursor_up()

    def action_sort(self) -> None:
        self.ascending = not self.ascending
        self.findings.reverse()
        self._preview_sid = None  # the new order starts at its top, not at the same sample
        self._fill_table()
        order = "most" if self.ascending else "least"
        self.notify(f"{order} suspicious first")
