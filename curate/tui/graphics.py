"""Which terminal graphics the TUI draws images with: Kitty, Sixel or colour half-blocks.

The detection belongs to ``textual-image``: importing ``textual_image.renderable``
asks the terminal (a Kitty graphics query and a device-attributes query, 0.1 s
each at most) and keeps the answer. The terminal can only be asked before
Textual starts (Textual's input thread would swallow the reply), so
:func:`select_graphics` runs in ``CurateApp.__init__``, before ``app.run()``.

No textual import here: the CLI reads :data:`GRAPHICS_CHOICES` for ``--graphics``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from curate.errors import InvalidInput

GRAPHICS_ENV = "CURATE_TUI_GRAPHICS"
HALFBLOCK, KITTY, SIXEL = "halfblock", "kitty", "sixel"
GRAPHICS_CHOICES = ("auto", KITTY, SIXEL, HALFBLOCK)


def detect_graphics() -> str:
    """What this terminal supports, as ``textual-image`` detected it: kitty | sixel | halfblock.

    Not a terminal (tests, pipes): halfblock. ``textual-image`` tries Sixel
    before Kitty's protocol (terminals such as WezTerm and Konsole answer the
    Kitty query but draw only Sixel correctly; Kitty itself has no Sixel).
    """
    from textual_image import renderable

    if renderable.Image is renderable.SixelImage:
        return SIXEL
    if renderable.Image is renderable.TGPImage:
        return KITTY
    return HALFBLOCK  # HalfcellImage on a terminal, UnicodeImage off one


def select_graphics(
    setting: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    detect: Callable[[], str] = detect_graphics,
) -> str:
    """The renderer to use: ``setting``, else ``$CURATE_TUI_GRAPHICS``, else detected ("auto").

    Returns kitty | sixel | halfblock. A protocol renderer also measures the
    terminal's cell size in pixels now, while the terminal can still be asked.
    """
    env = os.environ if environ is None else environ
    chosen = (setting or env.get(GRAPHICS_ENV) or "auto").strip().lower()
    if chosen not in GRAPHICS_CHOICES:
        raise InvalidInput(
            f"unknown terminal graphics {chosen!r}",
            hint=f"use one of {', '.join(GRAPHICS_CHOICES)} (--graphics or ${GRAPHICS_ENV})",
        )
    if chosen == "auto":
        chosen = detect()
    if chosen != HALFBLOCK:
        # Importing the widgets measures the cell size (ioctl, else an escape
        # query) and caches it: the protocols draw in pixels.
        import textual_image.widget  # noqa: F401
    return chosen
