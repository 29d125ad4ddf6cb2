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


def build_model(config: ClassifierConfig, seed: int) -> MLPClassifier:
    return MLPClassifier(
        hidden_layer_sizes=(config.hidden,) * config.layers,
        activation="relu",
        solver="adam",
        alpha=config.l2,
        batch_size=config.batch_size,
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
    cancel: CancelFn | None = None,
) -> np.ndarray:
    """Train one model from ``seed`` and return its predicted class indices for ``x_test``."""
    model = build_model(config, seed)
    classes = np.arange(n_classes)
    y = np.asarray(y_train, dtype=np.int64)
    with threadpool_limits(limits=1):
        for epoch in range(config.epochs):
            check_cancel(cancel)
            model.partial_fit(x_train, y, classes=classes)
            on_epoch(epoch + 1)
        return model.predict(x_test).astype(np.int64)
