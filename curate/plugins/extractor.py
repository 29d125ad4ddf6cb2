"""The extractor plugin contract (entry-point group ``curate.extractors``).

An extractor turns a batch of images into what a scan needs:

* out-of-sample predicted probabilities (``pred_probs``), computed inside
  K-fold cross-validation so no sample is scored by a model that saw its label;
* embeddings, used for kNN evidence and outliers.

It can also ``fit`` a :class:`Classifier` on all the images, which the
synthesis quality gate and ``Workspace.classifier`` reuse.

curate's built-ins (``pixels``, ``patches``, ``ensemble``, ``cnn``,
``backbone``) are registered in ``pyproject.toml`` exactly like a third
party's would be. numpy only at import time: heavy libraries are imported
inside methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from curate.core.progress import CancelFn, ProgressFn, no_progress


class ExtractorParams(BaseModel):
    """Base of every extractor's options (unknown options are errors)."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class ExtractRequest:
    """Images and labels for one scan.

    ``labels`` are class *indices* 0..n_classes-1 (-1 = unlabeled); the
    engine maps class ids to indices and back. ``images`` are uint8 NHWC at
    the size the extractor asked for (:meth:`Extractor.input_size`).
    """

    images: np.ndarray
    labels: np.ndarray
    n_classes: int
    folds: int
    device: str  # resolved: "cpu" or "cuda"
    seed: int
    #: The dataset's most common (width, height) before resizing; members of an
    #: ensemble size their own input from it.
    common_size: tuple[int, int] | None = None
    #: Classifier heads of each fold train on at most this many rows (None: all).
    max_train: int | None = None
    #: Where batches of feature maps and the folds' heads run
    #: (:class:`curate.engines.Engine`); None: in this process. Only given to
    #: extractors that set ``supports_engine``.
    engine: Any = None


@dataclass
class StreamingRequest:
    """Like :class:`ExtractRequest`, for datasets too large to hold in memory.

    ``images`` is a :class:`curate.scan.featurestore.Matrix` (uint8 NHWC read
    in chunks or by row index), ``store`` a
    :class:`curate.scan.featurestore.FeatureStore` to write features and
    embeddings to. Feature maps are fitted on at most ``fit_rows`` images (a
    seeded random subset), then applied chunk by chunk.
    """

    images: Any
    labels: np.ndarray
    n_classes: int
    folds: int
    device: str
    seed: int
    store: Any
    common_size: tuple[int, int] | None = None
    max_train: int | None = None
    fit_rows: int = 50_000
    #: Prefix of the matrices this extractor writes (ensemble members get their own).
    prefix: str = ""
    #: As :attr:`ExtractRequest.engine`.
    engine: Any = None


@dataclass
class Extraction:
    """What an extractor hands back to the scan engine."""

    #: (N, D) float32, or a :class:`curate.scan.featurestore.Matrix` from ``run_streaming``
    embeddings: Any
    pred_probs: np.ndarray | None  # (N, n_classes) out-of-sample; None without labels
    info: dict[str, Any] = field(default_factory=dict)


class Classifier(ABC):
    """A trained image classifier: probabilities and embeddings for new images.

    ``predict_proba`` columns are class indices 0..n_classes-1; when the
    classifier came from a workspace, ``class_ids`` / ``class_names`` give the
    class of each column. Images are uint8 (N, H, W, C) (or (N, H, W)) of any
    size and 1 or 3 channels: the classifier resizes and converts them.
    """

    n_classes: int
    class_ids: list[int] | None = None
    class_names: list[str] | None = None

    @abstractmethod
    def predict_proba(self, images: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def embed(self, images: np.ndarray) -> np.ndarray: ...

    def predict(self, images: np.ndarray) -> np.ndarray:
        return self.predict_proba(images).argmax(axis=1)


class Extractor(ABC):
    """Base class of extractor plugins. Subclasses set ``name`` and ``Params``."""

    name: ClassVar[str]
    Params: ClassVar[type[ExtractorParams]] = ExtractorParams
    #: Uses the GPU when the request's device is "cuda".
    supports_cuda: ClassVar[bool] = False
    #: Largest side the engine decodes images to for this extractor.
    max_side: ClassVar[int] = 32
    #: Implements :meth:`run_streaming` (chunked reads; large datasets). Without
    #: it a streaming scan hands :meth:`run` every image in memory.
    supports_streaming: ClassVar[bool] = False
    #: Runs its feature maps batch by batch and its folds as tasks on the request's
    #: ``engine`` (``--engine ray``). Without it the extractor runs in the driver
    #: and the engine parallelises decoding and quality checks only.
    supports_engine: ClassVar[bool] = False

    def __init__(self, params: ExtractorParams | None = None) -> None:
        self.params = params if params is not None else self.Params()

    def input_size(self, common: tuple[int, int]) -> tuple[int, int]:
        """(width, height) to decode images at, given the dataset's most common size."""
        w, h = common
        scale = min(1.0, self.max_side / max(w, h))
        return max(1, round(w * scale)), max(1, round(h * scale))

    def config(self) -> dict[str, Any]:
        """What a scan run records about this extractor."""
        return {"name": self.name, "params": self.params.model_dump(mode="json")}

    @abstractmethod
    def run(
        self,
        request: ExtractRequest,
        *,
        progress: ProgressFn = no_progress,
        cancel: CancelFn | None = None,
    ) -> Extraction:
        """Out-of-sample pred_probs (K-fold over the labeled rows) and embeddings for all rows."""

    def run_streaming(
        self,
        request: StreamingRequest,
        *,
        progress: ProgressFn = no_progress,
        cancel: CancelFn | None = None,
    ) -> Extraction:
        """:meth:`run` over images read in chunks; embeddings come back as a matrix."""
        raise NotImplementedError(f"extractor {self.name!r} does not stream")

    @abstractmethod
    def fit(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        n_classes: int,
        device: str,
        seed: int,
        progress: ProgressFn = no_progress,
        cancel: CancelFn | None = None,
    ) -> Classifier:
        """Train a classifier on all of ``images`` (labels are indices, all >= 0)."""
