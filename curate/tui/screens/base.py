"""What every screen of the TUI shares: the navigation bar, the job panel, the footer."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from curate.tui.widgets.jobs import JobPanel

NAV = [
    ("overview", "1", "Overview"),
    ("review", "2", "Review"),
    ("augment", "3", "Augment"),
    ("synthesize", "4", "Synthesize"),
    ("versions", "5", "Versions"),
]


class NavBar(Static):
    """``curate · WORKSPACE  1 Overview  2 Review ...`` with the current screen highlighted."""

    def __init__(self, current: str) -> None:
        super().__init__(id="nav")
        self.current = current

    def on_mount(self) -> None:
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        # The workspace name gives way (cut with an ellipsis) so that the
        # screens and "? help" stay on the bar at 80 columns.
        name = self.app.workspace_name
        others = len("curate ·  ") + sum(3 + len(title) for _, _, title in NAV) + len("  ? help")
        room = max(4, (self.size.width or 80) - others)
        if len(name) > room:
            name = name[: room - 1] + "…"
        text = Text("curate", style="bold")
        text.append(f" · {name} ")
        for mode, key, title in NAV:
            style = "reverse bold" if mode == self.current else ""
            text.append(" ")
            text.append_text(
                Text.from_markup(f"[@click=app.switch_mode('{mode}')]{key} {title}[/]", style=style)
            )
        text.append("  ? help")
        self.update(text)


class CurateScreen(Screen):
    """A top-level screen: subclasses set ``MODE``/``TITLE`` and yield their body."""

    MODE = ""
    # The app's help and quit, again here so that the footer shows them first:
    # it lists the focused widget's keys, then the screen's (base class first),
    # then the app's, and cuts what does not fit; at 80 columns the app's came
    # last and were cut. Same keys, so the app's own bindings are not listed twice;
    # subclasses' BINDINGS (the help screen, the palette) do not include these.
    BINDINGS = [
        Binding("question_mark,f1", "app.help", "Help"),
        Binding("q", "app.quit", "Quit"),
    ]

    def compose(self) -> ComposeResult:
        yield NavBar(self.MODE)
        yield from self.compose_body()
        yield JobPanel()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    def on_screen_resume(self) -> None:
        # Jobs may have started or ended while another mode's screen was in front.
        jobs = list(getattr(self.app, "jobs", {}).values())
        for panel in self.query(JobPanel):
            panel.jobs = jobs
