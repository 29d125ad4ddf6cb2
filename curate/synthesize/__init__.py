"""Synthesis engine: generators fitted on the workspace, a quality gate, admission.

Public names: :func:`run_synthesis`, :class:`SynthRequest`, :class:`SynthResult`,
:func:`list_generators`. Importing this package loads no torch; the engine,
the gate and the generators import it when they run.
"""

from __future__ import annotations

from typing import Any

from curate.synthesize.models import ClassOutcome, GateSettings, SynthRequest, SynthResult


def list_generators(*, load: bool = False) -> list[dict[str, Any]]:
    """Registered generators. ``load=False`` reads entry-point metadata only (no imports);
    ``load=True`` imports each one for its flags and options (a broken one reports its error)."""
    from curate.errors import CurateError
    from curate.plugins.registry import list_plugins

    out = []
    for info in list_plugins("curate.generators"):
        row: dict[str, Any] = {
            "name": info.name,
            "entry_point": info.value,
            "distribution": info.distribution,
        }
        if load:
            from curate.plugins.generators import load_generator_class

            try:
                row.update(load_generator_class(info.name).describe())
            except CurateError as exc:
                row["error"] = exc.message
        out.append(row)
    return out


def run_synthesis(*args: Any, **kwargs: Any) -> SynthResult:
    from curate.synthesize.engine import run_synthesis as run

    return run(*args, **kwargs)


__all__ = [
    "ClassOutcome",
    "GateSettings",
    "SynthRequest",
    "SynthResult",
    "list_generators",
    "run_synthesis",
]
