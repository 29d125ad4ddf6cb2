"""Materialized augmentation: new training samples for the classes that need them.

``run_augment`` turns a balancing plan into jobs (class, parent, copy
number), runs them over CPU cores and stores the results as pending ``add``
changes with lineage. A job's output depends only on its recipe:

    seed = sample_seed(policy.seed, parent sample_id, copy, attempt)
    pixels = Compose(policy pipeline for the class).set_random_seed(seed)(parent)

so the same recipe gives the same bytes with 1 worker or 16, and
:func:`replay_recipe` rebuilds any augmented sample on its own.

Parents come from the train split only (never val or test). A workspace with
no splits at all uses every sample and marks the new ones ``train``.

Jobs run on an engine (:mod:`curate.engines`) in batches: locally a pool of
processes (``fork`` where the platform has it, so they inherit the already
imported albumentations instead of paying ~3 s each to import it and torch
again), or Ray Data tasks with ``--engine ray``. Workers read their parents'
bytes from the packs themselves; the main process writes finished results in
groups (one transaction each) and polls ``cancel``; Ctrl-C or a cancel keeps
every finished result.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator

from curate.augment.policy import Policy, PolicyInvalid, PolicyIssue
from curate.augment.seeds import sample_seed
from curate.core.balance import BalancingPlan, plan_balance
from curate.core.models import MAX_IMAGES, MAX_INT32, Model, Origin, check_workers
from curate.core.progress import CancelFn, ProgressFn, no_progress
from curate.engines import using_engine
from curate.errors import Cancelled, CurateError, InvalidInput, NotFound

MAX_ATTEMPTS = 8  # redraws when a draw leaves the image unchanged (every step skipped)
MAX_ROUNDS = 3  # top-up rounds when outputs were duplicates or unchanged
# Finished samples are stored in groups (one pack + one catalog transaction
# each) on a writer thread, so the disk's fsync waits overlap augmentation
# instead of adding to it. A group starts when the previous one is done and
# 2048 samples or 4 MB are waiting, or 2 s after the last one started. A group
# costs ~20 ms of CPU whatever its size, so small images go in large groups;
# large images in groups of a few MB, so that the last group, which nothing
# overlaps, is written quickly. At most 64 MB wait (the driver blocks on the
# writer beyond that). Ctrl-C, a cancel or an error stores what is waiting
# before stopping.
WRITE_COUNT = 2048
WRITE_BYTES = 4 << 20
WRITE_SECONDS = 2.0
MAX_WAITING_BYTES = 64 << 20
GRAY_MODES = ("L", "1", "P;L", "LA")

#: A job as a worker gets it (engine batches are slices of a table of these).
JOB_SCHEMA = pa.schema(
    [
        ("index", pa.int64()),
        ("parent_id", pa.string()),
        ("pack", pa.string()),
        ("offset", pa.int64()),
        ("nbytes", pa.int64()),
        ("mode", pa.string()),
        ("key", pa.string()),
        ("copy", pa.int64()),
    ]
)
#: What a worker returns per job: the PNG (null: every draw left the image
#: unchanged) with its sha256 and its whole recipe as JSON text (seed, attempt
#: and applied parameters included), or an error. The driver stores these
#: columns as they are (``changes_repo.add_sample_table``): no per-sample
#: Python objects and no JSON encoding on its side.
RESULT_SCHEMA = pa.schema(
    [
        ("index", pa.int64()),
        ("sample_id", pa.string()),
        ("png", pa.binary()),
        ("seed", pa.int64()),
        ("attempt", pa.int64()),
        ("recipe", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("channels", pa.int8()),
        ("error", pa.string()),
    ]
)


class AugmentRequest(Model):
    """What to generate. Either ``balance`` (up to a per-class target) or ``copies`` per parent."""

    balance: bool = Field(default=True, description="top up classes below the target")
    target_per_class: int | None = Field(
        default=None,
        ge=1,
        le=MAX_IMAGES,
        description="train samples each class should reach (default: largest)",
    )
    copies: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description="instead of balancing: each parent gets this many augmented copies in all",
    )
    classes: list[str] | None = Field(default=None, description="only these classes")
    workers: int | None = Field(default=None, ge=1, description="processes (default: CPU cores)")
    chunk_size: int | None = Field(
        default=None, ge=1, le=MAX_INT32, description="jobs per worker task"
    )
    dry_run: bool = Field(default=False, description="plan only: generate and store nothing")

    _workers_fit_the_machine = field_validator("workers")(check_workers)


class ClassAugmentation(Model):
    class_id: int
    name: str
    count: int = Field(description="samples of the class the counts come from, before")
    parents: int = Field(description="samples it can be augmented from")
    needed: int = Field(description="new samples the plan asked for")
    added: int = 0
    duplicates: int = Field(default=0, description="outputs already in the workspace")
    unchanged: int = Field(default=0, description="draws that left the image as it was")
    pipeline: str = Field(default="default", description="'default' or 'class:<name>'")
    note: str | None = None


class AugmentReport(Model):
    policy_name: str
    policy_hash: str
    counts_from: str = Field(description="'train' or 'all samples' (no splits yet)")
    new_split: str = "train"
    target: int | None
    classes: list[ClassAugmentation]
    needed: int
    added: int
    duplicates: int
    unchanged: int
    workers: int
    seconds: float
    images_per_second: float
    dry_run: bool = False
    cancelled: bool = False
    warnings: list[str] = Field(
        default_factory=list, description="what the user should know before going on"
    )


#: Why augmenting before splitting is a trap (the CLI prints it, the TUI shows it).
UNSPLIT_WARNING = (
    "no splits yet: every sample could be a parent, and a later split keeps the parents "
    "used in train with the samples made from them, so fewer of an augmented class's "
    "originals can go to val/test; split first (`curate split`), or undo this run with "
    "`curate reset`"
)


# -- jobs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Parent:
    sid: int
    sample_id: str
    class_id: int
    mode: str
    location: tuple[str, int, int]


@dataclass(frozen=True)
class _Job:
    index: int
    parent: _Parent
    key: str
    copy: int


def decode_mode(mode: str) -> str:
    """Grayscale stays one channel; everything else is augmented as RGB."""
    return "L" if mode in GRAY_MODES else "RGB"


@dataclass
class WorkingState:
    """One read of the working state: where parents come from, class counts, parents."""

    split: str | None  # 'train', or None while no sample has a split
    counts: list[tuple[int, str, int]]  # (class_id, name, count in that split) for every class
    parents: dict[int, list[_Parent]]  # class_id -> non-augmented samples of that split


def read_working_state(cat) -> WorkingState:
    """Counts as ``Workspace.balancing_plan`` computes them, and the parents, in one query.

    Parents come from the train split; a workspace where no (non-augmented)
    sample has a split yet uses every sample. Augmented samples made before
    any split existed are marked train and must not count as "a split exists".
    A workspace with splits but no train split is an error: val and test are
    never parents.
    """
    from curate.store import samples_repo

    table = samples_repo.working_samples(cat)
    cols = {
        name: table.column(name).to_pylist()
        for name in (
            "sid", "sample_id", "class_id", "split", "origin", "mode", "pack", "pack_offset",
            "nbytes",
        )
    }  # fmt: skip
    augmented = Origin.AUGMENTED.value
    named = sorted(
        {sp for sp, o in zip(cols["split"], cols["origin"], strict=True) if sp and o != augmented}
    )
    if named and "train" not in named:
        raise InvalidInput(
            f"the workspace has splits ({', '.join(named)}) but no 'train' split; "
            "augmentation only uses train samples as parents",
            hint="assign a train split first",
        )
    split = "train" if named else None
    count: dict[int, int] = {}
    parents: dict[int, list[_Parent]] = {}
    for i in range(table.num_rows):
        cid = cols["class_id"][i]
        if cid is None or (split is not None and cols["split"][i] != split):
            continue
        count[cid] = count.get(cid, 0) + 1
        if cols["origin"][i] == augmented:
            continue  # augmenting augmented samples compounds distortions
        parents.setdefault(int(cid), []).append(
            _Parent(
                sid=int(cols["sid"][i]),
                sample_id=cols["sample_id"][i],
                class_id=int(cid),
                mode=decode_mode(cols["mode"][i]),
                location=(cols["pack"][i], int(cols["pack_offset"][i]), int(cols["nbytes"][i])),
            )
        )
    counts = [(cid, name, count.get(cid, 0)) for cid, name in samples_repo.classes(cat)]
    return WorkingState(split=split, counts=counts, parents=parents)


def split_source(cat) -> str | None:
    """The split parents come from: 'train', or None when no sample has a split yet."""
    return read_working_state(cat).split


def _jobs_for(
    parents: list[_Parent],
    key: str,
    n: int,
    used: set[tuple[str, int]],
    start: int,
    have: dict[str, int] | None = None,
) -> list[_Job]:
    """``n`` jobs cycling over ``parents``, each with the next copy number not used yet.

    Parents with fewest children made before go first (``have``; default:
    counted from ``used``), so a run resumed after Ctrl-C spreads its copies
    as the uninterrupted run would have, and makes the same samples.
    """
    if have is None:
        have = _children_per_parent(used)
    parents = sorted(parents, key=lambda p: have.get(p.sample_id, 0))  # stable
    jobs: list[_Job] = []
    next_copy: dict[str, int] = {}
    for k in range(n):
        parent = parents[k % len(parents)]
        copy = _take_copy(parent.sample_id, next_copy, used)
        jobs.append(_Job(index=start + k, parent=parent, key=key, copy=copy))
    return jobs


def _copy_jobs(
    parents: list[_Parent],
    key: str,
    copies: int,
    used: set[tuple[str, int]],
    start: int,
    have: dict[str, int] | None = None,
) -> list[_Job]:
    """Jobs giving each parent ``copies`` children in all (those made before count).

    Round-robin over parents (copy 0 of every parent, then copy 1, ...), so an
    interrupted run leaves an even spread and a rerun completes it. ``have``:
    children per parent made before (default: counted from ``used``).
    """
    if have is None:
        have = _children_per_parent(used)
    jobs: list[_Job] = []
    next_copy: dict[str, int] = {}
    for round_ in range(copies):
        for parent in parents:
            if round_ < have.get(parent.sample_id, 0):
                continue
            copy = _take_copy(parent.sample_id, next_copy, used)
            jobs.append(_Job(index=start + len(jobs), parent=parent, key=key, copy=copy))
    return jobs


def _take_copy(parent_id: str, next_copy: dict[str, int], used: set[tuple[str, int]]) -> int:
    """The parent's next copy number no run used yet; marks it used."""
    copy = next_copy.get(parent_id, 0)
    while (parent_id, copy) in used:
        copy += 1
    used.add((parent_id, copy))
    next_copy[parent_id] = copy + 1
    return copy


def _children_per_parent(used: set[tuple[str, int]]) -> dict[str, int]:
    have: dict[str, int] = {}
    for parent_id, _ in used:
        have[parent_id] = have.get(parent_id, 0) + 1
    return have


# -- worker side ----------------------------------------------------------------------------
_WORKER_POLICIES: dict[str, Policy] = {}
_WORKER_PIPELINES: dict[tuple[str, str], Any] = {}


def _pipeline(doc: str, key: str) -> Any:
    from curate.augment.build import compile_steps

    policy = _WORKER_POLICIES.get(doc)
    if policy is None:
        policy = _WORKER_POLICIES[doc] = Policy.model_validate(json.loads(doc))
    compiled = _WORKER_PIPELINES.get((doc, key))
    if compiled is None:
        compiled = _WORKER_PIPELINES[(doc, key)] = compile_steps(
            policy, key, save_applied_params=True
        )
    return policy, compiled


def augment_one(
    policy: Policy, compose: Any, image: np.ndarray, parent_id: str, copy: int
) -> tuple[np.ndarray | None, int, int, list]:
    """(pixels or None if every draw left the image unchanged, seed, attempt, applied)."""
    from curate.augment.build import apply_seeded

    seed, attempt, applied = 0, 0, []
    for attempt in range(MAX_ATTEMPTS):
        seed = sample_seed(policy.seed, parent_id, copy, attempt)
        out, applied = apply_seeded(compose, image, seed)
        # Nothing applied (every step skipped by its p): compare pixels. Something
        # applied: almost surely changed, and comparing pixels on every sample
        # would cost more than the rare identical draw.
        if applied or out.shape != image.shape or not np.array_equal(out, image):
            return out, seed, attempt, applied
    return None, seed, attempt, applied


# hashlib.sha256() looks the algorithm up in OpenSSL's providers on every call
# (~34k instructions with OpenSSL 3, a fifth of curate's per-sample work on an
# 8x8 image); copying a ready context skips the lookup.
_SHA256 = hashlib.sha256()


def _sha256_hex(data: bytes) -> str:
    digest = _SHA256.copy()
    digest.update(data)
    return digest.hexdigest()


def augment_batch(jobs: pa.Table, context: tuple[str, Any, dict]) -> pa.Table:
    """:func:`_augment_batch` with albumentations' warnings silenced (the run's
    check on a real parent said each once: :func:`~curate.augment.build.quiet_albumentations`)."""
    from curate.augment.build import quiet_albumentations

    with quiet_albumentations():
        return _augment_batch(jobs, context)


def _augment_batch(jobs: pa.Table, context: tuple[str, Any, dict]) -> pa.Table:
    """Run a batch of jobs (:data:`JOB_SCHEMA` rows) in a worker: :data:`RESULT_SCHEMA` rows.

    ``context`` is (policy document, :class:`curate.engines.packs.PackReader`,
    the recipe fields every sample of the run shares): the worker reads its
    parents' bytes from the packs itself and returns what the catalog stores.
    A failing job becomes a row with ``error`` set, reported by the driver
    with its context.

    Jobs run grouped by parent, so a parent the batch uses several times
    (balancing a rare class: many copies of few parents) is decoded once;
    rows come back in the batch's order all the same.
    """
    from curate.augment.build import recipe_json
    from curate.imaging import decode, encode_png

    doc, reader, base = context
    cols = jobs.to_pydict()
    jobs_in_order = list(zip(*(cols[name] for name in JOB_SCHEMA.names), strict=True))
    where = [(job[2], job[3]) for job in jobs_in_order]  # (pack, offset): the parent's bytes
    uses = Counter(where)
    order = sorted(range(len(where)), key=where.__getitem__) if len(uses) < len(where) else None
    rows: list[tuple | None] = [None] * len(jobs_in_order)
    pipelines: dict[str, tuple[Policy, Any]] = {}
    kept: tuple[tuple[str, int], np.ndarray] | None = None  # the parent decoded last
    for position in order or range(len(jobs_in_order)):
        index, parent_id, pack, offset, nbytes, mode, key, copy = jobs_in_order[position]
        try:
            pipeline = pipelines.get(key)
            if pipeline is None:
                pipeline = pipelines[key] = _pipeline(doc, key)
            policy, compose = pipeline
            if kept is not None and kept[0] == (pack, offset):
                image = kept[1].copy()  # a transform may write into its input
            else:
                image = decode(reader.read(pack, offset, nbytes), mode=mode)
                kept = ((pack, offset), image.copy()) if uses[(pack, offset)] > 1 else None
            out, seed, attempt, applied = augment_one(policy, compose, image, parent_id, copy)
            if out is None:
                rows[position] = (index, None, None, seed, attempt, None, None, None, None, None)
                continue
            png = encode_png(out)
            recipe = {
                **base,
                "pipeline": key,
                "seed": seed,
                "copy": copy,
                "attempt": attempt,
                "decode_mode": mode,
            }
            rows[position] = (
                index,
                _sha256_hex(png),
                png,
                seed,
                attempt,
                recipe_json(recipe, applied),
                out.shape[1],
                out.shape[0],
                1 if out.ndim == 2 else out.shape[2],
                None,
            )
        except Exception as exc:  # reported by the main process with the job's context
            error = f"{type(exc).__name__}: {exc}"
            rows[position] = (index, None, None, 0, 0, None, None, None, None, error)
    columns = zip(*rows, strict=True) if rows else ([] for _ in RESULT_SCHEMA)
    return pa.table(dict(zip(RESULT_SCHEMA.names, columns, strict=True)), schema=RESULT_SCHEMA)


def _jobs_table(jobs: list[_Job]) -> pa.Table:
    """Jobs as rows a worker can run alone: where the parent's bytes are, what to apply."""
    return pa.table(
        {
            "index": pa.array([j.index for j in jobs], pa.int64()),
            "parent_id": pa.array([j.parent.sample_id for j in jobs], pa.string()),
            "pack": pa.array([j.parent.location[0] for j in jobs], pa.string()),
            "offset": pa.array([j.parent.location[1] for j in jobs], pa.int64()),
            "nbytes": pa.array([j.parent.location[2] for j in jobs], pa.int64()),
            "mode": pa.array([j.parent.mode for j in jobs], pa.string()),
            "key": pa.array([j.key for j in jobs], pa.string()),
            "copy": pa.array([j.copy for j in jobs], pa.int64()),
        },
        schema=JOB_SCHEMA,
    )


# -- main side --------------------------------------------------------------------------------
def _check_overrides(policy: Policy, class_names: list[str]) -> None:
    issues = []
    for name in policy.classes:
        if name not in class_names:
            from curate.augment.build import suggest

            close = suggest(name, class_names, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            issues.append(
                PolicyIssue(
                    path=f"classes.{name}",
                    message=f"no class named {name!r} in the workspace{hint}",
                )
            )
    if issues:
        raise PolicyInvalid(issues, source=f"policy {policy.name}")


def _check_on_parents(
    policy: Policy, objects, todo: list[tuple[ClassAugmentation, list[_Parent]]]
) -> list[str]:
    """Each step once on a real parent of every (pipeline, image mode) used: fail before
    writing. Returns warnings: steps that change the image size."""
    from curate.augment.build import try_steps
    from curate.imaging import decode

    issues: list[PolicyIssue] = []
    resized: list[str] = []
    checked: set[tuple[str, str]] = set()
    for entry, parents in todo:
        for parent in parents:
            if (entry.pipeline, parent.mode) in checked:
                continue
            checked.add((entry.pipeline, parent.mode))
            image = decode(objects.read(*parent.location), mode=parent.mode)
            kind = "grayscale" if parent.mode == "L" else "RGB"
            what = f"class {entry.name!r} {kind} {image.shape[1]}x{image.shape[0]} images"
            failed, changed = try_steps(policy, entry.pipeline, image, what)
            issues += failed
            resized += changed
    if issues:
        raise PolicyInvalid(issues, source=f"policy {policy.name}")
    return list(dict.fromkeys(resized))


def plan_jobs(
    cat, policy: Policy, request: AugmentRequest, used: set[tuple[str, int]]
) -> tuple[BalancingPlan, list[ClassAugmentation], dict[int, list[_Parent]]]:
    """The balancing plan, per-class needs and the parents to meet them.

    Validates the request against the workspace (classes, overrides, target).
    """
    state = read_working_state(cat)
    target = request.target_per_class if request.copies is None else None
    plan = plan_balance(state.counts, target=target, split=state.split)
    parents = state.parents
    split = state.split
    have = _children_per_parent(used)
    names = [c.name for c in plan.classes]
    _check_overrides(policy, names)
    selected = set(names)
    if request.classes is not None:
        from curate.core.names import class_not_found

        for name in request.classes:
            if name not in selected:
                raise class_not_found(name, names)
        selected = set(request.classes)
    considered = [c for c in plan.classes if c.name in selected]
    if request.copies is None and request.target_per_class is not None:
        target = request.target_per_class
        if request.classes is not None:
            for c in considered:
                if c.count > target:
                    raise InvalidInput(
                        f"target_per_class: {target} is below the current count of class "
                        f"{c.name!r} ({c.count})"
                    )
        elif considered and all(c.count > target for c in considered):
            smallest = min(considered, key=lambda c: c.count)
            raise InvalidInput(
                f"target_per_class: {target} is below the current count of every class "
                f"(smallest: {smallest.count}, class {smallest.name!r}); nothing to generate"
            )
    entries = []
    for c in plan.classes:
        pool = parents.get(c.class_id, [])
        if c.name not in selected:
            needed = 0
        elif request.copies is not None:
            needed = sum(max(0, request.copies - have.get(p.sample_id, 0)) for p in pool)
        else:
            needed = c.needed
        key, _ = policy.pipeline_for(c.name)
        note = None
        if needed and not pool:
            where = "train samples" if split else "samples"
            note = f"no {where} to augment from"
            needed_left = 0
        else:
            needed_left = needed
        entries.append(
            ClassAugmentation(
                class_id=c.class_id,
                name=c.name,
                count=c.count,
                parents=len(pool),
                needed=needed_left,
                pipeline=key,
                note=note,
            )
        )
    return plan, entries, parents


def run_augment(
    cat,
    objects,
    policy: Policy,
    request: AugmentRequest,
    *,
    progress: ProgressFn = no_progress,
    cancel: CancelFn | None = None,
    engine=None,
) -> AugmentReport:
    """Generate, store and report; the caller holds the writer lock.

    ``engine``: where the jobs run (``"local"``, ``"ray"``, an
    :class:`~curate.engines.EngineSettings` or an open engine; default: the
    environment's, else local with ``request.workers`` processes). Bytes are
    the same on every engine.
    """
    from curate.store import policies_repo

    started = time.perf_counter()
    if request.copies is None and not request.balance:
        raise InvalidInput("nothing to do: ask for balance=True or copies=N")
    if request.copies is not None and request.target_per_class is not None:
        raise InvalidInput("target_per_class and copies exclude each other")
    # Planning a large run takes seconds (a 200k-sample plan ~1.5 s): say so at once.
    progress(0, None, f"planning augmentation with {policy.name}")
    used = policies_repo.used_copies(cat, policy.hash)  # (parent, copy) made before, even dropped
    plan, entries, parents = plan_jobs(cat, policy, request, used)
    todo = [(e, parents[e.class_id]) for e in entries if e.needed > 0]
    from curate.engines.local import default_workers

    workers = min(request.workers or default_workers(), max(1, sum(e.needed for e, _ in todo)))
    report = dict(
        policy_name=policy.name,
        policy_hash=policy.hash,
        counts_from="train" if plan.split else "all samples",
        target=None if request.copies is not None else plan.target,
        needed=sum(e.needed for e in entries),
        workers=workers,
        dry_run=request.dry_run,
        warnings=[UNSPLIT_WARNING] if not plan.split and todo else [],
    )
    if todo:
        report["warnings"] += _check_on_parents(policy, objects, todo)
    if request.dry_run or not todo:
        return AugmentReport(
            classes=entries, added=0, duplicates=0, unchanged=0, seconds=0.0,
            images_per_second=0.0, **report,
        )  # fmt: skip
    from curate.augment.build import albumentations

    doc = json.dumps(policy.to_document(), sort_keys=True)
    by_class = {e.class_id: e for e in entries}
    reason = f"augmented with policy {policy.name} ({policy.short_hash})"
    base_recipe = {
        "kind": "augment",
        "policy": policy.hash,
        "policy_name": policy.name,
        "albumentations": albumentations().__version__,
    }
    shortfall = {e.class_id: e.needed for e, _ in todo}
    total = sum(shortfall.values())
    done = 0
    cancelled = False
    for entry, _ in todo:  # compiled here, so forked workers inherit them ready
        _pipeline(doc, entry.pipeline)
    stats = {e.class_id: {"added": 0, "duplicates": 0, "unchanged": 0} for e in entries}
    # The policy is stored with the first samples that name it: a run that
    # fails before making any leaves no policy behind.
    writer = _Writer(
        cat,
        objects,
        lambda: policies_repo.save_policy(cat, policy.hash, policy.name, policy.to_document()),
    )

    def drain() -> None:
        """Wait until every finished sample is stored; count new ones and duplicates."""
        for class_id, (added, duplicates) in writer.drain().items():
            stats[class_id]["added"] += added
            stats[class_id]["duplicates"] += duplicates
            shortfall[class_id] += duplicates  # replaced in the next round

    from threadpoolctl import threadpool_limits

    # One BLAS/OpenMP thread while augmenting, here and in the workers forked
    # from here (they inherit it; OpenCV's one thread is set at fork):
    # parallelism is the workers' job, and a transform whose matrix product is
    # large enough to go multi-threaded would otherwise put 2 threads per
    # worker on cores the other workers need.
    with (
        threadpool_limits(limits=1),
        writer,
        using_engine(engine, packs_dir=objects.packs_dir, workers=workers) as runner,
    ):
        workers = report["workers"] = runner.parallelism
        if runner.name == "local":
            # Open the reader here (fsspec's import, ~0.1 s, and the pack's map):
            # forked workers inherit it instead of each paying for it.
            runner.reader.read(*todo[0][1][0].location)
        try:
            for _round in range(MAX_ROUNDS):
                jobs: list[_Job] = []
                made_before = _children_per_parent(used)  # once, not once per class
                for entry, pool in todo:
                    n = shortfall[entry.class_id]
                    if n > 0 and _round == 0 and request.copies is not None:
                        jobs += _copy_jobs(
                            pool, entry.pipeline, request.copies, used, len(jobs), made_before
                        )
                    elif n > 0:  # balancing, or topping up after duplicates / unchanged draws
                        jobs += _jobs_for(pool, entry.pipeline, n, used, len(jobs), made_before)
                if not jobs:
                    break
                total = max(total, done + len(jobs))
                shortfall = dict.fromkeys(shortfall, 0)
                # Batches of up to the engine's preferred size (fewer round trips for
                # tiny images), but at least 16 per worker: while the last batches
                # run, the other workers idle, so they must be short (with 4 per
                # worker, 600 224x224 images on 2 workers ended on a batch of 75,
                # ~0.7 s of one core). A job's bytes do not depend on its batch.
                chunk = request.chunk_size or max(
                    1, min(runner.preferred_batch_rows, -(-len(jobs) // (workers * 16)))
                )
                results = runner.map_batches(
                    augment_batch,
                    _jobs_table(jobs),
                    batch_rows=chunk,
                    context=(doc, runner.reader, base_recipe),
                )
                for part in results:
                    _raise_first_error(part, jobs, by_class)
                    made = part.column("png").is_valid()
                    made_list = made.to_pylist()
                    for index, ok in zip(part.column("index").to_pylist(), made_list, strict=True):
                        if not ok:  # every draw left the image unchanged
                            class_id = jobs[index].parent.class_id
                            stats[class_id]["unchanged"] += 1
                            shortfall[class_id] += 1
                    if any(made_list):
                        writer.add(_sample_rows(part.filter(made), jobs, reason))
                    done += part.num_rows
                    progress(done, total, f"augmenting with {policy.name}")
                    if cancel is not None and cancel():
                        cancelled = True
                        results.close()  # drop the batches not started yet
                        break
                drain()  # duplicates found on write feed the next round's shortfall
                if cancelled or not any(shortfall.values()):
                    break
        finally:
            if not writer.failed:
                drain()  # Ctrl-C or an error: keep every finished sample
    classes = [by_class[e.class_id].model_copy(update=stats[e.class_id]) for e in entries]
    added = sum(c.added for c in classes)
    seconds = time.perf_counter() - started
    if cancelled:
        raise Cancelled(
            f"cancelled: the {added} augmented samples made before the stop are kept "
            "as pending changes",
            hint="run the same command again to make the rest",
        )
    classes = [  # the rounds ran out: the policy keeps making what exists
        c.model_copy(update={"note": f"{c.needed - c.added} short: the policy kept repeating"})
        if c.added < c.needed
        else c
        for c in classes
    ]
    short = [c for c in classes if c.added < c.needed]
    if short:
        named = ", ".join(f"{c.name!r} ({c.needed - c.added})" for c in short[:5])
        if len(short) > 5:  # the total counts them all: say that the list does not
            named += f" and {len(short) - 5} more class{'es' if len(short) > 6 else ''}"
        report["warnings"].append(
            f"{sum(c.needed - c.added for c in short)} samples short of the target for "
            f"{named}: after {MAX_ROUNDS} rounds the policy still made only duplicates or "
            "unchanged images (too few distinct outputs per parent, e.g. flips alone); "
            "use a policy with continuous parameters (rotation, shifts, brightness)"
        )
    return AugmentReport(
        classes=classes,
        added=added,
        duplicates=sum(c.duplicates for c in classes),
        unchanged=sum(c.unchanged for c in classes),
        seconds=round(seconds, 3),
        images_per_second=round(done / seconds, 1) if seconds > 0 else 0.0,
        **report,
    )


def _raise_first_error(part: pa.Table, jobs: list[_Job], by_class) -> None:
    errors = part.column("error")
    if errors.null_count == len(errors):
        return
    for index, error in zip(part.column("index").to_pylist(), errors.to_pylist(), strict=True):
        if error is not None:
            job = jobs[index]
            name = by_class[job.parent.class_id].name
            raise CurateError(
                f"augmenting sample {job.parent.sample_id[:12]} (class {name!r}) "
                f"with {job.key} failed: {error}"
            )


def _sample_rows(rows: pa.Table, jobs: list[_Job], reason: str) -> pa.Table:
    """Worker results with an image, as rows for ``changes_repo.add_sample_table``."""
    import pyarrow.compute as pc

    from curate.store.changes_repo import NEW_SAMPLE_SCHEMA

    parents = [jobs[i].parent for i in rows.column("index").to_pylist()]
    n = len(parents)
    channels = rows.column("channels")
    return pa.table(
        {
            "sample_id": rows.column("sample_id"),
            "data": rows.column("png"),
            "width": rows.column("width"),
            "height": rows.column("height"),
            "channels": channels,
            "mode": pc.if_else(pc.equal(channels, 1), "L", "RGB"),
            "format": pa.array(["PNG"] * n, pa.string()),
            "origin": pa.array([Origin.AUGMENTED.value] * n, pa.string()),
            "parents": pa.ListArray.from_arrays(
                pa.array(range(n + 1), pa.int32()), pa.array([p.sample_id for p in parents])
            ),
            "recipe": rows.column("recipe"),
            "class_id": pa.array([p.class_id for p in parents], pa.int32()),
            "split": pa.array(["train"] * n, pa.string()),
            "reason": pa.array([reason] * n, pa.string()),
        },
        schema=NEW_SAMPLE_SCHEMA,
    )


class _Writer:
    """Stores finished samples on a thread of its own, one group at a time, in order.

    A group is one durable pack and one catalog transaction
    (``changes_repo.add_sample_table``). Most of a group's time is the disk's
    fsync (~0.8 s for 60 MB of 224x224 PNGs on the benchmark machine); on
    this thread it overlaps the augmentation of the next batches. One thread
    writes, so groups land in the order they were made and the catalog keeps
    one writer.
    """

    def __init__(self, cat, objects, before_first: Callable[[], Any] = lambda: None) -> None:
        """``before_first``: called on the writer thread before the first group is stored."""
        self.cat = cat
        self.objects = objects
        self._before_first: Callable[[], Any] | None = before_first
        self.waiting: list[pa.Table] = []
        self.waiting_rows = 0
        self.waiting_bytes = 0
        self.failed = False
        self._counts: dict[int, list[int]] = {}  # class_id -> [added, duplicates]
        self._running: Future | None = None
        self._started = time.monotonic()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="curate-augment-writer")

    def add(self, rows: pa.Table) -> None:
        """Queue rows (``NEW_SAMPLE_SCHEMA``); start a group if the last one is done."""
        self.waiting.append(rows)
        self.waiting_rows += rows.num_rows
        self.waiting_bytes += rows.column("data").nbytes
        if self._running is not None and (
            self._running.done() or self.waiting_bytes >= MAX_WAITING_BYTES
        ):
            self._collect()  # waits only when too much is waiting
        if self._running is None and (
            self.waiting_rows >= WRITE_COUNT
            or self.waiting_bytes >= WRITE_BYTES
            or time.monotonic() - self._started >= WRITE_SECONDS
        ):
            self._start()

    def drain(self) -> dict[int, list[int]]:
        """Store everything queued; return (added, duplicates) per class since the last drain."""
        if self._running is not None:
            self._collect()
        if self.waiting:
            self._start()
            self._collect()
        counts, self._counts = self._counts, {}
        return counts

    def _start(self) -> None:
        table = pa.concat_tables(self.waiting)
        self.waiting, self.waiting_rows, self.waiting_bytes = [], 0, 0
        self._started = time.monotonic()
        first, self._before_first = self._before_first, None
        self._running = self._pool.submit(_write, self.cat, self.objects, table, first)

    def _collect(self) -> None:
        try:
            counts = self._running.result()
        except Exception:
            self._running = None
            self.failed = True
            raise
        # Not before: a Ctrl-C while waiting leaves the group to drain() in the finally.
        self._running = None
        for class_id, (added, duplicates) in counts.items():
            total = self._counts.setdefault(class_id, [0, 0])
            total[0] += added
            total[1] += duplicates

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True)


def _write(cat, objects, table: pa.Table, first: Callable[[], Any] | None = None):
    """Store samples in one transaction; (added, duplicates) per class."""
    from curate.store import changes_repo

    if first is not None:
        first()

    # A duplicate of a sample the user dropped is a duplicate, not a way back in.
    _, recorded = changes_repo.add_new_samples(cat, objects, table, revive_dropped=False)
    new = set(recorded)
    counts: dict[int, list[int]] = {}
    for row, class_id in enumerate(table.column("class_id").to_pylist()):
        counts.setdefault(class_id, [0, 0])[0 if row in new else 1] += 1
    return counts


# -- replay ------------------------------------------------------------------------------------
def replay_recipe(recipe: dict[str, Any], parent_bytes: bytes, policy: Policy) -> bytes:
    """The PNG bytes an augmentation recipe makes from its parent's bytes."""
    from curate.augment.build import apply_seeded, compile_steps, quiet_albumentations
    from curate.imaging import decode, encode_png

    if recipe.get("kind") != "augment":
        raise InvalidInput("not an augmentation recipe")
    if recipe.get("policy") != policy.hash:
        raise InvalidInput(
            f"recipe was made by policy {str(recipe.get('policy'))[:12]}, not {policy.short_hash}"
        )
    compose = compile_steps(policy, recipe["pipeline"], save_applied_params=True)
    image = decode(parent_bytes, mode=recipe["decode_mode"])
    with quiet_albumentations():  # the run that made the sample said them
        out, _ = apply_seeded(compose, image, int(recipe["seed"]))
    return encode_png(out)


@functools.lru_cache(maxsize=8)
def _stored_policy(document: str) -> Policy:
    return Policy.model_validate(json.loads(document))


class ReplayCheck(Model):
    sid: int
    sample_id: str
    identical: bool = Field(description="the rebuilt bytes equal the stored bytes")
    rebuilt_sha256: str
    data: bytes = Field(repr=False, exclude=True, description="the rebuilt PNG bytes")


def check_replay(cat, objects, sample: int | str) -> ReplayCheck:
    """Replay a stored augmented sample and compare with what is stored."""
    import hashlib

    from curate.store import policies_repo

    data = replay_sample(cat, objects, sample)
    row = policies_repo.sample_lineage(cat, sample)
    digest = hashlib.sha256(data).hexdigest()
    return ReplayCheck(
        sid=row["sid"],
        sample_id=row["sample_id"],
        identical=digest == row["sample_id"] and data == objects.read(*row["location"]),
        rebuilt_sha256=digest,
        data=data,
    )


def replay_sample(cat, objects, sample: int | str) -> bytes:
    """Replay a stored augmented sample (by sid or sample_id) from the catalog alone."""
    from curate.store import policies_repo

    row = policies_repo.sample_lineage(cat, sample)
    if row is None:
        raise NotFound(f"no sample {sample!r}")
    recipe = row["recipe"] or {}
    if row["origin"] != Origin.AUGMENTED.value or recipe.get("kind") != "augment":
        raise InvalidInput(
            f"sample {sample!r} is {row['origin']}, not augmented: no recipe to replay"
        )
    document = policies_repo.get_policy(cat, recipe["policy"])
    if document is None:
        raise NotFound(f"policy {recipe['policy'][:12]} of sample {sample!r} is not stored")
    parent = policies_repo.locations_by_sample_id(cat, row["parents"][:1])
    if not parent:
        raise NotFound(f"parent {row['parents'][0][:12]} of sample {sample!r} is not stored")
    policy = _stored_policy(json.dumps(document, sort_keys=True))
    return replay_recipe(recipe, objects.read(*parent[row["parents"][0]]), policy)
