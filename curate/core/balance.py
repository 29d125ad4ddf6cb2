"""The balancing plan: how many extra samples each class needs.

cleanlab's class-imbalance check flags only the single rarest class; curate
reports every class below the target. Pure computation over counts, so the
scan summary, augmentation and synthesis all read the same plan.
"""

from __future__ import annotations

from pydantic import Field

from curate.core.models import Model
from curate.errors import InvalidInput


class ClassNeed(Model):
    class_id: int
    name: str
    count: int
    needed: int = Field(description="extra samples to reach the target (0 when at or above it)")


class BalancingPlan(Model):
    split: str | None = Field(description="the split the counts come from (None: all samples)")
    target: int
    imbalance_ratio: float = Field(
        description="largest class count / smallest non-empty class count (0 when every class "
        "is empty); an empty class would make it infinite, so those are listed apart"
    )
    classes: list[ClassNeed]
    empty_classes: list[str] = Field(
        default_factory=list,
        description="classes with no samples where the counts come from (not in the ratio)",
    )

    @property
    def under_represented(self) -> list[ClassNeed]:
        return [c for c in self.classes if c.needed > 0]

    def needed(self, name: str) -> int:
        for c in self.classes:
            if c.name == name:
                return c.needed
        raise InvalidInput(f"no class named {name!r} in the balancing plan")


def plan_balance(
    counts: list[tuple[int, str, int]], *, target: int | None = None, split: str | None = None
) -> BalancingPlan:
    """``counts`` is (class_id, name, count); ``target`` defaults to the largest count."""
    if not counts:
        raise InvalidInput("no labeled samples: nothing to balance")
    largest = max(c for _, _, c in counts)
    if target is None:
        target = largest
    if target < 1:
        raise InvalidInput(f"target per class must be at least 1 (got {target})")
    nonzero = [c for _, _, c in counts if c > 0]
    ratio = largest / min(nonzero) if nonzero else 0.0
    return BalancingPlan(
        split=split,
        target=target,
        imbalance_ratio=round(ratio, 3),
        classes=[
            ClassNeed(class_id=i, name=n, count=c, needed=max(0, target - c)) for i, n, c in counts
        ],
        empty_classes=[n for _, n, c in counts if c == 0],
    )
