"""Where a generator runs: in this process, or on a GPU host (``remote.py``).

The engine drives either through the same small surface, so fitting,
checkpointing, sampling and cancelling work the same way locally and remotely.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from curate.core.progress import CancelFn, ProgressFn, no_progress
from curate.plugins.generators import (
    Checkpoint,
    FitReport,
    GeneratedBatch,
    Generator,
    TrainingSet,
    load_generator_class,
)


class GeneratorRunner(Protocol):
    """A fitted or fittable generator, wherever it lives."""

    device: str  # the device it actually runs on (``cpu``, ``cuda:0``, ...)

    def fit(
        self,
        data: TrainingSet,
        *,
        steps: int,
        seed: int,
        progress: ProgressFn = no_progress,
        cancel: CancelFn | None = None,
    ) -> FitReport: ...

    def load(self, ckpt: Checkpoint) -> None: ...

    def checkpoint(self) -> Checkpoint: ...

    def sample(self, class_name: str, n: int, *, seed: int) -> Iterator[GeneratedBatch]: ...

    def info(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


class LocalRunner:
    """The generator in this process."""

    def __init__(self, name: str, params: dict[str, Any], device: str) -> None:
        from curate.plugins.registry import parse_params

        self.cls: type[Generator] = load_generator_class(name)
        self.params = parse_params(self.cls.Params, params, where=name)
        self.gen: Generator = self.cls(self.params, device=device)
        self.device = self.gen.device

    def fit(self, data, *, steps, seed, progress=no_progress, cancel=None) -> FitReport:
        return self.gen.fit(data, steps=steps, seed=seed, progress=progress, cancel=cancel)

    def load(self, ckpt: Checkpoint) -> None:
        self.gen.close()
        self.gen = self.cls.from_checkpoint(ckpt, self.params, device=self.gen.device)

    def checkpoint(self) -> Checkpoint:
        return self.gen.to_checkpoint()

    def sample(self, class_name: str, n: int, *, seed: int) -> Iterator[GeneratedBatch]:
        return self.gen.sample(class_name, n, seed=seed)

    def info(self) -> dict[str, Any]:
        return {"where": "local", "device": self.device}

    def close(self) -> None:
        self.gen.close()
