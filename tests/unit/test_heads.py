"""The scan's classifier heads: folds of a logistic regression fitted as one problem."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from curate.scan.features import KNNHead, LogRegHead, fold_groups, gather_folds


def _data(n: int = 600, d: int = 16, classes: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centres = rng.normal(size=(classes, d)) * 1.5
    x = (centres[labels] + rng.normal(size=(n, d))).astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(labels).long()


def test_folds_fitted_together_match_folds_fitted_alone():
    x, y = _data()
    rng = np.random.default_rng(1)
    order = rng.permutation(len(y))
    folds = [np.sort(np.setdiff1d(order, part)) for part in np.array_split(order, 4)]
    head = LogRegHead(l2=0.01, max_iter=500)  # run to convergence: one optimum per fold
    together = head.fit_folds(x, y, folds, 4)
    assert len(together) == 4
    for rows, joint in zip(folds, together, strict=True):
        alone = LogRegHead(l2=0.01, max_iter=500).fit(x[rows], y[rows], 4)
        np.testing.assert_allclose(joint.mean, x[rows].mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            joint.predict_proba(x).numpy(), alone.predict_proba(x).numpy(), atol=2e-3
        )
    # Different folds learn different weights (each its own rows), and all of them classify.
    assert not torch.allclose(together[0].w, together[1].w)
    assert (together[0].predict_proba(x).argmax(1) == y).float().mean() > 0.9


def test_fold_groups_join_overlapping_folds_only():
    order = np.arange(1000)
    overlapping = [np.setdiff1d(order, part) for part in np.array_split(order, 5)]
    assert fold_groups(LogRegHead, overlapping) == [[0, 1, 2, 3, 4]]
    # Subsampled folds (max_train) barely overlap: fitted one by one.
    rng = np.random.default_rng(0)
    sparse = [np.sort(rng.choice(100_000, 1000, replace=False)) for _ in range(5)]
    assert fold_groups(LogRegHead, sparse) == [[0], [1], [2], [3], [4]]
    assert fold_groups(KNNHead, overlapping) == [[0], [1], [2], [3], [4]]
    assert fold_groups(LogRegHead, overlapping[:1]) == [[0]]


def test_gather_folds_gives_positions_in_the_union():
    union, positions = gather_folds([np.array([5, 9, 2]), np.array([9, 7])])
    assert union.tolist() == [2, 5, 7, 9]
    assert [union[p].tolist() for p in positions] == [[5, 9, 2], [9, 7]]


@pytest.mark.parametrize("n_rows", [1, 3])
def test_a_tiny_fold_still_fits(n_rows):
    x, y = _data(n=n_rows, seed=2)
    (head,) = LogRegHead().fit_folds(x, y, [np.arange(n_rows)], 4)
    probs = head.predict_proba(x)
    assert probs.shape == (n_rows, 4)
    np.testing.assert_allclose(probs.sum(1).numpy(), 1.0, atol=1e-5)
