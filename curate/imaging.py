"""Decode and encode images, alone or in batches.

Pillow decodes and encodes everything, except one fast path: 8-bit grey and
RGB PNGs whose pixels need no conversion are decoded by libpng through OpenCV
(which albumentations already brings), 4-5x faster on small images, where
Pillow's per-file Python work is most of the cost. The pixels are the same
(PNG is lossless and nothing is converted); a test holds the two paths equal.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from curate.core.progress import CancelFn, ProgressFn, check_cancel, no_progress

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk, always the same 12 bytes
#: PNG colour types OpenCV decodes to exactly Pillow's pixels: 0 grey, 2 truecolour.
_PNG_COLOUR_MODE = {0: "L", 2: "RGB"}


def _decode_png_fast(data: bytes, mode: str | None) -> np.ndarray | None:
    """Pixels of an 8-bit grey or RGB PNG in ``mode`` (None: its own), or None
    when Pillow must decode it (another format, bit depth or colour type; a
    conversion other than grey -> RGB, whose formula is Pillow's; a
    transparent colour, which OpenCV turns into an alpha channel; bad data).
    A truncated file goes to Pillow before libpng sees it: libpng would print
    its complaint on stderr (a terminal UI's screen), Pillow raises it."""
    if (
        len(data) < 45
        or data[:8] != _PNG_SIGNATURE
        or data[12:16] != b"IHDR"
        or data[-12:] != _PNG_END
    ):
        return None
    native = _PNG_COLOUR_MODE.get(data[25])
    if native is None or data[24] != 8:
        return None
    wanted = mode or native
    if wanted != native and not (native == "L" and wanted == "RGB"):
        return None
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint8:
        return None
    if native == "L":
        if arr.ndim != 2:
            return None
        # Pillow's L -> RGB copies the grey value into each channel, as this does
        return arr if wanted == "L" else np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        return None
    return np.ascontiguousarray(arr[:, :, ::-1])  # OpenCV's BGR -> RGB


# Pillow's own decompression-bomb check (a warning above Image.MAX_IMAGE_PIXELS,
# an error above twice that, ~179M pixels) would override `ingest --max-pixels`
# both ways: at ingest, and again when a stored image that ingest admitted is
# decoded (a scan would fail on it). It is one process-wide setting and images
# are decoded in threads, so it is turned off while any of curate's decodes runs
# and put back when the last one ends. (Not warnings.catch_warnings: it is not
# thread-safe, and leaked the raw warning.)
_pil_limit_lock = threading.Lock()
_pil_limit_users = 0
_pil_limit_saved: int | None = None


@contextmanager
def pillow_pixel_limit_off() -> Iterator[None]:
    """Pillow without its own pixel limit, for the duration (curate applies --max-pixels)."""
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


def _to_8bit(img):
    """16-bit, 32-bit integer and float greyscale as 8-bit L, scaled.

    Pillow's ``convert`` clips these to 0..255, so a 16-bit image came out
    all white: scanned as "bright" and near-duplicates of each other,
    augmented and exported white. 16-bit values (``I;16``, or ``I`` within
    0..65535, as 16-bit PNGs open) take their high byte, as a uint16 -> uint8
    conversion does; floats within 0..1 are scaled by 255; anything else is
    stretched from its own minimum and maximum.
    """
    from PIL import Image

    if not img.mode.startswith("I") and img.mode != "F":
        return img
    a = np.asarray(img)
    lo, hi = float(a.min(initial=0)), float(a.max(initial=0))
    if img.mode.startswith("I;16") or (img.mode == "I" and lo >= 0 and hi <= 65535):
        out = (a.astype(np.uint32) >> 8).astype(np.uint8)
    elif img.mode == "F" and lo >= 0.0 and hi <= 1.0:
        out = np.rint(a.astype(np.float64) * 255.0).astype(np.uint8)
    else:
        scaled = (a.astype(np.float64) - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros(a.shape)
        out = np.rint(scaled).astype(np.uint8)
    return Image.fromarray(out, "L")


def decode(
    data: bytes, *, mode: str | None = None, size: tuple[int, int] | None = None
) -> np.ndarray:
    """Bytes -> uint8 array (H, W) for mode L, else (H, W, C). ``size`` is (width, height)."""
    from PIL import Image

    arr = _decode_png_fast(data, mode)
    if arr is not None:
        if size is None or (arr.shape[1], arr.shape[0]) == tuple(size):
            return arr
        resized = Image.fromarray(arr).resize(tuple(size), Image.Resampling.BILINEAR)
        return np.asarray(resized, dtype=np.uint8).copy()
    with pillow_pixel_limit_off(), Image.open(io.BytesIO(data)) as img:
        img = _to_8bit(img)
        if mode is not None and img.mode != mode:
            img = img.convert(mode)
        elif img.mode not in ("L", "RGB", "RGBA"):
            img = img.convert("RGB")
        if size is not None and img.size != tuple(size):
            img = img.resize(tuple(size), Image.Resampling.BILINEAR)
        return np.asarray(img, dtype=np.uint8).copy()


def encode_png(array: np.ndarray) -> bytes:
    """uint8 array (H, W) or (H, W, C) -> PNG bytes. Deterministic for equal arrays.

    Other dtypes are refused, not cast: casting would store float pixels in
    [0, 1] as black and wrap negative or large values around.
    """
    from PIL import Image

    if array.dtype != np.uint8:
        raise ValueError(f"PNG pixels must be uint8, got {array.dtype}")
    array = np.ascontiguousarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def common_mode(modes: list[str]) -> str:
    """The mode all samples can be converted to without losing colour: L if all are L."""
    return "L" if modes and all(m in ("L", "1", "P;L") for m in modes) else "RGB"


def iter_pixel_batches(
    objects,
    table,
    *,
    size: tuple[int, int],
    mode: str,
    batch_size: int = 4096,
    progress: ProgressFn = no_progress,
    cancel: CancelFn | None = None,
) -> Iterator[np.ndarray]:
    """Yield uint8 arrays (B, H, W, C) for the rows of ``table`` (needs pack, pack_offset, nbytes)."""
    packs = table.column("pack").to_pylist()
    offsets = table.column("pack_offset").to_pylist()
    lengths = table.column("nbytes").to_pylist()
    total = len(packs)
    for start in range(0, total, batch_size):
        check_cancel(cancel)
        stop = min(start + batch_size, total)
        arrays = [
            decode(objects.read(packs[i], offsets[i], lengths[i]), mode=mode, size=size)
            for i in range(start, stop)
        ]
        batch = np.stack(arrays)
        if batch.ndim == 3:
            batch = batch[..., None]
        progress(stop, total, "decoding")
        yield batch


def load_pixels(objects, table, *, size: tuple[int, int], mode: str, **kwargs) -> np.ndarray:
    """All rows of ``table`` as one (N, H, W, C) uint8 array. For small sets only."""
    batches = list(iter_pixel_batches(objects, table, size=size, mode=mode, **kwargs))
    if not batches:
        channels = 1 if mode == "L" else len(mode)
        return np.zeros((0, size[1], size[0], channels), dtype=np.uint8)
    return np.concatenate(batches)
