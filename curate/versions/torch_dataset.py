"""A version's split as a ``torch.utils.data.Dataset``.

Imports torch, so only ``Version.to_torch()`` imports this module.

Built for DataLoader workers: the dataset holds plain arrays (where each
image's bytes live, its label) and no open handle, so it pickles small; each
process opens the object store lazily on its first item. It never touches the
catalog, so training keeps reading while another process writes.

``transform`` gets a uint8 numpy image (H, W, C) and may return anything. If
it has ``seed_worker(worker_id, num_workers)``, that is called once in each
process before its first transform (``seed_worker(0, 1)`` in the main
process), so random augmentations are reproducible per worker. If its
``supports_class_name`` is true (a curate policy), it is called as
``transform(image, class_name=...)`` with the sample's class (None when
unlabeled), so per-class overrides apply online; any other callable (a
torchvision or albumentations transform) gets the image alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch.utils.data

from curate.imaging import decode
from curate.store.objects import ObjectStore


class VersionDataset(torch.utils.data.Dataset):
    """Items are ``(image, label)``: image = ``transform(uint8 HWC array)`` (or the array;
    a policy also gets ``class_name=``), label = index into :attr:`classes` (-1 for an
    unlabeled sample)."""

    def __init__(
        self,
        objects_root: str | Path,
        *,
        packs: list[str],
        offsets: np.ndarray,
        lengths: np.ndarray,
        labels: np.ndarray,
        sample_ids: list[str],
        classes: list[str],
        mode: str,
        transform: Callable[[np.ndarray], Any] | None = None,
        version: str = "",
        split: str = "",
    ) -> None:
        self.objects_root = str(objects_root)
        self.packs = packs
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.sample_ids = sample_ids
        self.classes = classes
        self.mode = mode
        self.transform = transform
        self.version = version
        self.split = split
        self._store: ObjectStore | None = None
        self._store_pid: int | None = None
        self._seeded_pid: int | None = None

    def __len__(self) -> int:
        return len(self.packs)

    def __repr__(self) -> str:
        return (
            f"VersionDataset({self.version} {self.split!r}: {len(self)} samples, "
            f"{len(self.classes)} classes, mode {self.mode})"
        )

    # Pickled to each worker without the open store (mmaps do not pickle).
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_store"] = None
        state["_store_pid"] = None
        return state

    def _objects(self) -> ObjectStore:
        pid = os.getpid()
        if self._store is None or self._store_pid != pid:
            self._store = ObjectStore(Path(self.objects_root))
            self._store_pid = pid
        return self._store

    def _seed_once(self) -> None:
        pid = os.getpid()
        if self._seeded_pid == pid:
            return
        self._seeded_pid = pid
        seed_worker = getattr(self.transform, "seed_worker", None)
        if callable(seed_worker):
            info = torch.utils.data.get_worker_info()
            if info is None:
                seed_worker(0, 1)
            else:
                seed_worker(info.id, info.num_workers)

    def image(self, index: int) -> np.ndarray:
        """The decoded image (H, W, C) uint8, before the transform."""
        data = self._objects().read(
            self.packs[index], int(self.offsets[index]), int(self.lengths[index])
        )
        array = decode(data, mode=self.mode)
        return array[:, :, None] if array.ndim == 2 else array

    def __getitem__(self, index: int):
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        self._seed_once()
        array = self.image(index)
        label = int(self.labels[index])
        if self.transform is None:
            item = array
        elif getattr(self.transform, "supports_class_name", False) is True:
            item = self.transform(array, class_name=self.classes[label] if label >= 0 else None)
        else:
            item = self.transform(array)
        return item, label
