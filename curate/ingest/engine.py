"""Ingest: enumerate -> read, hash and decode in parallel -> store new bytes -> catalog.

Work goes in batches. Each batch's new bytes land in one pack (durable before
the catalog hears of it) and its catalog rows in one transaction, so Ctrl-C or
kill -9 at any point keeps every finished batch and nothing half-written (Ctrl-C
and a cancel also store the images already read); re-running the same ingest
skips what is known and completes the rest.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator, Sized
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import pyarrow as pa

from curate.core.models import IngestFormat, IngestReport, Quarantined
from curate.core.progress import CancelFn, ProgressFn, check_cancel, no_progress
from curate.errors import Cancelled, Interrupted, InvalidInput
from curate.ingest.decode import DEFAULT_MAX_PIXELS, BadImage, inspect_image
from curate.ingest.sources import ColumnNames, Item, detect_format, enumerate_items
from curate.store import ingest_repo
from curate.store.catalog import Catalog
from curate.store.objects import ObjectStore

# Rows per catalog transaction. Each commit probes the catalog once, so
# larger groups amortise that scan; a kill loses at most one group's work.
BATCH_SIZE = 16384
# A group is also committed once it holds this many bytes of new images.
MAX_GROUP_BYTES = 256 * 1024 * 1024
# Inputs read per step: the unit of progress and cancellation.
READ_CHUNK = 512
# Reading, hashing and decoding release the GIL for most of their time.
READ_THREADS = 4


@dataclass(frozen=True)
class IngestOptions:
    fmt: IngestFormat = IngestFormat.AUTO
    columns: ColumnNames = ColumnNames()
    root: Path | None = None  # manifest, HF: where relative paths start (default: its folder)
    max_pixels: int = DEFAULT_MAX_PIXELS
    batch_size: int = BATCH_SIZE


@dataclass(slots=True)
class _Good:
    item: Item
    data: bytes
    sample_id: str
    info: object


def _process(item: Item, max_pixels: int) -> _Good | tuple[str, str]:
    if item.problem is not None or item.read is None:
        return (item.uri, item.problem or "unreadable: no data")
    try:
        data = item.read()
    except OSError as exc:
        return (item.uri, f"unreadable: {exc.strerror or exc}")
    try:
        info = inspect_image(data, max_pixels=max_pixels)
    except BadImage as exc:
        return (item.uri, str(exc))
    return _Good(item, data, hashlib.sha256(data).hexdigest(), info)


def _batches(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def run_ingest(
    catalog: Catalog,
    objects: ObjectStore,
    source: Path,
    options: IngestOptions = IngestOptions(),
    *,
    progress: ProgressFn = no_progress,
    cancel: CancelFn | None = None,
) -> IngestReport:
    """Ingest ``source``. The caller holds the writer lock."""
    started = time.perf_counter()
    source = Path(source)
    fmt = detect_format(source) if options.fmt is IngestFormat.AUTO else options.fmt
    if options.root is not None and fmt not in (IngestFormat.MANIFEST, IngestFormat.HF):
        raise InvalidInput(
            "--root is for manifests and HF datasets (where their relative image paths start)"
        )
    items = enumerate_items(source, fmt, options.columns, options.root)
    # The progress total. An HF dataset knows its row count, so its items are made
    # as the loop below reaches them (a dataset bigger than memory must never be
    # listed); folders and manifests are listed: paths and labels only, no bytes.
    if not isinstance(items, Sized):
        items = list(items)
    total = len(items)
    if total == 0:  # most likely the wrong folder: say so instead of "ingested 0"
        raise InvalidInput(
            f"found nothing to ingest in {source} ({fmt.value})",
            hint="imagefolder: one subfolder per class, optionally under train/ val/ test/"
            if fmt is IngestFormat.IMAGEFOLDER
            else None,
        )

    # A previous run killed between a pack's rename and its catalog commit left
    # a pack nothing points to: drop it before adding more.
    objects.remove_orphans(ingest_repo.referenced_packs(catalog))
    ingest_id = ingest_repo.begin_ingest(
        catalog, str(source.absolute()), fmt.value, {"max_pixels": options.max_pixels}
    )
    conflicts_before = ingest_repo.conflict_count(catalog)
    split_conflicts_before = ingest_repo.split_conflict_count(catalog)
    added_samples = added_sources = seen = unlabeled = label_not_applied = 0
    quarantined: list[Quarantined] = []
    new_classes: list[str] = []
    status = "done"
    progress(0, total, "ingesting")
    good: list[_Good] = []
    bad: list[tuple[str, str]] = []
    group_bytes = 0

    def flush() -> None:
        nonlocal added_samples, added_sources, good, bad, group_bytes
        nonlocal unlabeled, label_not_applied
        if not good and not bad:
            return
        result = _commit(catalog, objects, ingest_id, good, bad)
        added_samples += result["added_samples"]
        added_sources += result["added_sources"]
        unlabeled += result["unlabeled"]
        label_not_applied += result["label_not_applied"]
        new_classes.extend(result["new_classes"])
        quarantined.extend(Quarantined(source=u, reason=r) for u, r in bad)
        good, bad, group_bytes = [], [], 0

    try:
        with ThreadPoolExecutor(READ_THREADS) as pool:
            chunk = min(READ_CHUNK, options.batch_size)
            for batch in _batches(items, chunk):
                try:
                    check_cancel(cancel)
                except Cancelled:
                    flush()  # keep everything already read
                    raise
                for r in pool.map(lambda it: _process(it, options.max_pixels), batch):
                    if isinstance(r, _Good):
                        good.append(r)
                        group_bytes += len(r.data)
                    else:
                        bad.append(r)
                    seen += 1
                if len(good) + len(bad) >= options.batch_size or group_bytes >= MAX_GROUP_BYTES:
                    flush()
                progress(seen, total, "ingesting")
            flush()
    except KeyboardInterrupt:
        # Ctrl-C keeps what was read, as a cancel does. A flush it cut short
        # committed nothing (or everything: storing a group again adds nothing),
        # so this one stores the group whole. A second Ctrl-C stops it too.
        status = "cancelled"
        flush()
        raise
    except Interrupted:
        status = "cancelled"
        raise
    except Cancelled:
        status = "cancelled"  # said below, with what was stored
    except BaseException:  # a full disk, a permission, a bug: not "done"
        status = "failed"
        raise
    finally:
        report = IngestReport(
            ingest_id=ingest_id,
            source=str(source.absolute()),
            format=fmt,
            seen=seen,
            added_samples=added_samples,
            added_sources=added_sources,
            already_present=max(0, seen - added_sources - len(quarantined) - len(good) - len(bad)),
            conflicts=_since(ingest_repo.conflict_count, catalog, conflicts_before, status),
            split_conflicts=_since(
                ingest_repo.split_conflict_count, catalog, split_conflicts_before, status
            ),
            quarantined=quarantined,
            new_classes=new_classes,
            unlabeled=unlabeled,
            label_not_applied=label_not_applied,
            seconds=round(time.perf_counter() - started, 3),
            cancelled=status == "cancelled",
        )
        try:
            ingest_repo.finish_ingest(catalog, ingest_id, status, report.model_dump(mode="json"))
        except Exception:
            if status == "done":
                raise
            # The run's own error says more (a full disk fails this write too);
            # the row stays 'running', like a killed run's.
    if status == "cancelled":  # a cancel (the CLI's first Ctrl-C): what it kept, in numbers
        raise Cancelled(
            f"cancelled: {seen} of {total} inputs were read and are stored "
            f"({added_samples} new images, {len(quarantined)} quarantined); "
            "nothing is half-written"
        )
    return report


def _since(count, catalog: Catalog, before: int, status: str) -> int:
    try:
        return count(catalog) - before
    except Exception:
        if status == "done":
            raise
        return 0


def _commit(
    catalog: Catalog,
    objects: ObjectStore,
    ingest_id: int,
    good: list[_Good],
    bad: list[tuple[str, str]],
) -> dict:
    known = ingest_repo.known_sample_ids(catalog, [g.sample_id for g in good])
    # Store each new image once, even if the batch holds it under two paths.
    first_new: dict[str, _Good] = {}
    for g in sorted(good, key=lambda g: g.item.uri):
        if g.sample_id not in known and g.sample_id not in first_new:
            first_new[g.sample_id] = g
    locations = dict(
        zip(first_new, objects.write_pack([g.data for g in first_new.values()]), strict=True)
    )
    rows: dict[str, list] = {name: [] for name in ingest_repo.INCOMING_SCHEMA.names}
    for g in good:
        loc = locations.get(g.sample_id) if first_new.get(g.sample_id) is g else None
        info = g.info
        rows["sample_id"].append(g.sample_id)
        rows["uri"].append(g.item.uri)
        rows["label"].append(g.item.label)
        rows["split"].append(g.item.split)
        rows["width"].append(info.width)
        rows["height"].append(info.height)
        rows["channels"].append(info.channels)
        rows["mode"].append(info.mode)
        rows["format"].append(info.format)
        rows["nbytes"].append(len(g.data))
        rows["pack"].append(loc.pack if loc else None)
        rows["pack_offset"].append(loc.offset if loc else None)
        rows["sid"].append(known.get(g.sample_id))
    incoming = pa.table(rows, schema=ingest_repo.INCOMING_SCHEMA)
    return ingest_repo.commit_batch(catalog, ingest_id, incoming, bad)
