"""A pretrained diffusers pipeline from a local directory, for users who have weights.

Nothing is downloaded: the folder must hold a pipeline saved with
``save_pretrained`` (``model_index.json`` plus components) in safetensors;
pickled weights are refused. Modes:

* ``img2img`` - e.g. Stable Diffusion image-to-image: each new image starts
  from a real image of the class (recorded as its parent) and a class prompt.
  A text-to-image pipeline is converted with ``AutoPipelineForImage2Image``.
* ``text2img`` - a prompt per class, no starting image.
* ``class`` - class-conditional pipelines such as DiT (``class_labels``).

``auto`` picks ``class`` when the pipeline takes class labels, else
``img2img`` when it can be converted, else ``text2img``. The pipeline makes
images at its own resolution; they are resized to the dataset's size and
colour mode. Its "checkpoint" is the content hash of the pipeline folder, so
the lineage still names exactly which weights made a sample.
"""

from __future__ import annotations

import hashlib
import inspect
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from curate.core.progress import CancelFn, ProgressFn, check_cancel, no_progress
from curate.errors import InvalidInput, MissingDependency, PluginError
from curate.plugins.generators import (
    FitReport,
    GeneratedBatch,
    Generator,
    GeneratorParams,
    TrainingSet,
    derive_seed,
    runtime_stage,
    sample_stage,
)
from curate_generators import _torch as T


class PipelineParams(GeneratorParams):
    path: str = Field(
        **runtime_stage(
            "local folder of a diffusers pipeline saved with save_pretrained (safetensors "
            "weights); checkpoints record its content hash, not where it lies"
        )
    )
    mode: Literal["auto", "img2img", "text2img", "class"] = Field(
        "auto",
        **sample_stage(
            "img2img: start from real images of the class; text2img: prompt only; "
            "class: class-label pipelines (DiT); auto: class, else img2img, else text2img"
        ),
    )
    prompt: str = Field(
        "a photo of a {class_name}",
        **sample_stage("prompt template (text modes); {class_name} is replaced"),
    )
    negative_prompt: str | None = Field(None, **sample_stage("negative prompt (text modes)"))
    class_map: dict[str, str] = Field(
        default_factory=dict,
        **sample_stage(
            "curate class -> the pipeline's name for it: the word in prompts, or the label "
            "(name or integer id) in class mode"
        ),
    )
    strength: float = Field(
        0.6, gt=0, le=1, **sample_stage("img2img: how far from the real image to go (0-1]")
    )
    num_inference_steps: int = Field(25, ge=1, **sample_stage("denoising steps"))
    guidance_scale: float = Field(7.5, ge=1.0, **sample_stage("classifier-free guidance weight"))
    batch_size: int = Field(8, ge=1, **sample_stage("images per pipeline call"))
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", **runtime_stage("weights dtype: auto = bfloat16 on CUDA, float32 on CPU")
    )


def folder_hash(path: Path) -> str:
    """sha256 over the relative paths and bytes of every file in a pipeline folder."""
    h = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path).as_posix()
        if rel.startswith(".") or "/." in rel:
            continue  # editor and cache droppings do not change the weights
        h.update(rel.encode() + b"\0")
        with file.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


class PipelineGenerator(Generator):
    name = "pipeline"
    description = "a pretrained diffusers pipeline from a local folder (img2img, text, class)"
    Params = PipelineParams
    supports_class_conditional = True
    needs_fit = False
    needs_gpu = False  # tiny pipelines run on CPU; real Stable Diffusion wants a GPU
    deterministic_with_seed = True
    default_fit_steps = 0

    params: PipelineParams

    def __init__(self, params: PipelineParams | None = None, *, device: str = "cpu") -> None:
        super().__init__(params, device=device)
        self._device = T.resolve_device(device)
        self.device = str(self._device)
        self.pipe = None
        self.mode: str | None = None
        self.pipeline_hash: str | None = None
        self._refs: dict[int, tuple[np.ndarray, list[str]]] = {}

    # -- loading -------------------------------------------------------------------------
    def _dtype(self) -> torch.dtype:
        choice = self.params.dtype
        if choice == "auto":
            return torch.bfloat16 if self._device.type == "cuda" else torch.float32
        return getattr(torch, choice)

    def _load(self) -> None:
        if self.pipe is not None:
            return
        path = Path(self.params.path).expanduser()
        if not (path / "model_index.json").is_file():
            raise InvalidInput(
                f"{path} is not a diffusers pipeline folder (no model_index.json)",
                hint="save one with pipeline.save_pretrained(folder)",
            )
        from diffusers import DiffusionPipeline
        from diffusers.utils import logging as dlogging

        dlogging.set_verbosity_error()
        dlogging.disable_progress_bar()
        try:
            with warnings.catch_warnings():
                # newer diffusers renamed torch_dtype to dtype; the old name works on all
                warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
                pipe = DiffusionPipeline.from_pretrained(
                    str(path),
                    local_files_only=True,
                    use_safetensors=True,
                    torch_dtype=self._dtype(),
                )
        except ImportError as exc:
            raise MissingDependency(
                f"the pipeline in {path} needs a missing library: {exc}",
                hint='pip install "curate[pipeline]"',
            ) from None
        except (OSError, ValueError) as exc:
            raise PluginError(f"cannot load the pipeline in {path}: {exc}") from None
        self.pipeline_hash = folder_hash(path)
        self.mode, self.pipe = self._resolve_mode(pipe)
        self.pipe.set_progress_bar_config(disable=True)
        self.pipe.to(self._device)

    def _resolve_mode(self, pipe) -> tuple[str, Any]:
        wanted = self.params.mode
        takes = set(inspect.signature(pipe.__call__).parameters)
        if wanted in ("auto", "class") and "class_labels" in takes:
            return "class", pipe
        if wanted == "class":
            raise InvalidInput(f"{type(pipe).__name__} takes no class labels: use another mode")
        if "prompt" not in takes:
            raise InvalidInput(
                f"{type(pipe).__name__} takes neither prompts nor class labels: "
                "it cannot make images of a chosen class"
            )
        if wanted in ("auto", "img2img"):
            if "image" in takes:
                return "img2img", pipe
            try:
                from diffusers import AutoPipelineForImage2Image

                return "img2img", AutoPipelineForImage2Image.from_pipe(pipe)
            except (ValueError, KeyError) as exc:
                if wanted == "img2img":
                    raise InvalidInput(
                        f"{type(pipe).__name__} has no image-to-image variant: {exc}"
                    ) from None
        return "text2img", pipe

    # -- fit: remember the real images img2img starts from -------------------------------------
    def fit(
        self,
        data: TrainingSet,
        *,
        steps: int = 0,
        seed: int = 0,
        progress: ProgressFn = no_progress,
        cancel: CancelFn | None = None,
    ) -> FitReport:
        start = time.perf_counter()
        check_cancel(cancel)
        progress(0, None, "loading the pipeline")
        self._load()
        self.class_names = tuple(data.class_names)
        self.image_shape = data.shape
        self._refs = {}
        for idx in range(len(self.class_names)):
            keep = np.flatnonzero(data.labels == idx)
            ids = [data.sample_ids[i] for i in keep] if data.sample_ids else []
            self._refs[idx] = (data.images[keep], ids)
        return FitReport(steps=0, images_seen=0, seconds=round(time.perf_counter() - start, 3))

    # -- checkpoint: the pipeline folder's hash --------------------------------------------------
    def state_tensors(self) -> dict[str, Any]:
        return {}

    def extra_config(self) -> dict[str, Any]:
        return {"pipeline_sha256": self.pipeline_hash, "mode": self.mode}

    def load_state(self, tensors: dict[str, Any], config: dict[str, Any]) -> None:
        self._load()
        if config.get("pipeline_sha256") not in (None, self.pipeline_hash):
            raise PluginError(
                f"the pipeline in {self.params.path} changed since this checkpoint was made"
            )

    # -- sample --------------------------------------------------------------------------------
    def _label_for(self, class_name: str) -> str:
        return self.params.class_map.get(class_name, class_name)

    def _class_label_id(self, class_name: str) -> int:
        label = self._label_for(class_name)
        labels = getattr(self.pipe, "labels", None) or {}
        if label in labels:
            return int(labels[label])
        try:
            return int(label)
        except ValueError:
            raise InvalidInput(
                f"the pipeline has no label {label!r} for class {class_name!r}",
                hint="map it with -p class_map='{\"" + class_name + '": "<label or id>"}\'',
            ) from None

    def _to_dataset(self, images: np.ndarray) -> np.ndarray:
        """float (B, h, w, 3) in [0, 1] -> uint8 (B, H, W, C) at the dataset's size and mode."""
        from PIL import Image

        h, w, c = self.image_shape  # type: ignore[misc]
        out = []
        for img in images:
            pil = Image.fromarray(np.clip(np.rint(img * 255), 0, 255).astype(np.uint8))
            pil = pil.convert("L" if c == 1 else "RGB").resize((w, h), Image.Resampling.LANCZOS)
            arr = np.asarray(pil, dtype=np.uint8)
            out.append(arr[..., None] if arr.ndim == 2 else arr)
        return np.stack(out)

    def _init_images(self, cls: int, seeds: list[int]) -> tuple[list[Any], list[list[str]]]:
        from PIL import Image

        images, ids = self._refs.get(cls, (np.zeros((0,)), []))
        if len(images) == 0:
            raise InvalidInput(f"img2img needs real images of {self.class_names[cls]!r}")
        side = self._pipeline_side()
        picks, parents = [], []
        for s in seeds:
            i = int(np.random.default_rng(s).integers(len(images)))
            arr = images[i][..., 0] if images.shape[-1] == 1 else images[i]
            pil = Image.fromarray(arr).convert("RGB").resize((side, side), Image.Resampling.BICUBIC)
            picks.append(pil)
            parents.append([ids[i]] if ids else [])
        return picks, parents

    def _pipeline_side(self) -> int:
        net = getattr(self.pipe, "unet", None) or getattr(self.pipe, "transformer", None)
        size = getattr(net.config, "sample_size", 64) if net is not None else 64
        size = size[0] if isinstance(size, list | tuple) else size
        return int(size) * int(getattr(self.pipe, "vae_scale_factor", 8))

    @torch.no_grad()
    def sample(self, class_name: str, n: int, *, seed: int) -> Iterator[GeneratedBatch]:
        if self.pipe is None or self.image_shape is None:
            raise PluginError("pipeline: call fit (it loads the pipeline) before sampling")
        p = self.params
        cls = self.class_index(class_name)
        for offset, count in T.batches(n, p.batch_size):
            seeds = [derive_seed("pipeline", seed, offset + i) for i in range(count)]
            gens = [T.torch_generator(torch.device("cpu"), s) for s in seeds]
            parents = None
            common = {
                "num_inference_steps": p.num_inference_steps,
                "guidance_scale": p.guidance_scale,
                "generator": gens,
                "output_type": "np",
            }
            if self.mode == "class":
                out = self.pipe(class_labels=[self._class_label_id(class_name)] * count, **common)
            else:
                prompt = p.prompt.format(class_name=self._label_for(class_name))
                text = {"prompt": [prompt] * count}
                if p.negative_prompt:
                    text["negative_prompt"] = [p.negative_prompt] * count
                if self.mode == "img2img":
                    init, parents = self._init_images(cls, seeds)
                    out = self.pipe(**text, image=init, strength=p.strength, **common)
                else:
                    side = self._pipeline_side()
                    out = self.pipe(**text, height=side, width=side, **common)
            images = np.asarray(out.images, dtype=np.float32)
            yield GeneratedBatch(
                images=self._to_dataset(images), seed=seed, offset=offset, parents=parents
            )

    def close(self) -> None:
        self.pipe = None
        self._refs = {}
        if self._device.type == "cuda":
            torch.cuda.empty_cache()
