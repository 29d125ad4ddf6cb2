"""Synthesis: fit a generator on the workspace's training images, sample the
classes that need it, pass every image through the quality gate and admit
the survivors as pending ``add`` changes (origin ``synthetic``, with lineage).

Admission happens batch by batch, so cancelling keeps what was admitted.
Fitted checkpoints are cached under ``.curate/cache/generators/`` by content
hash, and found again by a key over everything that shapes the fit (generator,
options, steps, seed, training samples and labels): running the same request
twice fits once.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from curate.core.models import ImageInfo, NewSample, Origin
from curate.core.names import class_not_found
from curate.core.progress import CancelFn, ProgressFn, never_cancel, no_progress
from curate.errors import Cancelled, InvalidInput, MissingDependency, PluginError
from curate.plugins.generators import (
    Checkpoint,
    Generator,
    TrainingSet,
    derive_seed,
    fit_params,
    load_generator_class,
)
from curate.synthesize.models import ClassOutcome, SynthRequest, SynthResult

FID_CAP = 2000  # images per side for the per-class feature distance
TRAIN_SPLIT = "train"


class SynthWorkspace(Protocol):
    """What the engine needs from :class:`curate.api.Workspace`."""

    paths: Any

    def samples(self, *, split=None, classes=None, origins=None): ...
    def classes(self) -> list[tuple[int, str]]: ...
    def load_pixels(self, table, *, size=None, mode=None) -> np.ndarray: ...
    def add_samples(self, samples) -> list[int]: ...


@dataclass
class _Data:
    train: TrainingSet
    class_ids: dict[str, int]  # name -> class_id
    reference: np.ndarray  # original training-side images: the memorisation check
    derived: np.ndarray  # synthetic/augmented training-side images: the duplicate check
    heldout: np.ndarray | None  # val/test images for the leakage check
    known_ids: set[str]  # derived (synthetic/augmented) samples: a repeat is a duplicate
    size: tuple[int, int]  # (width, height)
    mode: str
    notes: list[str]


def checkpoint_dir(ws: SynthWorkspace) -> Path:
    return Path(ws.paths.cache) / "generators"


def run_synthesis(
    ws: SynthWorkspace,
    request: SynthRequest,
    *,
    progress: ProgressFn = no_progress,
    cancel: CancelFn | None = None,
) -> SynthResult:
    # torch on CURATE_THREADS threads (default 1), as in the scan: on a busy
    # 2-core machine a GAN fit took 94 s with 2 threads and 22 s with 1
    # (OpenMP threads spin-wait whenever another process holds a core)
    from curate.scan.classifier import torch_threads

    with torch_threads():
        return _run_synthesis(ws, request, progress=progress, cancel=cancel)


def _run_synthesis(
    ws: SynthWorkspace,
    request: SynthRequest,
    *,
    progress: ProgressFn,
    cancel: CancelFn | None,
) -> SynthResult:
    cancel = cancel or never_cancel
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    gen_cls = load_generator_class(request.generator)
    from curate.plugins.registry import parse_params

    params = parse_params(gen_cls.Params, request.params, where=request.generator)
    counts = _counts(ws, request)
    data = _load_data(ws)
    notes = list(data.notes)
    counts = _learnable(counts, data, chosen=request.classes is not None, notes=notes)
    steps = request.fit_steps if request.fit_steps is not None else gen_cls.default_fit_steps

    runner = _make_runner(request, gen_cls, params)
    try:
        if gen_cls.needs_gpu and runner.device.startswith("cpu"):
            raise MissingDependency(
                f"generator {request.generator!r} needs a CUDA GPU",
                hint="run on a GPU machine, or use --ray-address to drive a GPU host",
            )
        # Class-conditional generators learn every class at once; others one model per class.
        conditional = gen_cls.supports_class_conditional
        groups = [tuple(counts)] if conditional else [(c,) for c in counts]
        outcomes: dict[str, ClassOutcome] = {}
        fit_report = None
        reused = True
        ckpt_hash = None
        t = time.perf_counter()
        progress(0, None, "training the gate classifier")
        from curate.synthesize.classifier import CLASSIFIER_NAME, train_gate_classifier

        classifier = train_gate_classifier(
            data.train.images,
            data.train.labels,
            device="auto" if runner.device.startswith("cuda") else "cpu",
            seed=request.seed,
        )
        seconds["gate_classifier"] = round(time.perf_counter() - t, 3)
        from curate.synthesize.gate import QualityGate

        t = time.perf_counter()
        gate = QualityGate(
            classifier,
            train_images=data.reference,
            heldout_images=data.heldout,
            derived_images=data.derived,
            known_sample_ids=data.known_ids,
            min_confidence=request.gate.min_confidence,
            near_duplicate_distance=request.gate.near_duplicate_distance,
            seed=request.seed,
        )
        seconds["gate_setup"] = round(time.perf_counter() - t, 3)
        admitted_sids: list[int] = []
        admitted_images: dict[str, list[np.ndarray]] = {c: [] for c in counts}
        confidences: dict[str, list[float]] = {c: [] for c in counts}
        total = sum(counts.values())
        done = 0
        cancelled = False
        fit_cancelled: str | None = None  # the group whose fit the cancel stopped
        seconds.update(fit=0.0, sample=0.0, gate=0.0, admit=0.0)
        for group in groups:
            train = data.train if conditional else _only(data.train, group[0])
            t = time.perf_counter()
            try:
                ckpt, report = _fit_or_load(
                    ws, runner, gen_cls, params, train, steps, request, data, progress, cancel
                )
            except Cancelled:
                cancelled = True
                fit_cancelled = ", ".join(group)
                break
            seconds["fit"] += round(time.perf_counter() - t, 3)
            if report is not None:
                fit_report, reused = report, False
            ckpt_hash = ckpt.hash
            sampling = params.model_dump(mode="json")
            for name in group:
                outcome, cancelled, done = _sample_class(
                    ws,
                    runner,
                    gate,
                    request,
                    name,
                    data.class_ids[name],
                    data.train.class_names.index(name),
                    counts[name],
                    ckpt.hash,
                    sampling,
                    admitted_sids,
                    admitted_images[name],
                    confidences[name],
                    seconds,
                    progress,
                    cancel,
                    done,
                    total,
                )
                outcomes[name] = outcome
                if cancelled:
                    break
            if cancelled:
                break
    finally:
        runner.close()

    t = time.perf_counter()
    from curate.synthesize.gate import frechet_distance, split_half_distance

    classes_out = []
    for name in counts:
        outcome = outcomes.get(name)
        if outcome is None:
            continue
        real = data.train.images[data.train.labels == data.train.class_names.index(name)]
        real_emb = classifier.embed(real[:FID_CAP])
        fake = admitted_images[name]
        fake_emb = classifier.embed(np.stack(fake[:FID_CAP])) if fake else np.zeros((0, 1))
        conf = confidences[name]
        classes_out.append(
            outcome.model_copy(
                update={
                    "mean_confidence": round(float(np.mean(conf)), 4) if conf else None,
                    "feature_distance": _round(frechet_distance(real_emb, fake_emb)),
                    "real_split_half_distance": _round(
                        split_half_distance(real_emb, seed=request.seed)
                    ),
                }
            )
        )
    seconds["report"] = round(time.perf_counter() - t, 3)
    reasons: Counter[str] = Counter()
    for c in classes_out:
        reasons.update(c.reasons)
    seconds["total"] = round(time.perf_counter() - started, 3)
    if fit_cancelled is not None:
        # No generator keeps a partial checkpoint: a stopped fit is lost, and
        # the same request fits again from the start.
        whom = "" if conditional else f" for {fit_cancelled}"
        if gen_cls.needs_fit:
            what = f"fitting {request.generator}{whom}: a stopped fit is not kept, the next "
            what += "run fits again from the start"
        else:
            what = f"preparing {request.generator}{whom}: the next run prepares it again"
        kept = "; the samples admitted before it were kept" if admitted_sids else ""
        notes.append(f"cancelled while {what}{kept}")
    elif cancelled:
        notes.append("cancelled: the samples admitted before the cancel were kept")
    # Say why images were duplicates from what they duplicated: samples already in
    # the workspace (an earlier run with this checkpoint and seed), or each other.
    repeats = gate.repeats_of_earlier
    collapsed = reasons.get("duplicate", 0) - repeats
    if repeats and gen_cls.deterministic_with_seed:
        notes.append(
            f"duplicates: {repeats} repeat samples an earlier run made (the same checkpoint "
            "and --seed make the same images again); pass another --seed for new ones"
        )
    elif repeats:
        notes.append(f"duplicates: {repeats} repeat synthetic or augmented samples already here")
    if collapsed > 0:
        notes.append(
            f"duplicates: the generator made {collapsed} near-identical images (mode collapse: "
            "often too few --fit-steps, or too few training images of the class)"
        )
    return SynthResult(
        generator=request.generator,
        checkpoint=ckpt_hash,
        checkpoint_reused=reused and ckpt_hash is not None and gen_cls.needs_fit,
        fit=fit_report,
        device=runner.device,
        where=runner.info()["where"],
        classifier=CLASSIFIER_NAME,
        near_duplicate_distance=round(gate.distance, 5),
        leakage_checked=data.heldout is not None,
        generated=sum(c.generated for c in classes_out),
        admitted=sum(c.admitted for c in classes_out),
        rejected=sum(c.rejected for c in classes_out),
        rejected_reasons=dict(sorted(reasons.items())),
        classes=classes_out,
        admitted_sids=admitted_sids,
        notes=notes,
        seconds=seconds,
        cancelled=cancelled,
        fit_cancelled=fit_cancelled is not None,
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


# -- what to generate ------------------------------------------------------------------------
def _counts(ws: SynthWorkspace, request: SynthRequest) -> dict[str, int]:
    """class name -> images to generate."""
    known = [name for _, name in ws.classes()]
    if request.classes is not None:
        if not request.classes:
            raise InvalidInput("--classes is empty")
        for name in request.classes:
            if name not in known:
                raise class_not_found(name, known)
    if request.n is not None:
        if request.classes is None:
            raise InvalidInput("--n needs --classes (or leave both out to follow the plan)")
        return dict.fromkeys(dict.fromkeys(request.classes), request.n)
    plan = _plan(ws, request.target)
    if request.classes is None:
        counts = {c.name: c.needed for c in plan.under_represented}
        if not counts:
            raise InvalidInput(
                f"every class already has {plan.target} samples: nothing to balance",
                hint="pass --classes and --n to generate anyway",
            )
        return counts
    counts = {name: plan.needed(name) for name in dict.fromkeys(request.classes)}
    counts = {k: v for k, v in counts.items() if v > 0}
    if not counts:
        raise InvalidInput(
            f"the balancing plan needs no samples for {', '.join(request.classes)} "
            f"(target {plan.target})",
            hint="pass --n to generate anyway",
        )
    return counts


def _learnable(
    counts: dict[str, int], data: _Data, *, chosen: bool, notes: list[str]
) -> dict[str, int]:
    """``counts`` less the classes without original training images (an empty class,
    or one only in val/test): nothing to fit a generator or the gate on.

    Classes the user named are an error; classes the balancing plan chose are
    skipped with a note, so one empty class does not stop the others."""
    missing = [c for c in counts if c not in data.train.class_names]
    if not missing:
        return counts
    if chosen:
        raise InvalidInput(
            f"class {missing[0]!r} has no training images to learn from",
            hint="synthesis needs real examples of each class it generates",
        )
    names = ", ".join(repr(c) for c in missing)
    kept = {c: n for c, n in counts.items() if c not in missing}
    if not kept:
        raise InvalidInput(
            f"the classes the balancing plan lists ({names}) have no training images to "
            "learn from: nothing to generate",
            hint="synthesis needs real examples of each class it generates; ingest some, "
            "or relabel samples into the class",
        )
    notes.append(
        f"skipped {names}: no training images to learn from "
        f"(the balancing plan asks {sum(counts[c] for c in missing)} more)"
    )
    return kept


def _plan(ws: SynthWorkspace, target: int | None):
    """The balancing plan over the training side as synthesis sees it.

    ``Workspace.balancing_plan`` counts the train split as soon as any sample
    has one; in a workspace without splits, the samples synthesis (or
    augmentation) admitted to train would then be the only ones counted. Here
    the training side is split "train" or no split, every origin, as in
    :func:`_load_data`.
    """
    import pyarrow.compute as pc

    from curate.core.balance import plan_balance

    table = ws.samples()
    split = table.column("split")
    held = pc.fill_null(pc.not_equal(split, TRAIN_SPLIT), False)
    side = table.filter(pc.and_(pc.invert(held), pc.is_valid(table.column("class_id"))))
    per_class = Counter(side.column("class_id").to_pylist())
    counts = [(cid, name, per_class.get(cid, 0)) for cid, name in ws.classes()]
    has_heldout = pc.any(held).as_py() or False
    return plan_balance(counts, target=target, split=TRAIN_SPLIT if has_heldout else None)


# -- data ------------------------------------------------------------------------------------
def _load_data(ws: SynthWorkspace) -> _Data:
    import pyarrow.compute as pc

    notes: list[str] = []
    table = ws.samples()
    if table.num_rows == 0:
        raise InvalidInput("the workspace has no samples", hint="curate ingest FOLDER first")
    derived = pc.not_equal(table.column("origin"), Origin.ORIGINAL.value)
    known_ids = set(table.filter(derived).column("sample_id").to_pylist())
    # Training side: split "train" or no split; held out: any other split (val, test, ...).
    split = table.column("split")
    held_mask = pc.fill_null(pc.not_equal(split, TRAIN_SPLIT), False)
    ref_mask = pc.invert(held_mask)
    train_mask = pc.and_(
        pc.and_(ref_mask, pc.equal(table.column("origin"), Origin.ORIGINAL.value)),
        pc.is_valid(table.column("class_id")),
    )
    train_rows = table.filter(train_mask)
    if train_rows.num_rows == 0:
        raise InvalidInput("no labeled original training images to learn from")
    original = pc.equal(table.column("origin"), Origin.ORIGINAL.value)
    ref_rows = table.filter(pc.and_(ref_mask, original))  # labeled or not
    derived_rows = table.filter(pc.and_(ref_mask, pc.invert(original)))
    size = _common_size(train_rows)
    from curate.imaging import common_mode

    mode = common_mode(train_rows.column("mode").to_pylist())
    images = ws.load_pixels(train_rows, size=size, mode=mode)
    reference = ws.load_pixels(ref_rows, size=size, mode=mode)
    derived_images = ws.load_pixels(derived_rows, size=size, mode=mode)
    heldout = None
    held_rows = table.filter(held_mask)
    if held_rows.num_rows:
        heldout = ws.load_pixels(held_rows, size=size, mode=mode)
    else:
        notes.append("no val/test split: all samples count as training; leakage check skipped")
    names = dict((cid, name) for cid, name in ws.classes())
    class_ids = train_rows.column("class_id").to_pylist()
    present = sorted(set(class_ids))
    index = {cid: i for i, cid in enumerate(present)}
    labels = np.asarray([index[c] for c in class_ids], dtype=np.int64)
    sample_ids = tuple(train_rows.column("sample_id").to_pylist())
    return _Data(
        train=TrainingSet(
            images=images,
            labels=labels,
            class_names=tuple(names[c] for c in present),
            sample_ids=sample_ids,
        ),
        class_ids={names[c]: c for c in present},
        reference=reference,
        derived=derived_images,
        heldout=heldout,
        known_ids=known_ids,
        size=size,
        mode=mode,
        notes=notes,
    )


def _common_size(table) -> tuple[int, int]:
    pairs = zip(table.column("width").to_pylist(), table.column("height").to_pylist(), strict=True)
    return Counter(pairs).most_common(1)[0][0]


def _only(train: TrainingSet, name: str) -> TrainingSet:
    idx = train.class_names.index(name)
    keep = train.labels == idx
    ids = (
        tuple(s for s, k in zip(train.sample_ids, keep, strict=True) if k)
        if train.sample_ids
        else ()
    )
    return TrainingSet(
        images=train.images[keep],
        labels=np.zeros(int(keep.sum()), dtype=np.int64),
        class_names=(name,),
        sample_ids=ids,
    )


# -- fitting -----------------------------------------------------------------------------------
def _make_runner(request: SynthRequest, gen_cls: type[Generator], params):
    params_json = params.model_dump(mode="json")
    from curate.engines import EngineSettings

    settings = EngineSettings.from_env(engine=request.engine)
    if request.ray_address or settings.engine == "ray":
        from curate.synthesize.remote import RayRunner

        return RayRunner(
            request.generator,
            params_json,
            request.device,
            address=request.ray_address or settings.ray_address,
            num_gpus=request.remote_gpus,
        )
    from curate.synthesize.runner import LocalRunner

    return LocalRunner(request.generator, params_json, request.device)


def _digest(train: TrainingSet) -> str:
    """Which images with which labels: a relabel or a new sample means a new fit."""
    h = hashlib.sha256()
    for sid, label in zip(train.sample_ids, train.labels.tolist(), strict=True):
        h.update(f"{sid}:{train.class_names[label]}\n".encode())
    return h.hexdigest()


def _fit_key(gen_cls, params, train: TrainingSet, steps: int, request, data: _Data) -> str:
    key = {
        "generator": gen_cls.name,
        "params": fit_params(params),
        "steps": steps,
        "seed": request.seed,
        "classes": list(train.class_names),
        "shape": list(train.shape),
        "mode": data.mode,
        "data": _digest(train),
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _fit_or_load(ws, runner, gen_cls, params, train, steps, request, data, progress, cancel):
    """(checkpoint, fit report or None when a cached checkpoint was loaded)."""
    if not gen_cls.needs_fit:
        report = runner.fit(train, steps=0, seed=request.seed, progress=progress, cancel=cancel)
        return runner.checkpoint(), report
    root = checkpoint_dir(ws)
    pointer = root / "fits" / f"{_fit_key(gen_cls, params, train, steps, request, data)}.json"
    if pointer.exists() and not request.refit:
        try:
            ckpt = Checkpoint.load(root / json.loads(pointer.read_text())["checkpoint"])
        except (OSError, ValueError, KeyError, PluginError):
            ckpt = None  # a damaged cache entry: fit again
        if ckpt is not None:
            runner.load(ckpt)
            return ckpt, None
    if steps < 1:
        raise InvalidInput(f"generator {gen_cls.name!r} needs --fit-steps of at least 1")
    report = runner.fit(train, steps=steps, seed=request.seed, progress=progress, cancel=cancel)
    ckpt = runner.checkpoint()
    ckpt.save(root)
    pointer.parent.mkdir(parents=True, exist_ok=True)
    tmp = pointer.with_suffix(".tmp")
    tmp.write_text(json.dumps({"checkpoint": ckpt.hash, "generator": gen_cls.name}))
    tmp.replace(pointer)
    return ckpt, report


# -- sampling, gate, admission ---------------------------------------------------------------
def _sample_class(
    ws,
    runner,
    gate,
    request: SynthRequest,
    name: str,
    class_id: int,
    target: int,
    n: int,
    ckpt_hash: str,
    sampling: dict[str, Any],
    admitted_sids: list[int],
    admitted_images: list[np.ndarray],
    confidences: list[float],
    seconds: dict[str, float],
    progress: ProgressFn,
    cancel: CancelFn,
    done: int,
    total: int,
) -> tuple[ClassOutcome, bool, int]:
    from curate.imaging import encode_png

    generated = admitted = 0
    reasons: Counter[str] = Counter()
    limit = int(n * request.max_attempts) if request.fill else n
    rnd = 0
    cancelled = False
    while not cancelled and generated < limit and (admitted < n if request.fill else generated < n):
        want = min(n - admitted if request.fill else n - generated, limit - generated)
        seed = derive_seed("synth", request.seed, name, rnd)
        rnd += 1
        t = time.perf_counter()
        stream = runner.sample(name, want, seed=seed)
        try:
            for batch in stream:
                seconds["sample"] += time.perf_counter() - t
                t = time.perf_counter()
                blobs = [encode_png(img) for img in batch.images]
                ids = [hashlib.sha256(b).hexdigest() for b in blobs]
                verdicts, _ = gate.judge(batch.images, ids, target)
                seconds["gate"] += time.perf_counter() - t
                t = time.perf_counter()
                h, w, c = batch.images.shape[1:]
                info = ImageInfo(
                    width=w, height=h, channels=c, mode="L" if c == 1 else "RGB", format="PNG"
                )
                new = []
                for i, (blob, verdict) in enumerate(zip(blobs, verdicts, strict=True)):
                    if verdict.reason is not None:
                        reasons[verdict.reason] += 1
                        continue
                    new.append(
                        NewSample(
                            data=blob,
                            info=info,
                            origin=Origin.SYNTHETIC,
                            parents=list(batch.parents[i]) if batch.parents else [],
                            recipe={
                                "generator": request.generator,
                                "checkpoint": ckpt_hash,
                                "seed": batch.seed,
                                "index": batch.offset + i,
                                "class": name,
                                "params": sampling,
                            },
                            class_id=class_id,
                            split=TRAIN_SPLIT,
                            reason=f"synthetic ({request.generator})",
                        )
                    )
                    admitted_images.append(batch.images[i])
                    confidences.append(verdict.confidence)
                if new:
                    admitted_sids.extend(ws.add_samples(new))
                seconds["admit"] += time.perf_counter() - t
                generated += len(blobs)
                admitted += len(new)
                done += len(blobs)
                progress(done, max(total, done), f"generating {name}: {admitted} admitted")
                if cancel():
                    cancelled = True
                    break
                if request.fill and admitted >= n:
                    break
                t = time.perf_counter()
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
    for key in ("sample", "gate", "admit"):
        seconds[key] = round(seconds[key], 3)
    return (
        ClassOutcome(
            class_name=name,
            class_id=class_id,
            requested=n,
            generated=generated,
            admitted=admitted,
            rejected=generated - admitted,
            reasons=dict(sorted(reasons.items())),
        ),
        cancelled,
        done,
    )
