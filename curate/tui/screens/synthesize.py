"""Synthesize: pick a generator, classes and counts; run it as a job; see what was admitted.

The request is a :class:`curate.synthesize.SynthRequest` (the model behind
`curate synth`); the form for the generator's options comes from its Params
table. Counts default to the balancing plan's need (leave "n per class" empty).
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Checkbox, Input, Label, Select, Static

from curate.tui import messages as m
from curate.tui.screens.base import CurateScreen
from curate.tui.widgets.charts import KeyValues
from curate.tui.widgets.image import ThumbnailGrid
from curate.tui.widgets.params_form import ParamsForm

DEFAULT_GENERATOR = "gan"


class SynthesizeScreen(CurateScreen):
    MODE = "synthesize"
    TITLE = "Synthesize"
    BINDINGS = [
        Binding("ctrl+g", "generate", "Generate", tooltip="Fit (or reuse), sample, gate, admit"),
        Binding("ctrl+r", "refresh", "Refresh", tooltip="Read generators and the plan again"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.generators: list[dict[str, Any]] = []
        self.plan: Any | None = None

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="synth-body"):
            with VerticalScroll(id="synth-left"):
                yield Select([], prompt="generator", id="generator")
                yield Static("", id="generator-info")
                yield Label("Classes (balancing plan need)", classes="section-title")
                yield Vertical(id="synth-classes")
                with Horizontal(classes="field"):
                    yield Label("n per class")
                    yield Input(placeholder="plan's need", id="synth-n", type="integer")
                with Horizontal(classes="field"):
                    yield Label("fit steps")
                    yield Input(placeholder="generator default", id="synth-steps", type="integer")
                with Horizontal(classes="field"):
                    yield Label("seed")
                    yield Input(value="0", id="synth-seed", type="integer")
                yield Label("Generator options", classes="section-title")
                yield ParamsForm(id="synth-params")
            with VerticalScroll(id="synth-right"):
                yield Label("Result", classes="section-title", id="synth-result-title")
                yield KeyValues("ctrl+g to generate", id="synth-result")
                yield ThumbnailGrid(id="synth-grid")

    def on_mount(self) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        self.post_message(m.GeneratorsRequested(self))

    def on_generators_loaded(self, message: m.GeneratorsLoaded) -> None:
        self.generators = message.generators
        self.plan = message.plan
        select = self.query_one("#generator", Select)
        current = select.value
        select.set_options([(g["name"], g["name"]) for g in self.generators])
        names = [g["name"] for g in self.generators]
        if current in names:
            select.value = current
        elif names:
            # The GAN first, as `curate demo` does: minutes on a CPU where the
            # diffusion model takes about half an hour.
            select.value = DEFAULT_GENERATOR if DEFAULT_GENERATOR in names else names[0]
        box = self.query_one("#synth-classes", Vertical)
        box.remove_children()
        if self.plan is None:
            box.mount(Static("no labeled samples", classes="dim"))
            return
        box.mount_all(
            Checkbox(
                f"{c.name}: {c.count} (+{c.needed})",
                value=c.needed > 0,
                name=c.name,
                compact=True,
            )
            for c in self.plan.classes
        )

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id != "generator":
            return
        gen = next((g for g in self.generators if g["name"] == event.value), None)
        info = self.query_one("#generator-info", Static)
        form = self.query_one(ParamsForm)
        if gen is None:
            info.update("")
            form.rows = []
            return
        if "error" in gen:
            info.update(f"[red]cannot load: {gen['error']}[/red]")
            form.rows = []
            return
        flags = [
            k.removeprefix("supports_") for k, v in gen.items() if k.startswith("supports_") and v
        ]
        text = gen.get("description") or ""
        if flags:
            text += f"\n[dim]supports: {', '.join(flags)}[/dim]"
        info.update(text)
        form.rows = list(gen.get("params", []))

    def _int(self, selector: str) -> int | None:
        """The field's whole number, None when empty; ValueError naming the field when
        it holds something else (an integer Input lets a lone '-' through)."""
        value = self.query_one(selector, Input).value.strip()
        try:
            return int(value) if value else None
        except ValueError:
            name = selector.removeprefix("#synth-")
            raise ValueError(f"{name}: {value!r} is not a whole number") from None

    def action_generate(self) -> None:
        gen = self.query_one("#generator", Select).value
        if gen is Select.NULL:
            self.notify("pick a generator first", severity="warning")
            return
        classes = [c.name for c in self.query(Checkbox) if c.value and c.name]
        if not classes:
            self.notify("tick at least one class", severity="warning")
            return
        try:
            numbers = {
                "n": self._int("#synth-n"),
                "fit_steps": self._int("#synth-steps"),
                "seed": self._int("#synth-seed") or 0,
            }
        except ValueError as exc:
            self.notify(str(exc), severity="warning")
            return
        fields: dict[str, Any] = {
            "generator": str(gen),
            "classes": classes,
            **numbers,
            "params": self.query_one(ParamsForm).values(),
        }
        # ws.synthesize validates these (SynthRequest); errors come back as a modal.
        self.query_one("#synth-result-title", Label).update("Result: running...")
        self.post_message(m.SynthesisRequested(self, fields))

    def on_synthesized(self, message: m.Synthesized) -> None:
        r = message.result
        state = "cancelled" if r.cancelled else "done"
        self.query_one("#synth-result-title", Label).update(
            f"Result ({state}): {r.admitted} admitted, {r.rejected} rejected of {r.generated}"
        )
        rows = [(c.class_name, f"+{c.admitted} admitted, {c.rejected} rejected") for c in r.classes]
        rows += [(f"rejected: {k}", str(v)) for k, v in r.rejected_reasons.items()]
        self.query_one("#synth-result", KeyValues).rows = rows
        self.query_one(ThumbnailGrid).items = [(image, f"#{sid}") for sid, image in message.images]
        self.notify(
            f"{r.admitted} samples admitted as pending changes ({state})", title="Synthesis"
        )
