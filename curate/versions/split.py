"""Leakage-aware, class-stratified train/val/test splits.

Units, not samples, are assigned: a unit is a connected group of samples
that must share a split -

* exact and near-duplicate groups from the latest scan (a duplicate in train
  and test is leakage);
* an augmented or synthetic sample and its parents (a flipped copy of a test
  image in train is leakage too). Such units always go to train: derived
  samples only ever live in train.

Each unit counts for its majority class. Per class, units that are already
placed (given splits, kept unless ``resplit``; lineage units pinned to train)
count first; free units are shuffled with the seed, sorted largest first, and
each goes to the split furthest below its target share. When given splits
are kept, a group that straddles two splits is gathered into the split most
of its members are in (train on a tie) and the moves are recorded with the
reason.

The plan is a pure function of the inputs and the seed (:func:`plan_split`);
:func:`apply_split` records the moves as pending ``move`` changes.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from curate.core.versions import SplitReport
from curate.errors import InvalidInput
from curate.outputs import check_name
from curate.store import samples_repo, worktree_repo
from curate.store.catalog import Catalog
from curate.store.changes_repo import CHANGE_SCHEMA, record_changes

DEFAULT_NAMES = ("train", "val", "test")


def parse_ratios(
    text: str | list[float], names: list[str] | None = None
) -> tuple[list[float], list[str]]:
    """ "0.8,0.1,0.1" -> ratios summing to 1, with split names (train, val[, test])."""
    try:
        ratios = (
            [float(x) for x in text.split(",")]
            if isinstance(text, str)
            else [float(x) for x in text]
        )
    except ValueError:
        raise InvalidInput(f"bad ratios {text!r}: give numbers like 0.8,0.1,0.1") from None
    shown = ",".join(f"{r:g}" for r in ratios)
    if not names:
        if not 2 <= len(ratios) <= len(DEFAULT_NAMES):
            raise InvalidInput(
                "give two or three ratios (train,val[,test]), e.g. 0.8,0.2 "
                f"(got {len(ratios)} ratio{'s' if len(ratios) != 1 else ''}: {shown})",
                hint="name more than three splits with --names" if len(ratios) > 3 else None,
            )
        names = list(DEFAULT_NAMES[: len(ratios)])
    names = list(names)
    if len(ratios) != len(names):
        raise InvalidInput(
            f"give one ratio per split ({len(names)} names, {len(ratios)} ratios); "
            "two or three ratios name train,val[,test]"
        )
    if len(ratios) < 2:
        raise InvalidInput(
            f"a split needs at least two parts: got one ratio ({shown}) for {names[0]!r}",
            hint="give two or more ratios and --names, e.g. --ratios 0.8,0.2 --names train,val",
        )
    if len(set(names)) != len(names) or any(not n.strip() for n in names):
        raise InvalidInput(f"split names must be distinct and non-empty: {names}")
    for name in names:  # exports make split names folder and file names
        check_name(name, "split", hint="pass --names with names like train,val,test")
    if not all(math.isfinite(r) for r in ratios):
        raise InvalidInput(f"bad ratios {shown}: give numbers like 0.8,0.1,0.1")
    if any(r < 0 for r in ratios):
        raise InvalidInput(f"ratios must not be negative: {shown}")
    if not abs(sum(ratios) - 1.0) < 1e-6:
        raise InvalidInput(
            f"ratios must sum to 1: {shown} sum to {sum(ratios):g}",
            hint="e.g. 0.8,0.1,0.1",
        )
    if ratios[0] <= 0:
        raise InvalidInput(f"the first split ({names[0]}) needs a share above 0: {shown}")
    return ratios, names


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = np.arange(n)

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return int(root)

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


@dataclass(frozen=True)
class SplitPlan:
    sids: np.ndarray
    before: list[str | None]
    after: list[str]
    reasons: list[str | None]
    groups: int
    grouped_samples: int
    straddling_fixed: int
    pinned_to_train: int


def plan_split(
    sids: list[int],
    class_ids: list[int | None],
    splits: list[str | None],
    origins: list[str],
    parent_sids: list[list[int] | None],
    groups: list[list[int]],
    *,
    ratios: list[float],
    names: list[str],
    seed: int,
    resplit: bool,
    train: str | None = None,
) -> SplitPlan:
    """The split of every sample (a pure function of its inputs)."""
    if seed < 0:
        raise InvalidInput(f"seed must be 0 or more, not {seed}")
    n = len(sids)
    train = train or names[0]
    index = {int(s): i for i, s in enumerate(sids)}
    uf = _UnionFind(n)
    grouped: set[int] = set()
    for group in groups:
        members = [index[s] for s in group if s in index]
        for m in members[1:]:
            uf.union(members[0], m)
        if len(members) > 1:
            grouped.update(members)
    derived = [i for i in range(n) if origins[i] != "original"]
    for i in derived:
        for p in parent_sids[i] or []:
            if p in index:
                uf.union(i, index[p])
                grouped.add(index[p])
        grouped.add(i)

    units: dict[int, list[int]] = {}
    for i in range(n):
        units.setdefault(uf.find(i), []).append(i)
    derived_roots = {uf.find(i) for i in derived}

    after: list[str | None] = [None] * n
    reasons: list[str | None] = [None] * n
    pinned_train = 0
    straddling = 0
    unit_class: dict[int, int | None] = {}
    free: dict[int | None, list[int]] = {}
    counts: dict[int | None, Counter] = {}
    for root, members in units.items():
        votes = Counter(class_ids[i] for i in members if class_ids[i] is not None)
        cls = min(votes, key=lambda c: (-votes[c], c)) if votes else None
        unit_class[root] = cls
        placed: str | None = None
        reason: str | None = None
        if root in derived_roots:
            placed = train
            if any(splits[i] not in (None, train) for i in members):
                reason = "leakage: augmented/synthetic samples and their parents stay in train"
            pinned_train += sum(1 for i in members if origins[i] == "original")
        elif not resplit:
            given = Counter(splits[i] for i in members if splits[i] is not None)
            if given:
                placed = min(given, key=lambda s: (-given[s], s != train, s))
                if len(given) > 1:
                    straddling += 1
                    reason = "leakage: duplicate group straddled splits " + ",".join(sorted(given))
        if placed is None:
            free.setdefault(cls, []).append(root)
        else:
            for i in members:
                after[i] = placed
                if splits[i] != placed:
                    reasons[i] = reason
            counts.setdefault(cls, Counter())[placed] += len(members)
    if resplit:
        # Count straddling groups the re-split removes, for the report.
        for members in units.values():
            if len({splits[i] for i in members if splits[i] is not None}) > 1:
                straddling += 1

    rng = np.random.default_rng(seed)
    for cls in sorted(free, key=lambda c: (c is None, c if c is not None else 0)):
        roots = free[cls]
        order = rng.permutation(len(roots))
        roots = [roots[k] for k in order]
        roots.sort(key=lambda r: -len(units[r]))  # stable: ties keep the seeded order
        have = counts.setdefault(cls, Counter())
        total = sum(have.values()) + sum(len(units[r]) for r in roots)
        targets = [r * total for r in ratios]
        for root in roots:
            deficits = [targets[k] - have[names[k]] for k in range(len(names))]
            k = int(np.argmax(deficits))
            for i in units[root]:
                after[i] = names[k]
            have[names[k]] += len(units[root])
    for i in range(n):
        if after[i] != splits[i] and reasons[i] is None:
            reasons[i] = "split"
    return SplitPlan(
        sids=np.asarray(sids, dtype=np.int64),
        before=list(splits),
        after=[str(a) for a in after],
        reasons=reasons,
        groups=sum(1 for m in units.values() if len(m) > 1),
        grouped_samples=len(grouped),
        straddling_fixed=straddling,
        pinned_to_train=pinned_train,
    )


def apply_split(
    cat: Catalog,
    *,
    ratios: list[float],
    names: list[str],
    seed: int = 0,
    resplit: bool = False,
    dry_run: bool = False,
    groups: list[list[int]] | None = None,
) -> SplitReport:
    """Plan a split of the working state and record the moves as pending changes.

    ``groups``: sids that must share a split (the scan's duplicate groups);
    default: read from the latest scan's duplicate findings.
    """
    table = worktree_repo.split_inputs(cat)
    if groups is None:
        groups = worktree_repo.duplicate_groups(cat)
    cols = table.to_pydict()
    plan = plan_split(
        cols["sid"],
        cols["class_id"],
        cols["split"],
        cols["origin"],
        cols["parent_sids"],
        groups,
        ratios=ratios,
        names=names,
        seed=seed,
        resplit=resplit,
    )
    how = f"split --ratios {','.join(f'{r:g}' for r in ratios)} --seed {seed}" + (
        " --resplit" if resplit else ""
    )
    moves = [
        {
            "op": "move",
            "sid": int(plan.sids[i]),
            "split": plan.after[i],
            "reason": how if plan.reasons[i] == "split" else f"{how}: {plan.reasons[i]}",
            "details": json.dumps({"from": plan.before[i], "seed": seed}),
        }
        for i in range(len(plan.after))
        if plan.after[i] != plan.before[i]
    ]
    if moves and not dry_run:
        record_changes(
            cat,
            pa.table(
                {name: [m.get(name) for m in moves] for name in CHANGE_SCHEMA.names},
                schema=CHANGE_SCHEMA,
            ),
        )
    names_of = dict(samples_repo.classes(cat))
    by_class: dict[str, Counter] = {}
    for cid, split in zip(cols["class_id"], plan.after, strict=True):
        by_class.setdefault(names_of.get(cid, "(unlabeled)"), Counter())[split] += 1
    warnings = []
    train_only = sorted(
        k for k, v in by_class.items() if k != "(unlabeled)" and set(v) == {names[0]}
    )
    if plan.pinned_to_train and len(names) > 1 and train_only:
        shown = ", ".join(map(repr, train_only[:8])) + (", ..." if len(train_only) > 8 else "")
        warnings.append(
            f"class{'es' if len(train_only) > 1 else ''} {shown} got no sample outside "
            f"{names[0]}: augmented/synthetic samples and their parents stay in {names[0]}, "
            "and these classes' originals are parents (split before augmenting: "
            "`curate reset` undoes pending augmentation)"
        )
    return SplitReport(
        warnings=warnings,
        names=names,
        ratios=ratios,
        seed=seed,
        resplit=resplit,
        samples=len(plan.after),
        moved=len(moves),
        groups=plan.groups,
        grouped_samples=plan.grouped_samples,
        straddling_fixed=plan.straddling_fixed,
        pinned_to_train=plan.pinned_to_train,
        splits=dict(sorted(Counter(plan.after).items())),
        by_class={k: dict(sorted(v.items())) for k, v in sorted(by_class.items())},
        pending=worktree_repo.pending_count(cat),
    )
