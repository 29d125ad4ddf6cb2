"""Records shared by the store, the engines, the API and the views.

Glossary (used the same way in code, CLI and UI):

* **sample** - one image, identified by the sha256 of its bytes (``sample_id``)
  and, inside a workspace, by a dense integer ``sid`` used for joins.
* **source** - an original path/URI a sample was ingested from (a sample can
  have several).
* **label** / **class** - a class has a stable integer ``class_id`` and a name.
* **split** - train / val / test (or any name a source gave).
* **origin** - ``original`` (ingested), ``augmented`` or ``synthetic``; the
  latter two carry lineage: parent sample ids and the recipe that made them.
"""

from __future__ import annotations

import os
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Bounds on the numbers users type. Above them a typo does not mean anything
# useful and breaks deep inside: DuckDB casts a LIMIT to BIGINT, multiprocessing
# a process count to a C int, numpy's legacy seeds stop at 2**32-1.
MAX_INT32 = 2**31 - 1
# Counts of images a request may make (per class, per parent): far above any
# real dataset, far below a typo that would run for days.
MAX_IMAGES = 10_000_000


def max_workers() -> int:
    """The most worker processes a request may ask for: 4 per CPU core, at most 256."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return min(256, 4 * max(1, cores))


def check_workers(value: int | None) -> int | None:
    """A pydantic validator body: ``value`` processes, or an error naming the cap."""
    from pydantic_core import PydanticCustomError

    if value is not None and value > max_workers():
        raise PydanticCustomError(  # not ValueError: its message would start "Value error, "
            "too_many_workers",
            "{value} processes is too many for this machine: at most {cap} "
            "(4 per CPU core, 256 at most)",
            {"value": value, "cap": max_workers()},
        )
    return value


def check_limit(value: int | None, name: str = "limit") -> int | None:
    """``value`` unless it is negative or past :data:`MAX_INT32` (a one-line error)."""
    from curate.errors import InvalidInput

    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be a whole number, not {value!r}")
    if not 0 <= value <= MAX_INT32:
        raise InvalidInput(f"{name} must be between 0 and {MAX_INT32}, not {value}")
    return value


class Origin(StrEnum):
    ORIGINAL = "original"
    AUGMENTED = "augmented"
    SYNTHETIC = "synthetic"


class LabelSource(StrEnum):
    GIVEN = "given"
    HUMAN = "human"
    ACCEPTED_SUGGESTION = "accepted-suggestion"


class IngestFormat(StrEnum):
    AUTO = "auto"
    IMAGEFOLDER = "imagefolder"
    MANIFEST = "manifest"
    HF = "hf"


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ImageInfo(Model):
    """What decoding the header (and pixels) of one image told us."""

    width: int
    height: int
    channels: int
    mode: str
    format: str


class Quarantined(Model):
    """An input that was skipped, with a one-line reason."""

    source: str
    reason: str


class IngestReport(Model):
    ingest_id: int
    source: str
    format: IngestFormat
    seen: int = Field(description="inputs looked at")
    added_samples: int = Field(description="new images stored")
    added_sources: int = Field(description="new (image, path) references")
    already_present: int = Field(description="inputs whose image and path were already known")
    conflicts: int = Field(description="images now known under more than one label")
    split_conflicts: int = Field(
        default=0,
        description="images the source gives in more than one split (a leak between splits): "
        "each stays in the split it was first seen in",
    )
    quarantined: list[Quarantined] = Field(default_factory=list)
    new_classes: list[str] = Field(default_factory=list)
    unlabeled: int = Field(default=0, description="new images that came without a label")
    label_not_applied: int = Field(
        default=0,
        description="images stored before without a label that this source names a label "
        "for: kept on the path, not applied (`curate relabel` applies it)",
    )
    seconds: float = 0.0
    cancelled: bool = False


class ClassCount(Model):
    class_id: int
    name: str
    count: int
    by_split: dict[str, int] = Field(default_factory=dict)


class WorkspaceStatus(Model):
    path: str
    samples: int
    classes: dict[str, int]
    class_details: list[ClassCount]
    splits: dict[str, int]
    origins: dict[str, int]
    quarantined: int
    quarantine_reasons: dict[str, int]
    conflicts: int
    split_conflicts: int = Field(
        default=0, description="images their sources give in more than one split"
    )
    unlabeled: int
    workspace_bytes: int
    object_bytes: int
    catalog_bytes: int
    schema_version: int


class SampleRef(Model):
    """A sample as listings show it."""

    sid: int
    sample_id: str
    source: str | None
    label: str | None
    split: str | None
    origin: Origin
    width: int
    height: int
    extra: dict[str, Any] = Field(default_factory=dict)


class IngestRun(Model):
    ingest_id: int
    source: str
    format: str
    started_at: datetime
    finished_at: datetime | None
    status: str


class ChangeOp(StrEnum):
    ADD = "add"
    RELABEL = "relabel"
    DROP = "drop"
    RESTORE = "restore"
    MOVE = "move"


class NewSample(BaseModel):
    """An image made by curate (augmented or synthetic), on its way into the catalog."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    data: bytes = Field(repr=False, description="encoded image bytes (PNG)")
    info: ImageInfo
    origin: Origin
    parents: list[str] = Field(default_factory=list, description="sample_ids it was made from")
    recipe: dict[str, Any] = Field(default_factory=dict, description="how to make it again")
    class_id: int
    split: str | None = "train"
    reason: str | None = None
