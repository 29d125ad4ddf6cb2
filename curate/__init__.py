"""curate: find and fix what is wrong with an image dataset.

Public names resolve lazily so that ``import curate`` stays light: torch,
textual, cleanlab, diffusers and albumentations load only where used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Workspace": ("curate.api", "Workspace"),
    "CurateError": ("curate.errors", "CurateError"),
    # augmentation (issue 5): pydantic + PyYAML only; albumentations loads on first build
    "Policy": ("curate.augment.policy", "Policy"),
    "load_policy": ("curate.augment.policy", "load_policy"),
}

if TYPE_CHECKING:
    from curate.api import Workspace
    from curate.augment.policy import Policy, load_policy
    from curate.errors import CurateError


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'curate' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = ["Workspace", "CurateError", "Policy", "load_policy", "__version__"]
