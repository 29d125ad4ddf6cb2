"""Online augmentation: a policy as a transform inside a training DataLoader.

Contract with datasets (``version.to_torch(split, transform=...)`` and any
plain ``torch.utils.data.Dataset``): the transform is called on one uint8
array (H, W[, C]) and returns one (float, if the policy ends in ``Normalize``
or ``ToFloat``: fine here, unlike materializing, which stores 8-bit images
and refuses such a policy); if it has ``seed_worker(worker_id,
num_workers)``, the dataset calls that once in each DataLoader worker (and
``(0, 1)`` in the main process) before the first item. A transform with
``supports_class_name`` true (a policy, or one of its transforms not pinned
to a class) is called as ``transform(image, class_name=...)`` with the
sample's class, so a class with an override gets its own pipeline online, as
it does when materializing (``None``, for an unlabeled sample, means the
default pipeline).

Each worker then draws from its own streams, one per pipeline used, seeded
by (policy seed, epoch, worker id, worker count, and the pipeline's key for
an override): the same seed and worker count give the same augmented items,
run after run. Workers are re-created every epoch (unless
``persistent_workers=True``), so call :meth:`AugmentTransform.set_epoch`
before each epoch, as with ``DistributedSampler.set_epoch``, to see new
augmentations each epoch. The transform pickles with its epoch (and without
its compiled pipeline), so workers started with spawn or forkserver, which
receive a pickled copy, use it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from curate.augment.seeds import derive_seed, worker_seed
from curate.errors import InvalidInput

if TYPE_CHECKING:
    from curate.augment.policy import Policy


class AugmentTransform:
    """Callable on a uint8 image; reproducible per (seed, epoch, worker id, worker count).

    ``class_name`` pins the transform to that class's pipeline. An unpinned
    one takes the class per call (``transform(image, class_name="5")``) and
    compiles each pipeline it needs once per process.
    """

    def __init__(
        self, policy: Policy, *, seed: int | None = None, class_name: str | None = None
    ) -> None:
        self.policy = policy
        self.seed = policy.seed if seed is None else int(seed)
        self.class_name = class_name
        self.epoch = 0
        self.worker = (0, 1)
        # pipeline key ('default' or 'class:<name>') -> its compiled Compose
        self._composes: dict[str, Any] = {}

    @property
    def supports_class_name(self) -> bool:
        """Whether a dataset should pass each sample's class (not when pinned to one)."""
        return self.class_name is None

    def stream_seed(self, key: str = "default") -> int:
        """The seed of one pipeline's stream in this worker and epoch."""
        seed = worker_seed(self.seed, self.epoch, *self.worker)
        # The default pipeline keeps the plain worker seed; an override gets a
        # stream of its own, so its draws do not mirror the default's.
        return seed if key == "default" else derive_seed("online-class", seed, key)

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
        for key, compose in self._composes.items():
            compose.set_random_seed(self.stream_seed(key))

    def _pipeline(self, class_name: str | None) -> Any:
        key, _ = self.policy.pipeline_for(class_name)
        compose = self._composes.get(key)
        if compose is None:
            compose = self.policy.compile(class_name, seed=self.stream_seed(key))
            self._composes[key] = compose
        return compose

    def __call__(self, image: Any, *, class_name: str | None = None) -> np.ndarray:
        """Augment ``image`` with the pipeline of ``class_name`` (its override, else the
        default); a pinned transform uses its own class."""
        array = np.asarray(image)
        if array.dtype != np.uint8:
            raise InvalidInput(f"expected a uint8 image, got {array.dtype}")
        name = class_name
        if self.class_name is not None:
            if class_name is not None and class_name != self.class_name:
                raise InvalidInput(
                    f"this transform is pinned to class {self.class_name!r}, not {class_name!r}",
                    hint="use policy.as_transform() for one that takes the class per call",
                )
            name = self.class_name
        return self._pipeline(name)(image=array)["image"]

    def __getstate__(self) -> dict[str, Any]:
        # The compiled pipelines are rebuilt in the process that uses them.
        return {**self.__dict__, "_composes": {}}

    def __repr__(self) -> str:
        pinned = f", class_name={self.class_name!r}" if self.class_name is not None else ""
        return (
            f"AugmentTransform(policy={self.policy.name!r}, seed={self.seed}, "
            f"epoch={self.epoch}, worker={self.worker}{pinned})"
        )
