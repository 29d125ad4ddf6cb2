"""Vectorised image-quality statistics: known values, and stacks agree with single images."""

from __future__ import annotations

import numpy as np

from curate.scan.quality import STAT_KEYS, StatsAccumulator, image_stats, stack_stats


def test_known_values_of_simple_images():
    flat = image_stats(np.full((10, 10), 0.5, np.float32))
    assert flat["entropy"] == 0.0
    assert flat["p01"] == flat["p99"] == 127 / 255
    assert flat["sharpness"] == 0.0  # no contrast: no sharpness, and no division by zero

    halves = np.zeros((10, 10), np.float32)
    halves[:, 5:] = 1.0
    two = image_stats(halves)
    assert two["entropy"] == 1.0  # two equally likely levels: one bit
    assert two["p01"] == 0.0 and two["p99"] == 1.0
    assert (two["width"], two["height"]) == (10.0, 10.0)
    assert two["sharpness"] > 0


def test_accumulator_matches_one_image_at_a_time_across_mixed_shapes():
    rng = np.random.default_rng(0)
    shapes = [(28, 28), (8, 8), (2, 5), (1, 1), (64, 32), (28, 28), (8, 8)]
    images = [rng.random(s).astype(np.float32) for s in shapes * 3]
    images[3] = np.zeros((28, 28), np.float32)  # blank
    # a tiny budget forces several flushes, each mixing shapes
    acc = StatsAccumulator(len(images), budget_pixels=900)
    for row, gray in enumerate(images):
        acc.add(row, gray)
    together = acc.result()
    alone = np.array([stack_stats(g[None])[0] for g in images])
    np.testing.assert_allclose(together, alone, rtol=1e-6, atol=1e-9)
    assert together.shape == (len(images), len(STAT_KEYS))
    # rows keep their order: widths and heights read back per image
    assert [tuple(r[:2]) for r in together] == [
        (float(g.shape[1]), float(g.shape[0])) for g in images
    ]


def test_scores_of_the_worst_images_are_zero_not_minus_zero():
    """A clipped negative was -0.0: shown as "-0" in `curate issues` and stored so."""
    from curate.scan.quality import quality_scores

    rng = np.random.default_rng(1)
    images = [rng.random((16, 16)).astype(np.float32) for _ in range(6)]
    images += [np.zeros((16, 16), np.float32), np.ones((16, 16), np.float32)]  # black, white
    overall, per_check = quality_scores(np.array([stack_stats(g[None])[0] for g in images]))
    assert (overall[-2:] == 0).all()
    assert not np.signbit(overall).any() and not np.signbit(per_check).any()
