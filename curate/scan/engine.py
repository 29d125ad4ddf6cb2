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

Streaming (issue 9; above 50,000 samples, or ``ScanRequest.streaming``): the
per-sample matrices (pixels, fingerprints, features, embeddings) go to a
temporary :class:`~curate.scan.featurestore.FeatureStore` under
``.curate/cache/scan`` batch by batch and are read back in chunks; the kNN
graphs are built from them chunk by chunk; the findings rows go to a Parquet
file that the catalog ingests in one transaction. What stays in memory is
O(N) small: labels, hashes, statistics, out-of-sample probabilities and the
(N, k) kNN graphs, plus the IVF index's vectors while one graph is built.
With the same data and seed, a streaming scan records the same findings as an
in-memory one (up to float rounding where chunks regroup a matmul).
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import tempfile
import time
import uuid
import warnings
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa

from curate.core.balance import BalancingPlan
from curate.core.findings import ClassSummary, FindingKind, ScanRequest, ScanResult
from curate.core.progress import CancelFn, ProgressFn, check_cancel, no_progress
from curate.errors import DamagedData, InvalidInput, one_line
from curate.imaging import common_mode
from curate.plugins.extractor import ExtractRequest, StreamingRequest
from curate.scan.classifier import torch_threads
from curate.scan.featurestore import FeatureStore, Matrix

KNN_K = 10
#: cleanlab's find_label_issues method. "low_self_confidence" flags, per
#: class, the samples with the lowest probability of their given label, as
#: many as confident learning estimates are wrong. With the ensemble's
#: sharpened probabilities it beat the default "prune_by_noise_rate" on the
#: sklearn digits at 8% and 20% noise, 3 seeds each (F1 0.982 vs 0.957 at 8%,
#: 0.983 vs 0.975 at 20%); see docs/benchmarks.md.
LABEL_FILTER_BY = "low_self_confidence"
#: Out-of-fold accuracy within this of the largest class's share: no label is flagged.
NO_POWER_MARGIN = 0.05
EVIDENCE_NEIGHBOURS = 5


@dataclass
class ScanOutput:
    """What :func:`run_scan` computed: the findings rows and the summary parts."""

    #: The rows, or (streaming scan) a Parquet file of them: see :meth:`cleanup`.
    findings: pa.Table | Path
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

    def cleanup(self) -> None:
        """Delete the findings file of a streaming scan (once recorded)."""
        if isinstance(self.findings, Path):
            self.findings.unlink(missing_ok=True)

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

#: Rows decoded per step (the unit of cancel checks and of streaming writes).
DECODE_BATCH = 8192
#: Above this many samples a scan streams (``ScanRequest.streaming=None``): pixels,
#: features and embeddings go to disk and are read back in chunks.
STREAM_ABOVE = 50_000


@dataclass
class Decoded:
    pixels: Matrix  # (N, h, w, C) uint8 at the extractor's input size
    hashes: list[str]
    stats: np.ndarray  # (N, len(quality.STAT_KEYS)) float64
    fingerprints: Matrix  # (N, 257) float32


def decode_batch(objects, table: pa.Table, *, size: tuple[int, int], mode: str):
    """Decode the rows of ``table`` (pack, pack_offset, nbytes): (pixels, hashes, stats).

    Per image: a pixel hash and quality statistics at native size, pixels at
    ``size`` (width, height) for the extractor.
    """
    from PIL import Image

    from curate.imaging import decode
    from curate.scan.quality import StatsAccumulator

    n = table.num_rows
    channels = 1 if mode == "L" else 3
    pixels = np.zeros((n, size[1], size[0], channels), dtype=np.uint8)
    stats = StatsAccumulator(n)
    hashes = []
    packs = table.column("pack").to_pylist()
    offsets = table.column("pack_offset").to_pylist()
    lengths = table.column("nbytes").to_pylist()
    for i in range(n):
        data = objects.read(packs[i], offsets[i], lengths[i])
        try:
            arr = decode(data, mode=mode)
        except (OSError, ValueError, SyntaxError, EOFError) as exc:  # what PIL raises
            raise _undecodable(data, exc, row=i) from None
        hashes.append(
            hashlib.blake2b(
                f"{mode}{arr.shape}".encode() + arr.tobytes(), digest_size=16
            ).hexdigest()
        )
        if mode == "L":
            gray = arr.astype(np.float32) / 255.0
        else:
            gray = arr.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0
        stats.add(i, gray)
        if (arr.shape[1], arr.shape[0]) != tuple(size):
            native = Image.fromarray(arr)
            arr = np.asarray(native.resize(size, Image.Resampling.BILINEAR), dtype=np.uint8)
        pixels[i] = arr.reshape(size[1], size[0], channels)
    return pixels, hashes, stats.result()


_DAMAGED_HINT = (
    "the workspace's object store is damaged (a disk error, or a pack edited by hand): "
    "restore .curate/objects from a backup, or `curate drop` the sample"
)


def _undecodable(data: bytes, exc: Exception, *, row: int) -> DamagedData:
    """What failed for row ``row`` of a batch; :func:`_name_damaged` names the sample."""
    reason = re.sub(r" ?<_io\.BytesIO object at 0x[0-9a-f]+>", "", one_line(exc))
    err = DamagedData(reason or type(exc).__name__, hint=_DAMAGED_HINT, row=row)
    err.digest = hashlib.sha256(data).hexdigest()  # sample_id is the sha256 of the bytes
    return err


def _name_damaged(exc: DamagedData, table: pa.Table, start: int) -> DamagedData:
    """``exc`` from the batch starting at row ``start`` of ``table``, naming its sample.

    Ingest decoded every image it stored, so one that fails now was damaged
    since, unless its bytes still hash to its sample id.
    """
    if exc.row is None or "sample_id" not in table.column_names:
        return exc
    row = table.slice(start + exc.row, 1).to_pylist()[0]
    sample = f"sample {row.get('sid', '?')} ({row['sample_id'][:12]})"
    if getattr(exc, "digest", None) == row["sample_id"]:  # intact bytes that do not decode
        return DamagedData(f"cannot decode {sample}: {exc.message}")
    return DamagedData(
        f"the stored bytes of {sample} are damaged: they no longer match its checksum "
        f"({exc.message})",
        hint=exc.hint,
    )


def decode_all(
    objects,
    table: pa.Table,
    *,
    size: tuple[int, int],
    mode: str,
    progress: ProgressFn,
    cancel: CancelFn | None,
    store: FeatureStore | None = None,
    engine=None,
) -> Decoded:
    """Decode every row in batches of 4,096 (:func:`curate.scan.batches.decode_rows`),
    on ``engine`` (None: here). With a ``store`` the pixels and fingerprints go
    to disk every :data:`DECODE_BATCH` rows (a streaming scan); without, they
    stay in memory. Workers read the bytes themselves through the engine's
    pack reader; this process only gathers the results."""
    from curate.engines.base import slices
    from curate.scan.batches import ENGINE_BATCH_ROWS, arrow_to_rows, decode_rows
    from curate.scan.duplicates import FINGERPRINT_SIDE
    from curate.scan.featurestore import ArrayMatrix
    from curate.scan.quality import STAT_KEYS

    n = table.num_rows
    channels = 1 if mode == "L" else 3
    fp_dim = FINGERPRINT_SIDE * FINGERPRINT_SIDE + 1
    pixel_shape = (size[1], size[0], channels)
    hashes: list[str] = []
    stats = []
    if store is None:
        pixels = np.zeros((n, *pixel_shape), dtype=np.uint8)
        prints = np.zeros((n, fp_dim), dtype=np.float32)
    else:
        pixel_out = store.writer("pixels", pixel_shape, np.uint8)
        print_out = store.writer("fingerprints", (fp_dim,), np.float32)
    rows = table.select(["pack", "pack_offset", "nbytes"])
    if engine is None:
        context = (objects, size, mode)
        results = (
            decode_rows(rows.slice(start, length), context)
            for start, length in slices(n, ENGINE_BATCH_ROWS)
        )
    else:
        context = (engine.reader, size, mode)
        results = engine.map_batches(
            decode_rows, rows, batch_rows=ENGINE_BATCH_ROWS, context=context
        )
    block_px: list[np.ndarray] = []
    block_fp: list[np.ndarray] = []
    done = 0
    progress(0, n, "decoding images")
    try:
        for part in results:
            m = part.num_rows
            hashes.extend(part.column("hash").to_pylist())
            stats.append(arrow_to_rows(part.column("stats"), (len(STAT_KEYS),), np.float64))
            px = arrow_to_rows(part.column("pixels"), pixel_shape, np.uint8)
            fp = arrow_to_rows(part.column("fingerprint"), (fp_dim,), np.float32)
            if store is None:
                pixels[done : done + m] = px
                prints[done : done + m] = fp
            else:  # one row group per DECODE_BATCH rows
                block_px.append(px)
                block_fp.append(fp)
                if sum(len(b) for b in block_px) >= DECODE_BATCH:
                    pixel_out.append(np.concatenate(block_px))
                    print_out.append(np.concatenate(block_fp))
                    block_px, block_fp = [], []
            done += m
            # Cancel and progress every batch (about a second of work).
            check_cancel(cancel)
            progress(done, n, "decoding images")
    except DamagedData as exc:  # from the batch starting at row `done`
        raise _name_damaged(exc, table, done) from None
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
    if store is not None and block_px:
        pixel_out.append(np.concatenate(block_px))
        print_out.append(np.concatenate(block_fp))
    progress(n, n, "decoding images")
    stats_matrix = np.concatenate(stats) if stats else np.zeros((0, len(STAT_KEYS)))
    if store is None:
        return Decoded(ArrayMatrix(pixels), hashes, stats_matrix, ArrayMatrix(prints))
    return Decoded(pixel_out.close(), hashes, stats_matrix, print_out.close())


# -- the scan -------------------------------------------------------------------------


def run_scan(
    cat,
    objects,
    request: ScanRequest,
    *,
    cache_dir: Path | None = None,
    progress: ProgressFn = no_progress,
    cancel: CancelFn | None = None,
    engine=None,
) -> ScanOutput:
    """Scan the live samples. A streaming scan keeps its matrices in a temporary
    :class:`~curate.scan.featurestore.FeatureStore` under ``cache_dir`` (default: the
    system's temp folder) and writes its findings to a Parquet file there; call
    :meth:`ScanOutput.cleanup` once they are recorded.

    ``engine`` (``"local"``, ``"ray"``, settings, an open engine; default: the
    environment's, else local in this process) runs decoding, quality
    statistics, feature maps and the folds' heads batch by batch; the kNN
    graphs, cleanlab and the findings stay here. Same seed, same findings on
    every engine. The local engine runs them in ``request.workers`` processes
    (default: this one)."""
    from curate.engines import using_engine

    workers = _local_workers(request)
    _check_device_for(_engine_name(engine), request)  # before Ray starts (~10 s), not after
    with (
        torch_threads(),
        using_engine(engine, packs_dir=objects.packs_dir, workers=workers) as runner,
    ):
        return _run_scan(
            cat,
            objects,
            request,
            cache_dir=cache_dir,
            progress=progress,
            cancel=cancel,
            engine=runner,
        )


def _local_workers(request) -> int:
    """Processes of the local engine: ``request.workers``, default 1 (this process).

    Opt-in, not the default: the pool forks, and forking a process that holds
    a Ray connection (gRPC threads) hung the next Ray scan of that process in
    a benchmark that ran both engines. Never on CUDA (the GPU does the heavy
    work, and a forked child must not touch the parent's CUDA context).
    """
    from curate.scan.classifier import resolve_device

    if request.workers in (None, 1):
        return 1
    device = str(getattr(request.device, "value", request.device))
    if device == "cuda" or (device == "auto" and resolve_device("auto") == "cuda"):
        raise InvalidInput(
            f"workers: {request.workers} processes run a CPU scan; a CUDA scan runs in one",
            hint="leave --workers out, or scan with --device cpu",
        )
    return request.workers


def _engine_name(engine) -> str:
    """The name of the engine ``engine`` stands for, without opening it."""
    from curate.engines import EngineSettings

    if isinstance(engine, EngineSettings):
        return engine.engine
    if engine is None or isinstance(engine, str):
        return EngineSettings.from_env(engine=engine).engine
    return engine.name


def _check_device_for(engine_name: str, request) -> None:
    """Only the local engine scans on CUDA: an engine's workers compute on CPU."""
    if engine_name != "local" and str(getattr(request.device, "value", request.device)) == "cuda":
        raise InvalidInput(
            f"--engine {engine_name} runs the scan's feature maps on CPU workers",
            hint="use --device auto or cpu, or scan with --engine local on the GPU machine",
        )


def _scan_device(request, engine) -> str:
    """The device: an engine's workers compute on CPU (a GPU scan runs on the local engine)."""
    from curate.scan.classifier import resolve_device

    if engine.name == "local":
        return resolve_device(request.device)
    _check_device_for(engine.name, request)
    return "cpu"


def _run_scan(cat, objects, request, *, cache_dir, progress, cancel, engine) -> ScanOutput:
    from curate.scan.classifier import load_extractor
    from curate.scan.featurestore import FeatureStore
    from curate.store import samples_repo

    started = time.time()
    extractor = load_extractor(request.extractor, request.params)
    device = _scan_device(request, engine)
    table = samples_repo.working_samples(cat)
    n = table.num_rows
    if n == 0:
        raise InvalidInput("the workspace has no samples to scan", hint="curate ingest FOLDER")
    streaming = request.streaming if request.streaming is not None else n > STREAM_ABOVE

    def scan(store, findings_path) -> ScanOutput:  # in memory, or with a store on disk
        return _scan(
            cat,
            objects,
            request,
            extractor,
            device,
            table,
            store,
            findings_path,
            started,
            progress=progress,
            cancel=cancel,
            engine=engine,
        )

    if not streaming:
        return scan(None, None)
    parent = (
        Path(cache_dir) if cache_dir is not None else Path(tempfile.gettempdir()) / "curate-scan"
    )
    parent.mkdir(parents=True, exist_ok=True)
    findings_path = parent / f"findings-{os.getpid()}-{uuid.uuid4().hex[:8]}.parquet"
    try:
        with FeatureStore.temporary(parent) as store:
            return scan(store, findings_path)
    except BaseException:
        findings_path.unlink(missing_ok=True)
        raise


def _scan(
    cat,
    objects,
    request,
    extractor,
    device,
    table,
    store,
    findings_path,
    started,
    *,
    progress,
    cancel,
    engine,
) -> ScanOutput:
    from curate.store import findings_repo, samples_repo

    timing: dict[str, float] = {}
    notes: list[str] = []
    n = table.num_rows
    t = time.perf_counter()
    widths = table.column("width").to_numpy()
    heights = table.column("height").to_numpy()
    sizes = Counter(zip(widths.tolist(), heights.tolist(), strict=True))
    common = sizes.most_common(1)[0][0]
    mode = common_mode(table.column("mode").to_pylist())
    size = extractor.input_size(common)
    if len(sizes) > 1:
        notes.append(
            f"images have {len(sizes)} different sizes: "
            f"the extractor saw them resized to {size[0]}x{size[1]}"
        )
    decoded = decode_all(
        objects,
        table,
        size=size,
        mode=mode,
        progress=progress,
        cancel=cancel,
        store=store,
        engine=engine,
    )
    timing["decode"] = time.perf_counter() - t

    # -- labels -> indices ------------------------------------------------------------
    sids = table.column("sid").to_numpy().astype(np.int64)
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
                "the model never sees such a class in training, so those samples are never flagged"
            )
    run_labels = labels if check_labels else np.full(n, -1, dtype=np.int64)
    train_rows = n_labeled * (folds - 1) // max(folds, 1)
    if check_labels and train_rows > request.max_train:
        notes.append(
            f"classifier heads trained on {request.max_train:,} of about {train_rows:,} "
            "samples per fold (max_train); every sample is still predicted out of sample"
        )

    # -- extractor ----------------------------------------------------------------------
    check_cancel(cancel)
    t = time.perf_counter()
    extract_engine = engine if extractor.supports_engine else None
    if extract_engine is None and engine.name != "local":
        notes.append(
            f"extractor {extractor.name!r} does not run on an engine: it ran in this process "
            f"(the {engine.name} engine decoded the images and computed their statistics)"
        )
    if store is None:
        extraction = extractor.run(
            ExtractRequest(
                images=decoded.pixels.read(),
                labels=run_labels,
                n_classes=max(len(present), 1),
                folds=folds,
                device=device,
                seed=request.seed,
                common_size=tuple(common),
                max_train=request.max_train,
                engine=extract_engine,
            ),
            progress=progress,
            cancel=cancel,
        )
        emb = np.asarray(extraction.embeddings, dtype=np.float32)
    else:
        from curate.scan.extractors.base import run_streaming_or_in_memory

        if not extractor.supports_streaming:
            notes.append(
                f"extractor {extractor.name!r} does not stream: it read all "
                f"{n:,} images into memory"
            )
        extraction = run_streaming_or_in_memory(
            extractor,
            StreamingRequest(
                images=decoded.pixels,
                labels=run_labels,
                n_classes=max(len(present), 1),
                folds=folds,
                device=device,
                seed=request.seed,
                store=store,
                common_size=tuple(common),
                max_train=request.max_train,
                engine=extract_engine,
            ),
            progress=progress,
            cancel=cancel,
        )
        emb = extraction.embeddings
        store.remove("pixels")  # the extractor was their last reader
    pred_probs = extraction.pred_probs
    timing["extract"] = time.perf_counter() - t

    # -- kNN graphs ------------------------------------------------------------------------
    from curate.scan.knn import knn_graph

    check_cancel(cancel)
    t = time.perf_counter()
    k = min(KNN_K, n - 1)
    emb_d, emb_i = knn_graph(emb, k, device=device, seed=request.seed, cancel=cancel)
    fp_d, fp_i = knn_graph(decoded.fingerprints, k, device=device, seed=request.seed, cancel=cancel)
    del emb
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
    from curate.scan.quality import quality_details, quality_scores

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
    nearest = (
        np.where(close.any(1), np.where(close, fp_d, np.inf).min(1), np.inf)
        if fp_d.shape[1]
        else np.full(n, np.inf)
    )
    nearest[exact >= 0] = 0.0
    del close, pair_a, pair_b, fp_d, fp_i
    q_score, q_checks = quality_scores(decoded.stats)
    timing["duplicates_quality"] = time.perf_counter() - t

    # -- findings rows ---------------------------------------------------------------------------
    t = time.perf_counter()
    rows = _FindingRows(findings_path)
    given_ids = class_col
    issues: dict[str, int] = {k.value: 0 for k in FindingKind if k != FindingKind.CONFLICT}
    by_class: dict[int, int] = {}
    # Python values, not numpy scalars, in the per-row code below (a million rows).
    sid_list = sids.tolist()
    name_of = [class_names.get(c) if c is not None else None for c in given_ids]

    def neighbours(i: int) -> list[dict]:
        return [
            {"sid": sid_list[j], "label": name_of[j], "distance": round(d, 4)}
            for d, j in zip(
                emb_d[i, :EVIDENCE_NEIGHBOURS].tolist(),
                emb_i[i, :EVIDENCE_NEIGHBOURS].tolist(),
                strict=True,
            )
            if j >= 0
        ]

    if label_rows is not None:
        lab_idx = np.flatnonzero(labeled)
        is_issue, score, predicted = label_rows
        # A class with one labeled sample is absent from that sample's training
        # fold: p(given) ~ 0 says nothing about the label. Rank it, never flag it.
        lab_counts = np.bincount(labels[labeled], minlength=len(present))
        is_issue = is_issue & (lab_counts[labels[labeled]] >= 2)
        # A model that does no better out of fold than always naming the largest
        # class has learnt nothing to judge labels by (a handful of samples, images
        # that all look alike): its "errors" are noise that accept would apply.
        given = labels[labeled]
        guessed = np.argmax(pred_probs[labeled], axis=1)
        accuracy = float(np.mean(guessed == given)) if len(given) else 0.0
        majority = float(lab_counts.max() / max(len(given), 1))
        if is_issue.any() and accuracy <= majority + NO_POWER_MARGIN:
            is_issue = np.zeros_like(is_issue)
            notes.append(
                f"out-of-fold accuracy {accuracy:.2f} is no better than naming the largest "
                f"class ({majority:.2f}): the labels could not be checked, none is flagged "
                "(`curate issues --all` still ranks them)"
            )
        for pos, i in enumerate(lab_idx.tolist()):
            if pos % 65536 == 0:
                check_cancel(cancel)
                progress(pos, len(lab_idx), "label findings")
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
        mean_d = np.nanmean(emb_d, axis=1).tolist() if emb_d.shape[1] else [None] * n
        for i in range(n):
            if i % 65536 == 0:
                check_cancel(cancel)
                progress(i, n, "outlier findings")
            details = {
                "given_class_id": given_ids[i],
                "mean_neighbour_distance": round(mean_d[i], 4) if mean_d[i] is not None else None,
                "neighbours": neighbours(i)[:3],
            }
            rows.add(sids[i], FindingKind.OUTLIER, o_score[i], o_issue[i], None, details)
        issues["outlier"] += int(np.sum(o_issue))

    # The same file bytes under several paths were stored once (one sample):
    # still an exact duplicate to the user, reported with every path.
    files_of = findings_repo.multi_source_samples(cat)
    row_of = {int(s): i for i, s in enumerate(sid_list) if int(s) in files_of}
    for kind, group_of in ((FindingKind.DUPLICATE, exact), (FindingKind.NEAR_DUPLICATE, near)):
        members: dict[int, list[int]] = {}
        for i in np.flatnonzero(group_of >= 0).tolist():
            members.setdefault(int(group_of[i]), []).append(i)
        if kind == FindingKind.DUPLICATE:
            next_group = max(members, default=-1) + 1
            for sid in sorted(files_of):
                i = row_of.get(sid)
                if i is not None and exact[i] < 0:
                    members[next_group] = [i]
                    next_group += 1
        for g, idx in members.items():
            group_sids = [sid_list[i] for i in idx]
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
                if kind == FindingKind.DUPLICATE and sid_list[i] in files_of:
                    details["files"] = files_of[sid_list[i]][:20]
                if kind == FindingKind.NEAR_DUPLICATE:
                    details["distance"] = round(float(nearest[i]), 6)
                    details["threshold"] = round(threshold, 6)
                rows.add(sids[i], kind, score, True, None, details)
            issues[kind.value] += len(idx)

    stats = decoded.stats
    for i in range(n):
        if i % 65536 == 0:
            check_cancel(cancel)
            progress(i, n, "quality findings")
        details = dict(quality_details(q_checks, stats, i), given_class_id=given_ids[i])
        flagged = bool(details["checks"])
        rows.add(sids[i], FindingKind.QUALITY, float(q_score[i]), flagged, None, details)
        issues["quality"] += int(flagged)
    progress(n, n, "quality findings")  # the bar ends full, not at its last 0/N update
    findings = rows.finish()
    timing["findings"] = time.perf_counter() - t

    n_groups = len({int(g) for g in near[near >= 0]})
    config = {
        "extractor": extractor.config(),
        "folds": folds,
        "requested_folds": request.folds,
        "device": device,
        "input_size": list(size),
        "mode": mode,
        "knn_k": k,
        "near_duplicate_threshold": threshold,
        "extraction": extraction.info,
    }
    if store is not None:
        config["streaming"] = True
    if engine.name != "local":
        config["engine"] = engine.describe()
    if check_labels and train_rows > request.max_train:
        config["max_train"] = request.max_train
    return ScanOutput(
        findings=findings,
        extractor=extractor.name,
        config=config,
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
    """Findings rows, kept in memory or, with a ``path``, written to Parquet every
    ``flush_rows`` rows (a streaming scan holds one batch of rows, not millions)."""

    flush_rows = 65_536

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._writer = None
        self._tables: list[pa.Table] = []
        self._reset()

    def _reset(self) -> None:
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
        # orjson: the same JSON as json.dumps (NaN as null, which is valid JSON) at
        # a fraction of the cost; a findings table has a few rows per sample.
        self.details.append(orjson.dumps(details, option=orjson.OPT_SERIALIZE_NUMPY).decode())
        if self.path is not None and len(self.sid) >= self.flush_rows:
            self._flush()

    def _batch(self) -> pa.Table:
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

    def _flush(self) -> None:
        import pyarrow.parquet as pq

        batch = self._batch()
        self._reset()
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, batch.schema, compression="zstd")
        self._writer.write_table(batch)

    def finish(self) -> pa.Table | Path:
        """The rows as one table, or the Parquet file's path when streaming."""
        if self.path is None:
            return self._batch()
        self._flush()
        self._writer.close()
        return self.path

    def table(self) -> pa.Table:
        return self._batch()
