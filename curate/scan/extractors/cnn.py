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
    compile: bool = Field(
        default=False,
        description="torch.compile the network on CUDA (fuses BatchNorm/ReLU; ignored on CPU)",
    )


def _net(channels: int, n_classes: int, width: int, groups: int = 1):
    """``groups`` independent copies of a small CNN, packed as grouped convolutions.

    Why grouped: a 32x32 CNN this small is launch-bound on a GPU (a few ms per
    step whatever the batch), so training the K fold models one after another
    costs K times the steps. Packed as groups, copy g reads input channels
    [g*C, (g+1)*C) and owns its own filters, BatchNorm statistics and head, so
    one step trains all K models at once. With a summed loss each copy gets
    exactly its own gradient, and SGD's per-element update keeps them
    independent: the same K models, in 1/K of the launches.
    """
    import torch.nn as nn

    g = groups

    def block(cin, cout, pool):
        layers = [
            nn.Conv2d(g * cin, g * cout, 3, padding=1, bias=False, groups=g),
            nn.BatchNorm2d(g * cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(g * cout, g * cout, 3, padding=1, bias=False, groups=g),
            nn.BatchNorm2d(g * cout),
            nn.ReLU(inplace=True),
        ]
        if pool:
            layers.append(nn.MaxPool2d(2))
        return nn.Sequential(*layers)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.groups = g
            self.features = nn.Sequential(
                block(channels, width, True),
                block(width, 2 * width, True),
                block(2 * width, 2 * width, False),
                nn.AdaptiveAvgPool2d(1),
            )
            # one linear head per copy: a grouped 1x1 convolution
            self.head = nn.Conv2d(g * 2 * width, g * n_classes, 1, groups=g)

        def embed(self, x):
            """(B, g*C, H, W) -> (B, g, 2*width) penultimate features of each copy."""
            return self.features(x).view(x.shape[0], g, -1)

        def forward(self, x):
            """(B, g*C, H, W) -> (B, g, n_classes) logits of each copy."""
            return self.head(self.features(x)).view(x.shape[0], g, n_classes)

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

        return self._run(np.asarray(images), lambda x: torch.softmax(self.model(x)[:, 0], 1))

    def embed(self, images):
        from curate.scan.features import l2_normalize

        return self._run(np.asarray(images), lambda x: l2_normalize(self.model.embed(x)[:, 0]))


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

    def _train(self, x, y, train_rows, n_classes, device, seed, cancel, progress=no_progress):
        """Train one model per entry of ``train_rows`` (row indices into ``x``), all at once.

        Every model sees its own rows in its own order; a step feeds each its
        own batch, stacked along the channels (see :func:`_net`).
        """
        import torch
        import torch.nn.functional as F

        p = self.params
        groups = len(train_rows)
        torch.manual_seed(seed)
        model = _net(x.shape[1], n_classes, p.width, groups).to(device)
        forward = model
        if device == "cuda":
            model = model.to(memory_format=torch.channels_last)
            forward = torch.compile(model) if p.compile else model
        opt = torch.optim.SGD(
            model.parameters(),
            lr=p.lr,
            momentum=0.9,
            nesterov=True,
            weight_decay=p.weight_decay,
            foreach=True,
        )
        sizes = [len(rows) for rows in train_rows]
        # BatchNorm needs two samples; a model with fewer rows sees them repeated
        batch = max(2, min(p.batch_size, min(sizes)))
        steps_per_epoch = max(1, -(-max(sizes) // batch))
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, p.lr, total_steps=p.epochs * steps_per_epoch
        )
        g = torch.Generator(device="cpu").manual_seed(seed)
        span = steps_per_epoch * batch
        model.train()
        for epoch in range(p.epochs):
            check_cancel(cancel)
            progress(epoch, p.epochs, f"cnn: epoch {epoch + 1}/{p.epochs} ({groups} models)")
            # (groups, span): each model's rows in a fresh order, wrapped round so
            # that every model has a full batch at every step of the epoch
            order = torch.stack(
                [
                    rows[torch.randperm(len(rows), generator=g).to(device)].repeat(
                        -(-span // len(rows))
                    )[:span]
                    for rows in train_rows
                ]
            )
            for s in range(0, span, batch):
                idx = order[:, s : s + batch].T  # (batch, groups)
                xb = x[idx].flatten(1, 2)  # (batch, groups * C, H, W)
                yb = y[idx]  # (batch, groups)
                if p.translate:
                    dx, dy = torch.randint(
                        -p.translate, p.translate + 1, (2,), generator=g
                    ).tolist()
                    xb = torch.roll(xb, shifts=(dy, dx), dims=(2, 3))
                if p.flip and torch.rand(1, generator=g).item() < 0.5:
                    xb = xb.flip(3)
                if device == "cuda":
                    xb = xb.contiguous(memory_format=torch.channels_last)
                with torch.autocast(
                    device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"
                ):
                    logits = forward(xb)
                # the sum over models of each model's mean loss: each gets its own gradient
                loss = groups * F.cross_entropy(
                    logits.reshape(-1, n_classes).float(),
                    yb.reshape(-1),
                    label_smoothing=p.label_smoothing,
                )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
        model.eval()
        return model

    def _prepare(self, images, device):
        import torch

        from curate.scan.features import to_tensor

        size = self.input_size((images.shape[2], images.shape[1]))
        x = to_tensor(images, size=size, device=device)
        mean, std = x.mean(), x.std().clamp_min(1e-6)
        x = (x - mean) / std
        if device == "cuda":  # the layout cuDNN's tensor-core convolutions want
            x = x.contiguous(memory_format=torch.channels_last)
        return x, size, mean, std

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

        if splits:
            check_cancel(cancel)
            rows_tr = [torch.from_numpy(labeled[tr]).to(dev) for tr, _ in splits]
            model = self._train(
                x, y_all, rows_tr, request.n_classes, dev, request.seed, cancel, progress
            )
            groups = len(splits)
            probs, feats = [], []
            with (
                torch.no_grad(),
                torch.autocast(device_type=dev, dtype=torch.bfloat16, enabled=dev == "cuda"),
            ):
                # every image through every fold model at once (its input repeated per group)
                for s in range(0, n, 2048):
                    xb = x[s : s + 2048].repeat(1, groups, 1, 1)
                    if dev == "cuda":
                        xb = xb.contiguous(memory_format=torch.channels_last)
                    h = model.features(xb)
                    logits = model.head(h).view(len(xb), groups, -1)
                    probs.append(torch.softmax(logits.float(), 2).cpu())
                    feats.append(h.view(len(xb), groups, -1).float().cpu())
            probs_all = torch.cat(probs).numpy()  # (n, folds, classes)
            for f, (_, te) in enumerate(splits):
                pred[labeled[te]] = probs_all[labeled[te], f]
            if len(unl):
                pred[unl] = probs_all[unl].mean(1)
            # each fold model's features normalised, then joined: one space for kNN
            embs = [l2_normalize(torch.cat(feats)[:, f]) for f in range(groups)]
        progress(self.params.epochs, self.params.epochs, "cnn: folds done")
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
        rows = torch.arange(len(y), device=device)
        model = self._train(x, y, [rows], n_classes, device, seed, cancel, progress)
        return CNNClassifier(
            model,
            n_classes=n_classes,
            size=size,
            channels=x.shape[1],
            mean=mean,
            std=std,
            device=device,
        )
