"""Inspect one image's bytes: decode it fully, or say in one line why not."""

from __future__ import annotations

import io

from curate.core.models import ImageInfo
from curate.imaging import pillow_pixel_limit_off

DEFAULT_MAX_PIXELS = 64_000_000
ALLOWED_FORMATS = {"PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM"}


class BadImage(Exception):
    """Carries the one-line quarantine reason, e.g. ``'corrupt image: ...'``.

    The text before the first colon is the reason's kind; status groups by it.
    """


def inspect_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """What ``data`` is, or :class:`BadImage`; ``max_pixels`` is the only size limit."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise BadImage("empty file: zero bytes")
    try:
        with pillow_pixel_limit_off():
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
