"""``Workspace.evaluate``: train the fixed classifier on versions, score on clean held-out labels.

Protocol (the same for every arm, so the comparison is fair):

* The held-out set is the ``eval_split`` of the baseline version (the
  candidate's when there is no baseline): original images only, scored with
  clean labels when a truth file is given. Samples that also sit in a
  training split, or are parents of an augmented/synthetic training sample,
  are left out (they would leak).
* Each arm trains the fixed classifier (:mod:`curate.evaluate.classifier`)
  on one version's ``train_split`` with that version's labels, once per seed,
  and predicts the held-out set. Scores are averaged over seeds.
* The oracle arm trains on the baseline's training split with the clean
  labels: the score label noise would not cost. ``gap_closed`` says what
  fraction of the baseline -> oracle gap the candidate closed.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from curate.core.progress import CancelFn, ProgressFn, no_progress
from curate.errors import InvalidInput, NotFound, one_line
from curate.evaluate.models import ArmResult, EvalRequest, EvaluationResult, SeedRun
from curate.evaluate.truth import Truth, load_truth

if TYPE_CHECKING:
    import pyarrow as pa

    from curate.api import Workspace
    from curate.versions.view import Version


class _Arm:
    def __init__(self, role: str, version: Version, rows: pa.Table, labels: list[int], how: str):
        self.role = role
        self.version = version
        self.rows = rows
        self.labels = labels
        self.how = how
        self.relabeled = 0


def _image_geometry(tables: list[pa.Table], max_side: int) -> tuple[tuple[int, int], str]:
    from curate.imaging import common_mode

    sizes: Counter = Counter()
    modes: list[str] = []
    for t in tables:
        sizes.update(
            zip(t.column("width").to_pylist(), t.column("height").to_pylist(), strict=True)
        )
        modes += t.column("mode").to_pylist()
    width, height = sizes.most_common(1)[0][0]
    scale = min(1.0, max_side / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return size, common_mode(modes)


def _sources(ws: Workspace, sids: list[int]) -> dict[int, list[str]]:
    if not sids:
        return {}
    rows = ws.catalog().rows(
        "SELECT sid, list(uri ORDER BY uri) FROM sources WHERE sid IN "
        "(SELECT unnest(?::BIGINT[])) GROUP BY sid",
        [sids],
    )
    return {int(sid): list(uris) for sid, uris in rows}


def run_evaluation(
    ws: Workspace,
    request: EvalRequest,
    *,
    progress: ProgressFn = no_progress,
    cancel: CancelFn | None = None,
) -> EvaluationResult:
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    from curate.evaluate.classifier import to_inputs, train_and_predict

    started = time.perf_counter()
    cfg = request.classifier
    candidate = ws.version(request.version)
    baseline = ws.version(request.against) if request.against is not None else None
    if baseline is not None and baseline.hash == candidate.hash:
        raise InvalidInput(
            f"{candidate.name} and {baseline.name} hold the same content; nothing to compare"
        )
    reference = baseline or candidate
    truth: Truth | None = load_truth(request.truth, request.truth_column) if request.truth else None

    classes = ws.classes()
    index = {cid: i for i, (cid, _) in enumerate(classes)}
    by_name = {name: i for i, (_, name) in enumerate(classes)}
    names = [name for _, name in classes]
    warnings: list[str] = []

    # -- the held-out set ---------------------------------------------------------------
    held = reference.samples(request.eval_split)
    if held.num_rows == 0:
        raise NotFound(
            f"{reference.name} has no samples in split {request.eval_split!r}",
            hint=f"{_splits_hint(reference)}; make a held-out split with `curate split` "
            "and commit before the changes you evaluate",
        )
    trains = {"candidate": candidate.samples(request.train_split)}
    if baseline is not None:
        trains["baseline"] = baseline.samples(request.train_split)
    for role, rows in trains.items():
        if rows.num_rows == 0:
            version = candidate if role == "candidate" else baseline
            raise NotFound(
                f"{version.name} has no samples in split {request.train_split!r}",
                hint=_splits_hint(version),
            )
    in_training: set[str] = set()
    for rows in trains.values():
        in_training.update(rows.column("sample_id").to_pylist())
        for parents in rows.column("parents").to_pylist():
            in_training.update(parents or [])

    candidate_labels: dict[str, int | None] = {}
    if truth is None:
        cand_all = candidate.samples()
        candidate_labels = dict(
            zip(
                cand_all.column("sample_id").to_pylist(),
                cand_all.column("class_id").to_pylist(),
                strict=True,
            )
        )
    held_sids = held.column("sid").to_pylist()
    sources = _sources(ws, held_sids) if truth is not None else {}
    excluded: Counter = Counter()
    keep: list[int] = []
    test_y: list[int] = []
    truth_relabels = 0
    for i, (sid, sample_id, origin, class_id) in enumerate(
        zip(
            held_sids,
            held.column("sample_id").to_pylist(),
            held.column("origin").to_pylist(),
            held.column("class_id").to_pylist(),
            strict=True,
        )
    ):
        if origin != "original":
            excluded[f"{origin} (only original images are scored)"] += 1
            continue
        if sample_id in in_training:
            excluded["also used for training (leak)"] += 1
            continue
        if truth is not None:
            label = truth.label(sample_id, sources.get(int(sid), []))
            if label is None:
                excluded["no clean label in the truth file"] += 1
                continue
            if label not in by_name:
                excluded["clean label is not a class of the workspace"] += 1
                continue
            y = by_name[label]
            truth_relabels += int(class_id is None or index.get(class_id) != y)
        else:
            cid = candidate_labels.get(sample_id)
            if sample_id not in candidate_labels:
                excluded[f"not in {candidate.name}"] += 1
                continue
            if cid is None:
                excluded["unlabeled"] += 1
                continue
            y = index[cid]
        keep.append(i)
        test_y.append(y)
    if not keep:
        raise InvalidInput(
            f"no held-out sample of {reference.name}/{request.eval_split} can be scored",
            hint="; ".join(f"{n} {why}" for why, n in excluded.items()),
        )
    held = held.take(keep)
    y_test = np.asarray(test_y, dtype=np.int64)
    if truth is None:
        test_labels = f"labels of {candidate.name} (no clean labels given: scores are relative)"
        warnings.append(
            "no truth file: the held-out split is scored with the candidate's own labels"
        )
    else:
        test_labels = truth.description
    if excluded:
        warnings.append(
            "held-out samples left out: " + "; ".join(f"{n} {why}" for why, n in excluded.items())
        )

    # -- the arms -----------------------------------------------------------------------
    def labeled(rows: pa.Table) -> tuple[pa.Table, list[int]]:
        cids = rows.column("class_id").to_pylist()
        take = [i for i, c in enumerate(cids) if c is not None]
        return rows.take(take), [index[cids[i]] for i in take]

    arms: list[_Arm] = []
    if baseline is not None:
        rows, ys = labeled(trains["baseline"])
        arms.append(_Arm("baseline", baseline, rows, ys, f"labels of {baseline.name}"))
    rows, ys = labeled(trains["candidate"])
    arms.append(_Arm("candidate", candidate, rows, ys, f"labels of {candidate.name}"))
    if truth is not None and request.oracle:
        base_rows = trains["baseline"] if baseline is not None else trains["candidate"]
        train_sources = _sources(ws, base_rows.column("sid").to_pylist())
        ys = []
        take = []
        relabeled = 0
        for i, (sid, sample_id, cid) in enumerate(
            zip(
                base_rows.column("sid").to_pylist(),
                base_rows.column("sample_id").to_pylist(),
                base_rows.column("class_id").to_pylist(),
                strict=True,
            )
        ):
            label = truth.label(sample_id, train_sources.get(int(sid), []))
            y = by_name.get(label) if label is not None else None
            if y is None:
                if cid is None:
                    continue
                y = index[cid]
            elif cid is None or index[cid] != y:
                relabeled += 1
            take.append(i)
            ys.append(y)
        oracle = _Arm(
            "oracle",
            baseline or candidate,
            base_rows.take(take),
            ys,
            f"{truth.description} on {(baseline or candidate).name}/{request.train_split}",
        )
        oracle.relabeled = relabeled
        arms.append(oracle)

    # -- pixels, once per image -----------------------------------------------------------
    size, mode = _image_geometry([held, *(a.rows for a in arms)], cfg.max_side)
    import pyarrow as pa

    pixel_cols = ["sample_id", "pack", "pack_offset", "nbytes", "width", "height", "mode"]
    unique = pa.concat_tables([held.select(pixel_cols), *(a.rows.select(pixel_cols) for a in arms)])
    first: dict[str, int] = {}
    for i, s in enumerate(unique.column("sample_id").to_pylist()):
        first.setdefault(s, i)
    unique = unique.take(list(first.values()))
    total_epochs = len(arms) * cfg.seeds * cfg.epochs
    progress(0, total_epochs, "decoding images")
    inputs = to_inputs(ws.load_pixels(unique, size=size, mode=mode))
    row_of = {s: i for i, s in enumerate(first)}

    def x_of(rows: pa.Table) -> np.ndarray:
        return inputs[[row_of[s] for s in rows.column("sample_id").to_pylist()]]

    x_test = x_of(held)
    test_classes = sorted(set(test_y))
    results: list[ArmResult] = []
    done = 0
    warned: Counter[str] = Counter()  # scikit-learn's warnings: one note at the end

    def warn(message: str) -> None:
        warned[one_line(message)] += 1

    for arm in arms:
        arm_started = time.perf_counter()
        x_train = x_of(arm.rows)
        y_train = np.asarray(arm.labels, dtype=np.int64)
        runs: list[SeedRun] = []
        recalls = []
        for seed in range(cfg.seeds):
            label = (
                f"training on {arm.version.name}/{request.train_split} ({arm.role}), seed {seed}"
            )

            def tick(epoch: int, _base=done, _label=label) -> None:
                progress(_base + epoch, total_epochs, _label)

            pred = train_and_predict(
                x_train,
                y_train,
                x_test,
                len(names),
                cfg,
                seed,
                on_epoch=tick,
                on_warning=warn,
                cancel=cancel,
            )
            done += cfg.epochs
            f1 = f1_score(y_test, pred, labels=test_classes, average="macro", zero_division=0)
            runs.append(
                SeedRun(
                    seed=seed,
                    accuracy=round(float(accuracy_score(y_test, pred)), 6),
                    macro_f1=round(float(f1), 6),
                )
            )
            recalls.append(
                recall_score(y_test, pred, labels=test_classes, average=None, zero_division=0)
            )
        acc = np.array([r.accuracy for r in runs])
        f1s = np.array([r.macro_f1 for r in runs])
        recall = np.mean(recalls, axis=0)
        by_class = Counter(arm.labels)
        results.append(
            ArmResult(
                role=arm.role,
                version=arm.version.name,
                labels=arm.how,
                train_samples=len(arm.labels),
                train_by_class={names[i]: by_class.get(i, 0) for i in range(len(names))},
                train_origins=dict(sorted(Counter(arm.rows.column("origin").to_pylist()).items())),
                relabeled_from_truth=arm.relabeled,
                accuracy=round(float(acc.mean()), 6),
                accuracy_std=round(float(acc.std()), 6),
                macro_f1=round(float(f1s.mean()), 6),
                macro_f1_std=round(float(f1s.std()), 6),
                per_class_recall={
                    names[c]: round(float(r), 6) for c, r in zip(test_classes, recall, strict=True)
                },
                runs=runs,
                seconds=round(time.perf_counter() - arm_started, 3),
            )
        )

    if warned:
        (message, times), *others = warned.most_common()
        more = f"; and {len(others)} other warning(s)" if others else ""
        warnings.append(
            f"scikit-learn warned while training the classifier ({times}x): {message}{more}"
        )

    by_role = {r.role: r for r in results}

    def gap(metric: str) -> float | None:
        if "baseline" not in by_role or "oracle" not in by_role:
            return None
        low = getattr(by_role["baseline"], metric)
        high = getattr(by_role["oracle"], metric)
        if high - low <= 0:
            return None
        return round((getattr(by_role["candidate"], metric) - low) / (high - low), 4)

    gap_acc, gap_f1 = gap("accuracy"), gap("macro_f1")
    if "baseline" in by_role and "oracle" in by_role and gap_acc is None:
        warnings.append(
            "the clean-label oracle does not beat the baseline on accuracy: there is no gap to close"
        )
    test_counts = Counter(test_y)
    return EvaluationResult(
        candidate=candidate.name,
        candidate_hash=candidate.hash,
        baseline=baseline.name if baseline is not None else None,
        baseline_hash=baseline.hash if baseline is not None else None,
        eval_split=request.eval_split,
        train_split=request.train_split,
        test_samples=len(test_y),
        test_by_class={names[c]: test_counts[c] for c in test_classes},
        test_labels=test_labels,
        excluded=dict(excluded),
        truth_relabels=truth_relabels if truth is not None else 0,
        classifier=cfg,
        image_size=size,
        image_mode=mode,
        arms=results,
        gap_closed_accuracy=gap_acc,
        gap_closed_macro_f1=gap_f1,
        warnings=warnings,
        seconds=round(time.perf_counter() - started, 3),
    )


def _splits_hint(version) -> str:
    """The version's splits, and how many of its samples have none (they are no split)."""
    text = f"splits: {', '.join(version.splits) or 'none'}"
    unsplit = version.info.stats.splits.get("-", 0)
    return text + (f" ({unsplit} samples have no split)" if unsplit else "")
