"""Augment: a policy editor with live validation, a preset picker and a preview grid.

Validation is :func:`curate.augment.policy.validate_policy_text`, the validator
`curate augment` uses; the preview is ``ws.augment_preview`` (the grid of
`curate augment preview`); running is ``ws.augment``.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Select, Static, TextArea

from curate.tui import messages as m
from curate.tui.screens.base import CurateScreen
from curate.tui.widgets.image import PixelImage

# Validation runs this long after the last keystroke (a worker per pause, not per key).
VALIDATE_DELAY_S = 0.3
# One sample: ws.augment_preview lays its blocks out in one row of up to 4, which a
# terminal pane cannot show legibly beyond one block (4 tiles).
PREVIEW_SAMPLES = 1
PREVIEW_VIEWS = 3
DEFAULT_PRESET = "light"


class AugmentScreen(CurateScreen):
    MODE = "augment"
    TITLE = "Augment"
    # ctrl-keys: the editor takes every printable key while it has focus.
    BINDINGS = [
        Binding("ctrl+r", "preview", "Preview", tooltip="Preview augmented views of the class"),
        Binding("ctrl+o", "dry_run", "Dry run", tooltip="What augment would add (nothing written)"),
        Binding("ctrl+g", "augment", "Augment", tooltip="Add augmented samples to balance train"),
        Binding("ctrl+f", "maximize_preview", "Zoom", tooltip="Preview grid full screen"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.valid = False
        self._timer = None

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="augment-body"):
            with Vertical(id="augment-left"):
                with Horizontal(id="augment-pickers"):
                    yield Select([], prompt="preset", id="preset")
                    yield Select([], prompt="all classes", id="preview-class")
                editor = TextArea(language=None, id="policy", soft_wrap=True, tab_behavior="indent")
                # While it has focus the editor takes every printable key (1-5, q, ?):
                # say how to get the app's keys back.
                editor.border_title = "policy YAML"
                editor.border_subtitle = "esc: leave the editor"
                yield editor
                yield Static("", id="validation")
            with Vertical(id="augment-right"):
                yield Label("Preview (ctrl+r)", classes="section-title", id="preview-title")
                yield PixelImage(placeholder="ctrl+r: preview the policy", id="augment-preview")

    def on_mount(self) -> None:
        self.post_message(m.PresetsRequested(self))

    def on_presets_loaded(self, message: m.PresetsLoaded) -> None:
        names = [p.name for p in message.presets]
        preset = self.query_one("#preset", Select)
        preset.set_options([(n, n) for n in names])
        classes = self.query_one("#preview-class", Select)
        classes.set_options([(c, c) for c in message.classes])
        if not self.query_one(TextArea).text and DEFAULT_PRESET in names:
            preset.value = DEFAULT_PRESET  # loads it (Select.Changed)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "preset" and event.value is not Select.NULL:
            self.post_message(m.PresetRequested(self, str(event.value)))

    def on_preset_loaded(self, message: m.PresetLoaded) -> None:
        self.query_one(TextArea).load_text(message.text)
        self._validate_now()

    # -- validation -------------------------------------------------------------------------
    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(VALIDATE_DELAY_S, self._validate_now)

    def _validate_now(self) -> None:
        self.post_message(m.PolicyValidationRequested(self, self.query_one(TextArea).text))

    def on_policy_validated(self, message: m.PolicyValidated) -> None:
        if message.text != self.query_one(TextArea).text:
            return  # the text changed since; another validation is on its way
        errors = [i for i in message.issues if i.level == "error"]
        self.valid = not errors
        out = Text()
        if not message.issues:
            out.append("✓ valid policy", style="green")
        for issue in message.issues[:6]:
            colour = "red" if issue.level == "error" else "yellow"
            where = issue.path or "policy"
            out.append(f"{issue.level}: ", style=f"bold {colour}")
            out.append(f"{where}: {issue.message}\n")
        if len(message.issues) > 6:
            out.append(f"... and {len(message.issues) - 6} more")
        self.query_one("#validation", Static).update(out)

    def _text_if_valid(self) -> str | None:
        if not self.valid:
            self.notify("fix the policy first (see the messages below it)", severity="warning")
            return None
        return self.query_one(TextArea).text

    # -- preview and run ----------------------------------------------------------------------
    def action_preview(self) -> None:
        text = self._text_if_valid()
        if text is None:
            return
        cls = self.query_one("#preview-class", Select).value
        name = None if cls is Select.NULL else str(cls)
        self.post_message(
            m.AugmentPreviewRequested(self, text, name, PREVIEW_SAMPLES, PREVIEW_VIEWS)
        )

    def on_augment_previewed(self, message: m.AugmentPreviewed) -> None:
        cls = self.query_one("#preview-class", Select).value
        which = "all classes" if cls is Select.NULL else f"class {cls}"
        self.query_one("#preview-title", Label).update(
            f"Preview: {which} (framed: original; then {PREVIEW_VIEWS} views)"
        )
        self.query_one("#augment-preview", PixelImage).image = message.image

    def action_maximize_preview(self) -> None:
        if self.maximized is not None:
            self.minimize()  # esc restores too (Textual's escape-to-minimize)
            return
        preview = self.query_one("#augment-preview", PixelImage)
        if preview.image is None:
            self.notify("no preview to zoom: ctrl+r previews the policy", severity="warning")
        elif not self.maximize(preview, container=False):
            self.notify("the preview cannot be zoomed", severity="warning")

    def action_dry_run(self) -> None:
        text = self._text_if_valid()
        if text is not None:
            self.post_message(m.AugmentRequested(self, text, dry_run=True))

    def action_augment(self) -> None:
        text = self._text_if_valid()
        if text is not None:
            self.post_message(m.AugmentRequested(self, text, dry_run=False))

    def on_augmented(self, message: m.Augmented) -> None:
        r = message.report
        if r.dry_run:
            needs = ", ".join(f"{c.name} +{c.needed}" for c in r.classes if c.needed)
            text = f"would add {r.needed} samples ({r.counts_from} counts, target {r.target})"
            text += f": {needs}" if needs else ": every class is at the target already"
        elif r.added or r.cancelled:
            per_class = ", ".join(f"{c.name} +{c.added}" for c in r.classes if c.added) or "none"
            text = f"added {r.added} samples as pending changes: {per_class}"
            if r.cancelled:
                text += " (cancelled; finished batches kept)"
        elif not r.needed:
            text = f"nothing to add: every class has {r.target} train samples or more"
        else:  # draws that gave images the workspace holds, or left them unchanged
            text = (
                f"added nothing: {r.duplicates} outputs were already in the workspace and "
                f"{r.unchanged} draws left the image unchanged"
            )
        # A summary to read, not a flash: longer than the 5-second default.
        self.notify(text, title="Augment", timeout=10)
        for warning in r.warnings:  # the same warnings the CLI prints
            self.notify(warning, title="Augment", severity="warning", timeout=12)
