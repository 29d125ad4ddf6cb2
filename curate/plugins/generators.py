"""The generator plugin contract (entry-point group ``curate.generators``).

A generator makes new images of a class. curate's own (``ddpm``, ``gan``,
``pipeline`` in ``plugins/curate_generators``) and anyone else's register the
same way::

    [project.entry-points."curate.generators"]
    mygen = "my_package.module:MyGenerator"

The entry point names a :class:`Generator` subclass. It declares:

* ``Params``: a pydantic model (``extra="forbid"``, a description on every
  field) that drives CLI options, forms and docs. Fields declared with
  :func:`sample_stage` only affect sampling and those with
  :func:`runtime_stage` only how it runs (precision, compilation): a
  checkpoint fitted with other values of them is reused.
* capability flags: ``supports_class_conditional``, ``needs_fit``,
  ``needs_gpu``, ``deterministic_with_seed``.
* ``fit(data, steps=, seed=, progress=, cancel=)`` on a :class:`TrainingSet`,
  ``sample(class_name, n, seed=)`` yielding :class:`GeneratedBatch` es,
  ``to_checkpoint`` / ``from_checkpoint`` and ``close``.

Checkpoints are safetensors bytes plus a JSON config, content-hashed; never
pickle. This module imports no torch: the contract must load in the light
CLI process; the torch-facing helpers import it inside functions.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from curate.core.progress import CancelFn, ProgressFn, no_progress
from curate.errors import InvalidInput, PluginError

CHECKPOINT_FORMAT = "curate.generator-checkpoint/1"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"


class GeneratorParams(BaseModel):
    """Base of every generator's ``Params``: unknown options are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def sample_stage(description: str) -> dict[str, Any]:
    """Field kwargs for an option that only affects sampling (see module docs)."""
    return {"description": description, "json_schema_extra": {"stage": "sample"}}


def runtime_stage(description: str) -> dict[str, Any]:
    """Field kwargs for an execution option (precision, compilation) that a checkpoint ignores."""
    return {"description": description, "json_schema_extra": {"stage": "runtime"}}


def option_stage(params_model: type[BaseModel], name: str) -> str:
    """``fit``, ``sample`` or ``runtime``: what an option affects."""
    info = params_model.model_fields[name]
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    return str(extra.get("stage", "fit"))


def fit_params(params: GeneratorParams) -> dict[str, Any]:
    """The options that shape the fitted model (not sampling-only or runtime ones)."""
    dumped = params.model_dump(mode="json")
    return {
        name: dumped[name]
        for name in type(params).model_fields
        if option_stage(type(params), name) == "fit"
    }


@dataclass(frozen=True)
class TrainingSet:
    """What a generator is fitted on: images of every class, labels as indices."""

    images: np.ndarray  # uint8 (N, H, W, C)
    labels: np.ndarray  # int64 (N,), index into class_names
    class_names: tuple[str, ...]
    sample_ids: tuple[str, ...] = ()  # lineage: img2img generators name their parents

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise InvalidInput("training images must be a uint8 (N, H, W, C) array")
        if len(self.labels) != len(self.images):
            raise InvalidInput("training images and labels differ in length")
        if self.sample_ids and len(self.sample_ids) != len(self.images):
            raise InvalidInput("training images and sample_ids differ in length")

    @property
    def shape(self) -> tuple[int, int, int]:
        """(height, width, channels)."""
        _, h, w, c = self.images.shape
        return int(h), int(w), int(c)


@dataclass(frozen=True)
class GeneratedBatch:
    """Images a generator made for one class, at the training (H, W, C)."""

    images: np.ndarray  # uint8 (B, H, W, C)
    seed: int  # the seed given to sample(); with ``offset + i`` it names image i again
    offset: int  # index of images[0] among everything that sample() call yields
    parents: list[list[str]] | None = None  # per image: sample_ids it was made from
    extra: dict[str, Any] = field(default_factory=dict)


class FitReport(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: int = Field(description="optimisation steps run")
    images_seen: int = Field(description="training images processed (steps x batch size)")
    seconds: float
    final_loss: float | None = Field(default=None, description="last logged training loss")


@dataclass(frozen=True)
class Checkpoint:
    """A fitted generator: JSON config + safetensors bytes, addressed by content."""

    config: dict[str, Any]
    weights: bytes  # safetensors serialisation (may hold no tensors)

    @property
    def hash(self) -> str:
        h = hashlib.sha256()
        h.update(json.dumps(self.config, sort_keys=True, separators=(",", ":")).encode())
        h.update(b"\0")
        h.update(self.weights)
        return h.hexdigest()

    def save(self, directory: Path) -> Path:
        """Write into ``directory/<hash>/`` atomically (temp dir + rename); return that path."""
        directory = Path(directory)
        final = directory / self.hash
        if (final / CONFIG_FILE).exists():
            return final
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{self.hash}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        (tmp / WEIGHTS_FILE).write_bytes(self.weights)
        (tmp / CONFIG_FILE).write_text(json.dumps(self.config, indent=2, sort_keys=True))
        try:
            tmp.rename(final)
        except OSError:  # a concurrent writer won the race: same content
            shutil.rmtree(tmp, ignore_errors=True)
        return final

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        """Read a checkpoint folder and check it is what its name says."""
        path = Path(path)
        try:
            config = json.loads((path / CONFIG_FILE).read_text())
            weights = (path / WEIGHTS_FILE).read_bytes()
        except (OSError, ValueError) as exc:
            raise PluginError(f"cannot read generator checkpoint {path}: {exc}") from None
        if config.get("format") != CHECKPOINT_FORMAT:
            raise PluginError(f"{path} is not a curate generator checkpoint")
        ckpt = cls(config, weights)
        if path.name != ckpt.hash and len(path.name) == 64:
            raise PluginError(f"generator checkpoint {path} is corrupt (content hash mismatch)")
        return ckpt


def tensors_to_bytes(tensors: dict[str, Any]) -> bytes:
    """safetensors serialisation (contiguous CPU copies)."""
    from safetensors.torch import save

    return save({k: v.detach().to("cpu").contiguous() for k, v in sorted(tensors.items())})


def tensors_from_bytes(data: bytes) -> dict[str, Any]:
    """Inverse of :func:`tensors_to_bytes`; safetensors holds no code, unlike pickle."""
    from safetensors.torch import load

    return load(data) if data else {}


class Generator(ABC):
    """Base class of every generator plugin. Subclasses set the class attributes."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    Params: ClassVar[type[GeneratorParams]] = GeneratorParams
    supports_class_conditional: ClassVar[bool] = True
    needs_fit: ClassVar[bool] = True  # False: sample() works right after fit(steps=0)
    needs_gpu: ClassVar[bool] = False  # True: refuses to run on CPU
    deterministic_with_seed: ClassVar[bool] = True  # same checkpoint + seed -> same images
    default_fit_steps: ClassVar[int] = 1000  # when the request names no step count

    def __init__(self, params: GeneratorParams | None = None, *, device: str = "cpu") -> None:
        if params is None:
            params = self.Params()
        if not isinstance(params, self.Params):
            raise PluginError(f"{self.name}: params must be {self.Params.__name__}")
        self.params = params
        self.device = device  # plugins replace it with the resolved one ("auto" -> "cuda:0")
        self.class_names: tuple[str, ...] = ()
        self.image_shape: tuple[int, int, int] | None = None  # (H, W, C)

    # -- the hooks a plugin implements -------------------------------------------
    @abstractmethod
    def fit(
        self,
        data: TrainingSet,
        *,
        steps: int,
        seed: int = 0,
        progress: ProgressFn = no_progress,
        cancel: CancelFn | None = None,
    ) -> FitReport:
        """Learn ``data``; poll ``cancel`` between steps (raise :class:`Cancelled`)."""

    @abstractmethod
    def sample(self, class_name: str, n: int, *, seed: int) -> Iterator[GeneratedBatch]:
        """Yield ``n`` images of ``class_name`` in batches (the caller may stop early)."""

    @abstractmethod
    def state_tensors(self) -> dict[str, Any]:
        """Tensors to checkpoint (name -> torch.Tensor)."""

    @abstractmethod
    def load_state(self, tensors: dict[str, Any], config: dict[str, Any]) -> None:
        """Rebuild the fitted model from :meth:`state_tensors` output and :meth:`extra_config`."""

    def extra_config(self) -> dict[str, Any]:
        """Plugin-specific JSON that :meth:`load_state` needs (architecture, sizes, ...)."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook: most plugins have something to free
        """Release models and device memory."""

    # -- shared behaviour ------------------------------------------------------------
    def to_checkpoint(self) -> Checkpoint:
        if self.image_shape is None:
            raise PluginError(f"{self.name}: nothing fitted to checkpoint")
        config = {
            "format": CHECKPOINT_FORMAT,
            "generator": self.name,
            "params": fit_params(self.params),
            "classes": list(self.class_names),
            "image_shape": list(self.image_shape),
            "extra": self.extra_config(),
        }
        return Checkpoint(config, tensors_to_bytes(self.state_tensors()))

    @classmethod
    def from_checkpoint(
        cls, ckpt: Checkpoint, params: GeneratorParams | None = None, *, device: str = "cpu"
    ) -> Generator:
        """Rebuild a fitted generator; ``params`` may change sampling-only options."""
        cfg = ckpt.config
        if cfg.get("generator") != cls.name:
            raise PluginError(
                f"checkpoint is for generator {cfg.get('generator')!r}, not {cls.name!r}"
            )
        if params is None:
            params = cls.Params.model_validate(cfg["params"])
        elif fit_params(params) != cfg["params"]:
            raise PluginError(f"{cls.name}: checkpoint was fitted with other options")
        gen = cls(params, device=device)
        gen.class_names = tuple(cfg["classes"])
        gen.image_shape = tuple(cfg["image_shape"])  # type: ignore[assignment]
        gen.load_state(tensors_from_bytes(ckpt.weights), cfg.get("extra", {}))
        return gen

    def class_index(self, class_name: str) -> int:
        try:
            return self.class_names.index(class_name)
        except ValueError:
            raise InvalidInput(
                f"{self.name} was not fitted on class {class_name!r}",
                hint=f"fitted classes: {', '.join(self.class_names)}",
            ) from None

    @classmethod
    def capabilities(cls) -> dict[str, bool]:
        return {
            "supports_class_conditional": cls.supports_class_conditional,
            "needs_fit": cls.needs_fit,
            "needs_gpu": cls.needs_gpu,
            "deterministic_with_seed": cls.deterministic_with_seed,
        }

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Name, description, capability flags and the options table (for listings)."""
        from curate.plugins.registry import params_table

        return {
            "name": cls.name,
            "description": cls.description,
            **cls.capabilities(),
            "default_fit_steps": cls.default_fit_steps,
            "params": [
                {**row, "stage": option_stage(cls.Params, row["name"])}
                for row in params_table(cls.Params)
            ],
        }


def load_generator_class(name: str) -> type[Generator]:
    """The :class:`Generator` subclass registered as ``name``."""
    from curate.plugins.registry import load_plugin

    obj = load_plugin("curate.generators", name)
    if not (isinstance(obj, type) and issubclass(obj, Generator)):
        raise PluginError(f"generator plugin {name!r} is not a curate Generator subclass")
    return obj


def derive_seed(*parts: Any) -> int:
    """A stable 63-bit seed from any JSON-able parts (same parts, same seed)."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)
