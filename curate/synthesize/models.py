"""Requests and results of synthesis (pydantic; no torch)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from curate.core.models import MAX_IMAGES, MAX_INT32, Model
from curate.plugins.generators import FitReport


class GateSettings(Model):
    min_confidence: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="the gate classifier's probability of the target class must reach this",
    )
    near_duplicate_distance: float | None = Field(
        None,
        ge=0.0,
        description="RMS pixel distance (images in [0, 1]) at or under which a generated "
        "image is a copy of a real one; default: calibrated on the training images",
    )


class SynthRequest(Model):
    generator: str = Field(description="generator plugin name (ddpm, gan, pipeline, ...)")
    classes: list[str] | None = Field(
        None, description="classes to generate; default: every class the balancing plan lists"
    )
    n: int | None = Field(
        None,
        ge=1,
        le=MAX_IMAGES,
        description="images to generate per class; default: the balancing plan's need",
    )
    target: int | None = Field(
        None,
        ge=1,
        le=MAX_IMAGES,
        description="balancing target per class (default: the largest class)",
    )
    # ten million steps is days of any generator here; above it is a typo
    fit_steps: int | None = Field(
        None,
        ge=0,
        le=10_000_000,
        description="training steps; default: the generator's own default",
    )
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N")
    seed: int = Field(0, ge=0, le=MAX_INT32, description="seed for fitting and sampling")
    params: dict[str, Any] = Field(
        default_factory=dict, description="generator options (see its Params)"
    )
    gate: GateSettings = Field(default_factory=GateSettings)
    fill: bool = Field(
        False,
        description="keep generating until n per class are admitted "
        "(at most max_attempts x n generated)",
    )
    max_attempts: float = Field(3.0, ge=1.0, description="cap on generated / n when fill is on")
    refit: bool = Field(False, description="fit again even when a matching checkpoint exists")
    ray_address: str | None = Field(
        None,
        description="run the generator in a Ray actor: a cluster address "
        "(ray://host:10001, auto) or 'local' for a Ray instance on this machine",
    )
    remote_gpus: float = Field(1.0, ge=0.0, description="GPUs the Ray actor reserves")
    engine: Literal["local", "ray"] | None = Field(
        None,
        description="ray: host the generator in a Ray actor holding remote_gpus GPUs on the "
        "cluster at ray_address (default: CURATE_RAY_ADDRESS, else a local Ray instance); "
        "default: CURATE_ENGINE, else local",
    )


class ClassOutcome(Model):
    class_name: str
    class_id: int
    requested: int = Field(description="images asked for")
    generated: int
    admitted: int
    rejected: int
    reasons: dict[str, int] = Field(default_factory=dict, description="rejections per reason")
    mean_confidence: float | None = Field(
        None, description="mean gate-classifier probability of the target class (admitted)"
    )
    feature_distance: float | None = Field(
        None,
        description="FID-style Frechet distance between real and admitted images' "
        "classifier embeddings",
    )
    real_split_half_distance: float | None = Field(
        None, description="the same distance between two halves of the real images (the floor)"
    )


class SynthResult(Model):
    generator: str
    checkpoint: str | None = Field(description="content hash of the checkpoint that sampled")
    checkpoint_reused: bool = False
    fit: FitReport | None = None
    device: str
    where: str = Field(description="local or ray")
    classifier: str = Field(description="which classifier scored the gate")
    near_duplicate_distance: float | None = None
    leakage_checked: bool
    generated: int
    admitted: int
    rejected: int
    rejected_reasons: dict[str, int] = Field(default_factory=dict)
    classes: list[ClassOutcome] = Field(default_factory=list)
    admitted_sids: list[int] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    seconds: dict[str, float] = Field(default_factory=dict)
    cancelled: bool = False
    fit_cancelled: bool = Field(
        False,
        description="the cancel stopped a fit: that fit was not kept (the next run fits "
        "again); the classes after it were not sampled",
    )
