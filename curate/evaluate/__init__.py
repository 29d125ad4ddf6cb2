"""Measure what curation bought: train one fixed classifier per version, score on clean labels.

``ws.evaluate("v2", against="v1", truth="ground_truth.csv")`` -> :class:`EvaluationResult`.
"""

from curate.evaluate.engine import run_evaluation
from curate.evaluate.models import (
    ArmResult,
    ClassifierConfig,
    EvalRequest,
    EvaluationResult,
    SeedRun,
)
from curate.evaluate.truth import Truth, load_truth

__all__ = [
    "ArmResult",
    "ClassifierConfig",
    "EvalRequest",
    "EvaluationResult",
    "SeedRun",
    "Truth",
    "load_truth",
    "run_evaluation",
]
