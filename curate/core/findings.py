"""Scan requests, results and findings: the shapes the scan engine, the store,
the API, the CLI and the TUI share. stdlib + pydantic only.

Conventions (the same for every kind of finding):

* ``score`` is in [0, 1] and LOWER means MORE suspicious (cleanlab's
  convention); listings rank by ascending score.
* ``is_issue`` is the detector's decision; rows with ``is_issue = false`` are
  kept for ``label`` / ``outlier`` / ``quality`` so every sample has a score.
* ``duplicate`` and ``near_duplicate`` rows carry ``details["group"]``: the
  cluster id inside the run. Every member of a group has a row, so a split can
  keep a whole group on one side.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator

from curate.core.balance import BalancingPlan
from curate.core.models import MAX_INT32, Model, check_workers


class FindingKind(StrEnum):
    LABEL = "label"
    DUPLICATE = "duplicate"
    NEAR_DUPLICATE = "near_duplicate"
    OUTLIER = "outlier"
    QUALITY = "quality"
    CONFLICT = "conflict"


class Device(StrEnum):
    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class ScanRequest(Model):
    """What ``Workspace.scan`` runs."""

    extractor: str | None = Field(
        default=None, description="extractor plugin name (None: the default extractor)"
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="options of the extractor (its Params model)"
    )
    folds: int = Field(default=5, ge=2, le=50, description="cross-validation folds")
    device: Device = Field(default=Device.AUTO, description="auto picks CUDA when present")
    # numpy's legacy seeding takes 0..2**32-1 and the folds use seed + i: stay in int32.
    seed: int = Field(
        default=0, ge=0, le=2**31 - 1, description="seed for folds, models and sampling"
    )
    streaming: bool | None = Field(
        default=None,
        description="keep pixels, features and embeddings on disk (.curate/cache/scan) and "
        "read them in chunks; None: only above 50,000 samples",
    )
    max_train: int = Field(
        default=50_000,
        ge=10,
        le=MAX_INT32,
        description="each fold's classifier heads train on at most this many samples "
        "(a stratified random subset above it); every sample is still predicted out of sample",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        description="processes of the local engine for a CPU scan (decoding, feature maps, "
        "folds); None: 1, this process; the same findings whatever the count",
    )

    _workers_fit_the_machine = field_validator("workers")(check_workers)


class ClassSummary(Model):
    class_id: int
    name: str
    count: int
    label_issues: int = Field(description="samples of this class flagged as mislabelled")
    needed: int = Field(description="extra samples to reach the balancing target")


class ScanResult(Model):
    run_id: int
    extractor: str
    config: dict[str, Any]
    device: str = Field(description="the device the scan actually ran on")
    seed: int
    samples: int = Field(description="live samples scanned")
    labeled: int = Field(description="samples with a label (label issues need one)")
    issues: dict[str, int] = Field(description="number of issues by finding kind")
    duplicate_groups: int = Field(description="groups of exact or near duplicates")
    classes: list[ClassSummary]
    imbalance: BalancingPlan | None = Field(description="None when no sample has a label")
    warnings: list[str] = Field(
        default_factory=list, description="checks that were skipped or degraded, and why"
    )
    timing: dict[str, float] = Field(description="seconds per stage")
    seconds: float


class Finding(Model):
    """One finding as listings show it."""

    run_id: int | None = Field(description="scan run (None for live conflicts)")
    sid: int
    sample_id: str
    source: str | None = Field(description="original path of the sample")
    kind: FindingKind
    given_label: str | None = Field(description="the label when the scan ran")
    current_label: str | None = Field(description="the label now (after working changes)")
    suggested_label: str | None
    score: float | None = Field(description="lower = more suspicious")
    is_issue: bool
    details: dict[str, Any] = Field(default_factory=dict)


class ScanRun(Model):
    run_id: int
    extractor: str
    config: dict[str, Any]
    seed: int | None
    status: str
    timing: dict[str, float]
    started_at: str
    finished_at: str | None
