"""Online augmentation: a policy as a transform inside a training DataLoader.

Contract with datasets (``version.to_torch(split, transform=...)`` and any
plain ``torch.utils.data.Dataset``): the transform is called on one uint8
array (H, W[, C]) and returns one (float, if the policy ends in ``Normalize``
or ``ToFloat``: fine here, unlike materializing, which stores 8-bit images
and refuses such a policy); if it has ``seed_worker(worker_id,
num_workers)``, the dataset calls that once in each DataLoader worker (and
``(0, 1)`` in the main process) before the first item.

Each worker then draws from its own stream, seeded by (policy seed, epoch,
worker id, worker count): the same seed and worker count give the same
augmented items, run after run. Workers are re-created every epoch (unless
``persistent_workers=True``), so call :meth:`AugmentTransform.set_epoch`
before each epoch, as with ``DistributedSampler.set_epoch``, to see new
augmentations each epoch. The transform pickles with its epoch (and without
its compiled pipeline), so workers started with spawn or forkserver, which
receive a pickled copy, use it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from curate.augment.seeds import worker_seed
from curate.errors import InvalidInput

if TYPE_CHECKING:
    from curate.augment.policy import Policy


class AugmentTransform:
    """Callable on a uint8 image; reproducible per (seed, epoch, worker id, worker count)."""

    def __init__(
        self, policy: Policy, *, seed: int | None = None, class_name: str | None = None
    ) -> None:
        self.policy = policy
        self.seed = policy.seed if seed is None else int(seed)
        self.class_name = class_name
        self.epoch = 0
        self.worker = (0, 1)
        self._compose: Any = None

    def stream_seed(self) -> int:
        return worker_seed(self.seed, self.epoch, *self.worker)

    def seed_worker(self, worker_id: int, num_workers: int) -> None:
        """Start this worker's stream (called by the dataset before its first item)."""
        if not 0 <= worker_id < max(num_workers, 1):
            raise InvalidInput(f"worker_id {worker_id} is not in [0, {num_workers})")
        self.worker = (int(worker_id), int(num_workers))
        self._reseed()

    def set_epoch(self, epoch: int) -> None:
        """Use the streams of ``epoch`` (call in the main process before iterating)."""
        self.epoch = int(epoch)
        self._reseed()

    def _reseed(self) -> None:
        if self._compose is not None:
            self._compose.set_random_seed(self.stream_seed())

    def _pipeline(self) -> Any:
        if self._compose is None:
            self._compose = self.policy.compile(self.class_name, seed=self.stream_seed())
        return self._compose

    def __call__(self, image: Any) -> np.ndarray:
        array = np.asarray(image)
        if array.dtype != np.uint8:
            raise InvalidInput(f"expected a uint8 image, got {array.dtype}")
        return self._pipeline()(image=array)["image"]

    def __getstate__(self) -> dict[str, Any]:
        # The compiled pipeline is rebuilt in the process that uses it.
        return {**self.__dict__, "_compose": None}

    def __repr__(self) -> str:
        return (
            f"AugmentTransform(policy={self.policy.name!r}, seed={self.seed}, "
            f"epoch={self.epoch}, worker={self.worker})"
        )
