"""Thumbnails and example grids as PNG bytes (Pillow only)."""

from __future__ import annotations

import io

from PIL import Image

BACKGROUND = (255, 255, 255)


def thumbnail(data: bytes, side: int) -> Image.Image:
    """An RGB ``side`` x ``side`` tile: small images are scaled up with crisp pixels,
    big ones down with Lanczos; the aspect ratio is kept (white padding)."""
    with Image.open(io.BytesIO(data)) as img:
        img = img.convert("RGB")
        w, h = img.size
        scale = side / max(w, h)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        resample = Image.Resampling.NEAREST if scale >= 2 else Image.Resampling.LANCZOS
        img = img.resize(size, resample)
    tile = Image.new("RGB", (side, side), BACKGROUND)
    tile.paste(img, ((side - size[0]) // 2, (side - size[1]) // 2))
    return tile


def grid(tiles: list[Image.Image], *, columns: int = 8, gap: int = 4) -> Image.Image:
    """Tiles of equal size in rows of ``columns``."""
    if not tiles:
        raise ValueError("no tiles")
    side = tiles[0].size[0]
    cols = min(columns, len(tiles))
    rows = (len(tiles) + cols - 1) // cols
    out = Image.new(
        "RGB", (cols * side + (cols - 1) * gap, rows * side + (rows - 1) * gap), BACKGROUND
    )
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        out.paste(tile, (c * (side + gap), r * (side + gap)))
    return out


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
