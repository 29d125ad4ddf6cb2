"""curate's own policy presets, registered in ``[project.entry-points."curate.policies"]``.

Each entry point names a zero-argument callable returning a :class:`Policy`,
which is the contract for third-party presets too. The documents themselves
are YAML files next to this module, so users can copy one as a starting point
(``curate augment show light > mine.yaml``).
"""

from __future__ import annotations

from importlib.resources import files

from curate.augment.policy import Policy, parse_policy_text


def _preset(name: str) -> Policy:
    text = files("curate.augment").joinpath("presets", f"{name}.yaml").read_text()
    return parse_policy_text(text, source=f"preset {name}")


def light() -> Policy:
    return _preset("light")


def medium() -> Policy:
    return _preset("medium")


def heavy() -> Policy:
    return _preset("heavy")


def randaugment() -> Policy:
    return _preset("randaugment")


def trivialaugment() -> Policy:
    return _preset("trivialaugment")
