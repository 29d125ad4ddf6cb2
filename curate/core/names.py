"""Close-name suggestions and the "no class named X" error, shared by every engine
(engines do not import each other: each used to carry its own copy)."""

from __future__ import annotations

import difflib

from curate.errors import NotFound


def close_names(name: str, choices: list[str], n: int = 3) -> list[str]:
    """Close names, case-insensitively (rotate -> Rotate, GausianBlur -> GaussianBlur)."""
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
    return [lowered[c] for c in close]


def class_not_found(name: str, known: list[str]) -> NotFound:
    """``no class named 'X'``, with close names as the hint, else the classes there are."""
    close = close_names(name, known)
    return NotFound(
        f"no class named {name!r}",
        hint=f"did you mean {', '.join(close)}?"
        if close
        else f"classes: {', '.join(known) or 'none'}",
    )
