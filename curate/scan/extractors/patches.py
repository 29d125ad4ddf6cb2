"""``patches``: single-layer k-means patch features (Coates, Lee & Ng 2011)
with a strongly regularised logistic-regression head."""

from __future__ import annotations

from pydantic import Field

from curate.scan.extractors.base import FeatureExtractor, FeatureParams


class PatchParams(FeatureParams):
    n_centroids: int = Field(default=128, ge=2, description="k-means centroids (feature channels)")
    patch: int = Field(default=5, ge=2, le=16, description="patch side in pixels")
    pool: int = Field(default=2, ge=1, le=8, description="pooling grid side (pool x pool regions)")


class PatchExtractor(FeatureExtractor):
    name = "patches"
    Params = PatchParams
    max_side = 32
    min_side = 16

    def feature_map(self):
        from curate.scan.features import PatchFeatures

        p = self.params
        return PatchFeatures(n_centroids=p.n_centroids, patch=p.patch, pool=p.pool)
