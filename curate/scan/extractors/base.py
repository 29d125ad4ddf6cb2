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
    StreamingRequest,
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


def run_streaming_or_in_memory(
    extractor: Extractor,
    request: StreamingRequest,
    *,
    progress: ProgressFn = no_progress,
    cancel: CancelFn | None = None,
) -> Extraction:
    """``extractor.run_streaming`` when it streams, else :meth:`~Extractor.run` on every
    image read into memory (its embeddings then written to the store, so the caller
    gets a matrix either way)."""
    if extractor.supports_streaming:
        return extractor.run_streaming(request, progress=progress, cancel=cancel)
    out = extractor.run(
        ExtractRequest(
            images=request.images.read(),
            labels=request.labels,
            n_classes=request.n_classes,
            folds=request.folds,
            device=request.device,
            seed=request.seed,
            common_size=request.common_size,
            max_train=request.max_train,
            engine=request.engine,
        ),
        progress=progress,
        cancel=cancel,
    )
    embeddings = np.asarray(out.embeddings, dtype=np.float32)
    out.embeddings = request.store.put(f"{request.prefix}embeddings", embeddings)
    return out


def fit_index(n: int, fit_rows: int, seed: int) -> np.ndarray:
    """Rows a streaming extractor fits its feature map on: all, or a seeded sorted subset."""
    if n <= fit_rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, fit_rows, replace=False))


class FeatureExtractor(Extractor):
    """Fit the feature map once on every image (no labels), then only heads per fold."""

    Params = FeatureParams
    supports_streaming = True
    supports_engine = True
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
        # partials, not lambdas: an engine pickles them into its workers
        from functools import partial

        from curate.scan.features import KNNHead, LogRegHead

        p = self.params
        factories = []
        for name in p.heads:
            if name == "logreg":
                factories.append(("features", partial(LogRegHead, l2=p.l2)))
            else:
                factories.append(("embedding", partial(KNNHead, k=p.k)))
        return factories

    def _featurize(self, images: np.ndarray, device: str, seed: int, common=None, engine=None):
        """(features, embeddings, state). With an ``engine`` the feature map, once
        fitted here, runs over the images batch by batch on the engine."""
        from curate.scan.features import l2_normalize, pca_fit, to_tensor

        size = self.input_size(common or (images.shape[2], images.shape[1]))
        x = to_tensor(images, size=size, device=device)
        fmap = self.feature_map()
        if engine is None:
            feats = fmap.fit_transform(x, seed=seed)
        else:
            import torch

            from curate.scan.batches import map_features

            def on_engine(fitted):
                return torch.from_numpy(
                    map_features(
                        engine, fitted, images, size=size, channels=x.shape[1], device=device
                    )
                ).to(x.device)

            feats = fmap.fit_transform(x, seed=seed, transform=on_engine)
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
        on_engine = {"engine": request.engine} if request.engine is not None else {}
        feats, emb, _ = self._featurize(
            request.images, request.device, request.seed, request.common_size, **on_engine
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
                max_train=request.max_train,
                progress=progress,
                cancel=cancel,
                engine=request.engine,
            )
        return Extraction(
            embeddings=emb.cpu().numpy().astype(np.float32),
            pred_probs=pred_probs,
            info={"feature_dim": int(feats.shape[1])},
        )

    def run_streaming(
        self,
        request: StreamingRequest,
        *,
        progress: ProgressFn = no_progress,
        cancel: CancelFn | None = None,
    ) -> Extraction:
        """Fit on a sample of the images, then features and embeddings chunk by chunk to disk.

        With at most ``request.fit_rows`` images the sample is every image, and
        the features are those :meth:`run` computes.
        """
        import torch

        from curate.scan.batches import map_features
        from curate.scan.features import cross_val_heads_streaming, l2_normalize

        images, store = request.images, request.store
        n = images.n
        progress(0, None, f"{self.name}: fitting features")
        sample = fit_index(n, request.fit_rows, request.seed)
        common = request.common_size or (images.row_shape[1], images.row_shape[0])
        on_engine = {"engine": request.engine} if request.engine is not None else {}
        _, _, state = self._featurize(
            images.take(sample), request.device, request.seed, common, **on_engine
        )
        check_cancel(cancel)
        fmap, (mean, comps) = state["fmap"], state["pca"]
        feats_out = emb_out = None
        with torch.no_grad():
            for start, block in images.chunks():
                check_cancel(cancel)
                progress(start, n, f"{self.name}: features")
                # Batch by batch on the engine (here without one): the batches of run().
                feats = torch.from_numpy(
                    map_features(
                        request.engine,
                        fmap,
                        block,
                        size=state["size"],
                        channels=state["channels"],
                        device=request.device,
                    )
                ).to(mean.device)
                emb = l2_normalize((feats - mean.to(feats.device)) @ comps.to(feats.device))
                if feats_out is None:
                    feats_out = store.writer(
                        f"{request.prefix}features", feats.shape[1:], np.float32
                    )
                    emb_out = store.writer(f"{request.prefix}embeddings", emb.shape[1:], np.float32)
                feats_out.append(feats.cpu().numpy())
                emb_out.append(emb.cpu().numpy())
                del feats, emb
        if feats_out is None:  # no rows
            raise ValueError("run_streaming needs at least one image")
        feats_m, emb_m = feats_out.close(), emb_out.close()
        progress(n, n, f"{self.name}: features")
        pred_probs = None
        if (request.labels >= 0).any():
            heads = self._heads()
            inputs = [feats_m if which == "features" else emb_m for which, _ in heads]
            pred_probs = cross_val_heads_streaming(
                inputs,
                [f for _, f in heads],
                request.labels,
                n_classes=request.n_classes,
                folds=request.folds,
                seed=request.seed,
                max_train=request.max_train,
                device=request.device,
                progress=progress,
                cancel=cancel,
                engine=request.engine,
            )
        store.remove(f"{request.prefix}features")  # only the heads read them
        return Extraction(
            embeddings=emb_m,
            pred_probs=pred_probs,
            info={"feature_dim": int(feats_m.row_shape[0]), "fit_rows": int(len(sample))},
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
