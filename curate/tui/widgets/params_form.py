"""A form rendered from a plugin's options table (``curate.plugins.registry.params_table``).

One labelled input per option, the default as placeholder and the description
as tooltip. ``values()`` returns only the options the user typed, parsed as
JSON where they parse (numbers, booleans, lists) and as text otherwise; the
plugin's pydantic Params model validates them when the request runs.
"""

from __future__ import annotations

import json
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Input, Label


def parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


class ParamsForm(Vertical):
    DEFAULT_CSS = """
    ParamsForm { height: auto; }
    ParamsForm Horizontal { height: 1; margin-bottom: 1; }
    ParamsForm Label { width: 18; }
    ParamsForm Input { width: 1fr; height: 1; border: none; padding: 0 1; }
    """

    rows: reactive[list[dict[str, Any]]] = reactive(list, recompose=True)

    def compose(self) -> ComposeResult:
        for row in self.rows:
            default = row.get("default")
            placeholder = "required" if row.get("required") else json.dumps(default, default=str)
            with Horizontal():
                yield Label(row["name"][:18])
                field = Input(placeholder=placeholder, name=row["name"])
                field.tooltip = f"{row.get('type', '')}: {row.get('description', '')}"
                yield field

    def values(self) -> dict[str, Any]:
        return {
            field.name: parse_value(field.value.strip())
            for field in self.query(Input)
            if field.name and field.value.strip()
        }
