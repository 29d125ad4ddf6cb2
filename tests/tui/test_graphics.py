"""Terminal graphics: which renderer is chosen, and that Kitty / Sixel really emit their protocol."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from textual.app import App, ComposeResult
from textual.geometry import Region

from curate.errors import InvalidInput
from curate.tui.graphics import GRAPHICS_ENV, detect_graphics, select_graphics
from curate.tui.widgets.image import HalfBlockImage, PixelImage, ProtocolImage, fit_cells
from tests.tui.conftest import drive


def test_setting_then_environment_then_detection():
    def kitty() -> str:
        return "kitty"

    assert select_graphics(None, environ={}, detect=kitty) == "kitty"
    assert select_graphics("auto", environ={GRAPHICS_ENV: "halfblock"}, detect=kitty) == "kitty"
    assert select_graphics(None, environ={GRAPHICS_ENV: "Sixel"}, detect=kitty) == "sixel"
    assert select_graphics("halfblock", environ={GRAPHICS_ENV: "sixel"}, detect=kitty) == (
        "halfblock"
    )
    with pytest.raises(InvalidInput, match="unknown terminal graphics 'iterm'"):
        select_graphics(None, environ={GRAPHICS_ENV: "iterm"}, detect=kitty)


@pytest.mark.parametrize(
    ("detected", "expected"),
    [("TGPImage", "kitty"), ("SixelImage", "sixel"), ("HalfcellImage", "halfblock")],
)
def test_detection_follows_what_the_terminal_answered(monkeypatch, detected, expected):
    """textual-image asks the terminal once (at import) and keeps the best renderable."""
    from textual_image import renderable

    monkeypatch.setattr(renderable, "Image", getattr(renderable, detected))
    assert detect_graphics() == expected
    assert select_graphics("auto", environ={}) == expected


def test_not_a_terminal_means_half_blocks():
    # pytest's stdout is not a terminal, so textual-image picked its Unicode fallback.
    assert detect_graphics() == "halfblock"


def test_fit_keeps_the_aspect_in_cells():
    # 10x20-pixel cells: a square image takes twice as many columns as rows.
    assert fit_cells((8, 8), (40, 40), (10, 20)) == (40, 20)
    assert fit_cells((8, 8), (40, 10), (10, 20)) == (20, 10)
    assert fit_cells((16, 8), (40, 40), (10, 20)) == (40, 10)
    assert fit_cells((0, 8), (40, 40), (10, 20)) == (0, 0)


class _OneImage(App[None]):
    def __init__(self, graphics: str | None) -> None:
        super().__init__()
        if graphics is not None:
            self.graphics = graphics

    def compose(self) -> ComposeResult:
        yield PixelImage(placeholder="nothing yet")


def _digit() -> np.ndarray:
    image = np.zeros((8, 8), np.uint8)
    image[1:7, 3:5] = 255  # a "1"
    return image


async def _show(app: _OneImage, pilot) -> PixelImage:
    widget = app.query_one(PixelImage)
    widget.image = _digit()
    for _ in range(3):
        await pilot.pause()
    return widget


def _rendered(widget) -> str:
    """The text of every line a widget and its children render (escape sequences included)."""
    out = []
    for w in widget.walk_children(with_self=True):
        for strip in w.render_lines(Region(0, 0, w.size.width, w.size.height)):
            out.extend(segment.text for segment in strip)
    return "".join(out)


@drive
async def test_kitty_renderer_sends_the_graphics_protocol(monkeypatch):
    # textual-image writes the image to sys.__stdout__ (past Textual's output buffer).
    terminal = io.StringIO()
    monkeypatch.setattr(sys, "__stdout__", terminal)
    app = _OneImage("kitty")
    async with app.run_test(size=(40, 12)) as pilot:
        widget = await _show(app, pilot)
        inner = widget.query_one(ProtocolImage).inner
        assert inner.display and (inner.size.width, inner.size.height) == (24, 12)
        sent = terminal.getvalue()
        # An image upload (PNG, f=100) and a virtual placement of 24 x 12 cells ...
        assert "\x1b_G" in sent and "f=100" in sent
        assert "a=p" in sent and "c=24,r=12" in sent
        # ... shown where the widget draws Unicode placeholders (U+10EEEE).
        assert chr(0x10EEEE) in _rendered(inner)
        widget.image = None
        await pilot.pause()
        assert "a=d" in terminal.getvalue()  # freed in the terminal
        assert not inner.display


@drive
async def test_sixel_renderer_draws_sixels():
    app = _OneImage("sixel")
    async with app.run_test(size=(40, 12)) as pilot:
        widget = await _show(app, pilot)
        inner = widget.query_one(ProtocolImage).inner
        assert (inner.size.width, inner.size.height) == (24, 12)
        drawn = _rendered(inner)
        start = drawn.index("\x1bP")  # DCS ... q: sixel data
        assert "q" in drawn[start : start + 12]
        assert drawn.index("\x1b\\", start) > start
        # 24 x 12 cells of 10 x 20 pixels (the size assumed off a terminal).
        assert '"1;1;240;240' in drawn


@drive
async def test_half_blocks_without_a_choice():
    app = _OneImage(None)
    async with app.run_test(size=(40, 12)) as pilot:
        widget = await _show(app, pilot)
        assert widget.graphics == "halfblock"
        half = widget.query_one(HalfBlockImage)
        assert half.image is widget.image
        assert "\u2580" in _rendered(half)
        assert "\x1b" not in _rendered(widget)


class _Strip(App[None]):
    graphics = "kitty"

    def compose(self) -> ComposeResult:
        from curate.tui.widgets.image import ThumbnailStrip

        yield ThumbnailStrip()


@drive
async def test_replaced_thumbnails_free_their_kitty_images(monkeypatch):
    from curate.tui.widgets.image import ThumbnailStrip

    terminal = io.StringIO()
    monkeypatch.setattr(sys, "__stdout__", terminal)
    app = _Strip()
    async with app.run_test(size=(60, 10)) as pilot:
        strip = app.query_one(ThumbnailStrip)
        strip.items = [(np.full((8, 8), 40 * i, np.uint8), f"#{i}") for i in range(3)]
        for _ in range(3):
            await pilot.pause()
        assert terminal.getvalue().count("a=p") == 3  # one placement per thumbnail
        strip.items = [(_digit(), "one")]
        for _ in range(3):
            await pilot.pause()
        sent = terminal.getvalue()
        assert sent.count("a=d") == 3 and sent.count("a=p") == 4


class _Grid(App[None]):
    CSS = "ThumbnailGrid { width: 39; }"

    def compose(self) -> ComposeResult:
        from curate.tui.widgets.image import ThumbnailGrid

        yield ThumbnailGrid()


@drive
async def test_thumbnail_grid_takes_as_many_columns_as_fit():
    from curate.tui.widgets.image import Thumbnail, ThumbnailGrid

    app = _Grid()
    async with app.run_test(size=(60, 30)) as pilot:
        app.query_one(ThumbnailGrid).items = [(_digit(), f"#{i}") for i in range(7)]
        for _ in range(3):
            await pilot.pause()
        thumbs = list(app.query(Thumbnail))
        assert len(thumbs) == 7
        assert app.query_one(ThumbnailGrid).styles.grid_size_columns == 3  # 3 x 10 + 2 gaps
        assert {t.region.y for t in thumbs[:3]} == {thumbs[0].region.y}
        assert thumbs[3].region.y > thumbs[0].region.y
        assert max(t.region.right for t in thumbs) <= 39
