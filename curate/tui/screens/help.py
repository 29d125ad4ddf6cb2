"""The help screen: the keys of the screen below it and of the app, from their bindings."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

GLOSSARY = (
    "sample: one image; label/class: its class; split: train/val/test; "
    "finding: what a scan flagged; working changes: pending edits until a commit; "
    "version: an immutable, content-addressed snapshot; policy: an augmentation recipe; "
    "generator: a synthesis plugin; job: work running in the background (ctrl+x cancels)."
)


def _keys(bindings, app) -> list[tuple[str, Text]]:
    """(keys as typed, what they do) of the bindings that have a description.

    What they do: the description, and the tooltip after it where there is one.
    """
    rows = []
    for b in bindings:
        if isinstance(b, tuple):
            b = Binding(*b)
        if not b.description or b.action.startswith("switch_mode"):
            continue  # the screen keys 1..5 get one row of their own
        # "question_mark" -> "?"; modified keys stay spelled out ("ctrl+x", not "^x").
        keys = [k.strip() for k in b.key.split(",")]
        shown = [k if "+" in k else app.get_key_display(Binding(k, "")) for k in keys]
        what = Text(b.description)
        if b.tooltip:
            what.append(f"  {b.tooltip}", style="dim")
        rows.append((b.key_display or ", ".join(shown), what))
    return rows


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, below: Screen) -> None:
        super().__init__(classes="dialog-screen")
        self.below = below

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        title = getattr(self.below, "TITLE", None) or "curate"
        for key, what in _keys(getattr(self.below, "BINDINGS", []), self.app):
            table.add_row(key, what)
        table.add_row("", "")
        table.add_row("1..5", "Overview, Review, Augment, Synthesize, Versions")
        for key, what in _keys(self.app.BINDINGS, self.app):
            table.add_row(key, what)
        table.add_row("ctrl+p", "Command palette: every action by name")
        with Vertical(classes="dialog help-dialog"):
            yield Label(f"Keys: {title}", classes="dialog-title")
            with VerticalScroll():
                yield Static(table)
                yield Static(GLOSSARY, id="glossary")
