"""Augmentation policies: declarative documents compiled to albumentations.

Public surface (everything else is internal):

* :class:`Policy`, :func:`load_policy`, :func:`parse_policy_text`,
  :func:`validate_policy_text`, :func:`list_presets` - documents (``policy.py``)
* :func:`preview_grid` - originals next to augmented views (``preview.py``)
* :func:`replay_recipe` - rebuild an augmented sample's bytes (``engine.py``)

This module stays light: albumentations (which itself imports torch) loads
only when a policy is validated, compiled or applied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_LAZY = {
    "Policy": ("curate.augment.policy", "Policy"),
    "PolicyIssue": ("curate.augment.policy", "PolicyIssue"),
    "PolicyInvalid": ("curate.augment.policy", "PolicyInvalid"),
    "load_policy": ("curate.augment.policy", "load_policy"),
    "parse_policy_text": ("curate.augment.policy", "parse_policy_text"),
    "validate_policy_text": ("curate.augment.policy", "validate_policy_text"),
    "list_presets": ("curate.augment.policy", "list_presets"),
    "AugmentTransform": ("curate.augment.online", "AugmentTransform"),
    "preview_grid": ("curate.augment.preview", "preview_grid"),
    "replay_recipe": ("curate.augment.engine", "replay_recipe"),
    "AugmentReport": ("curate.augment.engine", "AugmentReport"),
}

if TYPE_CHECKING:
    from curate.augment.engine import AugmentReport, replay_recipe
    from curate.augment.online import AugmentTransform
    from curate.augment.policy import (
        Policy,
        PolicyInvalid,
        PolicyIssue,
        list_presets,
        load_policy,
        parse_policy_text,
        validate_policy_text,
    )
    from curate.augment.preview import preview_grid


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'curate.augment' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value


__all__ = [
    "AugmentReport",
    "AugmentTransform",
    "Policy",
    "PolicyInvalid",
    "PolicyIssue",
    "list_presets",
    "load_policy",
    "parse_policy_text",
    "preview_grid",
    "replay_recipe",
    "validate_policy_text",
]
