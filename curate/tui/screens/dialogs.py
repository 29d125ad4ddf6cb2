"""Modal dialogs: errors, class picker, commit, tag and export forms.

Dialogs only collect input: they dismiss with a value and the screen that
opened them posts the ``...Requested`` message.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option


class ErrorModal(ModalScreen[None]):
    """A CurateError (or an internal error) as a title, one message and a hint."""

    BINDINGS = [Binding("escape,enter", "dismiss", "Close")]

    def __init__(self, title: str, message: str, hint: str | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.error_title, self.message, self.hint = title, message, hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog error-dialog"):
            yield Label(self.error_title, classes="dialog-title")
            yield Static(self.message, id="error-message")
            if self.hint:
                yield Static(f"hint: {self.hint}", id="error-hint")
            yield Button("Close", variant="error", id="close")

    def on_button_pressed(self) -> None:
        self.dismiss()


class ClassPicker(ModalScreen[str | None]):
    """Pick a class by name (type to jump, enter to choose, escape to cancel)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, classes: list[str], current: str | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.class_names = classes
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Relabel as", classes="dialog-title")
            yield OptionList(
                *[
                    Option(f"{name}  (current)" if name == self.current else name, id=name)
                    for name in self.class_names
                ],
                id="class-options",
            )

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if self.current in self.class_names:
            options.highlighted = self.class_names.index(self.current)
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    _typed = ""
    _typed_at = 0.0

    def on_key(self, event) -> None:
        """Type to jump: the first class whose name starts with what was typed (a
        pause of a second starts a new prefix)."""
        import time

        char = event.character
        if not char or not char.isprintable() or char == " ":
            return
        now = time.monotonic()
        self._typed = (self._typed if now - self._typed_at < 1.0 else "") + char.lower()
        self._typed_at = now
        for i, name in enumerate(self.class_names):
            if name.lower().startswith(self._typed):
                self.query_one(OptionList).highlighted = i
                break
        event.stop()


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question before an action that changes many things at once."""

    BINDINGS = [
        Binding("escape,n", "dismiss(False)", "Cancel"),
        Binding("y", "dismiss(True)", "Yes"),
    ]

    def __init__(self, title: str, message: str, confirm: str = "OK") -> None:
        super().__init__(classes="dialog-screen")
        self.confirm_title, self.message, self.confirm = title, message, confirm

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.confirm_title, classes="dialog-title")
            yield Static(self.message, id="confirm-message")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.confirm, variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()  # a stray Enter changes nothing

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "ok")


class TextPrompt(ModalScreen[str | None]):
    """One line of text (commit message, tag name)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, title: str, placeholder: str = "", *, allow_empty: bool = False) -> None:
        super().__init__(classes="dialog-screen")
        self.prompt_title = title
        self.placeholder = placeholder
        self.allow_empty = allow_empty

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.prompt_title, classes="dialog-title")
            yield Input(placeholder=self.placeholder, id="prompt-input")
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def _submit(self) -> None:
        value = self.query_one(Input).value.strip()
        if not value and not self.allow_empty:
            self.notify("type something first, or press escape", severity="warning")
            return
        self.dismiss(value)

    def on_input_submitted(self) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._submit()
        else:
            self.dismiss(None)


@dataclass(frozen=True)
class ExportChoice:
    version: str
    format: str
    out: str
    overwrite: bool


EXPORT_FORMATS = ["imagefolder", "parquet", "hf", "webdataset"]


class ExportDialog(ModalScreen[ExportChoice | None]):
    """Version, format, output folder and overwrite: the options of `curate export`."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, version: str, default_out: str) -> None:
        super().__init__(classes="dialog-screen")
        self.version = version
        self.default_out = default_out

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Export {self.version}", classes="dialog-title")
            fmt = Select(
                [(f, f) for f in EXPORT_FORMATS],
                value="imagefolder",
                allow_blank=False,
                id="format",
            )
            fmt.border_title = "format"
            yield fmt
            out = Input(value=self.default_out, placeholder="output folder", id="out")
            out.border_title = "output folder"
            yield out
            yield Checkbox("overwrite a non-empty folder", id="overwrite")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Export", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def _submit(self) -> None:
        out = self.query_one("#out", Input).value.strip()
        if not out:
            self.notify("name an output folder", severity="warning")
            return
        self.dismiss(
            ExportChoice(
                version=self.version,
                format=str(self.query_one("#format", Select).value),
                out=out,
                overwrite=self.query_one("#overwrite", Checkbox).value,
            )
        )

    def on_input_submitted(self) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._submit()
        else:
            self.dismiss(None)


class ScanDialog(ModalScreen[dict | None]):
    """The options of `curate scan`: extractor, cross-validation folds, seed."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, extractors: list[str]) -> None:
        super().__init__(classes="dialog-screen")
        self.extractors = extractors

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Scan", classes="dialog-title")
            yield Select(
                [(e, e) for e in self.extractors], prompt="default extractor", id="extractor"
            )
            with Horizontal(classes="field"):
                yield Label("folds")
                yield Input(value="5", type="integer", id="folds")
            with Horizontal(classes="field"):
                yield Label("seed")
                yield Input(value="0", type="integer", id="seed")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Scan", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def _submit(self) -> None:
        extractor = self.query_one("#extractor", Select).value
        values = {}
        for name, default in (("folds", 5), ("seed", 0)):
            text = self.query_one(f"#{name}", Input).value.strip()
            try:  # an integer Input lets a lone '-' through
                values[name] = int(text) if text else default
            except ValueError:
                self.notify(f"{name}: {text!r} is not a whole number", severity="warning")
                return
        self.dismiss({"extractor": None if extractor is Select.NULL else str(extractor), **values})

    def on_input_submitted(self) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._submit()
        else:
            self.dismiss(None)
