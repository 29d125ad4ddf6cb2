"""The classifier the quality gate scores generated images with: the scan's.

``curate.scan.classifier.train_classifier(images, labels, *, device, seed)``
gives ``predict_proba(images)`` (the target-class confidence) and
``embed(images)`` (the features of the FID-style distance). Trained here on
the same original training images the generator learns from, and kept in a
small in-process cache keyed by content, so repeated runs (the TUI, a
notebook) train it once.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Protocol

import numpy as np


class Classifier(Protocol):
    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, C) -> (N, n_classes) probabilities."""
        ...

    def embed(self, images: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, C) -> (N, D) float features."""
        ...


CLASSIFIER_NAME = "scan.classifier"
_CACHE: OrderedDict[str, Classifier] = OrderedDict()
_CACHE_SIZE = 4


def train_gate_classifier(
    images: np.ndarray, labels: np.ndarray, *, device: str = "cpu", seed: int = 0
) -> Classifier:
    """A classifier over ``labels`` (indices 0..K-1); the same inputs give the cached one."""
    from curate.scan.classifier import train_classifier

    h = hashlib.sha256()
    h.update(repr((images.shape, device, seed)).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    h.update(np.asarray(labels, dtype=np.int64).tobytes())
    key = h.hexdigest()
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    n_classes = int(np.max(labels)) + 1 if len(labels) else 1
    clf = train_classifier(images, labels, n_classes=n_classes, device=device, seed=seed)
    _CACHE[key] = clf
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return clf
