"""The fixed downstream classifier ``curate evaluate`` trains on every version.

scikit-learn's ``MLPClassifier`` on the pixels, trained one epoch per
``partial_fit`` call (so progress and cancel work between epochs) for a
fixed number of epochs with a fixed seed (weight init and batch order), no
early stopping and BLAS held to one thread: the same inputs give the same
numbers, and nothing oversubscribes shared cores. It is deliberately plain (no
class weights, no augmentation, no early stopping): whatever a version changes
in its training split is what moves the score. No torch: evaluating costs no
torch import.

Imports scikit-learn: only :mod:`curate.evaluate.engine` imports this module,
inside a function.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from curate.core.progress import CancelFn, check_cancel
from curate.evaluate.models import ClassifierConfig


def to_inputs(pixels: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, C) -> float32 (N, H*W*C) in [-0.5, 0.5]."""
    flat = pixels.reshape(len(pixels), -1).astype(np.float32)
    return flat / 255.0 - 0.5


def build_model(config: ClassifierConfig, seed: int, n_train: int | None = None) -> MLPClassifier:
    """``n_train``: the training split's size. A batch larger than it is cut to it
    here, as scikit-learn would anyway (the same numbers) but with a UserWarning on
    every epoch."""
    batch_size = config.batch_size if n_train is None else max(1, min(config.batch_size, n_train))
    return MLPClassifier(
        hidden_layer_sizes=(config.hidden,) * config.layers,
        activation="relu",
        solver="adam",
        alpha=config.l2,
        batch_size=batch_size,
        learning_rate_init=config.lr,
        shuffle=True,
        random_state=seed,
    )


def train_and_predict(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    n_classes: int,
    config: ClassifierConfig,
    seed: int,
    *,
    on_epoch: Callable[[int], None] = lambda epoch: None,
    on_warning: Callable[[str], None] = lambda message: None,
    cancel: CancelFn | None = None,
) -> np.ndarray:
    """Train one model from ``seed`` and return its predicted class indices for ``x_test``.

    What scikit-learn warns goes to ``on_warning`` (one call per warning, as
    "Category: message"), not to stderr: the caller says it once, as a note.
    """
    model = build_model(config, seed, n_train=len(x_train))
    classes = np.arange(n_classes)
    y = np.asarray(y_train, dtype=np.int64)
    # catch_warnings swaps the process-wide filters while it runs: a warning another
    # thread raises meanwhile lands here too (and is reported, not lost).
    with threadpool_limits(limits=1), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            for epoch in range(config.epochs):
                check_cancel(cancel)
                model.partial_fit(x_train, y, classes=classes)
                on_epoch(epoch + 1)
            return model.predict(x_test).astype(np.int64)
        finally:
            for w in caught:
                on_warning(f"{w.category.__name__}: {w.message}")
