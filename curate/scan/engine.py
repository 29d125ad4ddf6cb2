"""The scan engine: one pass over the live samples, findings for every kind.

Stages (each timed, each between ``cancel`` checks):

1. decode every image once: pixel hash (exact duplicates) and quality
   statistics at native size, pixels at the extractor's input size, and a
   16x16 fingerprint of those (near duplicates);
2. the extractor: out-of-sample pred_probs (K-fold) and embeddings;
3. kNN graphs built here (blocked matmul / IVF index, never N x N), one on the
   embeddings (handed to cleanlab's Datalab as ``knn_graph`` for outliers, and
   kept as evidence) and one on the fingerprints (near duplicates);
4. cleanlab Datalab: label issues from pred_probs, outliers from the graph;
5. findings rows, recorded by the caller in one transaction.

Nothing is written to the catalog here: :func:`run_scan` returns the rows and
the API records them atomically, so a cancelled scan leaves no trace.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
import warnings
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from curate.core.balance import BalancingPlan
from curate.core.findings import ClassSummary, FindingKind, ScanRequest, ScanResult
from curate.core.progress import CancelFn, ProgressFn, check_cancel, no_progress
from curate.errors import InvalidInput
from curate.imaging import common_mode
from curate.plugins.extractor import ExtractRequest
from curate.scan.classifier import torch_threads

KNN_K = 10
#: cleanlab's find_label_issues method. "low_self_confidence" flags, per
#: class, the samples with the lowest probability of their given label, as
#: many as confident learning estimates are wrong. With the ensemble's
#: sharpened probabilities it beat the default "prune_by_noise_rate" on the
#: sklearn digits at 8% and 20% noise, 3 seeds each (F1 0.982 vs 0.957 at 8%,
#: 0.983 vs 0.975 at 20%); see docs/benchmarks.md.
LABEL_FILTER_BY = "low_self_confidence"
EVIDENCE_NEIGHBOURS = 5


@dataclass
class ScanOutput:
    """What :func:`run_scan` computed: the findings rows and the summary parts."""

    findings: pa.Table
    extractor: str
    config: dict
    device: str
    seed: int
    samples: int
    labeled: int
    issues: dict[str, int]
    duplicate_groups: int
    label_issues_by_class: dict[int, int]
    warnings: list[str] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)
    started_at: float = 0.0

    def result(
        self, run_id: int, plan: BalancingPlan | None, classes: list[tuple[int, str, int]]
    ) -> ScanResult:
        needed = {c.class_id: c.needed for c in plan.classes} if plan is not None else {}
        return ScanResult(
            run_id=run_id,
            extractor=self.extractor,
            config=self.config,
            device=self.device,
            seed=self.seed,
            samples=self.samples,
            labeled=self.labeled,
            issues=self.issues,
            duplicate_groups=self.duplicate_groups,
            classes=[
                ClassSummary(
                    class_id=cid,
                    name=name,
                    count=count,
                    label_issues=self.label_issues_by_class.get(cid, 0),
                    needed=needed.get(cid, 0),
                )
                for cid, name, count in classes
            ],
            imbalance=plan,
            warnings=self.warnings,
            timing=self.timing,
            seconds=round(sum(self.timing.values()), 3),
        )


# -- stage 1: decode ------------------------------------------------------------------


@dataclass
class Decoded:
    pixels: np.ndarray  # (N, h, w, C) uint8 at the extractor's input size
    hashes: list[str]
    stats: list[dict[str, float]]
    fingerprints: np.ndarray  # (N, 257) float32


def decode_all(
    objects,
    table: pa.Table,
    *,
    size: tuple[int, int],
    mode: str,
    progress: ProgressFn,
    cancel: CancelFn | None,
) -> Decoded:
    from PIL import Image

    from curate.scan.duplicates import fingerprints
    from curate.scan.quality import image_stats

    n = table.num_rows
    channels = 1 if mode == "L" else 3
    pixels = np.zeros((n, size[1], size[0], channels), dtype=np.uint8)
    hashes, stats = [], []
    packs = table.column("pack").to_pylist()
    offsets = table.column("pack_offset").to_pylist()
    lengths = table.column("nbytes").to_pylist()
    for i in range(n):
        if i % 1024 == 0:
            check_cancel(cancel)
            progress(i, n, "decoding images")
        data = objects.read(packs[i], offsets[i], lengths[i])
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            native = img.convert(mode) if img.mode != mode else img
        arr = np.asarray(native, dtype=np.uint8)
        hashes.append(
            hashlib.blake2b(
                f"{mode}{arr.shape}".encode() + arr.tobytes(), digest_size=16
            ).hexdigest()
        )
        if mode == "L":
            gray = arr.astype(np.float32) / 255.0
        else:
            gray = arr.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0
        stats.append(image_stats(gray))
        if native.size != size:
            arr = np.asarray(native.resize(size, Image.Resampling.BILINEAR), dtype=np.uint8)
        pixels[i] = arr.reshape(size[1], size[0], channels)
    progress(n, n, "decoding images")
    return Decoded(pixels=pixels, hashes=hashes, stats=stats, fingerprints=fingerprints(pixels))


# -- the scan -------------------------------------------------------------------------


def run_scan(
    cat,
    objects,
    request: ScanRequest,
    *,
    progress: ProgressFn = no_progress,
    cancel: CancelFn | None = None,
) -> ScanOutput:
    with torch_threads():
        return _run_scan(cat, objects, request, progress=progress, cancel=cancel)


def _run_scan(cat, objects, request, *, progress, cancel) -> ScanOutput:
    from curate.scan.classifier import load_extractor, resolve_device
    from curate.store import findings_repo, samples_repo

    started = time.time()
    timing: dict[str, float] = {}
    notes: list[str] = []
    extractor = load_extractor(request.extractor, request.params)
    device = resolve_device(request.device)

    t = time.perf_counter()
    table = samples_repo.working_samples(cat)
    n = table.num_rows
    if n == 0:
        raise InvalidInput("the workspace has no samples to scan", hint="curate ingest FOLDER")
    widths = table.column("width").to_pylist()
    heights = table.column("height").to_pylist()
    common = Counter(zip(widths, heights, strict=True)).most_common(1)[0][0]
    mode = common_mode(table.column("mode").to_pylist())
    size = extractor.input_size(common)
    if len(set(zip(widths, heights, strict=True))) > 1:
        notes.append(
            f"images have {len(set(zip(widths, heights, strict=True)))} different sizes: "
            f"the extractor saw them resized to {size[0]}x{size[1]}"
        )
    decoded = decode_all(objects, table, size=size, mode=mode, progress=progress, cancel=cancel)
    timing["decode"] = time.perf_counter() - t

    # -- labels -> indices ------------------------------------------------------------
    sids = np.asarray(table.column("sid").to_pylist(), dtype=np.int64)
    class_col = table.column("class_id").to_pylist()
    class_names = dict(samples_repo.classes(cat))
    present = sorted({c for c in class_col if c is not None})
    index_of = {c: i for i, c in enumerate(present)}
    labels = np.array([index_of[c] if c is not None else -1 for c in class_col], dtype=np.int64)
    labeled = labels >= 0
    n_labeled = int(labeled.sum())
    folds = request.folds
    check_labels = True
    if n_labeled == 0:
        notes.append("no sample has a label: label issues were not checked")
        check_labels = False
    elif len(present) < 2:
        notes.append(
            f"every labeled sample is in one class ({class_names[present[0]]!r}): "
            "label issues need at least two classes and were not checked"
        )
        check_labels = False
    else:
        counts = np.bincount(labels[labeled], minlength=len(present))
        if n_labeled < folds:
            notes.append(f"{n_labeled} labeled samples for {folds} folds: used {n_labeled} folds")
            folds = n_labeled
        small = [class_names[present[i]] for i in np.flatnonzero(counts < 2)]
        if small:
            notes.append(
                f"class{'es' if len(small) > 1 else ''} {', '.join(map(repr, small[:5]))} "
                "ha" + ("ve" if len(small) > 1 else "s") + " a single sample: "
                "the model never sees it in training, so those labels are weakly checked"
            )
    run_labels = labels if check_labels else np.full(n, -1, dtype=np.int64)

    # -- extractor ----------------------------------------------------------------------
    check_cancel(cancel)
    t = time.perf_counter()
    extraction = extractor.run(
        ExtractRequest(
            images=decoded.pixels,
            labels=run_labels,
            n_classes=max(len(present), 1),
            folds=folds,
            device=device,
            seed=request.seed,
            common_size=tuple(common),
        ),
        progress=progress,
        cancel=cancel,
    )
    timing["extract"] = time.perf_counter() - t
    emb = np.asarray(extraction.embeddings, dtype=np.float32)
    pred_probs = extraction.pred_probs

    # -- kNN graphs ------------------------------------------------------------------------
    from curate.scan.knn import knn_graph

    check_cancel(cancel)
    t = time.perf_counter()
    k = min(KNN_K, n - 1)
    emb_d, emb_i = knn_graph(emb, k, device=device, seed=request.seed, cancel=cancel)
    fp_d, fp_i = knn_graph(decoded.fingerprints, k, device=device, seed=request.seed, cancel=cancel)
    timing["knn"] = time.perf_counter() - t

    # -- cleanlab ------------------------------------------------------------------------------
    check_cancel(cancel)
    t = time.perf_counter()
    label_rows = None
    if check_labels and pred_probs is not None:
        label_rows = _label_issues(labels[labeled], pred_probs[labeled])
    outlier_rows = _outliers(emb_d, emb_i, notes)
    timing["cleanlab"] = time.perf_counter() - t

    # -- duplicates and quality ---------------------------------------------------------------
    from curate.scan.duplicates import (
        exact_groups,
        groups_from_pairs,
        near_duplicate_threshold,
    )
    from curate.scan.quality import score_quality

    t = time.perf_counter()
    exact = exact_groups(decoded.hashes)
    threshold = near_duplicate_threshold(fp_d)
    close = (fp_d <= threshold) & (fp_i >= 0)
    pair_a = np.repeat(np.arange(n), fp_d.shape[1])[close.ravel()]
    pair_b = fp_i.ravel()[close.ravel()]
    # Exact duplicates join their near-duplicate cluster, so one group holds both.
    ex_members = np.flatnonzero(exact >= 0)
    first_of_group: dict[int, int] = {}
    ex_a, ex_b = [], []
    for i in ex_members:
        j = first_of_group.setdefault(int(exact[i]), int(i))
        if j != i:
            ex_a.append(j)
            ex_b.append(int(i))
    near = groups_from_pairs(
        n,
        np.concatenate([pair_a, np.array(ex_a, np.int64)]),
        np.concatenate([pair_b, np.array(ex_b, np.int64)]),
    )
    nearest = np.where(close.any(1), np.where(close, fp_d, np.inf).min(1), np.inf)
    nearest[exact >= 0] = 0.0
    q_score, q_details = score_quality(decoded.stats)
    timing["duplicates_quality"] = time.perf_counter() - t

    # -- findings rows ---------------------------------------------------------------------------
    t = time.perf_counter()
    rows = _FindingRows()
    given_ids = [c for c in class_col]
    issues: dict[str, int] = {k.value: 0 for k in FindingKind if k != FindingKind.CONFLICT}
    by_class: dict[int, int] = {}

    def neighbours(i: int) -> list[dict]:
        out = []
        for d, j in zip(
            emb_d[i, :EVIDENCE_NEIGHBOURS], emb_i[i, :EVIDENCE_NEIGHBOURS], strict=True
        ):
            if j < 0:
                continue
            cid = given_ids[j]
            out.append(
                {
                    "sid": int(sids[j]),
                    "label": class_names.get(cid) if cid is not None else None,
                    "distance": round(float(d), 4),
                }
            )
        return out

    if label_rows is not None:
        lab_idx = np.flatnonzero(labeled)
        is_issue, score, predicted = label_rows
        for pos, i in enumerate(lab_idx):
            given = int(labels[i])
            sugg = int(predicted[pos])
            nb = neighbours(i)
            same = [x for x in nb if x["label"] == class_names[present[given]]]
            details = {
                "given_class_id": present[given],
                "p_given": _sig(pred_probs[i, given]),
                "p_suggested": _sig(pred_probs[i, sugg]),
                "neighbours": nb,
                "neighbour_agreement": round(len(same) / len(nb), 3) if nb else None,
            }
            rows.add(sids[i], FindingKind.LABEL, score[pos], is_issue[pos], present[sugg], details)
            if is_issue[pos]:
                issues["label"] += 1
                by_class[present[given]] = by_class.get(present[given], 0) + 1

    if outlier_rows is not None:
        o_issue, o_score = outlier_rows
        for i in range(n):
            details = {
                "given_class_id": given_ids[i],
                "mean_neighbour_distance": round(float(np.nanmean(emb_d[i])), 4)
                if emb_d.shape[1]
                else None,
                "neighbours": neighbours(i)[:3],
            }
            rows.add(sids[i], FindingKind.OUTLIER, o_score[i], o_issue[i], None, details)
            issues["outlier"] += int(o_issue[i])

    # The same file bytes under several paths were stored once (one sample):
    # still an exact duplicate to the user, reported with every path.
    files_of = findings_repo.multi_source_samples(cat)
    row_of = {int(s): i for i, s in enumerate(sids)}
    for kind, group_of in ((FindingKind.DUPLICATE, exact), (FindingKind.NEAR_DUPLICATE, near)):
        members: dict[int, list[int]] = {}
        for i in np.flatnonzero(group_of >= 0):
            members.setdefault(int(group_of[i]), []).append(int(i))
        if kind == FindingKind.DUPLICATE:
            next_group = max(members, default=-1) + 1
            for sid in sorted(files_of):
                i = row_of.get(sid)
                if i is not None and exact[i] < 0:
                    members[next_group] = [i]
                    next_group += 1
        for g, idx in members.items():
            group_sids = [int(sids[i]) for i in idx]
            keep = min(group_sids)
            labels_in_group = sorted(
                {class_names.get(given_ids[i]) for i in idx if given_ids[i] is not None}
            )
            for i in idx:
                if kind == FindingKind.DUPLICATE:
                    score = 0.0
                else:
                    score = float(min(1.0, nearest[i] / max(threshold, 1e-12)) * 0.5)
                details = {
                    "group": g,
                    "group_size": len(idx),
                    "members": group_sids[:20],
                    "keep": keep,
                    "labels": labels_in_group,
                    "given_class_id": given_ids[i],
                }
                if kind == FindingKind.DUPLICATE and int(sids[i]) in files_of:
                    details["files"] = files_of[int(sids[i])][:20]
                if kind == FindingKind.NEAR_DUPLICATE:
                    details["distance"] = round(float(nearest[i]), 6)
                    details["threshold"] = round(threshold, 6)
                rows.add(sids[i], kind, score, True, None, details)
            issues[kind.value] += len(idx)

    for i in range(n):
        details = dict(q_details[i], given_class_id=given_ids[i])
        flagged = bool(details["checks"])
        rows.add(sids[i], FindingKind.QUALITY, float(q_score[i]), flagged, None, details)
        issues["quality"] += int(flagged)
    findings = rows.table()
    timing["findings"] = time.perf_counter() - t

    n_groups = len({int(g) for g in near[near >= 0]})
    return ScanOutput(
        findings=findings,
        extractor=extractor.name,
        config={
            "extractor": extractor.config(),
            "folds": folds,
            "requested_folds": request.folds,
            "device": device,
            "input_size": list(size),
            "mode": mode,
            "knn_k": k,
            "near_duplicate_threshold": threshold,
            "extraction": extraction.info,
        },
        device=device,
        seed=request.seed,
        samples=n,
        labeled=n_labeled,
        issues=issues,
        duplicate_groups=n_groups,
        label_issues_by_class=by_class,
        warnings=notes,
        timing={k: round(v, 3) for k, v in timing.items()},
        started_at=started,
    )


def _label_issues(labels: np.ndarray, pred_probs: np.ndarray):
    """cleanlab Datalab label issues: (is_issue, score, predicted label index)."""
    from cleanlab import Datalab

    # Datalab orders pred_probs columns by sorted class name; our labels are
    # the integers 0..K-1 in column order, so the two orders agree.
    pp = np.asarray(pred_probs, dtype=np.float64)
    pp = pp / pp.sum(1, keepdims=True)
    lab = Datalab(data={"label": labels}, label_name="label", verbosity=0)
    with warnings.catch_warnings(), _quiet():
        warnings.simplefilter("ignore")
        lab.find_issues(
            pred_probs=pp,
            issue_types={
                "label": {
                    "clean_learning_kwargs": {
                        "find_label_issues_kwargs": {"filter_by": LABEL_FILTER_BY}
                    }
                }
            },
        )
    issues = lab.get_issues("label")
    predicted = np.asarray(lab.get_info("label")["predicted_label"], dtype=np.int64)
    return (
        issues["is_label_issue"].to_numpy(dtype=bool),
        issues["label_score"].to_numpy(dtype=np.float64),
        predicted,
    )


def _outliers(distances: np.ndarray, indices: np.ndarray, notes: list[str]):
    """cleanlab Datalab outliers from our kNN graph: (is_issue, score) or None."""
    n, k = distances.shape
    if n < 3 or k < 2:
        notes.append(f"{n} samples: too few to look for outliers")
        return None
    finite = distances[np.isfinite(distances)]
    if finite.size == 0 or float(finite.max()) <= 1e-9:
        notes.append("all images look the same to the extractor: no outliers to find")
        return None
    from cleanlab import Datalab

    from curate.scan.knn import to_csr

    graph = to_csr(distances, indices)
    lab = Datalab(data={"row": np.arange(n)}, verbosity=0)
    with warnings.catch_warnings(), _quiet():
        warnings.simplefilter("ignore")
        lab.find_issues(knn_graph=graph, issue_types={"outlier": {"k": k}})
    issues = lab.get_issues("outlier")
    score = issues["outlier_score"].to_numpy(dtype=np.float64)
    score = np.where(np.isfinite(score), score, 1.0)
    return issues["is_outlier_issue"].to_numpy(dtype=bool), score


def _sig(x: float, digits: int = 4) -> float:
    """``x`` rounded to ``digits`` significant digits (tiny probabilities stay visible)."""
    return float(f"{float(x):.{digits}g}")


@contextmanager
def _quiet():
    """Datalab prints progress to stdout; our stdout may be a JSON document."""
    import contextlib

    with contextlib.redirect_stdout(io.StringIO()):
        yield


class _FindingRows:
    def __init__(self) -> None:
        self.sid: list[int] = []
        self.kind: list[str] = []
        self.score: list[float | None] = []
        self.is_issue: list[bool] = []
        self.suggested: list[int | None] = []
        self.details: list[str] = []

    def add(self, sid, kind: FindingKind, score, is_issue, suggested, details) -> None:
        self.sid.append(int(sid))
        self.kind.append(kind.value)
        s = float(score) if score is not None else None
        self.score.append(None if s is None or math.isnan(s) else s)
        self.is_issue.append(bool(is_issue))
        self.suggested.append(int(suggested) if suggested is not None else None)
        self.details.append(json.dumps(details, separators=(",", ":")))

    def table(self) -> pa.Table:
        from curate.store.findings_repo import FINDING_SCHEMA

        return pa.table(
            {
                "sid": pa.array(self.sid, pa.int64()),
                "kind": pa.array(self.kind, pa.string()),
                "score": pa.array(self.score, pa.float64()),
                "is_issue": pa.array(self.is_issue, pa.bool_()),
                "suggested_class_id": pa.array(self.suggested, pa.int32()),
                "details": pa.array(self.details, pa.string()),
            },
            schema=FINDING_SCHEMA,
        )
