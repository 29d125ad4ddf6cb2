"""Plugins are Python entry points; curate's own register exactly like anyone's.

Groups:

* ``curate.extractors`` - feature extractors / out-of-sample predictors (scan)
* ``curate.generators`` - sample generators (synthesis)
* ``curate.policies``   - augmentation policy presets

Listing reads entry-point metadata only (nothing is imported); loading
imports exactly one plugin and wraps its import errors with the name of the
distribution that provides it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import BaseModel, ValidationError

from curate.errors import InvalidInput, NotFound, PluginError

GROUPS = ("curate.extractors", "curate.generators", "curate.policies")


@dataclass(frozen=True)
class PluginInfo:
    group: str
    name: str
    value: str  # "module:attr"
    distribution: str | None


def _entry_points(group: str) -> list[EntryPoint]:
    return sorted(entry_points(group=group), key=lambda ep: ep.name)


def list_plugins(group: str) -> list[PluginInfo]:
    return [
        PluginInfo(group, ep.name, ep.value, ep.dist.name if ep.dist else None)
        for ep in _entry_points(group)
    ]


def find_plugin(group: str, name: str) -> EntryPoint:
    """The entry point ``name`` of ``group`` (imports nothing); :class:`NotFound` if none."""
    eps = {ep.name: ep for ep in _entry_points(group)}
    ep = eps.get(name)
    if ep is None:
        close = difflib.get_close_matches(name, list(eps), n=3)
        kind = group.split(".", 1)[1].rstrip("s")
        hint = (
            f"did you mean {', '.join(close)}?"
            if close
            else f"available: {', '.join(eps) or 'none'}"
        )
        raise NotFound(f"no {kind} plugin named {name!r}", hint=hint)
    return ep


def load_plugin(group: str, name: str) -> Any:
    """Import and return the object the entry point ``name`` of ``group`` names."""
    ep = find_plugin(group, name)
    try:
        return ep.load()
    except ImportError as exc:
        dist = ep.dist.name if ep.dist else "its distribution"
        raise PluginError(
            f"plugin {name!r} (from {dist}) cannot be imported: {exc}",
            hint=f"reinstall {dist} with its dependencies",
        ) from None


def parse_params(
    params_model: type[BaseModel], values: dict[str, Any], *, where: str = ""
) -> BaseModel:
    """Validate plugin options; errors name the field (``where.field: message``)."""
    try:
        return params_model.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        prefix = f"{where}." if where else ""
        raise InvalidInput(f"{prefix}{loc}: {first['msg']}") from None


def params_table(params_model: type[BaseModel]) -> list[dict[str, Any]]:
    """One row per option: name, type, default, description. CLI help, TUI forms and docs render this."""
    rows = []
    for name, field in params_model.model_fields.items():
        rows.append(
            {
                "name": name,
                "type": getattr(field.annotation, "__name__", str(field.annotation)),
                "default": None
                if field.is_required()
                else field.get_default(call_default_factory=True),
                "required": field.is_required(),
                "description": field.description or "",
            }
        )
    return rows
