"""``cnn``: a small ResNet-style CNN trained inside the K folds.

Each fold trains a fresh network on the other folds and predicts its own, so
every probability is out-of-sample. Embeddings are the concatenated
penultimate features of all fold models (one consistent space for kNN).
Uses CUDA when the request's device is "cuda" (bf16 autocast, channels-last);
on a CPU it is much slower than the default ``ensemble`` (see
docs/benchmarks.md), so it is opt-in there.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from curate.core.progress import CancelFn, ProgressFn, check_cancel, no_progress
from curate.plugins.extractor import (
    Classifier,
    Extraction,
    Extractor,
    ExtractorParams,
    ExtractRequest,
)


class CNNParams(ExtractorParams):
    epochs: int = Field(default=12, ge=1, description="training epochs per fold")
    width: int = Field(default=32, ge=4, description="channels of the first block")
    batch_size: int = Field(default=256, ge=8, description="training batch size")
    lr: float = Field(default=0.1, gt=0, description="peak learning rate (SGD, one-cycle)")
    weight_decay: float = Field(default=5e-4, ge=0, description="SGD weight decay")
    label_smoothing: float = Field(default=0.1, ge=0, lt=1, description="cross-entropy smoothing")
    translate: int = Field(default=2, ge=0, description="random shifts of up to this many pixels")
    flip: bool = Field(default=False, description="random horizontal flips (not for digits/text)")
    max_side: int = Field(default=32, ge=8, description="images are resized to at most this side")


def _net(channels: int, n_classes: int, width: int):
    import torch.nn as nn

    def block(cin, cout, pool):
        layers = [
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        ]
        if pool:
            layers.append(nn.MaxPool2d(2))
        return nn.Sequential(*layers)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                block(channels, width, True),
                block(width, 2 * width, True),
                block(2 * width, 2 * width, False),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
            )
            self.head = nn.Linear(2 * width, n_classes)

        def forward(self, x):
            return self.head(self.features(x))

    return Net()


class CNNClassifier(Classifier):
    def __init__(self, model, *, n_classes, size, channels, mean, std, device):
        self.model = model
        self.n_classes = n_classes
        self.size = size
        self.channels = channels
        self.mean, self.std = mean, std
        self.device = device

    def _run(self, images: np.ndarray, fn) -> np.ndarray:
        import torch

        from curate.scan.features import to_tensor

        out = []
        self.model.eval()
        with torch.no_grad():
            for s in range(0, len(images), 1024):
                x = to_tensor(
                    images[s : s + 1024], size=self.size, channels=self.channels, device=self.device
                )
                out.append(fn((x - self.mean) / self.std).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.n_classes), np.float32)

    def predict_proba(self, images):
        import torch

        return self._run(np.asarray(images), lambda x: torch.softmax(self.model(x), 1))

    def embed(self, images):
        from curate.scan.features import l2_normalize

        return self._run(np.asarray(images), lambda x: l2_normalize(self.model.features(x)))


class CNNExtractor(Extractor):
    name = "cnn"
    Params = CNNParams
    supports_cuda = True

    def input_size(self, common):
        w, h = common
        scale = min(1.0, self.params.max_side / max(w, h))
        w, h = max(1, round(w * scale)), max(1, round(h * scale))
        if min(w, h) < 16:  # three blocks, two poolings: keep a few pixels at the end
            up = 16 / min(w, h)
            w, h = round(w * up), round(h * up)
        return w, h

    def _train(self, x, y, n_classes, device, seed, cancel):
        import torch
        import torch.nn.functional as F

        p = self.params
        torch.manual_seed(seed)
        model = _net(x.shape[1], n_classes, p.width).to(device)
        if device == "cuda":
            model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(
            model.parameters(), lr=p.lr, momentum=0.9, nesterov=True, weight_decay=p.weight_decay
        )
        steps_per_epoch = max(1, -(-len(y) // p.batch_size))
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, p.lr, total_steps=p.epochs * steps_per_epoch
        )
        g = torch.Generator(device="cpu").manual_seed(seed)
        model.train()
        for _ in range(p.epochs):
            check_cancel(cancel)
            perm = torch.randperm(len(y), generator=g).to(device)
            for s in range(0, len(y), p.batch_size):
                idx = perm[s : s + p.batch_size]
                if len(idx) < 2:
                    continue  # BatchNorm needs two samples
                xb, yb = x[idx], y[idx]
                if p.translate:
                    dx, dy = torch.randint(
                        -p.translate, p.translate + 1, (2,), generator=g
                    ).tolist()
                    xb = torch.roll(xb, shifts=(dy, dx), dims=(2, 3))
                if p.flip and torch.rand(1, generator=g).item() < 0.5:
                    xb = xb.flip(3)
                with torch.autocast(
                    device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"
                ):
                    loss = F.cross_entropy(model(xb), yb, label_smoothing=p.label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
        model.eval()
        return model

    def _prepare(self, images, device):
        from curate.scan.features import to_tensor

        size = self.input_size((images.shape[2], images.shape[1]))
        x = to_tensor(images, size=size, device=device)
        mean, std = x.mean(), x.std().clamp_min(1e-6)
        return (x - mean) / std, size, mean, std

    def run(
        self,
        request: ExtractRequest,
        *,
        progress: ProgressFn = no_progress,
        cancel: CancelFn | None = None,
    ) -> Extraction:
        import torch

        from curate.scan.features import l2_normalize, stratified_folds

        dev = request.device
        x, _, _, _ = self._prepare(request.images, dev)
        labels = request.labels
        labeled = np.flatnonzero(labels >= 0)
        n = len(labels)
        pred = np.zeros((n, request.n_classes), np.float32)
        unl = np.flatnonzero(labels < 0)
        embs = []
        splits = (
            stratified_folds(labels[labeled], request.folds, request.seed) if len(labeled) else []
        )
        y_all = torch.from_numpy(labels).long().to(dev)

        def infer(model, rows, fn):
            out = []
            with (
                torch.no_grad(),
                torch.autocast(device_type=dev, dtype=torch.bfloat16, enabled=dev == "cuda"),
            ):
                for s in range(0, len(rows), 2048):
                    out.append(fn(model, x[rows[s : s + 2048]]).float().cpu())
            return torch.cat(out) if out else torch.zeros(0)

        for f, (tr, te) in enumerate(splits):
            progress(f, len(splits), f"cnn: training fold {f + 1}/{len(splits)}")
            rows_tr = torch.from_numpy(labeled[tr]).to(dev)
            model = self._train(
                x[rows_tr], y_all[rows_tr], request.n_classes, dev, request.seed + f, cancel
            )
            pred[labeled[te]] = infer(
                model, labeled[te], lambda m, b: torch.softmax(m(b), 1)
            ).numpy()
            if len(unl):
                pred[unl] += infer(model, unl, lambda m, b: torch.softmax(m(b), 1)).numpy() / len(
                    splits
                )
            embs.append(l2_normalize(infer(model, np.arange(n), lambda m, b: m.features(b))))
        progress(len(splits), len(splits), "cnn: folds done")
        if embs:
            emb = l2_normalize(torch.cat(embs, dim=1)).numpy()
        else:  # no labels: nothing to train, fall back to pixel features for kNN
            from curate.scan.extractors.pixels import PixelExtractor

            return PixelExtractor().run(request, progress=progress, cancel=cancel)
        return Extraction(
            embeddings=emb.astype(np.float32),
            pred_probs=pred if len(labeled) else None,
            info={"folds_trained": len(splits)},
        )

    def fit(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        n_classes: int,
        device: str,
        seed: int,
        progress: ProgressFn = no_progress,
        cancel: CancelFn | None = None,
    ) -> Classifier:
        import torch

        x, size, mean, std = self._prepare(images, device)
        y = torch.from_numpy(np.asarray(labels)).long().to(device)
        model = self._train(x, y, n_classes, device, seed, cancel)
        return CNNClassifier(
            model,
            n_classes=n_classes,
            size=size,
            channels=x.shape[1],
            mean=mean,
            std=std,
            device=device,
        )
