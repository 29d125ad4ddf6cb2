"""Policy documents: what an augmentation policy is, how it loads, and its identity.

A policy is a short list of steps, each naming an albumentations transform and
its parameters (the "short form")::

    name: light
    seed: 1
    pipeline:
      - {transform: Rotate, limit: 10, p: 1.0}
      - {transform: RandomBrightnessContrast, p: 0.5}

Compositions (``OneOf``, ``SomeOf``, ``Sequential``, ...) take their children
under ``transforms:``. albumentations' own serialized form (``A.to_dict`` /
``A.save`` output) is accepted too, as the whole document or as ``pipeline``.

curate keeps no schema of the transforms: parameter names, types and ranges
are albumentations' own, checked by building the pipeline when a policy is
created (``curate.augment.build``). This module imports only pydantic and
PyYAML; albumentations loads on the first validation.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from curate.errors import InvalidInput, NotFound

SCHEMA_VERSION = 1
POLICY_GROUP = "curate.policies"
# Keys of albumentations' top-level Compose that an image-only policy may carry
# (at their defaults) when a document arrives in albumentations' own form.
_COMPOSE_KEYS = {"p", "bbox_params", "keypoint_params", "additional_targets", "is_check_shapes"}
_COMPOSE_KEYS |= {"strict", "seed", "mask_interpolation", "save_applied_params", "transforms"}
# ReplayCompose's own key (where it puts its replay, which curate does not use).
_COMPOSE_KEYS |= {"save_key"}


class PolicyIssue(BaseModel):
    """One problem with a policy document, located by the path of the bad field."""

    model_config = ConfigDict(frozen=True)

    path: str = Field(description="where, e.g. 'pipeline[3].blur_limit' ('' for the document)")
    message: str
    level: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class PolicyInvalid(InvalidInput):
    """A policy document that cannot be built; ``issues`` lists every error found."""

    title = "Invalid policy"

    def __init__(self, issues: list[PolicyIssue], *, source: str | None = None) -> None:
        self.issues = issues  # errors first, then warnings
        self.source = source
        errors = [i for i in issues if i.level == "error"] or issues
        first = str(errors[0]) if errors else "invalid policy"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        prefix = f"{source}: " if source else ""
        hint = "; ".join(str(i) for i in errors[1:4]) or None
        super().__init__(f"{prefix}{first}{more}", hint=hint)

    @property
    def errors(self) -> list[PolicyIssue]:
        return [i for i in self.issues if i.level == "error"]


def _plain(value: Any) -> Any:
    """Tuples become lists (YAML has no tuples), so Python- and file-built policies are equal."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


class Step(BaseModel):
    """One albumentations transform (or composition) and its parameters.

    Written flat: ``{transform: Rotate, limit: 10, p: 1.0}``; a composition
    adds ``transforms: [...]``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    transform: str = Field(min_length=1, description="albumentations class name, e.g. Rotate")
    params: dict[str, Any] = Field(default_factory=dict, description="its keyword arguments")
    transforms: list[Step] | None = Field(
        default=None, description="children of a composition (OneOf, SomeOf, Sequential, ...)"
    )

    @model_validator(mode="before")
    @classmethod
    def _flatten_in(cls, data: Any) -> Any:
        if isinstance(data, Step):
            return data
        if not isinstance(data, Mapping):
            raise ValueError("a step is a mapping like {transform: Rotate, limit: 10}")
        data = dict(data)
        if "__class_fullname__" in data:  # albumentations' serialized form
            data["transform"] = _short_name(str(data.pop("__class_fullname__")))
        if "transform" not in data:
            raise ValueError("a step needs a 'transform' key naming an albumentations transform")
        out: dict[str, Any] = {"transform": data.pop("transform")}
        if "transforms" in data:
            out["transforms"] = data.pop("transforms")
        params = data.pop("params", None)
        if params is not None and not isinstance(params, Mapping):
            raise ValueError("'params' must be a mapping")
        # Both forms at once are allowed, but one parameter in both is ambiguous:
        # refuse it rather than let one silently win.
        twice = sorted(set(params or {}) & set(data))
        if twice:
            raise ValueError(
                f"{', '.join(map(repr, twice))} given both in 'params' and beside it; keep one"
            )
        out["params"] = _plain({**(params or {}), **data})
        return out

    @model_serializer(mode="plain")
    def _flatten_out(self) -> dict[str, Any]:
        out: dict[str, Any] = {"transform": self.transform, **self.params}
        if self.transforms is not None:
            out["transforms"] = [t._flatten_out() for t in self.transforms]
        return out


class ClassOverride(BaseModel):
    """A pipeline that replaces the default one for one class."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pipeline: list[Step] = Field(min_length=1, description="steps used for this class instead")


class Policy(BaseModel):
    """An augmentation policy: a named, seeded albumentations pipeline with per-class overrides.

    Build it in Python (``Policy(name="mine", pipeline=[{"transform": "Rotate", "limit": 10}])``),
    from YAML/JSON (:func:`load_policy`) or from a preset name. Creating one
    builds the pipeline, so albumentations' own parameter checks run now and
    errors name the bad field (:class:`PolicyInvalid`).

    A policy is also an online transform: ``policy(image)`` augments a uint8
    (H, W[, C]) array with the default pipeline, ``policy(image,
    class_name="5")`` with that class's override (the default when it has
    none), and ``policy.seed_worker(worker_id, num_workers)`` makes each
    DataLoader worker's stream reproducible. ``version.to_torch(split,
    transform=policy)`` passes each sample's class (``supports_class_name``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, description="document format")
    name: str = Field(min_length=1, max_length=200, description="a short name shown in listings")
    description: str = Field(default="", description="what the policy is for")
    seed: int = Field(default=0, ge=0, lt=2**63, description="base seed of every random draw")
    pipeline: list[Step] = Field(min_length=1, description="the default steps, in order")
    classes: dict[str, ClassOverride] = Field(
        default_factory=dict, description="class name -> pipeline used for that class instead"
    )

    #: Datasets call ``policy(image, class_name=...)`` with each sample's class.
    supports_class_name: ClassVar[bool] = True

    _warnings: list[PolicyIssue] = PrivateAttr(default_factory=list)
    # Pickled with the policy: DataLoader workers started with spawn or
    # forkserver receive a pickled policy, and the epoch of set_epoch() lives
    # on this transform. It pickles without its compiled pipelines, which each
    # worker rebuilds (AugmentTransform.__getstate__).
    _online: Any = PrivateAttr(default=None)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise PolicyInvalid(_structural_issues(exc, data)) from None

    @model_validator(mode="before")
    @classmethod
    def _accept_albumentations_form(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        if "transform" in data and "__version__" in data and "pipeline" not in data:
            data = {"name": "albumentations", "pipeline": data}
        return data

    @field_validator("pipeline", mode="before")
    @classmethod
    def _pipeline_in_albumentations_form(cls, value: Any) -> Any:
        if isinstance(value, Mapping) and "transform" in value:
            if "__version__" in value or isinstance(value["transform"], Mapping):
                return _steps_from_albumentations(value)
            # `pipeline:` then `transform: Rotate` on the next line: a step without its dash
            raise ValueError(
                "a list of steps, each starting with '- ' "
                "(- {transform: Rotate, limit: 10}); got one mapping"
            )
        return value

    @field_validator("classes", mode="before")
    @classmethod
    def _digit_class_names(cls, value: Any) -> Any:
        # YAML reads `classes: {5: ...}` with an int key; class names are strings
        # (digit datasets name their classes "0".."9"). Only ints: a bool key
        # (`yes:`) is more likely a mistake than a class named "True".
        if isinstance(value, Mapping):
            return {
                str(k) if isinstance(k, int) and not isinstance(k, bool) else k: v
                for k, v in value.items()
            }
        return value

    @field_validator("classes")
    @classmethod
    def _class_names(cls, value: dict[str, ClassOverride]) -> dict[str, ClassOverride]:
        for name in value:
            if not name.strip():
                raise ValueError("class names must not be empty")
        return value

    @model_validator(mode="after")
    def _build(self) -> Policy:
        # Building runs albumentations' checks; PolicyInvalid is not a
        # ValueError, so pydantic lets it through unchanged.
        from curate.augment.build import check_policy

        issues = check_policy(self)
        errors = [i for i in issues if i.level == "error"]
        if errors:
            raise PolicyInvalid(errors + [i for i in issues if i.level == "warning"])
        self._warnings = [i for i in issues if i.level == "warning"]
        return self

    # -- identity -----------------------------------------------------------------
    def content(self) -> dict[str, Any]:
        """What decides the pixels: everything but the name and description."""
        dumped = self.model_dump(mode="json")
        return {k: dumped[k] for k in ("schema_version", "seed", "pipeline", "classes")}

    @property
    def hash(self) -> str:
        """sha256 of the canonical JSON of :meth:`content`; goes into every sample's lineage."""
        text = json.dumps(self.content(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def short_hash(self) -> str:
        return self.hash[:12]

    @property
    def warnings(self) -> list[PolicyIssue]:
        """Things albumentations adjusted or deprecated while building (not errors)."""
        return list(self._warnings)

    # -- documents ----------------------------------------------------------------
    def to_document(self) -> dict[str, Any]:
        """The document as plain data (defaults that say nothing are left out)."""
        doc = self.model_dump(mode="json")
        if not doc["description"]:
            del doc["description"]
        if not doc["classes"]:
            del doc["classes"]
        return doc

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_document(), indent=indent)

    def to_yaml(self) -> str:
        """YAML in the short form: one flow mapping per simple step."""
        return yaml.dump(
            _flow_steps(self.to_document()),
            Dumper=_PolicyDumper,
            sort_keys=False,
            allow_unicode=True,
            width=100,
        )

    def save(self, path: str | Path) -> Path:
        """Write the policy as YAML (``.yaml``/``.yml``) or JSON (``.json``)."""
        path = Path(path)
        text = self.to_json() + "\n" if path.suffix.lower() == ".json" else self.to_yaml()
        path.write_text(text)
        return path

    def to_albumentations(self, class_name: str | None = None) -> dict[str, Any]:
        """albumentations' own serialized form (``A.from_dict`` loads it)."""
        from curate.augment.build import albumentations

        return albumentations().to_dict(self.compile(class_name))

    # -- use ----------------------------------------------------------------------
    def pipeline_for(self, class_name: str | None) -> tuple[str, list[Step]]:
        """(key, steps) for a class: its override when one exists, else the default."""
        if class_name is not None and class_name in self.classes:
            return f"class:{class_name}", self.classes[class_name].pipeline
        return "default", self.pipeline

    def compile(self, class_name: str | None = None, *, seed: int | None = None):
        """A fresh ``albumentations.Compose`` for ``class_name`` (default pipeline if None)."""
        from curate.augment.build import compile_steps

        key, _ = self.pipeline_for(class_name)
        return compile_steps(self, key, seed=self.seed if seed is None else seed)

    def as_transform(self, *, seed: int | None = None, class_name: str | None = None):
        """An online transform (callable on uint8 arrays, with ``seed_worker``)."""
        from curate.augment.online import AugmentTransform

        return AugmentTransform(self, seed=seed, class_name=class_name)

    def _default_transform(self):
        if self._online is None:
            self._online = self.as_transform()
        return self._online

    def __call__(self, image: Any, *, class_name: str | None = None) -> Any:
        """Augment one image (uint8 array or PIL image) with the pipeline of ``class_name``:
        its override if it has one, else (and when ``class_name`` is None) the default."""
        return self._default_transform()(image, class_name=class_name)

    def seed_worker(self, worker_id: int, num_workers: int) -> None:
        """Reseed the online stream for one DataLoader worker (see :class:`AugmentTransform`)."""
        self._default_transform().seed_worker(worker_id, num_workers)

    def set_epoch(self, epoch: int) -> None:
        """Vary the online stream per epoch (call before iterating, like a sampler's set_epoch)."""
        self._default_transform().set_epoch(epoch)

    def __eq__(self, other: object) -> bool:
        # Fields only: the online pipeline and build warnings are not identity.
        if not isinstance(other, Policy):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((self.hash, self.name, self.description))

    @classmethod
    def from_data(cls, data: Any, *, source: str | None = None) -> Policy:
        """Validate plain data (a mapping from YAML/JSON); errors are :class:`PolicyInvalid`."""
        if not isinstance(data, Mapping):
            got = type(data).__name__ if data is not None else "an empty document"
            raise PolicyInvalid(
                [PolicyIssue(path="", message=f"a policy is a mapping, got {got}")], source=source
            )
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise PolicyInvalid(_structural_issues(exc, data), source=source) from None
        except PolicyInvalid as exc:
            raise PolicyInvalid(exc.issues, source=source) from None


# -- loading ------------------------------------------------------------------------
class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe loading that refuses a key given twice in one mapping.

    PyYAML (like ``json.loads``) keeps the last of two equal keys, so
    ``{transform: Rotate, p: 0.2, limit: 10, p: 1.0}`` silently meant p=1.0;
    YAML itself says keys are unique.
    """

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *base` keys may be overridden; that is what merging is for
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: the base class says so
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
        return super().construct_mapping(node, deep=deep)


class _DuplicateJSONKey(ValueError):
    pass


def _unique_json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateJSONKey(key)
        out[key] = value
    return out


def _load_text(text: str, *, fmt: str, source: str) -> Any:
    try:
        if fmt == "json":
            return json.loads(text, object_pairs_hook=_unique_json_object)
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no Python objects
    except _DuplicateJSONKey as exc:
        raise PolicyInvalid(
            [PolicyIssue(path="", message=f"invalid JSON: duplicate key {exc.args[0]!r}")],
            source=source,
        ) from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise PolicyInvalid(
            [PolicyIssue(path="", message=f"invalid JSON at {where}: {exc.msg}")], source=source
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PolicyInvalid(
            [PolicyIssue(path="", message=f"invalid YAML{where}: {problem}")], source=source
        ) from None


def parse_policy_text(
    text: str, *, format: Literal["yaml", "json"] = "yaml", source: str | None = None
) -> Policy:
    """A policy from YAML or JSON text (safe loading only: no Python objects, no code)."""
    data = _load_text(text, fmt=format, source=source or "<text>")
    return Policy.from_data(data, source=source)


def validate_policy_text(
    text: str, *, format: Literal["yaml", "json"] = "yaml"
) -> list[PolicyIssue]:
    """Every error (and albumentations warning) of a policy text; empty when it is fine.

    The TUI's editor calls this on each change; nothing is raised.
    """
    try:
        policy = parse_policy_text(text, format=format)
    except PolicyInvalid as exc:
        return list(exc.issues)
    return policy.warnings


def load_policy(path_or_name: str | Path) -> Policy:
    """A policy from a YAML/JSON file, or a preset by name (``light``, ``randaugment``, ...)."""
    path = Path(path_or_name)
    if path.is_file():
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read policy {path}: {exc}") from None
        fmt = "json" if path.suffix.lower() == ".json" else "yaml"
        return parse_policy_text(text, format=fmt, source=str(path))
    name = str(path_or_name)
    if path.is_dir():
        raise InvalidInput(f"policy {name} is a folder, not a YAML/JSON file")
    looks_like_file = path.suffix.lower() in (".yaml", ".yml", ".json") or "/" in name
    if looks_like_file or path.exists():
        raise NotFound(
            f"no policy file {name}", hint=f"presets: {', '.join(p.name for p in list_presets())}"
        )
    return load_preset(name)


def as_policy(value: Policy | str | Path | Mapping[str, Any]) -> Policy:
    """Accept a Policy, a file path / preset name, or a document mapping."""
    if isinstance(value, Policy):
        return value
    if isinstance(value, Mapping):
        return Policy.from_data(value)
    if isinstance(value, (str, Path)):
        return load_policy(value)
    raise InvalidInput(f"expected a policy, a path or a preset name, got {type(value).__name__}")


# -- presets ----------------------------------------------------------------------------
class PresetInfo(BaseModel):
    name: str
    value: str = Field(description="the entry point, module:attribute")
    distribution: str | None


def list_presets() -> list[PresetInfo]:
    """Presets registered in the ``curate.policies`` entry point group (nothing is imported)."""
    from curate.plugins.registry import list_plugins

    return [
        PresetInfo(name=p.name, value=p.value, distribution=p.distribution)
        for p in list_plugins(POLICY_GROUP)
    ]


def load_preset(name: str) -> Policy:
    """Load one preset: its entry point names a callable returning a Policy (or a document)."""
    from curate.errors import PluginError
    from curate.plugins.registry import load_plugin

    try:
        factory = load_plugin(POLICY_GROUP, name)
    except NotFound:
        presets = [p.name for p in list_presets()]
        close = difflib.get_close_matches(name, presets, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"presets: {', '.join(presets)}"
        raise NotFound(
            f"no policy file or preset named {name!r}", hint=hint + " (or give a .yaml/.json path)"
        ) from None
    made = factory() if callable(factory) and not isinstance(factory, Policy) else factory
    if isinstance(made, Policy):
        return made
    if isinstance(made, str):
        return parse_policy_text(made, source=f"preset {name}")
    if isinstance(made, Mapping):
        return Policy.from_data(made, source=f"preset {name}")
    raise PluginError(f"policy preset {name!r} returned {type(made).__name__}, not a Policy")


# -- helpers ----------------------------------------------------------------------------
def _short_name(class_fullname: str) -> str:
    # albumentations shortens its own classes to the bare name; a dotted name
    # from another package stays as is (and must be registered to be found).
    if class_fullname.startswith("albumentations."):
        return class_fullname.rsplit(".", 1)[1]
    return class_fullname


def _steps_from_albumentations(serialized: Mapping[str, Any]) -> Any:
    """``{"__version__": ..., "transform": {Compose ...}}`` -> a list of step mappings."""
    top = serialized.get("transform")
    if not isinstance(top, Mapping):
        raise ValueError("albumentations form: 'transform' must be a mapping")
    name = _short_name(str(top.get("__class_fullname__", "")))
    if name not in ("Compose", "ReplayCompose", "Sequential"):
        return [dict(top)]  # a single transform serialized on its own
    for key in ("bbox_params", "keypoint_params"):
        if top.get(key):
            raise ValueError(f"albumentations form: {key} is set, but policies are image-only")
    if top.get("additional_targets"):
        raise ValueError("albumentations form: additional_targets are not supported")
    if float(top.get("p", 1.0)) != 1.0:
        raise ValueError("albumentations form: the top-level Compose must have p=1.0")
    unknown = sorted(set(top) - _COMPOSE_KEYS - {"__class_fullname__"})
    if unknown:
        raise ValueError(f"albumentations form: unsupported Compose keys {unknown}")
    return list(top.get("transforms") or [])


def _loc_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


_FIELD_NAMES = {
    "Policy": ["schema_version", "name", "description", "seed", "pipeline", "classes"],
    "ClassOverride": ["pipeline"],
}


def _issues_from_validation(exc: ValidationError) -> list[PolicyIssue]:
    issues: list[PolicyIssue] = []
    seen: set[str] = set()
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if p not in ("function-after[_build(), Policy]",))
        # pydantic inserts the model name of tagged unions; drop noise like 'Step'.
        loc = tuple(p for p in loc if p not in ("Step", "ClassOverride"))
        path = _loc_path(loc)
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden" and loc:
            owner = "ClassOverride" if len(loc) >= 2 and loc[0] == "classes" else "Policy"
            close = difflib.get_close_matches(str(loc[-1]), _FIELD_NAMES[owner], n=1)
            message = "unknown field" + (f"; did you mean {close[0]!r}?" if close else "")
        if err["type"] == "literal_error" and path == "schema_version":
            message = f"unsupported schema_version {err.get('input')!r}; this curate reads {SCHEMA_VERSION}"
        if path in seen:
            continue
        seen.add(path)
        issues.append(PolicyIssue(path=path, message=message))
    return issues


def _structural_issues(exc: ValidationError, data: Mapping[str, Any]) -> list[PolicyIssue]:
    """pydantic's errors, plus the build errors of every step that is well-formed on its own.

    So one pass shows all problems (an editor needs that), not only the first layer.
    """
    issues = _issues_from_validation(exc)
    steps: list[tuple[str, Step]] = []

    def collect(items: Any, path: str) -> None:
        if not isinstance(items, list):
            return
        for i, item in enumerate(items):
            try:
                steps.append((f"{path}[{i}]", Step.model_validate(item)))
            except ValidationError:
                continue

    if isinstance(data, Mapping):
        collect(data.get("pipeline"), "pipeline")
        classes = data.get("classes")
        if isinstance(classes, Mapping):
            for name, override in classes.items():
                if isinstance(override, Mapping):
                    collect(override.get("pipeline"), f"classes.{name}.pipeline")
    if steps:
        from curate.augment.build import check_steps

        issues += check_steps(steps)
    order = {"error": 0, "warning": 1}
    return sorted(issues, key=lambda i: order[i.level])


class _Flow(dict):
    """A mapping YAML writes on one line ({transform: Rotate, limit: 10})."""


class _PolicyDumper(yaml.SafeDumper):
    pass


def _represent_flow(dumper: yaml.SafeDumper, data: _Flow) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


_PolicyDumper.add_representer(_Flow, _represent_flow)


def _flow_step(step: dict[str, Any]) -> dict[str, Any]:
    if "transforms" in step:
        out = {k: v for k, v in step.items() if k != "transforms"}
        out["transforms"] = [_flow_step(s) for s in step["transforms"]]
        return out
    return _Flow(step)


def _flow_steps(doc: dict[str, Any]) -> dict[str, Any]:
    out = dict(doc)
    out["pipeline"] = [_flow_step(s) for s in doc["pipeline"]]
    if "classes" in doc:
        out["classes"] = {
            name: {"pipeline": [_flow_step(s) for s in override["pipeline"]]}
            for name, override in doc["classes"].items()
        }
    return out
