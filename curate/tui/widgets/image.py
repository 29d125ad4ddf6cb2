"""Images in any truecolor terminal: two pixels per cell with the upper half block.

Each cell is ``▀`` with the upper pixel as foreground and the lower pixel as
background colour, so a W x H image takes W columns and H/2 rows. Images are
scaled (nearest neighbour, aspect kept) to the widget's size; decoding happens
in a worker, these widgets only resize and draw.
"""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Label

UPPER_HALF = "\u2580"


def as_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1|3|4) uint8 -> (H, W, 3) uint8 (alpha dropped)."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr[:, :, :3], dtype=np.uint8)


def fit(image: np.ndarray, columns: int, rows: int, *, upscale: bool = True) -> np.ndarray:
    """Resize (nearest neighbour) to fit ``columns`` x ``2*rows`` pixels, aspect kept."""
    h, w = image.shape[:2]
    if h == 0 or w == 0 or columns < 1 or rows < 1:
        return image[:0, :0]
    scale = min(columns / w, 2 * rows / h)
    if not upscale:
        scale = min(scale, 1.0)
    nw, nh = max(1, int(w * scale)), max(1, int(h * scale))
    ys = np.minimum((np.arange(nh) / scale).astype(int), h - 1)
    xs = np.minimum((np.arange(nw) / scale).astype(int), w - 1)
    return image[ys][:, xs]


def halfblock_lines(image: np.ndarray) -> list[list[Segment]]:
    """(H, W, 3) uint8 -> one list of segments per terminal row."""
    h, w = image.shape[:2]
    lines = []
    cache: dict[tuple[int, ...], Style] = {}
    for y in range(0, h, 2):
        top = image[y]
        bottom = image[y + 1] if y + 1 < h else None
        segments = []
        for x in range(w):
            t = tuple(int(v) for v in top[x])
            key = t + (tuple(int(v) for v in bottom[x]) if bottom is not None else ())
            style = cache.get(key)
            if style is None:
                fg = f"rgb({t[0]},{t[1]},{t[2]})"
                if bottom is None:
                    style = Style(color=fg)
                else:
                    b = key[3:]
                    style = Style(color=fg, bgcolor=f"rgb({b[0]},{b[1]},{b[2]})")
                cache[key] = style
            segments.append(Segment(UPPER_HALF, style))
        lines.append(list(Segment.simplify(segments)))
    return lines


def halfblock_text(image: np.ndarray, columns: int, rows: int) -> Text:
    """A rich Text of ``image`` fitted to ``columns`` x ``rows`` cells."""
    text = Text()
    for i, line in enumerate(halfblock_lines(fit(as_rgb(image), columns, rows))):
        if i:
            text.append("\n")
        for seg in line:
            text.append(seg.text, seg.style)
    return text


class PixelImage(Widget):
    """Draws ``image`` (a uint8 array set by the screen) fitted to the widget."""

    DEFAULT_CSS = """
    PixelImage { width: 1fr; height: 1fr; }
    """

    image: reactive[np.ndarray | None] = reactive(None, always_update=True)

    def __init__(self, *, placeholder: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.placeholder = placeholder
        self._lines: list[list[Segment]] = []
        self._for: tuple[int, int, int] | None = None

    def watch_image(self) -> None:
        self._for = None
        self.refresh()

    def _layout_lines(self) -> list[list[Segment]]:
        width, height = self.size
        key = (id(self.image), width, height)
        if self._for != key:
            self._for = key
            if self.image is None:
                self._lines = []
            else:
                self._lines = halfblock_lines(fit(as_rgb(self.image), width, height))
        return self._lines

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if self.image is None:
            text = self.placeholder if y == 0 else ""
            return Strip([Segment(text[:width].ljust(width))], width)
        lines = self._layout_lines()
        if y >= len(lines):
            return Strip.blank(width)
        line = lines[y]
        used = sum(len(s.text) for s in line)
        pad = max(0, (width - used) // 2)
        segments = [Segment(" " * pad), *line, Segment(" " * max(0, width - used - pad))]
        return Strip(segments, width)


class Thumbnail(Vertical):
    """A small image with a caption (nearest neighbours, synthesized samples)."""

    DEFAULT_CSS = """
    Thumbnail { width: auto; height: auto; margin: 0 1 0 0; }
    Thumbnail PixelImage { width: 10; height: 5; }
    Thumbnail Label { width: 10; }
    """

    def __init__(self, image: np.ndarray, caption: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self._image = image
        self._caption = caption

    def compose(self) -> ComposeResult:
        pix = PixelImage()
        pix.image = self._image
        yield pix
        yield Label(self._caption[:10])


class ThumbnailStrip(Horizontal):
    """A row of captioned thumbnails; the screen sets ``items``."""

    DEFAULT_CSS = """
    ThumbnailStrip { height: auto; width: 1fr; }
    """

    items: reactive[list[tuple[np.ndarray, str]]] = reactive(
        list, recompose=True, always_update=True
    )

    def compose(self) -> ComposeResult:
        for image, caption in self.items:
            yield Thumbnail(image, caption)


class ThumbnailGrid(Widget):
    """Captioned thumbnails in rows of ``columns`` (the screen sets ``items``)."""

    DEFAULT_CSS = """
    ThumbnailGrid { layout: grid; grid-size: 4; grid-gutter: 0 1; height: auto; }
    ThumbnailGrid Thumbnail { margin: 0; }
    """

    items: reactive[list[tuple[np.ndarray, str]]] = reactive(
        list, recompose=True, always_update=True
    )

    def compose(self) -> ComposeResult:
        for image, caption in self.items:
            yield Thumbnail(image, caption)
