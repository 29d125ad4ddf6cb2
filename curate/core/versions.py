"""Records of working changes, splits, versions, diffs and exports.

Stdlib + pydantic only: the store returns these, the API hands them out, the
CLI and the TUI render them (``model_dump(mode="json")`` is what ``--json``
prints).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    # serialize_by_alias: diff entries have a "from" key, a Python keyword.
    model_config = ConfigDict(
        frozen=True, extra="forbid", serialize_by_alias=True, validate_by_name=True
    )


# -- working changes ------------------------------------------------------------------
class Change(_Model):
    """One working change, pending (``version`` is None) or committed."""

    change_id: int
    created_at: datetime
    op: str = Field(description="add | relabel | drop | restore | move")
    sample_id: str
    source: str | None
    origin: str = Field(description="the sample's origin: original | augmented | synthetic")
    parents: list[str] = Field(
        default_factory=list,
        description="sample_ids the sample was made from (an augmented or synthetic one's)",
    )
    from_label: str | None = Field(description="label before the change (the base state)")
    label: str | None = Field(description="label the change gives (add/relabel/restore)")
    split: str | None = Field(description="split the change gives (add/move/restore)")
    label_source: str | None
    reason: str | None
    run_id: int | None = Field(description="scan run whose finding prompted the change")
    details: dict[str, Any] | None = None
    version: str | None = Field(default=None, description="the version it went into")


class ChangeReport(_Model):
    """What a relabel/drop/restore/accept/reset call did."""

    op: str
    recorded: int = Field(description="changes written")
    unchanged: int = Field(default=0, description="samples already in the asked state")
    cancelled: int = Field(
        default=0,
        description="pending changes (this call's included) that cancelled out: "
        "the samples are back in their committed state",
    )
    followed: int = Field(
        default=0,
        description="of the changes, those of augmented samples that followed their parent "
        "(relabeled, dropped or restored with it; their details name the parent)",
    )
    samples: list[str] = Field(default_factory=list, description="sample_ids changed")
    details: list[dict[str, Any]] = Field(default_factory=list)
    pending: int = Field(description="pending changes after this call")


class AcceptReport(_Model):
    """``accept --type label``: scan suggestions turned into relabels."""

    run_id: int | None
    candidates: int = Field(description="label findings with a suggestion in that run")
    accepted: int
    skipped_not_live: int = 0
    skipped_same_label: int = 0
    skipped_human_edit: int = Field(default=0, description="kept: a human relabeled it already")
    skipped_low_confidence: int = 0
    skipped_over_limit: int = 0
    followed: int = Field(
        default=0, description="augmented samples relabeled with their parent (not in relabels)"
    )
    dry_run: bool = False
    relabels: list[dict[str, Any]] = Field(default_factory=list)
    pending: int


# -- lineage ---------------------------------------------------------------------------
class LineageParent(_Model):
    """A sample another one was made from, with its working state."""

    sid: int | None = Field(description="None: no sample with that id is in the catalog")
    sample_id: str
    origin: str | None
    live: bool = Field(description="in the working state (False: dropped)")
    label: str | None = Field(description="working label (None when dropped or unlabeled)")
    split: str | None
    source: str | None = Field(description="its first source path (an original's)")


class LineageChild(_Model):
    """A sample made from this one (an augmented copy, a synthetic image)."""

    sid: int
    sample_id: str
    origin: str
    live: bool = Field(description="in the working state (False: dropped, or its add reset)")


class Lineage(_Model):
    """Where one sample came from and what was made from it (``curate lineage``)."""

    sid: int
    sample_id: str
    origin: str = Field(description="original | augmented | synthetic")
    live: bool = Field(description="in the working state (False: dropped, or its add reset)")
    label: str | None = Field(description="working label (None when dropped or unlabeled)")
    split: str | None = Field(description="working split (None when dropped or unsplit)")
    sources: list[str] = Field(
        default_factory=list, description="paths it was ingested from (an original's)"
    )
    parents: list[LineageParent] = Field(
        default_factory=list, description="samples it was made from, in the recorded order"
    )
    recipe: dict[str, Any] | None = Field(
        default=None,
        description="how it was made, as stored: an augmentation's policy, seed, copy and "
        "applied transforms; a synthetic image's generator, checkpoint, seed and options",
    )
    children: list[LineageChild] = Field(
        default_factory=list, description="samples made from it, by sid"
    )


# -- splits ------------------------------------------------------------------------------
class SplitReport(_Model):
    names: list[str]
    ratios: list[float]
    seed: int
    resplit: bool
    samples: int
    moved: int = Field(description="samples whose split changes (recorded as move changes)")
    groups: int = Field(description="duplicate / lineage groups kept inside one split")
    grouped_samples: int
    straddling_fixed: int = Field(
        description="groups that straddled splits before and no longer do"
    )
    pinned_to_train: int = Field(description="samples in train because of augmented/synthetic kin")
    splits: dict[str, int]
    by_class: dict[str, dict[str, int]]
    pending: int
    warnings: list[str] = Field(default_factory=list)


# -- versions ----------------------------------------------------------------------------
class VersionStats(_Model):
    samples: int
    classes: dict[str, dict[str, int]] = Field(description="class -> split -> count")
    splits: dict[str, int]
    origins: dict[str, int]
    label_sources: dict[str, int]
    unlabeled: int
    changes: dict[str, int] = Field(description="op -> changes this version took in")
    new_samples: int = Field(description="samples not in the parent version")
    class_count: int | None = Field(
        default=None,
        description="classes the workspace had at commit (class ids 0..class_count-1): the "
        "version's class list, so a class made later does not change its label indices "
        "(None in versions committed before this was recorded: their commit time decides)",
    )
    digest: list[str] = Field(
        default_factory=list,
        description="hex (count, lane0, lane1): the order-independent digest the hash is made "
        "of; the next commit updates it from the rows it changes",
    )


class VersionInfo(_Model):
    version_id: int
    name: str = Field(description='"v3"')
    hash: str
    parent: str | None
    message: str | None
    created_at: datetime
    sid_watermark: int
    tags: list[str] = Field(default_factory=list)
    stats: VersionStats


class CommitResult(_Model):
    version: VersionInfo
    seconds: float


class DiffSample(_Model):
    sample_id: str
    source: str | None
    label: str | None
    split: str | None
    origin: str


class Relabel(_Model):
    sample_id: str
    source: str | None
    from_: str | None = Field(alias="from")
    to: str | None
    label_source: str | None = None
    reason: str | None = None
    run_id: int | None = None


class Move(_Model):
    sample_id: str
    source: str | None
    from_split: str | None
    to_split: str | None
    reason: str | None = None


class ClassCounts(_Model):
    a: int
    b: int
    delta: int


class VersionDiff(_Model):
    a: str
    b: str
    a_hash: str | None
    b_hash: str | None
    identical: bool
    summary: dict[str, int]
    added: list[DiffSample]
    removed: list[DiffSample]
    relabeled: list[Relabel]
    moved: list[Move]
    classes: dict[str, ClassCounts]
    splits: dict[str, ClassCounts]


class Tag(_Model):
    name: str
    version: str
    created_at: datetime


# -- export ------------------------------------------------------------------------------
class ExportFormat(StrEnum):
    HF = "hf"
    PARQUET = "parquet"
    IMAGEFOLDER = "imagefolder"
    WEBDATASET = "webdataset"


class ExportResult(_Model):
    version: str
    hash: str
    format: ExportFormat
    out: str
    samples: int
    splits: dict[str, int]
    skipped_unlabeled: int = Field(
        default=0, description="imagefolder cannot hold unlabeled images"
    )
    files: int
    bytes: int
    seconds: float
    manifest: str
    warnings: list[str] = Field(default_factory=list)
