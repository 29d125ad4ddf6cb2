"""An empty state: one calm line saying what is empty and what to do (the screen sets ``text``).

Nothing to show is not an error: no scan yet, no version yet, a filter that
matches nothing. Those get this line inside the screen, never the error modal.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


class EmptyState(Widget):
    """Hidden while ``text`` is empty."""

    DEFAULT_CSS = """
    EmptyState { height: 1; padding: 0 1; color: $text-muted; display: none; }
    EmptyState.-shown { display: block; }
    """

    text: reactive[str] = reactive("")

    def watch_text(self, text: str) -> None:
        self.set_class(bool(text), "-shown")

    def render(self) -> Text:
        # One line, cut with an ellipsis in a narrow pane rather than wrapped.
        return Text(self.text, no_wrap=True, overflow="ellipsis")
