"""The quality gate every generated image passes before admission.

Checks, in order (a rejected image gets the first reason that applies):

1. ``leakage``: a near-duplicate (or copy) of a val/test image: it would leak
   the evaluation set into train.
2. ``memorised``: a near-duplicate (or copy) of an original training image:
   the generator copied what it was shown.
3. ``duplicate``: identical or near-identical to an image admitted earlier in
   this run, or to a derived (synthetic/augmented) sample already in the
   workspace: a mode-collapsed generator cannot pad a class with one image.
4. ``wrong-class`` / ``low-confidence``: the gate classifier does not predict
   the target class, or not with at least ``min_confidence``.

"Near-duplicate" is a pixel-space distance: the RMS difference of the images
scaled to [0, 1] (at most 32x32). The default threshold adapts to the data:
the 1st percentile of real training images' distances to their nearest other
training image, i.e. a generated image is a copy when it is closer to a
training image than 99% of training images are to each other (floored at
0.01 so datasets with duplicates do not disable the check).

Also reported per class: an FID-style Frechet distance between Gaussian fits
of the classifier's embeddings of real and admitted images, next to the same
distance between two random halves of the real images (the floor that
sample size alone produces).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curate.synthesize.classifier import Classifier

MAX_SIDE = 32
MIN_DISTANCE_FLOOR = 0.01
REASONS = ("duplicate", "leakage", "memorised", "wrong-class", "low-confidence")


def pixel_features(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, C) -> float32 (N, D) in [0, 1], downscaled to at most 32x32."""
    n, h, w, _ = images.shape
    if max(h, w) > MAX_SIDE and n:
        import torch
        import torch.nn.functional as F

        scale = MAX_SIDE / max(h, w)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True)
        images = x.permute(0, 2, 3, 1).numpy()
    return (images.reshape(n, -1).astype(np.float32)) / 255.0


def nearest_rms(
    queries: np.ndarray, refs: np.ndarray, *, exclude_self: bool = False, chunk: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """(distance, index) of each query's nearest reference; RMS per pixel."""
    import torch

    q = torch.from_numpy(queries)
    d = q.shape[1] if q.ndim == 2 else 1
    best = torch.full((len(queries),), float("inf"))
    where = torch.full((len(queries),), -1, dtype=torch.long)
    if len(refs) == 0 or len(queries) == 0:
        return best.numpy(), where.numpy()
    q_sq = (q * q).sum(1, keepdim=True)
    for start in range(0, len(refs), chunk):
        r = torch.from_numpy(refs[start : start + chunk])
        dist = (q_sq + (r * r).sum(1)[None, :] - 2 * q @ r.T).clamp_min_(0)
        if exclude_self:
            rows = torch.arange(len(queries))
            cols = rows - start
            ok = (cols >= 0) & (cols < len(r))
            dist[rows[ok], cols[ok]] = float("inf")
        val, idx = dist.min(1)
        better = val < best
        best = torch.where(better, val, best)
        where = torch.where(better, idx + start, where)
    return (best / d).sqrt().numpy(), where.numpy()


def calibrate_distance(train_features: np.ndarray, *, seed: int = 0, probe: int = 2000) -> float:
    """1st percentile of nearest-other-training-image distances (see module docs)."""
    n = len(train_features)
    if n < 2:
        return MIN_DISTANCE_FLOOR
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(n, size=min(probe, n), replace=False))
    # Reorder so the probes come first: exclude_self masks the diagonal.
    order = np.concatenate([idx, np.setdiff1d(np.arange(n), idx)])
    dist, _ = nearest_rms(train_features[idx], train_features[order], exclude_self=True)
    return float(max(MIN_DISTANCE_FLOOR, np.percentile(dist, 1)))


@dataclass(frozen=True)
class Verdict:
    reason: str | None  # None: admitted
    confidence: float  # classifier probability of the target class
    train_distance: float  # RMS distance to the nearest training image


class QualityGate:
    def __init__(
        self,
        classifier: Classifier,
        *,
        train_images: np.ndarray,
        heldout_images: np.ndarray | None,
        derived_images: np.ndarray | None = None,
        known_sample_ids: set[str] = frozenset(),
        min_confidence: float = 0.5,
        near_duplicate_distance: float | None = None,
        seed: int = 0,
    ) -> None:
        self.classifier = classifier
        self.min_confidence = min_confidence
        self.train_features = pixel_features(train_images)
        self.heldout_features = (
            pixel_features(heldout_images)
            if heldout_images is not None and len(heldout_images)
            else None
        )
        # derived samples already in the workspace, then every image admitted here
        self.generated_features = (
            pixel_features(derived_images)
            if derived_images is not None and len(derived_images)
            else np.zeros((0, self.train_features.shape[1]), dtype=np.float32)
        )
        self.known = set(known_sample_ids)
        # Which duplicates repeat a sample that was in the workspace before this run
        # (same checkpoint and seed: the same images again) and which repeat an image
        # of this run (the generator makes near-identical images: mode collapse).
        self._before_ids = frozenset(known_sample_ids)
        self._before_features = self.generated_features
        self.repeats_of_earlier = 0
        self.distance = (
            near_duplicate_distance
            if near_duplicate_distance is not None
            else calibrate_distance(self.train_features, seed=seed)
        )

    def judge(
        self, images: np.ndarray, sample_ids: list[str], target: int
    ) -> tuple[list[Verdict], np.ndarray]:
        """A verdict per image (in order), and the probabilities the classifier gave."""
        feats = pixel_features(images)
        train_d, _ = nearest_rms(feats, self.train_features)
        if self.heldout_features is not None:
            held_d, _ = nearest_rms(feats, self.heldout_features)
        else:
            held_d = np.full(len(images), np.inf)
        gen_d, _ = nearest_rms(feats, self.generated_features)
        before_d, _ = nearest_rms(feats, self._before_features)
        proba = self.classifier.predict_proba(images)
        verdicts = []
        admitted: list[int] = []
        for i, sid in enumerate(sample_ids):
            conf = float(proba[i, target])
            if held_d[i] <= self.distance:
                reason = "leakage"
            elif train_d[i] <= self.distance:
                reason = "memorised"
            elif sid in self.known or gen_d[i] <= self.distance or self._near(feats, i, admitted):
                reason = "duplicate"
                if sid in self._before_ids or before_d[i] <= self.distance:
                    self.repeats_of_earlier += 1
            elif int(proba[i].argmax()) != target:
                reason = "wrong-class"
            elif conf < self.min_confidence:
                reason = "low-confidence"
            else:
                reason = None
            self.known.add(sid)  # an identical later image is a duplicate of this one
            if reason is None:
                admitted.append(i)
            verdicts.append(Verdict(reason, conf, float(train_d[i])))
        if admitted:
            self.generated_features = np.concatenate([self.generated_features, feats[admitted]])
        return verdicts, proba

    def _near(self, feats: np.ndarray, i: int, earlier: list[int]) -> bool:
        """Is image ``i`` a near-duplicate of one admitted earlier in the same batch?"""
        if not earlier:
            return False
        diff = feats[earlier] - feats[i]
        return bool(np.sqrt((diff * diff).mean(axis=1)).min() <= self.distance)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float | None:
    """Frechet distance between Gaussian fits of two (N, D) feature sets (None if N < 2)."""
    if len(a) < 2 or len(b) < 2:
        return None
    from scipy import linalg

    a = a.astype(np.float64)
    b = b.astype(np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a = np.atleast_2d(np.cov(a, rowvar=False))
    cov_b = np.atleast_2d(np.cov(b, rowvar=False))
    eps = 1e-6 * np.eye(cov_a.shape[0])
    covmean = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * covmean))
    return max(0.0, value)


def split_half_distance(features: np.ndarray, *, seed: int = 0) -> float | None:
    """The Frechet distance between two random halves of one real feature set."""
    if len(features) < 4:
        return None
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(features))
    half = len(features) // 2
    return frechet_distance(features[perm[:half]], features[perm[half:]])
