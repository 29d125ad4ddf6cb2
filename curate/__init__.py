"""curate: find and fix what is wrong with an image dataset.

Public names resolve lazily so that ``import curate`` stays light: torch,
textual, cleanlab, diffusers and albumentations load only where used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> (module, attribute); attribute None: the module itself.
_LAZY: dict[str, tuple[str, str | None]] = {
    "Workspace": ("curate.api", "Workspace"),
    # the error family (curate.errors imports only the standard library), so that
    # scripts can write `except curate.NotFound` or `except curate.errors.NotFound`
    "errors": ("curate.errors", None),
    "CurateError": ("curate.errors", "CurateError"),
    "InvalidInput": ("curate.errors", "InvalidInput"),
    "NotFound": ("curate.errors", "NotFound"),
    "Cancelled": ("curate.errors", "Cancelled"),
    "Interrupted": ("curate.errors", "Interrupted"),
    "WorkspaceNotFound": ("curate.errors", "WorkspaceNotFound"),
    "WorkspaceExists": ("curate.errors", "WorkspaceExists"),
    "WorkspaceLocked": ("curate.errors", "WorkspaceLocked"),
    "NotWritable": ("curate.errors", "NotWritable"),
    "DamagedData": ("curate.errors", "DamagedData"),
    "PluginError": ("curate.errors", "PluginError"),
    "MissingDependency": ("curate.errors", "MissingDependency"),
    # augmentation (issue 5): pydantic + PyYAML only; albumentations loads on first build
    "Policy": ("curate.augment.policy", "Policy"),
    "load_policy": ("curate.augment.policy", "load_policy"),
}

if TYPE_CHECKING:
    from curate import errors
    from curate.api import Workspace
    from curate.augment.policy import Policy, load_policy
    from curate.errors import (
        Cancelled,
        CurateError,
        DamagedData,
        Interrupted,
        InvalidInput,
        MissingDependency,
        NotFound,
        NotWritable,
        PluginError,
        WorkspaceExists,
        WorkspaceLocked,
        WorkspaceNotFound,
    )


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'curate' has no attribute {name!r}") from None
    import importlib

    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "Workspace",
    "errors",
    "CurateError",
    "InvalidInput",
    "NotFound",
    "Cancelled",
    "Interrupted",
    "WorkspaceNotFound",
    "WorkspaceExists",
    "WorkspaceLocked",
    "NotWritable",
    "DamagedData",
    "PluginError",
    "MissingDependency",
    "Policy",
    "load_policy",
    "__version__",
]
