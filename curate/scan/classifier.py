"""A reusable image classifier: what a scan trains, for anyone who needs one.

The synthesis quality gate (and anything else) gets a classifier with

    from curate.scan.classifier import train_classifier
    clf = train_classifier(images_uint8_nhwc, labels, device="auto", seed=0)
    clf.predict_proba(new_images)   # (N, n_classes), columns = label indices
    clf.embed(new_images)           # (N, D) L2-normalised embeddings

or, from a workspace, trained on its live labeled samples with the extractor
of the latest scan (samples that scan flagged as mislabelled left out):

    clf = ws.classifier()           # -> curate.scan.classifier.classifier_from_workspace
    clf.class_names                 # the class of each probability column

Images may be any size and 1 or 3 channels; the classifier resizes them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from curate.core.progress import CancelFn, ProgressFn, no_progress
from curate.errors import InvalidInput
from curate.plugins.extractor import Classifier, Extractor

DEFAULT_EXTRACTOR = "ensemble"


def resolve_device(device: str) -> str:
    """ "auto" -> "cuda" when torch sees a GPU, else "cpu"; "cuda" without one is an error."""
    device = str(getattr(device, "value", device))
    if device not in ("auto", "cpu", "cuda"):
        raise InvalidInput(f"unknown device {device!r}: use auto, cpu or cuda")
    if device == "cpu":
        return "cpu"
    import torch

    available = torch.cuda.is_available()
    if device == "cuda" and not available:
        raise InvalidInput(
            "--device cuda was asked for but torch sees no CUDA device",
            hint="use --device auto or cpu, or install a CUDA build of torch",
        )
    return "cuda" if available else "cpu"


def load_extractor(name: str | None, params: dict[str, Any] | None = None) -> Extractor:
    """The extractor plugin ``name`` (default: ``ensemble``) with validated options."""
    from curate.plugins.registry import load_plugin, parse_params

    name = name or DEFAULT_EXTRACTOR
    cls = load_plugin("curate.extractors", name)
    if not (isinstance(cls, type) and issubclass(cls, Extractor)):
        from curate.errors import PluginError

        raise PluginError(f"extractor plugin {name!r} is not a curate Extractor subclass")
    return cls(parse_params(cls.Params, params or {}, where=name))


def thread_setting() -> int:
    """``CURATE_THREADS`` as a thread count (0 or empty: torch's own setting); default 1."""
    raw = os.environ.get("CURATE_THREADS", "1").strip() or "0"
    try:
        wanted = int(raw)
    except ValueError:
        wanted = -1
    if wanted < 0:
        raise InvalidInput(
            f"CURATE_THREADS must be a whole number >= 0, not {raw!r}",
            hint="0 keeps torch's own thread count; unset it for 1",
        )
    return wanted


@contextmanager
def torch_threads() -> Iterator[None]:
    """Run torch with ``CURATE_THREADS`` intra-op threads (default: 1).

    Why 1: the heads and the kNN work on small matrices, where OpenMP threads
    spin-waiting on a busy 2-core machine cost more than they give (measured:
    a logistic-regression step took 57 ms with 2 threads vs 6 ms with 1 while
    other jobs ran). Set CURATE_THREADS=0 to keep torch's own setting.
    """
    import torch

    wanted = thread_setting()
    old = torch.get_num_threads()
    if wanted > 0:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class FeatureClassifier(Classifier):
    """Feature map + heads (see :mod:`curate.scan.features`)."""

    def __init__(
        self,
        *,
        n_classes: int,
        heads: list[tuple[str, Any]],
        size: tuple[int, int],
        channels: int,
        fmap: Any,
        pca: tuple[Any, Any],
        device: str,
        batch_size: int = 2048,
    ) -> None:
        self.n_classes = n_classes
        self.heads = heads
        self.size = size
        self.channels = channels
        self.fmap = fmap
        self.pca = pca
        self.device = device
        self.batch_size = batch_size

    def _features(self, images: np.ndarray):
        from curate.scan.features import l2_normalize, to_tensor

        x = to_tensor(images, size=self.size, channels=self.channels, device=self.device)
        feats = self.fmap.transform(x)
        mean, comps = self.pca
        emb = l2_normalize((feats - mean.to(feats.device)) @ comps.to(feats.device))
        return feats, emb

    def _batched(self, images: np.ndarray, fn) -> np.ndarray:
        import torch

        images = np.asarray(images)
        outs = []
        with torch.no_grad():
            for start in range(0, len(images), self.batch_size):
                outs.append(fn(*self._features(images[start : start + self.batch_size])))
        if not outs:
            return np.zeros((0, 0), dtype=np.float32)
        return np.concatenate(outs).astype(np.float32)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        def fn(feats, emb):
            acc = 0
            for which, head in self.heads:
                acc = acc + head.predict_proba(feats if which == "features" else emb)
            return (acc / len(self.heads)).cpu().numpy()

        out = self._batched(images, fn)
        return out.reshape(-1, self.n_classes)

    def embed(self, images: np.ndarray) -> np.ndarray:
        return self._batched(images, lambda feats, emb: emb.cpu().numpy())


class EnsembleClassifier(Classifier):
    """Weighted average of member classifiers; embeddings concatenated."""

    def __init__(
        self, members: list[Classifier], weights: list[float], temperature: float = 1.0
    ) -> None:
        self.members = members
        self.weights = np.asarray(weights, dtype=np.float64) / float(np.sum(weights))
        self.temperature = temperature
        self.n_classes = members[0].n_classes

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        from curate.scan.extractors.ensemble import sharpen

        out = sum(
            w * m.predict_proba(images) for w, m in zip(self.weights, self.members, strict=True)
        )
        return sharpen(np.asarray(out, dtype=np.float64), self.temperature)

    def embed(self, images: np.ndarray) -> np.ndarray:
        parts = [m.embed(images) / np.sqrt(len(self.members)) for m in self.members]
        return np.concatenate(parts, axis=1).astype(np.float32)


def train_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    n_classes: int | None = None,
    extractor: str | Extractor | None = None,
    params: dict[str, Any] | None = None,
    device: str = "auto",
    seed: int = 0,
    progress: ProgressFn = no_progress,
    cancel: CancelFn | None = None,
) -> Classifier:
    """Train a classifier on uint8 images (N, H, W[, C]) and integer labels 0..K-1.

    ``extractor`` is a plugin name (default ``ensemble``) or an instance.
    """
    images = np.asarray(images)
    labels = np.asarray(labels).astype(np.int64)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.dtype != np.uint8:
        raise InvalidInput("images must be a uint8 array (N, H, W) or (N, H, W, C)")
    if len(images) != len(labels):
        raise InvalidInput(f"{len(images)} images but {len(labels)} labels")
    if len(labels) == 0:
        raise InvalidInput("no images to train on")
    if labels.min() < 0:
        raise InvalidInput("labels must be class indices >= 0")
    k = int(n_classes if n_classes is not None else labels.max() + 1)
    if labels.max() >= k:
        raise InvalidInput(f"label {labels.max()} is out of range for {k} classes")
    ext = extractor if isinstance(extractor, Extractor) else load_extractor(extractor, params)
    dev = resolve_device(device)
    _seed_everything(seed)
    with torch_threads():
        return ext.fit(
            images, labels, n_classes=k, device=dev, seed=seed, progress=progress, cancel=cancel
        )


def _seed_everything(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


def classifier_from_workspace(
    ws,
    *,
    exclude_label_issues: bool = True,
    extractor: str | None = None,
    device: str = "auto",
    seed: int | None = None,
    split: str | None = None,
    progress: ProgressFn = no_progress,
    cancel: CancelFn | None = None,
) -> Classifier:
    """Train on the workspace's live labeled samples (a few seconds for 10k small images).

    The extractor, its options and the seed default to those of the latest
    scan (else the default extractor and seed 0). With
    ``exclude_label_issues`` the samples that scan flagged as mislabelled are
    left out. ``class_ids`` / ``class_names`` name the probability columns.
    """
    from curate.store import findings_repo

    cat = ws.catalog()
    run_id = findings_repo.latest_run_id(cat)
    run = findings_repo.get_run(cat, run_id) if run_id is not None else None
    params: dict[str, Any] = {}
    if extractor is None and run is not None:
        extractor = run.config.get("extractor", {}).get("name")
        params = run.config.get("extractor", {}).get("params", {})
    if seed is None:
        seed = run.seed if run is not None and run.seed is not None else 0
    table = ws.samples(split=split)
    class_col = np.asarray(table.column("class_id").to_numpy(zero_copy_only=False), dtype=float)
    keep = ~np.isnan(class_col)
    if exclude_label_issues and run_id is not None:
        flagged = {
            r[0]
            for r in cat.rows(
                "SELECT sid FROM findings WHERE run_id = ? AND kind = 'label' AND is_issue",
                [run_id],
            )
        }
        sids = table.column("sid").to_pylist()
        keep &= np.array([s not in flagged for s in sids], dtype=bool)
    table = table.filter(keep)
    if table.num_rows == 0:
        raise InvalidInput("no labeled samples to train a classifier on")
    class_ids = sorted({int(c) for c in table.column("class_id").to_pylist()})
    if len(class_ids) < 2:
        raise InvalidInput("a classifier needs samples of at least two classes")
    index = {c: i for i, c in enumerate(class_ids)}
    labels = np.array([index[int(c)] for c in table.column("class_id").to_pylist()])
    ext = load_extractor(extractor, params)
    images = ws.load_pixels(table, size=ext.input_size(_common_size(table)))
    clf = train_classifier(
        images,
        labels,
        n_classes=len(class_ids),
        extractor=ext,
        device=device,
        seed=seed,
        progress=progress,
        cancel=cancel,
    )
    names = dict(ws.classes())
    clf.class_ids = class_ids
    clf.class_names = [names[c] for c in class_ids]
    return clf


def _common_size(table) -> tuple[int, int]:
    from collections import Counter

    pairs = zip(table.column("width").to_pylist(), table.column("height").to_pylist(), strict=True)
    return Counter(pairs).most_common(1)[0][0]
