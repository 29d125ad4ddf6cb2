"""Requests and results of ``Workspace.evaluate``. stdlib + pydantic only."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from curate.core.models import Model


class ClassifierConfig(Model):
    """The fixed downstream classifier: the same for every version compared.

    A small multilayer perceptron on the pixels (scikit-learn), trained with a
    fixed seed and a fixed number of epochs on one CPU thread (deterministic,
    cheap). It is trained to fit its labels, as deep networks are, so label
    noise in the training split costs it what it costs real models.
    """

    hidden: int = Field(256, ge=8, le=4096, description="units in each hidden layer")
    layers: int = Field(2, ge=1, le=4, description="hidden layers")
    epochs: int = Field(60, ge=1, le=1000, description="passes over the training split")
    batch_size: int = Field(64, ge=1, le=4096, description="samples per gradient step")
    lr: float = Field(2e-3, gt=0, le=1, description="Adam learning rate")
    l2: float = Field(1e-4, ge=0, description="L2 penalty on the weights")
    seeds: int = Field(3, ge=1, le=20, description="training runs per arm (seeds 0..N-1), averaged")
    max_side: int = Field(32, ge=4, le=256, description="images are resized to at most this side")


class EvalRequest(Model):
    """What ``Workspace.evaluate`` compares."""

    version: str = Field(description="the version to evaluate (usually the curated one)")
    against: str | None = Field(None, description="the version to compare with (usually raw)")
    truth: str | None = Field(
        None,
        description="CSV or parquet file of clean labels for the held-out split "
        "(columns path or sample_id, and the label column)",
    )
    truth_column: str | None = Field(
        None, description="label column of the truth file (default: true_label, else label)"
    )
    eval_split: str = Field("test", description="the held-out split the arms are scored on")
    train_split: str = Field("train", description="the split each arm trains on")
    oracle: bool = Field(True, description="add a clean-label oracle arm when truth is given")
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)


class SeedRun(Model):
    seed: int
    accuracy: float
    macro_f1: float


class ArmResult(Model):
    """One trained configuration: a version's train split with some labels."""

    role: Literal["baseline", "candidate", "oracle"]
    version: str
    labels: str = Field(description="where the training labels come from")
    train_samples: int
    train_by_class: dict[str, int]
    train_origins: dict[str, int] = Field(description="original / augmented / synthetic")
    relabeled_from_truth: int = Field(0, description="oracle: training labels the truth changed")
    accuracy: float = Field(description="mean over seeds")
    accuracy_std: float
    macro_f1: float = Field(description="mean over seeds")
    macro_f1_std: float
    per_class_recall: dict[str, float] = Field(description="mean over seeds")
    runs: list[SeedRun] = Field(description="accuracy and macro-F1 of each seed")
    seconds: float


class EvaluationResult(Model):
    candidate: str
    candidate_hash: str
    baseline: str | None
    baseline_hash: str | None
    eval_split: str
    train_split: str
    test_samples: int = Field(description="held-out samples scored")
    test_by_class: dict[str, int]
    test_labels: str = Field(description="where the held-out labels come from")
    excluded: dict[str, int] = Field(
        default_factory=dict, description="held-out samples left out, by reason"
    )
    truth_relabels: int = Field(
        0, description="held-out samples whose clean label differs from the version's"
    )
    classifier: ClassifierConfig
    image_size: tuple[int, int] = Field(description="(width, height) the classifier sees")
    image_mode: str
    arms: list[ArmResult]
    gap_closed_accuracy: float | None = Field(
        description="(candidate - baseline) / (oracle - baseline) accuracy; None without "
        "a baseline and an oracle that beats it"
    )
    gap_closed_macro_f1: float | None
    warnings: list[str] = Field(default_factory=list)
    seconds: float

    def arm(self, role: str) -> ArmResult | None:
        return next((a for a in self.arms if a.role == role), None)
