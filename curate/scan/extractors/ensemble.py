"""``ensemble`` (the default): the average of several extractors' predictions.

Each member is any registered extractor plugin. Averaging the out-of-sample
probabilities of models with different inductive biases (patch features +
logistic regression, pixel kNN) ranks label errors better than either alone
(see docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from pydantic import Field, model_validator

from curate.core.progress import CancelFn, ProgressFn, check_cancel, no_progress
from curate.plugins.extractor import (
    Classifier,
    Extraction,
    Extractor,
    ExtractorParams,
    ExtractRequest,
    StreamingRequest,
)


def sharpen(pred_probs: np.ndarray, temperature: float) -> np.ndarray:
    """p^(1/T) renormalised per row (T = 1: unchanged)."""
    if temperature == 1.0:
        return pred_probs.astype(np.float32)
    logp = np.log(np.clip(pred_probs, 1e-12, None)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    out = np.exp(logp)
    return (out / out.sum(axis=1, keepdims=True)).astype(np.float32)


class EnsembleParams(ExtractorParams):
    members: list[str] = Field(
        default_factory=lambda: ["patches", "pixels"],
        min_length=1,
        description="extractor plugins whose predictions are averaged",
    )
    weights: list[float] | None = Field(
        default=None, description="weight of each member (default: equal)"
    )
    temperature: float = Field(
        default=1 / 3,
        gt=0,
        le=10,
        description="sharpening of the averaged probabilities: p^(1/T), renormalised "
        "(averaging flattens probabilities, which makes confident learning undercount errors)",
    )

    @model_validator(mode="after")
    def _check(self):
        if "ensemble" in self.members:
            raise ValueError("an ensemble cannot contain itself")
        if self.weights is not None and len(self.weights) != len(self.members):
            raise ValueError("weights needs one number per member")
        if self.weights is not None and (min(self.weights) < 0 or sum(self.weights) <= 0):
            raise ValueError("weights must be >= 0 and not all 0")
        return self


class EnsembleExtractor(Extractor):
    name = "ensemble"
    Params = EnsembleParams

    def __init__(self, params: EnsembleParams | None = None) -> None:
        super().__init__(params)
        from curate.scan.classifier import load_extractor

        self.members = [load_extractor(name) for name in self.params.members]
        self.supports_cuda = any(m.supports_cuda for m in self.members)
        # Members get the scan's request (and its engine) as it is.
        self.supports_engine = all(m.supports_engine for m in self.members)
        # Members that do not stream read every image into memory (see
        # run_streaming_or_in_memory); the ensemble itself always streams.
        self.supports_streaming = True

    @property
    def weights(self) -> list[float]:
        return self.params.weights or [1.0] * len(self.members)

    def input_size(self, common: tuple[int, int]) -> tuple[int, int]:
        sizes = [m.input_size(common) for m in self.members]
        return max(sizes, key=lambda s: s[0] * s[1])

    def config(self):
        cfg = super().config()
        cfg["members"] = [m.config() for m in self.members]
        return cfg

    def run(
        self,
        request: ExtractRequest,
        *,
        progress: ProgressFn = no_progress,
        cancel: CancelFn | None = None,
    ) -> Extraction:
        outs = []
        for m in self.members:
            check_cancel(cancel)
            outs.append(m.run(request, progress=progress, cancel=cancel))
        w = np.asarray(self.weights, dtype=np.float64)
        w = w / w.sum()
        pred_probs = None
        if all(o.pred_probs is not None for o in outs):
            pred_probs = sum(wi * o.pred_probs for wi, o in zip(w, outs, strict=True))
            pred_probs = sharpen(np.asarray(pred_probs, dtype=np.float64), self.params.temperature)
        # Members' embeddings are L2-normalised; concatenated and rescaled the
        # result is unit-norm again, so cosine kNN weighs members equally.
        emb = np.concatenate([o.embeddings / np.sqrt(len(outs)) for o in outs], axis=1)
        return Extraction(
            embeddings=emb.astype(np.float32),
            pred_probs=pred_probs,
            info={m.name: o.info for m, o in zip(self.members, outs, strict=True)},
        )

    def run_streaming(
        self,
        request: StreamingRequest,
        *,
        progress: ProgressFn = no_progress,
        cancel: CancelFn | None = None,
    ) -> Extraction:
        """:meth:`run` with members streaming; embeddings concatenated chunk by chunk."""
        from curate.scan.extractors.base import run_streaming_or_in_memory

        outs = []
        for i, m in enumerate(self.members):
            check_cancel(cancel)
            sub = replace(request, prefix=f"{request.prefix}m{i}-{m.name}-")
            outs.append(run_streaming_or_in_memory(m, sub, progress=progress, cancel=cancel))
        w = np.asarray(self.weights, dtype=np.float64)
        w = w / w.sum()
        pred_probs = None
        if all(o.pred_probs is not None for o in outs):
            pred_probs = sum(wi * o.pred_probs for wi, o in zip(w, outs, strict=True))
            pred_probs = sharpen(np.asarray(pred_probs, dtype=np.float64), self.params.temperature)
        parts = [o.embeddings for o in outs]
        dim = sum(int(np.prod(p.row_shape)) for p in parts)
        writer = request.store.writer(f"{request.prefix}embeddings", (dim,), np.float32)
        # The same arithmetic as run() (float64 scale, then float32), chunk by chunk.
        for blocks in zip(*(p.chunks() for p in parts), strict=True):
            joined = np.concatenate([b / np.sqrt(len(outs)) for _, b in blocks], axis=1)
            writer.append(joined.astype(np.float32))
        for i, m in enumerate(self.members):
            request.store.remove(f"{request.prefix}m{i}-{m.name}-embeddings")
        return Extraction(
            embeddings=writer.close(),
            pred_probs=pred_probs,
            info={m.name: o.info for m, o in zip(self.members, outs, strict=True)},
        )

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
        from curate.scan.classifier import EnsembleClassifier

        members = [
            m.fit(
                images,
                labels,
                n_classes=n_classes,
                device=device,
                seed=seed,
                progress=progress,
                cancel=cancel,
            )
            for m in self.members
        ]
        return EnsembleClassifier(members, self.weights, self.params.temperature)
