"""Label-free feature maps and the small classifier heads trained on them.

Feature maps (pixels + PCA, Coates-Ng patch k-means) are fitted on the
images without labels, so fitting them once on every image and then running
only the heads inside K-fold keeps the predictions out-of-sample while the
expensive part runs once. Heads are a multinomial logistic regression
(L-BFGS, L2) and a cosine kNN vote.

Imports torch: only the scan engine and the classifier API import this module.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from curate.core.progress import CancelFn, ProgressFn, check_cancel, no_progress

# -- image tensors -------------------------------------------------------------


def to_tensor(
    images: np.ndarray,
    *,
    size: tuple[int, int] | None = None,
    channels: int | None = None,
    device: str = "cpu",
) -> torch.Tensor:
    """uint8 (N, H, W[, C]) -> float (N, C, H, W) in [0, 1], resized to ``size`` = (w, h)."""
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4:
        raise ValueError(f"images must be (N, H, W[, C]), got shape {arr.shape}")
    x = torch.from_numpy(np.ascontiguousarray(arr)).to(device).permute(0, 3, 1, 2).float() / 255.0
    if x.shape[1] == 4:  # drop alpha
        x = x[:, :3]
    if channels is not None and x.shape[1] != channels:
        if channels == 1:
            weights = torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
            x = (x * weights).sum(1, keepdim=True)
        else:
            x = x.expand(-1, channels, -1, -1)
    if size is not None and (x.shape[3], x.shape[2]) != tuple(size):
        w, h = size
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    return x.contiguous()


def _batches(n: int, size: int):
    for start in range(0, n, size):
        yield start, min(start + size, n)


def pca_fit(x: torch.Tensor, n_components: int, *, seed: int, max_rows: int = 20000):
    """(mean, components (D, k)) of ``x`` (N, D); fitted on at most ``max_rows`` rows."""
    g = torch.Generator().manual_seed(seed)
    if x.shape[0] > max_rows:
        x = x[torch.randperm(x.shape[0], generator=g)[:max_rows].to(x.device)]
    mean = x.mean(0)
    k = max(1, min(n_components, x.shape[0] - 1, x.shape[1]))
    centered = (x - mean).double()
    # Exact SVD of the (D, D) covariance: D is small (pixels of a thumbnail,
    # patch-feature dims), and it is deterministic, unlike randomized SVD.
    cov = centered.T @ centered / max(1, centered.shape[0] - 1)
    evals, evecs = torch.linalg.eigh(cov)
    order = torch.argsort(evals, descending=True)[:k]
    return mean, evecs[:, order].float(), evals[order].clamp_min(0).float()


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


# -- feature maps ---------------------------------------------------------------


class FeatureMap:
    """Label-free features: ``fit`` on images (N, C, H, W float), then ``transform``."""

    dim: int

    def fit(self, x: torch.Tensor, *, seed: int) -> FeatureMap:
        raise NotImplementedError

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def fit_transform(self, x: torch.Tensor, *, seed: int, transform=None) -> torch.Tensor:
        """Fit on ``x``, then its features. ``transform(fmap)`` (optional) computes
        ``fmap.transform`` of every image elsewhere (an engine's workers)."""
        self.fit(x, seed=seed)
        return transform(self) if transform is not None else self.transform(x)


class PixelFeatures(FeatureMap):
    """Centered pixels projected on their principal components, plus four image statistics.

    The statistics (mean, contrast, edge energy, dark-pixel fraction) are scaled
    to the spread of the last kept component, so they inform the heads and the
    outlier scores without swamping the pixel geometry the kNN relies on.
    """

    def __init__(self, n_components: int = 48, with_stats: bool = True) -> None:
        self.n_components = n_components
        self.with_stats = with_stats

    @staticmethod
    def _stats(x: torch.Tensor) -> torch.Tensor:
        gray = x.mean(1)
        dx = gray[:, :, 1:] - gray[:, :, :-1]
        dy = gray[:, 1:, :] - gray[:, :-1, :]
        edge = dx.abs().mean((1, 2)) + dy.abs().mean((1, 2))
        dark = (gray < 0.2).float().mean((1, 2))
        return torch.stack([gray.mean((1, 2)), gray.std((1, 2)), edge, dark], dim=1)

    def fit(self, x: torch.Tensor, *, seed: int) -> PixelFeatures:
        flat = x.flatten(1)
        self.mean, self.components, evals = pca_fit(flat, self.n_components, seed=seed)
        self.dim = self.components.shape[1]
        if self.with_stats:
            s = self._stats(x)
            self.stat_mean = s.mean(0)
            self.stat_std = s.std(0).clamp_min(1e-6) if s.shape[0] > 1 else torch.ones(4)
            self.stat_scale = float(evals[-1].sqrt()) if evals.numel() else 1.0
            self.dim += 4
        return self

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        out = (x.flatten(1) - self.mean.to(x.device)) @ self.components.to(x.device)
        if self.with_stats:
            s = (self._stats(x) - self.stat_mean.to(x.device)) / self.stat_std.to(x.device)
            out = torch.cat([out, s * self.stat_scale], dim=1)
        return out


class PatchFeatures(FeatureMap):
    """Single-layer k-means patch features (Coates, Lee & Ng 2011).

    Normalized, ZCA-whitened p x p patches are encoded against K centroids with
    the "triangle" activation and average-pooled over a grid of regions. No
    labels are involved; a linear head on top is a strong, cheap classifier
    for small images.
    """

    def __init__(
        self,
        n_centroids: int = 128,
        patch: int = 5,
        pool: int = 2,
        kmeans_iters: int = 10,
        sample_patches: int = 50000,
        batch_size: int = 256,
        stride: int | None = None,
        max_grid: int = 12,
    ) -> None:
        self.k = n_centroids
        self.stride = stride
        self.max_grid = max_grid
        self.p = patch
        self.pool = pool
        self.iters = kmeans_iters
        self.sample_patches = sample_patches
        self.batch_size = batch_size

    def _patches(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, C*p*p) brightness/contrast-normalized patches (fit only: small samples)."""
        b, c = x.shape[:2]
        p, st = self.p, self.stride
        pt = x.unfold(2, p, st).unfold(3, p, st)  # (B, C, oh, ow, p, p), a view
        pt = pt.permute(0, 2, 3, 1, 4, 5).reshape(b, -1, c * p * p)
        return (pt - pt.mean(2, keepdim=True)) / (pt.std(2, keepdim=True) + 0.1)

    def fit(self, x: torch.Tensor, *, seed: int) -> PatchFeatures:
        self._fit_codebook(x, seed=seed)
        self._normalize_with(self.transform(x))
        return self

    def fit_transform(self, x: torch.Tensor, *, seed: int, transform=None) -> torch.Tensor:
        """One pass over the images instead of two: the raw features that give the
        normalisation are the features, normalised (the same floats as ``fit`` then
        ``transform``: the normalisation is elementwise)."""
        self._fit_codebook(x, seed=seed)
        raw = transform(self) if transform is not None else self.transform(x)
        self._normalize_with(raw)
        return (raw - self.fmean.to(raw.device)) / self.fstd.to(raw.device)

    def _normalize_with(self, raw: torch.Tensor) -> None:
        self.fmean = raw.mean(0)
        self.fstd = raw.std(0).clamp_min(1e-6) if raw.shape[0] > 1 else torch.ones_like(self.fmean)

    def _fit_codebook(self, x: torch.Tensor, *, seed: int) -> None:
        """Whitening and centroids from a sample of patches; features stay raw
        (``fmean`` None) until :meth:`_normalize_with`."""
        if min(x.shape[2], x.shape[3]) < self.p:
            raise ValueError(f"images smaller than the {self.p}x{self.p} patch")
        if self.stride is None:
            # Keep the grid of patch positions at most max_grid x max_grid: the
            # cost per image stays flat as images grow (28 px -> stride 2).
            positions = max(x.shape[2], x.shape[3]) - self.p + 1
            self.stride = max(1, math.ceil(positions / self.max_grid))
        g = torch.Generator().manual_seed(seed)
        n = x.shape[0]
        pick = torch.randperm(n, generator=g)[: min(n, 4000)].to(x.device)
        pts = self._patches(x[pick]).reshape(-1, x.shape[1] * self.p * self.p)
        sel = torch.randperm(pts.shape[0], generator=g)[: self.sample_patches].to(x.device)
        pts = pts[sel].double()
        pmean = pts.mean(0)
        d = pts.shape[1]
        cov = torch.cov((pts - pmean).T) if pts.shape[0] > 1 else torch.eye(d, dtype=pts.dtype)
        evals, evecs = torch.linalg.eigh(cov.to(pts.device))
        zca = evecs @ torch.diag(1.0 / torch.sqrt(evals.clamp_min(0) + 0.1)) @ evecs.T
        self.pmean, self.zca = pmean.float(), zca.float()
        white = (pts.float() - self.pmean) @ self.zca
        k = min(self.k, white.shape[0])
        centroids = white[torch.randperm(white.shape[0], generator=g)[:k].to(x.device)].clone()
        for _ in range(self.iters):
            assign = torch.cdist(white, centroids).argmin(1)
            sums = torch.zeros_like(centroids).index_add_(0, assign, white)
            counts = torch.bincount(assign, minlength=k).float().unsqueeze(1)
            moved = counts.squeeze(1) > 0
            centroids[moved] = sums[moved] / counts[moved]
        self.centroids = centroids
        self.dim = k * self.pool * self.pool
        self._build_filters(x.shape[1])
        self.fmean = None

    def _build_filters(self, channels: int) -> None:
        """Fold normalisation, whitening and the centroid dot products into conv filters.

        For a patch P (d values): z = (P - mu) / (sigma + 0.1) - m and the whitened
        patch is z @ W. Then z @ W @ c = (P.(Wc) - mu * sum(Wc)) / (sigma + 0.1) - m.(Wc),
        and ||z @ W||^2 comes from the same form with the columns of W: every term
        is a convolution of the image, which is far faster than unfolding patches.
        """
        p = self.p
        wc = self.zca @ self.centroids.T  # (d, K)
        filters = torch.cat([self.zca, wc], dim=1)  # (d, d + K): columns of W, then Wc
        self.filters = filters.T.reshape(-1, channels, p, p).contiguous()
        self.filter_sums = filters.sum(0)
        self.filter_offsets = self.pmean @ filters
        self.centroid_sq = (self.centroids**2).sum(1)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        out = []
        d = x.shape[1] * self.p * self.p
        dev = x.device
        filters, sums, offsets = (
            t.to(dev) for t in (self.filters, self.filter_sums, self.filter_offsets)
        )
        csq = self.centroid_sq.to(dev)
        ones = torch.ones(1, x.shape[1], self.p, self.p, device=dev)
        st = self.stride
        for start, stop in _batches(x.shape[0], self.batch_size):
            xb = x[start:stop]
            s1 = F.conv2d(xb, ones, stride=st)  # sum of the patch
            s2 = F.conv2d(xb * xb, ones, stride=st)  # sum of squares
            mu = s1.div_(d)
            denom = s2.sub_(d * mu * mu).div_(max(1, d - 1)).clamp_min_(0).sqrt_().add_(0.1)
            proj = F.conv2d(xb, filters, stride=st).sub_(mu * sums.view(1, -1, 1, 1))
            proj = proj.div_(denom).sub_(offsets.view(1, -1, 1, 1))
            white, dots = proj[:, :d], proj[:, d:]
            sq = (white * white).sum(1, keepdim=True)
            # In place: these are the big (B, K, grid, grid) tensors.
            dist = dots.mul_(-2).add_(sq).add_(csq.view(1, -1, 1, 1)).clamp_min_(0).sqrt_()
            act = dist.sub_(dist.mean(1, keepdim=True)).neg_().relu_()  # triangle: mean - dist
            out.append(F.adaptive_avg_pool2d(act, self.pool).flatten(1))
        feats = torch.cat(out) if out else torch.zeros(0, self.dim, device=dev)
        if self.fmean is not None:
            feats = (feats - self.fmean.to(dev)) / self.fstd.to(dev)
        return feats


# -- heads ------------------------------------------------------------------------


class Head:
    #: True for heads that fit several folds as one problem, with
    #: ``fit_folds(x, labels, folds, n_classes) -> list[Head]`` (``folds[k]``: the
    #: rows of ``x`` fold k trains on; see :class:`LogRegHead`). Other heads are
    #: fitted fold by fold (:func:`fold_groups`).
    joint_folds = False

    def fit(self, feats: torch.Tensor, labels: torch.Tensor, n_classes: int) -> Head:
        raise NotImplementedError

    def predict_proba(self, feats: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class LogRegHead(Head):
    """Multinomial logistic regression, full-batch L-BFGS with an L2 penalty.

    A strong penalty (``l2``) keeps it from memorising noisy labels, which is
    what confident learning needs from out-of-sample probabilities.

    The folds of a cross-validation are fitted together (:meth:`fit_folds`):
    their objectives are independent, so the sum has the same minimum for each
    fold's weights, and since the folds share most of their rows, their
    curvatures are alike and L-BFGS needs about as many steps for all of them
    as for one (measured on 10,000 digits: 106-135 evaluations for five folds
    together against ~106 per fold). Each step is one matrix product of the
    rows with every fold's weights: a quarter of the CPU time, and a fifth of
    the kernel launches on a GPU, where the small per-fold steps were
    launch-bound.
    """

    joint_folds = True

    def __init__(self, l2: float = 0.01, max_iter: int = 100) -> None:
        self.l2 = l2
        self.max_iter = max_iter

    def fit(self, feats: torch.Tensor, labels: torch.Tensor, n_classes: int) -> LogRegHead:
        (head,) = self.fit_folds(feats, labels, [np.arange(feats.shape[0])], n_classes)
        return head

    def fit_folds(
        self, x: torch.Tensor, labels: torch.Tensor, folds: Sequence[np.ndarray], n_classes: int
    ) -> list[LogRegHead]:
        n, d = x.shape
        k = len(folds)
        dev = x.device
        # weight[i, j]: row i's share of fold j's mean loss (0 where j does not train on i).
        weight = torch.zeros(n, k, device=dev)
        means, stds = [], []
        for j, rows in enumerate(folds):
            index = torch.as_tensor(np.asarray(rows), dtype=torch.long, device=dev)
            part = x[index]
            means.append(part.mean(0))
            stds.append(part.std(0).clamp_min(1e-6) if len(rows) > 1 else torch.ones(d, device=dev))
            weight[index, j] = 1.0 / len(rows)
        mean, std = torch.stack(means), torch.stack(stds)  # (k, d): each fold standardises alone
        scaled_mean = mean / std
        target = labels.to(dev).long().view(n, 1, 1).expand(n, k, 1)
        w = torch.zeros(k, d, n_classes, device=dev, requires_grad=True)
        b = torch.zeros(k, n_classes, device=dev, requires_grad=True)
        opt = torch.optim.LBFGS(
            [w, b], lr=1, max_iter=self.max_iter, history_size=10, line_search_fn="strong_wolfe"
        )

        def closure():
            opt.zero_grad()
            # ((x - mean) / std) @ w + b for every fold from one product of x: the
            # standardisation is folded into the weights and the bias.
            # (A plain matrix product and logsumexp: 25% less time per step on CPU than
            # einsum and log_softmax over a last axis of n_classes.)
            v = (w / std[:, :, None]).permute(1, 0, 2).reshape(d, k * n_classes)
            logits = (x @ v).view(n, k, n_classes)
            logits = logits + (b - torch.einsum("kd,kdc->kc", scaled_mean, w))
            nll = logits.logsumexp(2) - logits.gather(2, target).squeeze(2)  # (n, k)
            loss = (nll * weight).sum() + self.l2 * (w * w).sum()
            loss.backward()
            return loss

        with torch.enable_grad():
            opt.step(closure)
        heads = []
        for j in range(k):
            head = LogRegHead(self.l2, self.max_iter)
            head.mean, head.std = mean[j], std[j]
            head.w, head.b = w[j].detach().clone(), b[j].detach().clone()
            heads.append(head)
        return heads

    def predict_proba(self, feats: torch.Tensor) -> torch.Tensor:
        z = (feats - self.mean.to(feats.device)) / self.std.to(feats.device)
        return F.softmax(z @ self.w.to(feats.device) + self.b.to(feats.device), dim=1)


class KNNHead(Head):
    """Distance-weighted vote of the k nearest training samples (cosine distance)."""

    def __init__(self, k: int = 10, smoothing: float = 1e-3, chunk: int = 1024) -> None:
        self.k = k
        self.smoothing = smoothing
        self.chunk = chunk

    def fit(self, feats: torch.Tensor, labels: torch.Tensor, n_classes: int) -> KNNHead:
        self.train = l2_normalize(feats)
        self.labels = labels
        self.n_classes = n_classes
        return self

    def predict_proba(
        self, feats: torch.Tensor, *, exclude: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``exclude`` (optional): the training row index of each query, left out of its vote."""
        q = l2_normalize(feats)
        train = self.train.to(q.device)
        labels = self.labels.to(q.device)
        k = min(self.k, train.shape[0] - (1 if exclude is not None else 0))
        out = torch.zeros(q.shape[0], self.n_classes, device=q.device)
        if k <= 0:
            return out.fill_(1.0 / self.n_classes)
        for start, stop in _batches(q.shape[0], self.chunk):
            sim = q[start:stop] @ train.T
            if exclude is not None:
                sim[torch.arange(stop - start, device=q.device), exclude[start:stop]] = -math.inf
            top, idx = sim.topk(k, dim=1)
            dist = (2 - 2 * top).clamp_min(0).sqrt()
            weight = 1.0 / (dist + 1e-3)
            out[start:stop].scatter_add_(1, labels[idx], weight)
        out = out / out.sum(1, keepdim=True).clamp_min(1e-12)
        return (out + self.smoothing) / (1 + self.smoothing * self.n_classes)


HEADS = {"logreg": LogRegHead, "knn": KNNHead}


def make_head(name: str, **kwargs) -> Head:
    return HEADS[name](**kwargs)


# -- cross-validation ---------------------------------------------------------------


def stratified_folds(
    labels: np.ndarray, folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs over ``labels`` (all >= 0)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    counts = np.bincount(labels)
    if counts.max() < folds:
        # Every class is smaller than the number of folds: stratifying is
        # impossible, plain shuffled folds still keep predictions out-of-sample.
        splitter = KFold(folds, shuffle=True, random_state=seed)
    else:
        # Classes with fewer members than folds: sklearn warns and still
        # stratifies the others, which is what we want.
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return list(splitter.split(np.zeros(len(labels)), labels))


def subsample_rows(
    rows: np.ndarray, labels: np.ndarray, limit: int | None, seed: int
) -> np.ndarray:
    """At most ``limit`` of ``rows`` (sorted), each class keeping its share; all when fewer.

    ``labels[i]`` is the class of ``rows[i]``. Every class present keeps at
    least one row, so a head never loses a class because of the subset.
    """
    if limit is None or len(rows) <= limit:
        return rows
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.maximum(1, np.floor(counts * limit / len(rows)).astype(np.int64))
    picked = []
    for c, q in zip(classes, quota, strict=True):
        members = rows[labels == c]
        picked.append(members if q >= len(members) else rng.choice(members, q, replace=False))
    return np.sort(np.concatenate(picked))


def _fold_training_rows(
    labeled: np.ndarray, tr: np.ndarray, labels: np.ndarray, max_train: int | None, seed: int
) -> np.ndarray:
    rows = labeled[tr]
    return subsample_rows(rows, labels[rows], max_train, seed)


def fold_groups(factory, training: Sequence[np.ndarray]) -> list[list[int]]:
    """Which folds' heads are fitted together: one task each (indices into ``training``).

    Heads that fit folds jointly (:attr:`Head.joint_folds`) get every fold in
    one group while the folds overlap: a joint step evaluates every fold on the
    union of their rows, 1.25x a fold's rows in 5-fold cross-validation. With
    subsampled folds (``max_train``) the union grows towards folds x
    ``max_train`` rows, and fold by fold costs less. Other heads: one fold per
    group. The grouping depends on the rows alone, so every engine and the
    streaming path fit the same groups and get the same floats.
    """
    if not training:
        return []
    if factory().joint_folds and len(training) > 1:
        union = len(np.unique(np.concatenate(training)))
        if union <= 2 * max(len(rows) for rows in training):
            return [list(range(len(training)))]
    return [[i] for i in range(len(training))]


def gather_folds(training: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """(the rows any fold trains on, sorted; each fold's rows as positions in them)."""
    union = np.unique(np.concatenate(training))
    return union, [np.searchsorted(union, rows) for rows in training]


def cross_val_heads(
    features: Sequence[torch.Tensor],
    head_factories: Sequence,
    labels: np.ndarray,
    *,
    n_classes: int,
    folds: int,
    seed: int,
    max_train: int | None = None,
    progress: ProgressFn = no_progress,
    cancel: CancelFn | None = None,
    engine=None,
) -> np.ndarray:
    """Out-of-sample probabilities of the labeled rows, averaged over heads.

    ``features[i]`` feeds ``head_factories[i]()``; ``labels`` has -1 for
    unlabeled rows, whose probabilities come from heads trained on all the
    labeled rows. ``max_train``: each head trains on at most that many rows
    (:func:`subsample_rows`); every row is still predicted. Each group of
    folds of one head (:func:`fold_groups`) is one task
    (:func:`curate.scan.batches.fold_group_probs`), on the ``engine``
    (:mod:`curate.engines`) when there is one: the same arithmetic everywhere.
    """
    from curate.scan.batches import fold_group_probs

    labeled = np.flatnonzero(labels >= 0)
    pp = np.zeros((len(labels), n_classes), dtype=np.float64)
    splits = stratified_folds(labels[labeled], folds, seed)
    jobs = [
        (_fold_training_rows(labeled, tr, labels, max_train, seed + i), labeled[te])
        for i, (tr, te) in enumerate(splits)
    ]
    unlabeled = np.flatnonzero(labels < 0)
    if len(unlabeled):
        tr_rows = subsample_rows(labeled, labels[labeled], max_train, seed + len(splits))
        jobs.append((tr_rows, unlabeled))
    training = [tr for tr, _ in jobs]
    tasks = [
        (h, group)
        for h, factory in enumerate(head_factories)
        for group in fold_groups(factory, training)
    ]
    context = (list(features), list(head_factories), labels, n_classes, jobs)
    if engine is None:
        results = (fold_group_probs(task, context) for task in tasks)
    else:
        results = engine.map(fold_group_probs, tasks, context=context)
    probs: dict[tuple[int, int], torch.Tensor] = {}  # (job, head) -> its probabilities
    for i, ((h, group), part) in enumerate(zip(tasks, results, strict=True)):
        for job, p in zip(group, part, strict=True):
            # Ray hands back read-only (zero-copy) arrays; torch warns on those
            probs[(job, h)] = torch.from_numpy(p if p.flags.writeable else p.copy())
        progress(i + 1, len(tasks), f"cross-validation: {i + 1}/{len(tasks)} fold groups")
        check_cancel(cancel)
    for job, (_, te_rows) in enumerate(jobs):
        acc = torch.zeros(len(te_rows), n_classes)
        for h in range(len(features)):
            acc += probs[(job, h)]
        pp[te_rows] = (acc / len(features)).numpy()
    return pp.astype(np.float32)


def cross_val_heads_streaming(
    features: Sequence,
    head_factories: Sequence,
    labels: np.ndarray,
    *,
    n_classes: int,
    folds: int,
    seed: int,
    max_train: int | None = None,
    device: str = "cpu",
    chunk_rows: int | None = None,
    progress: ProgressFn = no_progress,
    cancel: CancelFn | None = None,
    engine=None,
) -> np.ndarray:
    """:func:`cross_val_heads` over matrices read in chunks (:mod:`curate.scan.featurestore`).

    The same folds, training rows and heads; only the reading differs: the
    training rows of each group of folds (:func:`fold_groups`) are gathered
    from the matrix, then one pass over it predicts every row with the head of
    its fold. Memory: one group's training rows (at most ``max_train`` per
    fold, and a group's folds share most of theirs) plus one chunk, never the
    whole matrix. With an ``engine`` each group is fitted by a task
    (:func:`curate.scan.batches.fit_fold_heads`).
    """
    from curate.scan.batches import fit_fold_heads

    n = len(labels)
    labeled = np.flatnonzero(labels >= 0)
    splits = stratified_folds(labels[labeled], folds, seed)
    fold_of = np.full(n, -1, dtype=np.int64)
    training = []
    for i, (tr, te) in enumerate(splits):
        fold_of[labeled[te]] = i
        training.append(_fold_training_rows(labeled, tr, labels, max_train, seed + i))
    unlabeled = labels < 0
    if unlabeled.any():
        fold_of[unlabeled] = len(splits)
        training.append(subsample_rows(labeled, labels[labeled], max_train, seed + len(splits)))
    acc = np.zeros((n, n_classes), dtype=np.float64)
    groups_per_head = [fold_groups(factory, training) for factory in head_factories]
    steps = sum(len(g) for g in groups_per_head) + len(features)
    step = 0
    for feats, factory, groups in zip(features, head_factories, groups_per_head, strict=True):
        heads: list = [None] * len(training)

        def jobs(feats=feats, factory=factory, groups=groups):
            # Each group's training rows gathered from the matrix (one task each), as
            # cross_val_heads gathers them from the tensor: the same floats.
            for group in groups:
                rows, positions = gather_folds([training[f] for f in group])
                yield (factory, feats.take(rows), labels[rows], positions, n_classes, device)

        if engine is None:
            fitted = (fit_fold_heads(job, None) for job in jobs())
        else:
            fitted = engine.map(fit_fold_heads, jobs())
        for group, part in zip(groups, fitted, strict=True):
            for f, head in zip(group, part, strict=True):
                heads[f] = head
            check_cancel(cancel)
            step += 1
            progress(step, steps, f"cross-validation: folds {group[0] + 1}-{group[-1] + 1}")
        for start, block in feats.chunks(chunk_rows):
            check_cancel(cancel)
            stop = start + len(block)
            fo = fold_of[start:stop]
            x = torch.from_numpy(np.ascontiguousarray(block)).to(device)
            for f in np.unique(fo[fo >= 0]):
                sel = np.flatnonzero(fo == f)
                p = heads[f].predict_proba(x[torch.from_numpy(sel).to(device)])
                acc[start + sel] += p.float().cpu().numpy()
        step += 1
        progress(step, steps, "cross-validation: predicting")
    return (acc / len(features)).astype(np.float32)
