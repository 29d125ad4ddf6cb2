"""Inspect one image's bytes: decode it fully, or say in one line why not."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from curate.core.models import ImageInfo

DEFAULT_MAX_PIXELS = 64_000_000
ALLOWED_FORMATS = {"PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM"}


class BadImage(Exception):
    """Carries the one-line quarantine reason, e.g. ``'corrupt image: ...'``.

    The text before the first colon is the reason's kind; status groups by it.
    """


# Pillow's own decompression-bomb check (a warning above Image.MAX_IMAGE_PIXELS,
# an error above twice that, ~179M pixels) would override --max-pixels both ways.
# It is one process-wide setting and ingest inspects in threads, so it is turned
# off while any inspection runs and put back when the last one ends. (Not
# warnings.catch_warnings: it is not thread-safe, and leaked the raw warning.)
_pil_limit_lock = threading.Lock()
_pil_limit_users = 0
_pil_limit_saved: int | None = None


@contextmanager
def _only_our_pixel_limit() -> Iterator[None]:
    global _pil_limit_users, _pil_limit_saved
    from PIL import Image

    with _pil_limit_lock:
        if _pil_limit_users == 0:
            _pil_limit_saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
        _pil_limit_users += 1
    try:
        yield
    finally:
        with _pil_limit_lock:
            _pil_limit_users -= 1
            if _pil_limit_users == 0:
                Image.MAX_IMAGE_PIXELS = _pil_limit_saved


def inspect_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """What ``data`` is, or :class:`BadImage`; ``max_pixels`` is the only size limit."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise BadImage("empty file: zero bytes")
    try:
        with _only_our_pixel_limit():
            img = Image.open(io.BytesIO(data))
            fmt = img.format or "unknown"
            if fmt not in ALLOWED_FORMATS:
                raise BadImage(f"unsupported format: {fmt}")
            width, height = img.size
            if width * height > max_pixels:
                raise BadImage(
                    f"image too large: {width}x{height} pixels exceeds the limit of {max_pixels:,}"
                )
            if width == 0 or height == 0:
                raise BadImage(f"corrupt image: {width}x{height} pixels")
            # A full decode is the only reliable test for truncated files.
            img.load()
            return ImageInfo(
                width=width,
                height=height,
                channels=len(img.getbands()),
                mode=img.mode,
                format=fmt,
            )
    except BadImage:
        raise
    except Image.DecompressionBombError as exc:
        raise BadImage(f"image too large: {exc}") from None
    except UnidentifiedImageError:
        raise BadImage("not an image: no known image format") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise BadImage(f"corrupt image: {exc}") from None
