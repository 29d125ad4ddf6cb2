"""Extractors built from a label-free feature map plus heads trained in K-fold."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from curate.core.progress import CancelFn, ProgressFn, check_cancel, no_progress
from curate.plugins.extractor import (
    Classifier,
    Extraction,
    Extractor,
    ExtractorParams,
    ExtractRequest,
)

HeadName = Literal["logreg", "knn"]


class FeatureParams(ExtractorParams):
    heads: list[HeadName] = Field(
        default_factory=lambda: ["logreg"],
        description="classifier heads averaged on top of the features: logreg, knn",
    )
    l2: float = Field(default=0.01, gt=0, description="L2 penalty of the logreg head")
    k: int = Field(default=10, ge=1, description="neighbours of the knn head")
    embedding_dim: int = Field(
        default=64, ge=2, description="PCA dimensions of the embeddings used for kNN evidence"
    )


class FeatureExtractor(Extractor):
    """Fit the feature map once on every image (no labels), then only heads per fold."""

    Params = FeatureParams
    #: Smaller images are upsampled to this side (patch features need room).
    min_side: int = 1

    def feature_map(self):
        raise NotImplementedError

    def input_size(self, common: tuple[int, int]) -> tuple[int, int]:
        w, h = super().input_size(common)
        if min(w, h) < self.min_side:
            scale = self.min_side / min(w, h)
            w, h = round(w * scale), round(h * scale)
        return w, h

    def _heads(self):
        from curate.scan.features import KNNHead, LogRegHead

        p = self.params
        factories = []
        for name in p.heads:
            if name == "logreg":
                factories.append(("features", lambda: LogRegHead(l2=p.l2)))
            else:
                factories.append(("embedding", lambda: KNNHead(k=p.k)))
        return factories

    def _featurize(self, images: np.ndarray, device: str, seed: int, common=None):
        from curate.scan.features import l2_normalize, pca_fit, to_tensor

        size = self.input_size(common or (images.shape[2], images.shape[1]))
        x = to_tensor(images, size=size, device=device)
        fmap = self.feature_map().fit(x, seed=seed)
        feats = fmap.transform(x)
        mean, comps, _ = pca_fit(feats, self.params.embedding_dim, seed=seed)
        emb = l2_normalize((feats - mean) @ comps)
        state = {"size": size, "channels": x.shape[1], "fmap": fmap, "pca": (mean, comps)}
        return feats, emb, state

    def run(
        self,
        request: ExtractRequest,
        *,
        progress: ProgressFn = no_progress,
        cancel: CancelFn | None = None,
    ) -> Extraction:
        from curate.scan.features import cross_val_heads

        progress(0, None, f"{self.name}: features")
        feats, emb, _ = self._featurize(
            request.images, request.device, request.seed, request.common_size
        )
        check_cancel(cancel)
        pred_probs = None
        if (request.labels >= 0).any():
            heads = self._heads()
            inputs = [feats if which == "features" else emb for which, _ in heads]
            pred_probs = cross_val_heads(
                inputs,
                [f for _, f in heads],
                request.labels,
                n_classes=request.n_classes,
                folds=request.folds,
                seed=request.seed,
                progress=progress,
                cancel=cancel,
            )
        return Extraction(
            embeddings=emb.cpu().numpy().astype(np.float32),
            pred_probs=pred_probs,
            info={"feature_dim": int(feats.shape[1])},
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
        import torch

        from curate.scan.classifier import FeatureClassifier

        feats, emb, state = self._featurize(images, device, seed)
        check_cancel(cancel)
        y = torch.from_numpy(np.asarray(labels)).long().to(feats.device)
        heads = []
        for which, factory in self._heads():
            inputs = feats if which == "features" else emb
            heads.append((which, factory().fit(inputs, y, n_classes)))
        return FeatureClassifier(n_classes=n_classes, heads=heads, device=device, **state)
