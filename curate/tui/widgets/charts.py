"""Small text charts: per-class counts by split, issue counts, the balancing plan."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

# Split colours; unknown splits cycle through the rest.
SPLIT_COLOURS = {"train": "dodger_blue2", "val": "dark_orange", "test": "green3", None: "grey50"}
EXTRA_COLOURS = ["magenta", "yellow", "cyan", "red"]


def split_colour(split: str | None, order: list[str | None]) -> str:
    if split in SPLIT_COLOURS:
        return SPLIT_COLOURS[split]
    return EXTRA_COLOURS[order.index(split) % len(EXTRA_COLOURS)]


def _split_key(split: str | None) -> str | None:
    """The one key for "no split": the status counts name it "-" (older ones "none")."""
    return None if split in (None, "", "-", "none") else split


def _split_order(split: str | None) -> tuple:
    known = ["train", "val", "test"]
    return (split is None, known.index(split) if split in known else len(known), split or "")


class ClassBars(Widget):
    """One stacked bar per class, a segment per split (the screen sets ``classes_``)."""

    DEFAULT_CSS = "ClassBars { height: auto; }"

    classes_: reactive[list[Any]] = reactive(list, layout=True)

    def render(self) -> Group | Text:
        rows = self.classes_
        if not rows:
            return Text("no samples yet: `curate ingest FOLDER`", style="dim")
        splits: list[str | None] = []
        for c in rows:
            for s in c.by_split:
                key = _split_key(s)
                if key not in splits:
                    splits.append(key)
        splits.sort(key=_split_order)
        name_w = min(12, max(len(c.name) for c in rows))
        count_w = len(str(max(c.count for c in rows)))
        bar_w = max(4, self.size.width - name_w - count_w - 3)
        largest = max(c.count for c in rows) or 1
        lines = []
        for c in rows:
            line = Text(c.name[:name_w].rjust(name_w) + " ")
            used = 0
            for s in splits:
                n = sum(v for k, v in c.by_split.items() if _split_key(k) == s)
                cells = round(n / largest * bar_w)
                cells = min(cells, bar_w - used)
                line.append("█" * cells, style=split_colour(s, splits))
                used += cells
            line.append(" " * (bar_w - used) + " " + str(c.count).rjust(count_w))
            lines.append(line)
        legend = Text("  ".join(""))
        for s in splits:
            legend.append("■ ", style=split_colour(s, splits))
            legend.append(f"{s or 'no split'}  ")
        return Group(*lines, legend)


class KeyValues(Widget):
    """A small table from ``rows`` (the screen sets it): first column left, others right."""

    DEFAULT_CSS = "KeyValues { height: auto; }"

    rows: reactive[list[tuple[str, ...]]] = reactive(list, layout=True)

    def __init__(self, empty: str = "", *, header: tuple[str, ...] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.empty = empty
        self.header = header

    def render(self) -> Table | Text:
        if not self.rows:
            return Text(self.empty, style="dim")
        width = max(len(r) for r in self.rows)
        table = Table(
            box=None, show_header=self.header is not None, pad_edge=False, header_style="dim"
        )
        for i in range(width):
            name = self.header[i] if self.header and i < len(self.header) else ""
            table.add_column(name, justify="left" if i == 0 else "right", no_wrap=True)
        for row in self.rows:
            table.add_row(*row)
        return table
