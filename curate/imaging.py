"""Decode and encode images, alone or in batches. Pillow + numpy only."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np

from curate.core.progress import CancelFn, ProgressFn, check_cancel, no_progress


def decode(
    data: bytes, *, mode: str | None = None, size: tuple[int, int] | None = None
) -> np.ndarray:
    """Bytes -> uint8 array (H, W) for mode L, else (H, W, C). ``size`` is (width, height)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        if mode is not None and img.mode != mode:
            img = img.convert(mode)
        elif img.mode not in ("L", "RGB", "RGBA"):
            img = img.convert("RGB")
        if size is not None and img.size != tuple(size):
            img = img.resize(tuple(size), Image.Resampling.BILINEAR)
        return np.asarray(img, dtype=np.uint8).copy()


def encode_png(array: np.ndarray) -> bytes:
    """uint8 array (H, W) or (H, W, C) -> PNG bytes. Deterministic for equal arrays."""
    from PIL import Image

    array = np.ascontiguousarray(array, dtype=np.uint8)
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
