"""Build policies into albumentations pipelines, and check them while doing so.

Everything that touches albumentations lives here (and in the modules that
call it). albumentations is imported on first use: it costs about a second
on its own and imports torch when torch is installed, so ``import curate``
must never reach this module.

Checks, each reported with the path of the bad field:

* the transform exists in albumentations' serialization registry (close
  names suggested otherwise) and is a 2D image transform;
* every parameter is a parameter of that transform (close names suggested);
* albumentations' own pydantic schema accepts the values (types, ranges,
  ``p`` in [0, 1]);
* no parameter is NaN or infinite (the policy is stored as JSON, which has
  neither);
* the transform works on image-only data (no masks, boxes, keypoints or
  metadata needed), by applying each step once to a small dummy image.

Materializing checks more (:func:`try_steps`, on real images): samples are
stored as 8-bit images, so a step must return uint8, which online use does
not require.
"""

from __future__ import annotations

import _random
import contextlib
import inspect
import json
import math
import os
import random
import re
import sys
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from curate.augment.policy import PolicyIssue, Step
from curate.core.names import close_names

if TYPE_CHECKING:
    from curate.augment.policy import Policy

# albumentations checks PyPI for a newer version at import unless told not to.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

# The classes named in a policy that are not transforms in their own right.
_NOT_STEPS = {
    "BasicTransform",
    "DualTransform",
    "ImageOnlyTransform",
    "Transform3D",
    "NoOp3D",
    "Compose",
    "ReplayCompose",
    "BboxParams",
    "KeypointParams",
    # Tensor conversion belongs to the training code, after the policy; it is
    # only registered when torch happens to be imported first.
    "ToTensorV2",
}
# albumentations classes a user may well write that are no step; "unknown transform"
# would be wrong about them.
_NOT_A_STEP = {
    "Lambda": "Lambda runs Python functions, which a policy document cannot hold "
    "(it is data: stored with its samples and replayed from them)",
    "ToTensorV2": "ToTensorV2 belongs in your training code, after the policy "
    "(a policy makes images)",
    "Compose": "Compose is the policy itself: list its transforms under 'pipeline' "
    "(or use Sequential inside it)",
    "ReplayCompose": "ReplayCompose is the policy itself: list its transforms under "
    "'pipeline' (or use Sequential inside it)",
}
_IMAGE_KEYS = {"image", "images"}
_DATA_WORDS = {
    "bboxes": "bounding boxes",
    "keypoints": "keypoints",
    "mask": "masks",
    "masks": "masks",
    "volume": "3D volumes",
    "volumes": "3D volumes",
}
# How albumentations says a transform found no mask, boxes or keypoints to work
# on: ConstrainedCoarseDropout warns "Neither valid mask nor bboxes provided, do
# not apply ..." and returns its input; CropNonEmptyMaskIfExists raises "Can not
# find mask for ...". Both words must appear, so an unrelated message is not taken.
_DATA_NAMED = re.compile(r"\b(masks?|bboxes|keypoints)\b", re.IGNORECASE)
_ABSENT = re.compile(r"\b(provided|find|found|missing|given|without)\b", re.IGNORECASE)


def albumentations():
    """The albumentations module, imported without its optional torch glue.

    ``import albumentations`` also imports ``albumentations.pytorch`` (and so
    torch, ~2-3 s) just to register ``ToTensorV2``, which a policy making
    images never needs. Unless torch is loaded already, the import skips it;
    ``from albumentations.pytorch import ToTensorV2`` still works afterwards.
    """
    module = sys.modules.get("albumentations")
    if module is not None:
        return module
    if "torch" in sys.modules:
        import albumentations as A

        return A
    sys.modules["albumentations.pytorch"] = None  # albumentations suppresses this ImportError
    try:
        import albumentations as A
    finally:
        if sys.modules.get("albumentations.pytorch", 0) is None:
            del sys.modules["albumentations.pytorch"]
    return A


def registry() -> dict[str, type]:
    """Transform and composition classes a policy may name, by their serialized name."""
    albumentations()
    from albumentations.core.composition import BaseCompose
    from albumentations.core.serialization import SERIALIZABLE_REGISTRY
    from albumentations.core.transforms_interface import BasicTransform

    out = {}
    for name, cls in SERIALIZABLE_REGISTRY.items():
        if (
            not isinstance(cls, type)
            or name in _NOT_STEPS
            or name.rsplit(".", 1)[-1].startswith("Base")
        ):
            continue
        if issubclass(cls, (BasicTransform, BaseCompose)):
            out[name] = cls
    return out


def _is_composition(cls: type) -> bool:
    from albumentations.core.composition import BaseCompose

    return issubclass(cls, BaseCompose)


def _is_3d(cls: type) -> bool:
    from albumentations.core.transforms_interface import Transform3D

    return issubclass(cls, Transform3D)


suggest = close_names  # the name this module's callers know


def _param_names(cls: type) -> tuple[list[str], bool]:
    """Keyword parameters of ``cls`` and whether it also takes arbitrary ones."""
    params = inspect.signature(cls.__init__).parameters
    names = [p for p in params if p not in ("self", "args", "kwargs")]
    varkw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return names, varkw


def _missing_data(text: str) -> list[str]:
    """The data keys (mask, bboxes, ...) a message says were missing; [] for other messages."""
    if not _ABSENT.search(text):
        return []
    return sorted({word.lower() for word in _DATA_NAMED.findall(text)})


def _non_finite(value: Any, path: str) -> str | None:
    """Path of the first NaN or infinity in a parameter value, None if there is none.

    The policy's JSON (its hash, the stored document, the copy workers get)
    would write it as null, which then no longer validates.
    """
    if isinstance(value, float | np.floating):
        return None if math.isfinite(value) else path
    if isinstance(value, list | tuple):
        found = (_non_finite(v, f"{path}[{i}]") for i, v in enumerate(value))
    elif isinstance(value, dict):
        found = (_non_finite(v, f"{path}.{k}") for k, v in value.items())
    else:
        return None
    return next((where for where in found if where is not None), None)


def _channels(image: np.ndarray) -> int:
    return 1 if image.ndim == 2 else image.shape[2]


def _kind(channels: int) -> str:
    return {1: "grayscale", 3: "RGB"}.get(channels, f"{channels}-channel")


def _validation_issues(exc: BaseException, path: str) -> list[PolicyIssue]:
    """albumentations re-raises its pydantic errors as ValueError(str(e)) from e."""
    from pydantic import ValidationError

    cause = exc.__cause__ if isinstance(exc.__cause__, ValidationError) else None
    if cause is None:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [PolicyIssue(path=path, message=text)]
    by_field: dict[str, list[str]] = {}
    for err in cause.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        msg = str(err["msg"]).removeprefix("Value error, ")
        if msg not in by_field.setdefault(field, []):
            by_field[field].append(msg)
    return [
        PolicyIssue(path=f"{path}.{field}" if field else path, message="; or ".join(msgs))
        for field, msgs in by_field.items()
    ]


class _Builder:
    """Walks steps, building albumentations objects and collecting issues."""

    def __init__(self, *, check_data: bool) -> None:
        self.names = registry()
        self.issues: list[PolicyIssue] = []
        self.check_data = check_data

    def steps(self, steps: list[Step], path: str) -> list[Any] | None:
        built = [self.step(step, f"{path}[{i}]") for i, step in enumerate(steps)]
        return None if any(b is None for b in built) else built

    def step(self, step: Step, path: str, *, force_p: float | None = None) -> Any | None:
        cls = self.names.get(step.transform)
        if cls is None and step.transform in _NOT_A_STEP:
            self.issues.append(
                PolicyIssue(path=f"{path}.transform", message=_NOT_A_STEP[step.transform])
            )
            return None
        if cls is None:
            close = suggest(step.transform, list(self.names))
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            self.issues.append(
                PolicyIssue(
                    path=f"{path}.transform",
                    message=f"unknown transform {step.transform!r}{hint}",
                )
            )
            return None
        if _is_3d(cls):
            self.issues.append(
                PolicyIssue(
                    path=f"{path}.transform",
                    message=f"{step.transform} works on 3D volumes; policies augment 2D images",
                )
            )
            return None
        composition = _is_composition(cls)
        if composition and not step.transforms:
            self.issues.append(
                PolicyIssue(
                    path=f"{path}.transforms",
                    message=f"{step.transform} needs a non-empty list of steps under 'transforms'",
                )
            )
            return None
        if not composition and step.transforms is not None:
            self.issues.append(
                PolicyIssue(
                    path=f"{path}.transforms",
                    message=f"{step.transform} is not a composition; it takes no 'transforms'",
                )
            )
            return None
        names, varkw = _param_names(cls)
        bad = False
        for key, value in step.params.items():
            where = _non_finite(value, f"{path}.{key}")
            if where is not None:
                self.issues.append(
                    PolicyIssue(path=where, message="NaN and infinity are not allowed")
                )
                bad = True
            if key in names or key == "strict" or varkw:
                continue
            close = suggest(key, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (it takes: {', '.join(names)})"
            self.issues.append(
                PolicyIssue(
                    path=f"{path}.{key}", message=f"{step.transform} has no parameter {key!r}{hint}"
                )
            )
            bad = True
        children = None
        if composition:
            children = self.steps(step.transforms or [], f"{path}.transforms")
            if children is None:
                return None
        if bad:
            return None
        kwargs = dict(step.params)
        if force_p is not None:
            kwargs["p"] = force_p
        if children is not None:
            kwargs["transforms"] = children
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                built = cls(**kwargs)
            except (ValueError, TypeError) as exc:
                self.issues.extend(_validation_issues(exc, path))
                return None
        for w in caught:
            text = str(w.message).strip()
            if text:
                self.issues.append(PolicyIssue(path=path, message=text, level="warning"))
        if not composition:
            needs = sorted(set(getattr(built, "targets_as_params", []) or []) - _IMAGE_KEYS)
            if needs:
                self.issues.append(_needs_issue(path, step.transform, needs))
                return None
            if self.check_data and not self._dry_run(cls, kwargs, step.transform, path):
                return None
        return built

    def _dry_run(self, cls: type, kwargs: dict[str, Any], name: str, path: str) -> bool:
        """Apply the step once (p=1) to a dummy image: catches steps that need boxes or masks.

        Warnings are recorded: some transforms that find no mask or boxes only
        warn and return their input, so a policy of them would make nothing.
        """
        A = albumentations()
        image = np.full((64, 64, 3), 127, np.uint8)
        image[16:48, 16:48] = 200
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # step() reported the constructor's own
                    compose = A.Compose([cls(**{**kwargs, "p": 1.0})], seed=0)
                out = compose(image=image)["image"]
            except KeyError as exc:
                self.issues.append(_needs_issue(path, name, [str(exc.args[0])]))
                return False
            except Exception as exc:
                text = str(exc)
                if "missing keys" in text or "requires" in text and "metadata" in text:
                    self.issues.append(
                        PolicyIssue(path=path, message=f"{name} needs extra inputs: {text}")
                    )
                    return False
                missing = _missing_data(text)
                if missing:
                    self.issues.append(_needs_issue(path, name, missing, either=True))
                    return False
                # Anything else may depend on the data (e.g. a crop larger than
                # the dummy): the workspace check reruns it on real images.
                return True
        missing = sorted({key for w in caught for key in _missing_data(str(w.message))})
        if missing:
            self.issues.append(_needs_issue(path, name, missing, either=True))
            return False
        if out.dtype != np.uint8:
            # Not an error: online, a policy may end in Normalize for the model.
            self.issues.append(
                PolicyIssue(
                    path=path,
                    message=f"{name} returns {out.dtype} images: usable online, but augment "
                    "run and preview refuse it (materialized samples must be uint8)",
                    level="warning",
                )
            )
        return True


def _needs_issue(path: str, name: str, keys: list[str], *, either: bool = False) -> PolicyIssue:
    """``either``: any one of ``keys`` would do (a message that none was provided)."""
    words = sorted({_DATA_WORDS.get(k, repr(k)) for k in keys})
    joined = (" or " if either else " and ").join(words)
    return PolicyIssue(
        path=f"{path}.transform",
        message=f"{name} needs {joined}, but policies augment image-only data",
    )


def check_policy(policy: Policy) -> list[PolicyIssue]:
    """Build every pipeline of ``policy``; return its errors and warnings."""
    builder = _Builder(check_data=True)
    builder.steps(policy.pipeline, "pipeline")
    for name, override in policy.classes.items():
        builder.steps(override.pipeline, f"classes.{name}.pipeline")
    return builder.issues


def check_steps(steps: list[tuple[str, Step]]) -> list[PolicyIssue]:
    """Build loose steps, each at its own path (used when the document around them is broken)."""
    builder = _Builder(check_data=True)
    for path, step in steps:
        builder.step(step, path)
    return builder.issues


def build_transforms(steps: list[Step], path: str = "pipeline") -> list[Any]:
    builder = _Builder(check_data=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        built = builder.steps(steps, path)
    if built is None:
        from curate.augment.policy import PolicyInvalid

        raise PolicyInvalid([i for i in builder.issues if i.level == "error"])
    return built


def compile_steps(
    policy: Policy, key: str = "default", *, seed: int | None = None, save_applied_params=False
):
    """``albumentations.Compose`` for the pipeline ``key`` ('default' or 'class:<name>')."""
    A = albumentations()
    steps = steps_for_key(policy, key)
    path = "pipeline" if key == "default" else f"classes.{key[6:]}.pipeline"
    return A.Compose(
        build_transforms(steps, path),
        p=1.0,
        seed=policy.seed if seed is None else seed,
        save_applied_params=save_applied_params,
    )


def steps_for_key(policy: Policy, key: str) -> list[Step]:
    if key == "default":
        return policy.pipeline
    if key.startswith("class:") and key[6:] in policy.classes:
        return policy.classes[key[6:]].pipeline
    from curate.errors import InvalidInput

    raise InvalidInput(f"policy {policy.name!r} has no pipeline {key!r}")


def leaf_steps(steps: list[Step], path: str) -> list[tuple[str, Step]]:
    out = []
    for i, step in enumerate(steps):
        here = f"{path}[{i}]"
        if step.transforms:
            out += leaf_steps(step.transforms, f"{here}.transforms")
        else:
            out.append((here, step))
    return out


def check_on_image(policy: Policy, key: str, image: np.ndarray, what: str) -> list[PolicyIssue]:
    """Apply each step of pipeline ``key`` once (p=1) to a real ``image``; report failures.

    ``what`` describes the image for the message ("class '3' grayscale 8x8 images").
    """
    return try_steps(policy, key, image, what)[0]


def try_steps(
    policy: Policy, key: str, image: np.ndarray, what: str
) -> tuple[list[PolicyIssue], list[str]]:
    """Apply each step of pipeline ``key`` once (p=1) to a real ``image``, as materializing would.

    Returns (failures, changes): the steps that fail on it or return something
    other than uint8 pixels (a sample is stored as an 8-bit image; online use,
    which does not come here, may normalize), and warnings for the steps that
    change its size or channel count (augmented samples would not match their
    class) or that albumentations warns about on it (ToGray on grey images:
    "The image is already gray."). Those warnings are said here, once; the
    materializing workers and the preview silence them (they would print once
    per worker, as raw Python warnings). ``what`` describes the image
    ("class '3' grayscale 8x8 images").
    """
    A = albumentations()
    names = registry()
    path = "pipeline" if key == "default" else f"classes.{key[6:]}.pipeline"
    issues, changed = [], []
    # Each step is tried alone on the parent; once a step before it changes the
    # image's size or channels, that is no longer the image it gets, and what
    # albumentations warns of it ("already gray" after ToRGB) may be false.
    reshaped = False
    for here, step in leaf_steps(steps_for_key(policy, key), path):
        cls = names[step.transform]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the constructor's: the policy's warnings
                    compose = A.Compose([cls(**{**step.params, "p": 1.0})], seed=0)
                out = compose(image=image)["image"]
            except Exception as exc:
                text = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                issues.append(
                    PolicyIssue(path=here, message=f"{step.transform} fails on {what}: {text}")
                )
                continue
        for message in dict.fromkeys(str(w.message).strip() for w in caught):
            if message and not reshaped:
                changed.append(f"{here} ({step.transform}) on {what}: {message}")
        if out.dtype != np.uint8:
            issues.append(
                PolicyIssue(
                    path=here,
                    message=f"{step.transform} returns {out.dtype} images; materialized "
                    "samples must be uint8 (normalize in your training code)",
                )
            )
            continue
        resized = _shape_changes(image, out, f"{here} ({step.transform}) makes {what}")
        reshaped = reshaped or bool(resized)
        changed += resized
    return issues, changed


def _shape_changes(image: np.ndarray, out: np.ndarray, makes: str) -> list[str]:
    """Warnings for an output whose size or channel count differs from its parent's."""
    h, w = image.shape[:2]
    found = []
    if out.shape[:2] != (h, w):
        found.append(
            f"{makes} {out.shape[1]}x{out.shape[0]}: "
            f"augmented samples will not have their parents' size ({w}x{h})"
        )
    before, after = _kind(_channels(image)), _kind(_channels(out))
    if after != before:
        stored = f"{makes} {after}: augmented samples will be stored as {after}, not {before}"
        # The stored mode follows the pixels; a split loads (to_torch, scans) as
        # RGB once any of its samples is RGB, so one class's RGB copies turn a
        # grayscale dataset into an RGB one.
        spreads = "; a split with any RGB sample loads all its images as RGB"
        found.append(f"{stored} like their parents{spreads if after == 'RGB' else ''}")
    return found


# Odd 128-bit constants (golden ratio, splitmix) spreading a 32-bit seed over PCG64's state.
_MASK128 = (1 << 128) - 1
_STATE_MUL = 0x9E3779B97F4A7C15F39CC0605CEDC835
_INC_MUL = 0xD1B54A32D192ED03AEF5BDF38A2A6B7B


_seed_mersenne_twister = _random.Random.seed


class _SharedRandom:
    """One numpy generator and one ``random.Random`` for a whole compose, reseeded in place.

    ``Compose.set_random_seed`` builds a fresh generator pair for the compose
    and for each transform (~50-130 us a call); materialization reseeds for
    every sample, so that was a quarter of the time of augmenting an 8x8
    digit. Here every transform shares the two generators and a reseed only
    sets their state (the numpy state from the seed by multiplication, no
    SeedSequence). Replays go through the same function, so they match.
    """

    def __init__(self, compose: Any) -> None:
        self.bit_generator = np.random.PCG64(0)
        self.py_random = random.Random(0)
        compose.set_random_state(np.random.Generator(self.bit_generator), self.py_random)
        # One state document, refilled per reseed (the setter copies the values out).
        self._inner = {"state": 0, "inc": 1}
        self._state = {
            "bit_generator": "PCG64",
            "state": self._inner,
            "has_uint32": 0,
            "uinteger": 0,
        }

    def reseed(self, seed: int) -> None:
        # Mersenne Twister's init_by_array is most of the cost (~28k
        # instructions); it cannot be avoided while recipes replay by seed,
        # since albumentations draws from both generators. Called on the C
        # type directly: random.Random.seed's Python wrapper does, for an int,
        # exactly this plus resetting gauss_next, at another ~4k instructions.
        _seed_mersenne_twister(self.py_random, seed)
        self.py_random.gauss_next = None
        self._inner["state"] = ((seed + 1) * _STATE_MUL) & _MASK128
        self._inner["inc"] = ((seed * _INC_MUL) & _MASK128) | 1
        self.bit_generator.state = self._state


@contextlib.contextmanager
def quiet_albumentations() -> Iterator[None]:
    """Silence albumentations' runtime warnings ("The image is already gray.").

    :func:`try_steps` says each of them once, with its step's path, when a
    run or a preview checks the policy on a real image; applying the policy
    afterwards (workers, preview tiles, replays) would print them raw, once
    per image or worker. Enter it around a batch, not per image: entering
    resets the warnings machinery's cache.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def apply_seeded(compose: Any, image: np.ndarray, seed: int) -> tuple[np.ndarray, list]:
    """One augmented view of ``image``, fully determined by ``seed``.

    The generators are reset from ``seed`` before the call, so the result does
    not depend on anything the compose did before: the per-sample seed alone
    replays it (see :class:`_SharedRandom`). Returns (pixels, applied), where
    applied is albumentations' ``applied_transforms`` (empty unless the
    compose was built with ``save_applied_params=True``).
    """
    shared = getattr(compose, "_curate_random", None)
    if shared is None:
        shared = compose._curate_random = _SharedRandom(compose)
    shared.reseed(seed)
    out = compose(image=image)
    return out["image"], out.get("applied_transforms", [])


# Keys of applied parameters that describe other targets (boxes, masks) or the input.
_NOT_IMAGE_PARAMS = frozenset({"shape", "bbox_matrix", "fill_mask", "mask_interpolation"})
_MAX_ARRAY = 16  # larger arrays (elastic maps, noise fields) are summarised, not stored


def _json_value(value: Any) -> Any:
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else str(value)
    if kind in (int, bool, str) or value is None:
        return value
    if kind is np.ndarray:
        small = value.size <= _MAX_ARRAY
        if small and (
            value.dtype.kind in "biu" or (value.dtype.kind == "f" and np.isfinite(value).all())
        ):
            return value.tolist()
        return {"array": list(value.shape), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return _json_value(value.item())
    if kind in (list, tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, bool | int):
        return int(value)
    if isinstance(value, float):
        return _json_value(float(value))
    return str(value)


def jsonable(value: Any) -> Any:
    """Any applied-parameter value as JSON data: small arrays as lists, large ones summarised."""
    return _json_value(value)


def applied_params(applied: list) -> list[dict[str, Any]]:
    """albumentations' ``applied_transforms`` as JSON data for a recipe."""
    return [
        {
            "transform": name,
            "params": {k: _json_value(v) for k, v in params.items() if k not in _NOT_IMAGE_PARAMS},
        }
        for name, params in applied
    ]


def _orjson_default(value: Any) -> Any:
    """What orjson leaves to Python: numpy values it does not take, anything else as text."""
    if isinstance(value, np.ndarray | np.generic):
        return _json_value(value)
    return str(value)


def _applied_raw(applied: list) -> list[dict[str, Any]]:
    """``applied_transforms`` filtered like :func:`applied_params`, values as they are,
    except arrays orjson would write differently (large or unusual ones)."""
    out = []
    for name, params in applied:
        kept = {}
        for key, value in params.items():
            if key in _NOT_IMAGE_PARAMS:
                continue
            if type(value) is np.ndarray and (
                value.size > _MAX_ARRAY
                or value.dtype.kind not in "biuf"
                or (value.dtype.kind == "f" and value.dtype.itemsize < 4)
                or not value.flags.c_contiguous
            ):
                value = _json_value(value)
            kept[key] = value
        out.append({"transform": name, "params": kept})
    return out


def recipe_json(recipe: dict[str, Any], applied: list) -> str:
    """The recipe (plus ``applied``, albumentations' ``applied_transforms``) as JSON text.

    The same data as ``json.dumps({**recipe, "applied": applied_params(applied)},
    sort_keys=True)``, written by orjson: materialization records the applied
    parameters of every sample, and the json module (the recursive walk, then
    the encoder) cost as much as a tenth of augmenting an 8x8 digit. orjson
    writes numpy values itself; what it would write differently from
    :func:`applied_params` (NaN and infinity, which that writes as text, and
    orjson as null, in arrays too; keys that are not strings) falls back to
    the exact walk. Float32 values are written at float32 precision.
    """
    import orjson

    option = orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY
    try:
        text = orjson.dumps(
            {**recipe, "applied": _applied_raw(applied)}, default=_orjson_default, option=option
        )
        if b"null" not in text:  # null: a None, or a NaN orjson wrote as null
            return text.decode()
    except TypeError:
        pass
    return json.dumps({**recipe, "applied": applied_params(applied)}, sort_keys=True)
