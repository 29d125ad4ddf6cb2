"""The quality gate's checks, with a stub classifier so each reason is exact."""

from __future__ import annotations

import numpy as np
import pytest

from curate.synthesize.gate import (
    QualityGate,
    calibrate_distance,
    frechet_distance,
    nearest_rms,
    pixel_features,
    split_half_distance,
)

pytest.importorskip("torch")


class Stub:
    """Class 0 when the image's mean is above 100, else class 1; confidence from the mean."""

    def predict_proba(self, images):
        m = images.reshape(len(images), -1).mean(1) / 255.0
        p0 = np.where(m > 100 / 255, 0.55 + 0.45 * m, 0.2)
        return np.stack([p0, 1 - p0], axis=1)

    def embed(self, images):
        return images.reshape(len(images), -1).astype(np.float32)


def img(value: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.integers(-20, 21, size=(8, 8, 1))
    return np.clip(value + noise, 0, 255).astype(np.uint8)


def test_nearest_rms_matches_brute_force():
    rng = np.random.default_rng(0)
    q = rng.random((7, 12), dtype=np.float32)
    r = rng.random((30, 12), dtype=np.float32)
    d, idx = nearest_rms(q, r, chunk=8)
    brute = np.sqrt(((q[:, None] - r[None]) ** 2).mean(-1))
    assert np.allclose(d, brute.min(1), atol=1e-5)
    assert (idx == brute.argmin(1)).all()
    d_self, idx_self = nearest_rms(r[:5], r, exclude_self=True)
    assert (idx_self != np.arange(5)).all() and (d_self > 0).all()


def test_large_images_are_compared_at_32_pixels_at_most():
    feats = pixel_features(np.zeros((2, 64, 128, 3), dtype=np.uint8))
    assert feats.shape == (2, 16 * 32 * 3)


def test_each_reason_in_order():
    train = np.stack([img(200, s) for s in range(10)])
    held = np.stack([img(150, 100 + s) for s in range(3)])
    gate = QualityGate(
        Stub(),
        train_images=train,
        heldout_images=held,
        known_sample_ids={"seen"},
        min_confidence=0.8,
        near_duplicate_distance=0.02,
    )
    batch = np.stack(
        [
            held[1],  # leakage
            train[3],  # memorised
            img(180, 7),  # admitted (fresh)
            img(180, 7),  # the same again: duplicate
            img(40, 8),  # the stub says class 1: wrong-class
            img(110, 9),  # class 0 but confidence ~0.74 < 0.8: low-confidence
            img(230, 10),  # admitted (fresh)
            img(230, 11),  # id "seen": duplicate of a derived sample
        ]
    )
    ids = ["a", "b", "c", "d", "e", "f", "g", "seen"]
    verdicts, proba = gate.judge(batch, ids, target=0)
    assert [v.reason for v in verdicts] == [
        "leakage",
        "memorised",
        None,
        "duplicate",
        "wrong-class",
        "low-confidence",
        None,
        "duplicate",
    ]
    assert proba.shape == (8, 2)
    # an image admitted in one batch makes its near-copy in the next a duplicate
    again, _ = gate.judge(np.stack([img(180, 7)]), ["new-id"], target=0)
    assert again[0].reason == "duplicate"


def test_derived_samples_in_the_workspace_count_as_duplicates():
    train = np.stack([img(200, s) for s in range(5)])
    derived = np.stack([img(90, 50)])
    gate = QualityGate(
        Stub(),
        train_images=train,
        heldout_images=None,
        derived_images=derived,
        min_confidence=0.0,
        near_duplicate_distance=0.02,
    )
    verdicts, _ = gate.judge(np.stack([img(90, 50)]), ["x"], target=1)
    assert verdicts[0].reason == "duplicate"


def test_the_default_distance_sits_below_real_neighbours():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(200, 8, 8, 1), dtype=np.uint8)
    feats = pixel_features(images)
    threshold = calibrate_distance(feats)
    nearest, _ = nearest_rms(feats, feats, exclude_self=True)
    assert 0.01 <= threshold <= np.percentile(nearest, 2)
    assert (nearest > threshold).mean() >= 0.98
    with_dupes = np.concatenate([images, images[:50]])
    assert calibrate_distance(pixel_features(with_dupes)) == 0.01  # the floor


def test_frechet_distance_is_zero_for_equal_sets_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 4))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-3)
    near = frechet_distance(a, rng.normal(size=(400, 4)))
    far = frechet_distance(a, rng.normal(size=(400, 4)) + 2.0)
    assert near < 0.5 < 15 < far  # a shift of 2 in 4 dimensions adds 16
    assert frechet_distance(a[:1], a) is None
    assert split_half_distance(a) < 0.5
