"""Images in the terminal: Kitty or Sixel graphics where the terminal has them, else half-blocks.

Half-blocks work in any truecolor terminal: each cell is ``▀`` with the upper
pixel as foreground and the lower pixel as background colour, so a W x H
image takes W columns and H/2 rows. Kitty's graphics protocol and Sixel draw
real pixels; ``textual-image`` encodes them (see :mod:`curate.tui.graphics`
for how the renderer is chosen). Images are scaled (nearest neighbour, aspect
kept: an 8x8 digit stays sharp) to the widget's size; decoding happens in a
worker, these widgets only resize and draw.
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

from curate.tui.graphics import HALFBLOCK, SIXEL

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


class HalfBlockImage(Widget):
    """Draws ``image`` with half-block cells, fitted to the widget and centred."""

    DEFAULT_CSS = """
    HalfBlockImage { width: 1fr; height: 1fr; }
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


def fit_cells(
    image_size: tuple[int, int], box: tuple[int, int], cell: tuple[int, int]
) -> tuple[int, int]:
    """(columns, rows) of the largest aspect-kept fit of a (w, h) image in a box of cells.

    ``cell`` is one cell's size in pixels (terminal cells are about twice as
    tall as wide, so a square image takes about twice as many columns as rows).
    """
    (w, h), (cols, rows), (cw, ch) = image_size, box, cell
    if w <= 0 or h <= 0 or cols < 1 or rows < 1:
        return 0, 0
    scale = min(cols * cw / w, rows * ch / h)
    return max(1, min(cols, round(w * scale / cw))), max(1, min(rows, round(h * scale / ch)))


class ProtocolImage(Widget):
    """Draws ``image`` with Kitty's graphics protocol or Sixel through ``textual-image``.

    The image is scaled here to exactly the pixels of the cells it takes
    (nearest neighbour when enlarged), so ``textual-image`` does not resample
    it again (its bicubic resize would blur small images).
    """

    DEFAULT_CSS = """
    ProtocolImage { width: 1fr; height: 1fr; align-horizontal: center; }
    """

    image: reactive[np.ndarray | None] = reactive(None, always_update=True)

    def __init__(self, graphics: str, *, placeholder: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.graphics = graphics
        self.placeholder = placeholder
        self._shown: tuple[int, int, int] | None = None
        self.inner: Widget | None = None  # textual-image's widget, made in compose

    def compose(self) -> ComposeResult:
        from textual_image.widget import SixelImage, TGPImage

        yield Label(self.placeholder, classes="placeholder")
        self.inner = SixelImage() if self.graphics == SIXEL else TGPImage()
        self.inner.display = False
        yield self.inner

    def watch_image(self) -> None:
        self._shown = None
        self._update_inner()

    def on_resize(self) -> None:
        self._update_inner()

    def _update_inner(self) -> None:
        inner = self.inner
        if inner is None or not inner.is_mounted:
            return
        from PIL import Image
        from textual_image.widget import get_cell_size  # measured by select_graphics

        self.query_one(".placeholder").display = self.image is None
        if self.image is None:
            inner.display = False
            inner.image = None  # frees the image in the terminal (Kitty)
            return
        rgb = as_rgb(self.image)
        cell = get_cell_size()
        cols, rows = fit_cells(
            (rgb.shape[1], rgb.shape[0]), (self.size.width, self.size.height), cell
        )
        key = (id(self.image), cols, rows)
        if cols == 0 or key == self._shown:
            return
        self._shown = key
        size = (cols * cell.width, rows * cell.height)
        # Up: nearest neighbour keeps small images' pixels sharp; down: box-average a photo.
        upscale = size[0] >= rgb.shape[1]
        resample = Image.Resampling.NEAREST if upscale else Image.Resampling.BOX
        pixels = Image.fromarray(rgb).resize(size, resample)
        inner.styles.width, inner.styles.height = cols, rows
        inner.display = True
        inner.image = pixels

    def on_unmount(self) -> None:
        if self.inner is not None:
            self.inner.image = None  # frees the image in the terminal (Kitty)


class PixelImage(Widget):
    """An image set by the screen (a uint8 array), drawn with the app's terminal graphics.

    ``graphics`` (kitty | sixel | halfblock) defaults to the app's choice
    (``CurateApp.graphics``, see :mod:`curate.tui.graphics`); half-blocks in an
    app that did not choose.
    """

    DEFAULT_CSS = """
    PixelImage { width: 1fr; height: 1fr; }
    """
    # Not focusable (keys belong to the screen), yet a screen may zoom it:
    # Screen.maximize refuses a widget that is neither.
    ALLOW_MAXIMIZE = True

    image: reactive[np.ndarray | None] = reactive(None, always_update=True)

    def __init__(self, *, placeholder: str = "", graphics: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.placeholder = placeholder
        self._graphics = graphics

    @property
    def graphics(self) -> str:
        if self._graphics is None:
            self._graphics = getattr(self.app, "graphics", HALFBLOCK)
        return self._graphics

    def compose(self) -> ComposeResult:
        if self.graphics == HALFBLOCK:
            inner: Widget = HalfBlockImage(placeholder=self.placeholder)
        else:
            inner = ProtocolImage(self.graphics, placeholder=self.placeholder)
        inner.image = self.image  # set before mount (thumbnails are built with their image)
        yield inner

    def watch_image(self) -> None:
        for inner in self.query("HalfBlockImage, ProtocolImage"):
            inner.image = self.image


THUMB_COLUMNS = 10  # a thumbnail's width in cells (5 rows: a square at 2:1 cells)
THUMB_ROWS = 5


class Thumbnail(Vertical):
    """A small image with a caption (nearest neighbours, synthesized samples)."""

    DEFAULT_CSS = f"""
    Thumbnail {{ width: auto; height: auto; margin: 0 1 0 0; }}
    Thumbnail PixelImage {{ width: {THUMB_COLUMNS}; height: {THUMB_ROWS}; }}
    Thumbnail Label {{ width: {THUMB_COLUMNS}; }}
    """

    def __init__(self, image: np.ndarray, caption: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self._image = image
        self._caption = caption

    def compose(self) -> ComposeResult:
        pix = PixelImage()
        pix.image = self._image
        yield pix
        yield Label(self._caption[:THUMB_COLUMNS])


def thumbnails_across(width: int) -> int:
    """How many whole thumbnails (with a 1-cell gap between) fit in ``width`` cells."""
    return max(1, (width + 1) // (THUMB_COLUMNS + 1))


class ThumbnailStrip(Horizontal):
    """A row of captioned thumbnails, as many as fit whole; the screen sets ``items``."""

    DEFAULT_CSS = """
    ThumbnailStrip { height: auto; width: 1fr; }
    """

    items: reactive[list[tuple[np.ndarray, str]]] = reactive(
        list, recompose=True, always_update=True
    )

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._shown = 0

    def compose(self) -> ComposeResult:
        # Cut thumbnails read as other images: show only those that fit whole.
        self._shown = thumbnails_across(self.size.width) if self.size.width else len(self.items)
        for image, caption in self.items[: self._shown]:
            yield Thumbnail(image, caption)

    def on_resize(self) -> None:
        if thumbnails_across(self.size.width) != self._shown:
            self.refresh(recompose=True)


class ThumbnailGrid(Widget):
    """Captioned thumbnails in as many columns as fit (the screen sets ``items``)."""

    DEFAULT_CSS = f"""
    ThumbnailGrid {{
        layout: grid; grid-size: 4; grid-gutter: 0 1; height: auto;
        grid-columns: {THUMB_COLUMNS};
    }}
    ThumbnailGrid Thumbnail {{ margin: 0; }}
    """

    items: reactive[list[tuple[np.ndarray, str]]] = reactive(
        list, recompose=True, always_update=True
    )

    def compose(self) -> ComposeResult:
        for image, caption in self.items:
            yield Thumbnail(image, caption)

    def on_resize(self) -> None:
        columns = thumbnails_across(self.size.width)
        if self.styles.grid_size_columns != columns:
            self.styles.grid_size_columns = columns
