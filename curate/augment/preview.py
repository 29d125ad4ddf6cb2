"""Preview grids: each original next to a few augmented views of it.

The views use the seeds materialization would use for copies 0, 1, ... of
the same parent, so a preview shows what ``curate augment run`` will make
(unless a draw leaves an image unchanged and is redrawn). The CLI writes the
grid to a file; the TUI shows the same image.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from curate.errors import InvalidInput

if TYPE_CHECKING:
    from PIL import Image

    from curate.augment.policy import Policy

BACKGROUND = (32, 32, 36)
CAPTION = (230, 230, 230)
ORIGINAL_FRAME = (90, 160, 230)
PAD = 4
CAPTION_HEIGHT = 14


def _cell_size(images: Sequence[np.ndarray]) -> int:
    side = max(max(im.shape[:2]) for im in images)
    return int(min(max(side, 96), 192))


def _fit(image: np.ndarray, cell: int) -> Image.Image:
    """Scale into a cell x cell square: nearest-neighbour when enlarging tiny images."""
    from PIL import Image

    pil = Image.fromarray(image if image.ndim == 2 or image.shape[2] != 1 else image[:, :, 0])
    pil = pil.convert("RGB")
    scale = cell / max(pil.size)
    size = (max(1, round(pil.width * scale)), max(1, round(pil.height * scale)))
    resample = Image.Resampling.NEAREST if scale >= 2 else Image.Resampling.BILINEAR
    return pil.resize(size, resample)


def preview_grid(
    policy: Policy,
    images: Sequence[np.ndarray],
    *,
    keys: Sequence[str] | None = None,
    class_names: Sequence[str | None] | None = None,
    views: int = 3,
    cell: int | None = None,
    per_row: int | None = None,
) -> Image.Image:
    """A PIL image: one block per input, the original (framed) then ``views`` augmented views.

    ``keys`` (e.g. sample ids) seed the views like materialization does;
    ``class_names`` pick per-class pipelines and caption each block.
    """
    from PIL import Image, ImageDraw

    from curate.augment.build import apply_seeded, compile_steps, quiet_albumentations
    from curate.augment.seeds import sample_seed

    if not images:
        raise InvalidInput("nothing to preview: no images")
    if views < 1:
        raise InvalidInput(f"views must be at least 1 (got {views})")
    keys = list(keys) if keys is not None else [f"preview-{i}" for i in range(len(images))]
    names = list(class_names) if class_names is not None else [None] * len(images)
    cell = cell or _cell_size(images)
    per_row = per_row or min(len(images), 4)
    rows = math.ceil(len(images) / per_row)
    block_w = (views + 1) * (cell + PAD) + PAD
    block_h = cell + CAPTION_HEIGHT + 2 * PAD
    grid = Image.new("RGB", (per_row * block_w + PAD, rows * block_h + PAD), BACKGROUND)
    draw = ImageDraw.Draw(grid)
    composes: dict[str, Any] = {}
    for i, (image, key, name) in enumerate(zip(images, keys, names, strict=True)):
        pipeline, _ = policy.pipeline_for(name)
        compose = composes.get(pipeline)
        if compose is None:
            compose = composes[pipeline] = compile_steps(policy, pipeline)
        x0 = PAD + (i % per_row) * block_w
        y0 = PAD + (i // per_row) * block_h
        # A workspace preview tried each step first, as `augment run` does.
        with quiet_albumentations():
            tiles = [image] + [
                apply_seeded(compose, image, sample_seed(policy.seed, key, copy))[0]
                for copy in range(views)
            ]
        for j, tile in enumerate(tiles):
            fitted = _fit(tile, cell)
            x = x0 + j * (cell + PAD) + (cell - fitted.width) // 2
            y = y0 + (cell - fitted.height) // 2
            grid.paste(fitted, (x, y))
            if j == 0:
                draw.rectangle(
                    (x0 - 1, y0 - 1, x0 + cell, y0 + cell), outline=ORIGINAL_FRAME, width=1
                )
        caption = f"{name}" if name is not None else key[:12]
        draw.text((x0, y0 + cell + 2), caption, fill=CAPTION)
    return grid


def to_png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _check_like_run(
    policy: Policy, class_names: list[str], picked: list[str], images: list[np.ndarray]
) -> None:
    """The checks ``augment run`` makes before it writes, so a preview fails the same way:
    overrides of unknown classes, and each step once on a real image of every
    (pipeline, image kind) the preview uses."""
    from curate.augment.build import try_steps
    from curate.augment.engine import _check_overrides
    from curate.augment.policy import PolicyInvalid

    _check_overrides(policy, class_names)
    issues, checked = [], set()
    for name, image in zip(picked, images, strict=True):
        pipeline, _ = policy.pipeline_for(name)
        kind = "grayscale" if image.ndim == 2 or image.shape[2] == 1 else "RGB"
        if (pipeline, kind) in checked:
            continue
        checked.add((pipeline, kind))
        what = f"class {name!r} {kind} {image.shape[1]}x{image.shape[0]} images"
        issues += try_steps(policy, pipeline, image, what)[0]
    if issues:
        raise PolicyInvalid(issues, source=f"policy {policy.name}")


def workspace_preview(
    cat,
    objects,
    policy: Policy,
    *,
    class_name: str | None = None,
    n: int = 16,
    views: int = 3,
) -> Image.Image:
    """Preview ``n`` train samples (all samples if there are no splits), spread over sid order."""
    from curate.augment.engine import read_working_state
    from curate.imaging import decode
    from curate.store import samples_repo

    if n < 1:
        raise InvalidInput(f"-n must be at least 1 (got {n})")
    state = read_working_state(cat)
    known = dict((name, cid) for cid, name in samples_repo.classes(cat))
    if class_name is not None and class_name not in known:
        from curate.augment.build import suggest
        from curate.errors import NotFound

        close = suggest(class_name, list(known))
        raise NotFound(
            f"no class named {class_name!r}",
            hint=f"did you mean {', '.join(close)}?" if close else f"classes: {', '.join(known)}",
        )
    names = {cid: name for name, cid in known.items()}
    pool = [
        p
        for cid, parents in sorted(state.parents.items())
        for p in parents
        if class_name is None or cid == known[class_name]
    ]
    pool.sort(key=lambda p: p.sid)
    if not pool:
        raise InvalidInput(
            "no samples to preview" + (f" in class {class_name!r}" if class_name else "")
        )
    picks = pool if len(pool) <= n else [pool[i * len(pool) // n] for i in range(n)]
    images = [decode(objects.read(*p.location), mode=p.mode) for p in picks]
    _check_like_run(policy, list(known), [names[p.class_id] for p in picks], images)
    return preview_grid(
        policy,
        images,
        keys=[p.sample_id for p in picks],
        class_names=[names[p.class_id] for p in picks],
        views=views,
    )
