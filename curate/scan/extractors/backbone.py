"""``backbone``: a pretrained image model loaded from a local folder.

The folder holds safetensors weights in Hugging Face ``transformers`` layout
(``config.json`` with ``model_type`` + ``model.safetensors``) or ``timm``
layout (``config.json`` with ``architecture`` + ``model.safetensors``).
Nothing is ever downloaded: transformers is called with
``local_files_only=True`` and timm with ``pretrained=False`` plus the local
weights. The model's pooled features are the embeddings; logistic-regression
heads trained in K-fold give the out-of-sample predictions.

Needs ``pip install "curate[backbone]"`` (transformers) or timm.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from curate.errors import InvalidInput, MissingDependency
from curate.scan.extractors.base import FeatureExtractor, FeatureParams

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class BackboneParams(FeatureParams):
    path: str = Field(description="local folder with config.json and model.safetensors")
    library: Literal["auto", "transformers", "timm"] = Field(
        default="auto", description="weights layout; auto reads config.json"
    )
    image_size: int | None = Field(
        default=None, ge=8, description="input side (default: from the model's config, else 224)"
    )
    batch_size: int = Field(default=64, ge=1, description="images per forward pass")
    embedding_dim: int = Field(default=128, ge=2, description="PCA dimensions of the embeddings")


class BackboneFeatures:
    """Pooled features of a frozen pretrained model (``fit`` is a no-op)."""

    def __init__(self, model, *, mean, std, channels: int, batch_size: int, kind: str) -> None:
        self.model = model
        self.mean = mean
        self.std = std
        self.channels = channels
        self.batch_size = batch_size
        self.kind = kind

    def fit(self, x, *, seed: int):
        return self

    def transform(self, x):
        import torch

        out = []
        dev = next(self.model.parameters()).device
        mean = torch.tensor(self.mean, device=dev).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=dev).view(1, -1, 1, 1)
        with torch.no_grad():
            for s in range(0, x.shape[0], self.batch_size):
                xb = (x[s : s + self.batch_size].to(dev) - mean) / std
                out.append(self._pooled(xb).float())
        return torch.cat(out) if out else torch.zeros(0)

    def _pooled(self, xb):
        if self.kind == "timm":
            return self.model(xb).flatten(1)  # num_classes=0: pooled features
        outputs = self.model(pixel_values=xb)
        pooled = getattr(outputs, "pooler_output", None)
        if pooled is not None:
            return pooled.flatten(1)
        hidden = outputs.last_hidden_state
        return hidden.mean(1) if hidden.dim() == 3 else hidden.mean((2, 3))


class BackboneExtractor(FeatureExtractor):
    name = "backbone"
    Params = BackboneParams
    supports_cuda = True
    # The pretrained model runs in the driver (on its GPU when there is one): an
    # engine would have to ship it to every worker. The engine still decodes.
    supports_engine = False

    def __init__(self, params=None) -> None:
        super().__init__(params)
        self.folder = Path(self.params.path).expanduser()
        config_path = self.folder / "config.json"
        if not config_path.is_file():
            raise InvalidInput(f"backbone folder {self.folder} has no config.json")
        try:
            self.model_config = json.loads(config_path.read_text())
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{config_path} is not valid JSON: {exc}") from None
        lib = self.params.library
        if lib == "auto":
            lib = "timm" if "architecture" in self.model_config else "transformers"
        self.kind = lib
        self.side = self.params.image_size or self._config_side() or 224
        self.max_side = self.side
        self._model = None

    def _config_side(self) -> int | None:
        pre = self.folder / "preprocessor_config.json"
        if pre.is_file():
            size = json.loads(pre.read_text()).get("size")
            if isinstance(size, dict):
                return size.get("height") or size.get("shortest_edge")
            if isinstance(size, int):
                return size
        if self.kind == "timm":
            shape = self.model_config.get("pretrained_cfg", {}).get("input_size")
            return shape[-1] if shape else None
        side = self.model_config.get("image_size")
        return side if isinstance(side, int) else None

    def _norm(self) -> tuple[tuple, tuple]:
        pre = self.folder / "preprocessor_config.json"
        if pre.is_file():
            cfg = json.loads(pre.read_text())
            if "image_mean" in cfg and "image_std" in cfg:
                return tuple(cfg["image_mean"]), tuple(cfg["image_std"])
        if self.kind == "timm":
            pc = self.model_config.get("pretrained_cfg", {})
            return tuple(pc.get("mean", IMAGENET_MEAN)), tuple(pc.get("std", IMAGENET_STD))
        return IMAGENET_MEAN, IMAGENET_STD

    def input_size(self, common):
        return self.side, self.side

    def config(self):
        cfg = super().config()
        cfg["library"] = self.kind
        return cfg

    def _load(self, device: str):
        if self._model is not None:
            return self._model
        if self.kind == "transformers":
            try:
                from transformers import AutoModel
            except ImportError:
                raise MissingDependency(
                    "the backbone extractor needs transformers",
                    hint='pip install "curate[backbone]"',
                ) from None
            try:
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
                model = AutoModel.from_pretrained(str(self.folder), local_files_only=True)
            except (OSError, ValueError) as exc:
                raise InvalidInput(
                    f"cannot load a transformers model from {self.folder}: {exc}"
                ) from None
            channels = int(getattr(model.config, "num_channels", 3))
        else:
            try:
                import timm
                from safetensors.torch import load_file
            except ImportError:
                raise MissingDependency(
                    "the backbone extractor needs timm for this folder", hint="pip install timm"
                ) from None
            weights = self.folder / "model.safetensors"
            if not weights.is_file():
                raise InvalidInput(f"{self.folder} has no model.safetensors")
            model = timm.create_model(
                self.model_config["architecture"],
                pretrained=False,
                num_classes=0,
                **self.model_config.get("model_args", {}),
            )
            state = {
                k: v
                for k, v in load_file(str(weights)).items()
                if not k.startswith(("head.fc", "fc.", "classifier."))
            }
            model.load_state_dict(state, strict=False)
            channels = int(self.model_config.get("pretrained_cfg", {}).get("input_size", [3])[0])
        model.eval().to(device)
        mean, std = self._norm()
        self._model = BackboneFeatures(
            model,
            mean=mean[:channels],
            std=std[:channels],
            channels=channels,
            batch_size=self.params.batch_size,
            kind=self.kind,
        )
        return self._model

    def feature_map(self):
        raise NotImplementedError  # _featurize is overridden: the model streams batches

    def _featurize(self, images: np.ndarray, device: str, seed: int, common=None):
        import torch

        from curate.scan.features import l2_normalize, pca_fit, to_tensor

        fmap = self._load(device)
        size = (self.side, self.side)
        parts = []
        for s in range(0, len(images), 1024):
            x = to_tensor(images[s : s + 1024], size=size, channels=fmap.channels, device=device)
            parts.append(fmap.transform(x))
        feats = torch.cat(parts) if parts else torch.zeros(0, 1)
        mean, comps, _ = pca_fit(feats, self.params.embedding_dim, seed=seed)
        emb = l2_normalize((feats - mean) @ comps)
        state = {
            "size": size,
            "channels": fmap.channels,
            "fmap": fmap,
            "pca": (mean, comps),
            "batch_size": 256,
        }
        return feats, emb, state
