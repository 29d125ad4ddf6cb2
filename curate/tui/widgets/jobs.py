"""The job panel: running jobs with a progress bar each (the app sets ``jobs``)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Label, ProgressBar

from curate.tui.messages import JobState


class JobRow(Horizontal):
    DEFAULT_CSS = """
    JobRow { height: 1; }
    JobRow Label { width: 1fr; }
    JobRow ProgressBar { width: 40; }
    """

    def __init__(self, state: JobState) -> None:
        super().__init__()
        self.state = state

    def compose(self) -> ComposeResult:
        text = self.state.description
        if self.state.message:
            text += f": {self.state.message}"
        yield Label(text)
        bar = ProgressBar(total=self.state.total, show_eta=False)
        bar.progress = self.state.done
        yield bar


class JobPanel(Vertical):
    """Below the screen body, above the footer; hidden while nothing runs. ctrl+x cancels."""

    DEFAULT_CSS = """
    JobPanel { height: auto; max-height: 4; display: none; }
    JobPanel.-busy { display: block; }
    """

    jobs: reactive[list[JobState]] = reactive(list, recompose=True, always_update=True)

    def watch_jobs(self, jobs: list[JobState]) -> None:
        self.set_class(bool(jobs), "-busy")

    def compose(self) -> ComposeResult:
        for state in self.jobs:
            yield JobRow(state)
