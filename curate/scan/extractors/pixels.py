"""``pixels``: thumbnail pixels projected on their principal components plus
simple image statistics, with a kNN head. The fastest extractor."""

from __future__ import annotations

from pydantic import Field

from curate.scan.extractors.base import FeatureExtractor, FeatureParams, HeadName


class PixelParams(FeatureParams):
    heads: list[HeadName] = Field(
        default_factory=lambda: ["knn"],
        description="classifier heads averaged on top of the features: logreg, knn",
    )
    n_components: int = Field(default=48, ge=2, description="principal components of the pixels")
    with_stats: bool = Field(default=True, description="append mean/contrast/edge/dark statistics")


class PixelExtractor(FeatureExtractor):
    name = "pixels"
    Params = PixelParams
    max_side = 32

    def feature_map(self):
        from curate.scan.features import PixelFeatures

        return PixelFeatures(self.params.n_components, with_stats=self.params.with_stats)
