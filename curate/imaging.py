"""Decode and encode images, alone or in batches.

Pillow decodes and encodes everything, except one fast path: 8-bit grey and
RGB PNGs whose pixels need no conversion are decoded by libpng through OpenCV
(which albumentations already brings), 4-5x faster on small images, where
Pillow's per-file Python work is most of the cost. The pixels are the same
(PNG is lossless and nothing is converted); a test holds the two paths equal.

libpng prints its warnings and errors on the process's stderr (OpenCV installs
no handler of its own), where they break ``--json`` consumers and the progress
bar, and Pillow decodes most of those files silently. So the fast path takes
only PNGs libpng has nothing to say about: every chunk is checked first (type,
place, length, CRC, the values libpng checks), and anything else goes to Pillow.
"""

from __future__ import annotations

import io
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from curate.core.progress import CancelFn, ProgressFn, check_cancel, no_progress

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk, always the same 12 bytes
#: libpng's default limit on width and height: an error (printed) above it.
_PNG_MAX_SIDE = 1_000_000
#: Text chunks libpng keeps before it warns "no space in chunk cache" (1000), with room.
_PNG_MAX_TEXTS = 32
#: From the signature's end: IHDR's length and type, width, height, the five bytes
#: after them, its CRC; then the next chunk's length and type.
_PNG_HEAD = struct.Struct(">8sII5sII4s")
_PNG_IHDR = b"\0\0\0\rIHDR"
#: IHDR's bit depth, colour type, compression, filter and interlace (none or Adam7)
#: for which OpenCV decodes exactly Pillow's pixels: 8-bit grey and 8-bit truecolour.
_PNG_NATIVE_MODE = {
    bytes([8, colour, 0, 0, interlace]): mode
    for colour, mode in ((0, "L"), (2, "RGB"))
    for interlace in (0, 1)
}
_PNG_CRC = struct.Struct(">I")


def _gama_ok(body: bytes) -> bool:
    # libpng warns "gamma value out of range" outside 16..625000000 (some versions).
    return len(body) == 4 and 16 <= int.from_bytes(body, "big") <= 625_000_000


def _srgb_ok(body: bytes) -> bool:
    return len(body) == 1 and body[0] <= 3  # a rendering intent, 0..3


def _time_ok(body: bytes) -> bool:
    if len(body) != 7:
        return False
    _year, month, day, hour, minute, second = struct.unpack(">HBBBBB", body)
    # png_set_tIME: "Ignoring invalid time value" for any other
    return 1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 60


def _text_ok(body: bytes) -> bool:
    # A keyword of 1-79 bytes, then NUL; a short text (libpng warns on memory above 8 MB).
    return 0 < body.find(b"\0") < 80 and len(body) <= 65_536


#: The ancillary chunks the fast path lets through, each with the check that keeps
#: libpng quiet about it (it warns of a malformed, repeated or misplaced one, and of a
#: bad CRC). Any other chunk sends the file to Pillow: iCCP ("known incorrect sRGB
#: profile" and a dozen other profile checks), cHRM, bKGD, sBIT, zTXt, iTXt, eXIf, tRNS,
#: PLTE, private chunks ... each has rules libpng enforces with a warning, and the list
#: grows with libpng's version (cICP, mDCV and cLLI came in 1.6.45). Common files
#: (Pillow's, OpenCV's, most tools' output) have none or only these.
_QUIET_BEFORE_IDAT = {
    b"gAMA": _gama_ok,
    b"sRGB": _srgb_ok,
    b"pHYs": lambda body: len(body) == 9,
}
_QUIET_ANYWHERE = {b"tEXt": _text_ok, b"tIME": _time_ok}


def _crc_ok(data: bytes, start: int, end: int) -> bool:
    """The CRC of the chunk at ``data[start:end]`` (length, type, body, CRC) is right."""
    # A view, not a copy, of a large chunk; a copy of a small one is cheaper.
    body = (
        data[start + 4 : end - 4]
        if end - start <= 65_536
        else memoryview(data)[start + 4 : end - 4]
    )
    return zlib.crc32(body) == _PNG_CRC.unpack_from(data, end - 4)[0]


def _chunks_quiet(data: bytes) -> bool:
    """Whether libpng reads every chunk after IHDR without a word (see _QUIET_*).

    ``data`` is a PNG whose IHDR was checked and which ends with IEND. A bad
    CRC is a warning in an ancillary chunk and an error (printed too, and
    Pillow decodes the file) in IDAT.
    """
    end_at = len(data) - 12  # where IEND starts
    pos = 33
    seen: set[bytes] = set()
    texts = gamma = 0
    idat = 0  # 0: none yet, 1: in the IDAT run, 2: after it
    while pos < end_at:
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > end_at or not _crc_ok(data, pos, end):
            return False
        if kind == b"IDAT":
            if idat == 2:
                return False
            idat = 1
        else:
            idat = 2 if idat else 0
            check = _QUIET_ANYWHERE.get(kind) or (not idat and _QUIET_BEFORE_IDAT.get(kind))
            if not check or not check(data[pos + 8 : end - 4]):
                return False
            if kind == b"tEXt":
                texts += 1
                if texts > _PNG_MAX_TEXTS:
                    return False
            elif kind in seen:
                return False  # "duplicate"
            elif kind == b"gAMA":
                gamma = int.from_bytes(data[pos + 8 : pos + 12], "big")
            seen.add(kind)
        pos = end
    # With sRGB, older libpng warns "gamma value does not match sRGB" unless gAMA is
    # sRGB's 45455 within a few per cent (1% here).
    return idat > 0 and (b"sRGB" not in seen or b"gAMA" not in seen or 45_000 <= gamma <= 45_910)


def _decode_png_fast(data: bytes, mode: str | None) -> np.ndarray | None:
    """Pixels of an 8-bit grey or RGB PNG in ``mode`` (None: its own), or None
    when Pillow must decode it (another format, bit depth or colour type; a
    conversion other than grey -> RGB, whose formula is Pillow's; a
    transparent colour, which OpenCV turns into an alpha channel; bad data;
    a chunk libpng could warn about).

    Everything libpng would print on stderr (a terminal UI's screen, a
    ``--json`` consumer's input) is checked for here first and sent to Pillow,
    which raises it or decodes the file silently: a truncated file, a bad CRC,
    a malformed, repeated or misplaced ancillary chunk, any ancillary chunk
    but those in ``_QUIET_*``. The usual file (IHDR, one IDAT, IEND) costs
    one header read and one CRC (several GB/s); others a walk over their
    chunks. What chunks cannot tell: IDAT's zlib stream holding bytes after
    its end or more rows than IHDR says ("IDAT: Extra compressed data", "Too
    much image data"), which only inflating it would show; a broken encoder's.
    """
    if len(data) < 57 or data[:8] != _PNG_SIGNATURE or data[-12:] != _PNG_END:
        return None
    ihdr, width, height, tail, crc, length, kind = _PNG_HEAD.unpack_from(data, 8)
    native = _PNG_NATIVE_MODE.get(tail)
    if native is None or ihdr != _PNG_IHDR:
        return None
    wanted = mode or native
    if wanted != native and not (native == "L" and wanted == "RGB"):
        return None
    if not (0 < width <= _PNG_MAX_SIDE and 0 < height <= _PNG_MAX_SIDE):
        return None  # libpng's error (printed)
    if zlib.crc32(data[12:29]) != crc:
        return None  # libpng's error (printed); Pillow refuses it
    end = 45 + length
    if kind == b"IDAT" and end == len(data) - 12:  # the usual file: IHDR, one IDAT, IEND
        # _crc_ok(data, 33, end), inline: a call is a tenth of this path's own cost
        body = data[37 : end - 4] if length <= 65_536 else memoryview(data)[37 : end - 4]
        if zlib.crc32(body) != _PNG_CRC.unpack_from(data, end - 4)[0]:
            return None  # libpng's error (printed); Pillow decodes it
    elif not _chunks_quiet(data):
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
    arr = _decode_png_fast(data, mode)
    if arr is not None and (size is None or (arr.shape[1], arr.shape[0]) == tuple(size)):
        return arr
    # Not before the fast path's return: the import statement alone costs it ~0.3 us.
    from PIL import Image

    if arr is not None:
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
