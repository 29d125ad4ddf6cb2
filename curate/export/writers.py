"""The four export formats. Each writes a version's samples under a folder.

Deterministic by construction: rows in (split, sample_id) order, no wall
clock anywhere (tar entries get mtime 0, the HF fingerprint is derived from
the version hash), so the same version gives byte-identical files.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from curate.core.progress import CancelFn, ProgressFn, check_cancel, no_progress
from curate.errors import InvalidInput
from curate.export import rows as rowlib
from curate.outputs import check_name, name_problem
from curate.store.objects import ObjectStore

UNSPLIT = "unsplit"  # split name for samples a version holds without a split
SHARD_SAMPLES = 0  # webdataset samples per tar shard; 0: automatic (see shard_starts())
MIN_SHARDS = 8  # automatic shards: this many per split (a worker each for num_workers <= 8)...
MAX_SHARD_SAMPLES = 10_000  # ...or more, of at most this many samples
FILES_PER_TASK = 1024  # imagefolder files an engine task writes


@dataclass
class ExportJob:
    """What every writer gets: the version's rows (no bytes yet) and its class list."""

    objects: ObjectStore
    members: pa.Table  # versions_repo.members(): ordered by (split, sample_id)
    class_names: list[str]
    class_order: list[int]
    version_hash: str
    progress: ProgressFn = no_progress
    cancel: CancelFn | None = None
    #: Where rows are built and shards written (:mod:`curate.engines`); None: here.
    engine: Any = None

    def engine_reader(self):
        """How file tasks read image bytes: the engine's pack reader, or the store here."""
        return self.engine.reader if self.engine is not None else self.objects

    def split_slices(self) -> Iterator[tuple[str, pa.Table]]:
        """(split name, rows) in order; NULL splits come last as ``unsplit``."""
        splits = self.members.column("split").to_pylist()
        start = 0
        for i in range(1, len(splits) + 1):
            if i == len(splits) or splits[i] != splits[start]:
                yield (splits[start] or UNSPLIT), self.members.slice(start, i - start)
                start = i


#: datasets' own rule for split names (``datasets.splits.NamedSplit``); it raises a
#: ValueError with a traceback otherwise, after the other splits were built.
_HF_SPLIT = re.compile(r"^\w+(\.\w+)*$")


def check_names(job: ExportJob, *, hf: bool = False, imagefolder: bool = False) -> None:
    """Raise :class:`InvalidInput` for a split (or, in an image folder, class) name that
    cannot be a path component under the export folder, before anything is written.

    Names are checked where they are made (``split --names``, ``relabel --new-class``,
    ingest); this guards versions committed before that, so ``../x`` never writes
    outside ``--out``. ``hf``: split names must also follow datasets' rule.
    """
    splits = [s or UNSPLIT for s in pc.unique(job.members.column("split")).to_pylist()]
    for split in sorted(splits):
        check_name(split, "split", strict=False, hint=_RENAME_SPLITS)
        if hf and not _HF_SPLIT.match(split):
            raise InvalidInput(
                f"split {split!r} is not a valid Hugging Face split name: use letters, digits "
                "and underscores, with dots only between them",
                hint=_RENAME_SPLITS,
            )
    if imagefolder:
        labels = pc.unique(job.members.column("label").drop_null()).to_pylist()
        for label in sorted(labels):
            check_name(
                label,
                "class",
                strict=False,
                hint="relabel its samples to a new class (`curate relabel ... --new-class`), "
                "commit, and export that version",
            )


_RENAME_SPLITS = (
    "rename the split: `curate split --resplit --names train,val,test --ratios ...`, "
    "commit, and export that version"
)


def _prefetched(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Build the next batch in a thread while the caller writes this one.

    Reading blobs is Python work holding the GIL; parquet encoding and file
    writes release it, so the two overlap on a second core.
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="curate-export") as pool:
        pending = pool.submit(next, batches, None)
        while (batch := pending.result()) is not None:
            pending = pool.submit(next, batches, None)
            yield batch


def _batches(job: ExportJob, part: pa.Table, schema: pa.Schema, done: int):
    return rowlib.record_batches(
        job.objects,
        part,
        schema,
        job.class_order,
        progress=job.progress,
        cancel=job.cancel,
        done_before=done,
        total=job.members.num_rows,
        engine=job.engine,
    )


# -- parquet --------------------------------------------------------------------------------
def parquet_options(schema: pa.Schema) -> dict:
    """Images are already compressed (PNG/JPEG): store them as they are, zstd the rest."""
    return {
        "compression": {f.name: ("none" if f.name == "image" else "zstd") for f in schema},
        "write_statistics": [f.name for f in schema if f.name != "image"],
    }


def write_parquet(job: ExportJob, out: Path) -> dict[str, int]:
    import pyarrow.parquet as pq

    schema = rowlib.features(job.class_names).arrow_schema
    counts: dict[str, int] = {}
    done = 0
    (out / "data").mkdir(parents=True, exist_ok=True)
    for split, part in job.split_slices():
        path = out / "data" / f"{split}-00000-of-00001.parquet"
        with pq.ParquetWriter(path, schema, **parquet_options(schema)) as writer:
            for batch in _prefetched(_batches(job, part, schema, done)):
                writer.write_batch(batch)
        counts[split] = part.num_rows
        done += part.num_rows
    return counts


# -- Hugging Face datasets -------------------------------------------------------------------
def hf_dataset_dict(job: ExportJob, description: str = ""):
    """The version as an in-memory ``datasets.DatasetDict`` (Image + ClassLabel features)."""
    import datasets
    from datasets.table import InMemoryTable

    check_names(job, hf=True)
    feats = rowlib.features(job.class_names)
    schema = feats.arrow_schema
    out = {}
    done = 0
    for split, part in job.split_slices():
        table = pa.Table.from_batches(list(_batches(job, part, schema, done)), schema=schema)
        done += part.num_rows
        info = datasets.DatasetInfo(description=description, features=feats)
        out[split] = datasets.Dataset(
            InMemoryTable(table),
            info=info,
            split=datasets.NamedSplit(split),
            fingerprint=f"curate-{job.version_hash[:32]}-{split}",
        )
    return datasets.DatasetDict(out)


def write_hf(job: ExportJob, out: Path, description: str = "") -> dict[str, int]:
    from datasets.utils import logging as hf_logging

    dd = hf_dataset_dict(job, description)
    check_cancel(job.cancel)
    # datasets draws its own "Saving the dataset" bars under curate's (or into --json runs).
    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        dd.save_to_disk(str(out))
    finally:
        if was_on:
            hf_logging.enable_progress_bar()
    return {k: v.num_rows for k, v in dd.items()}


# -- image folder ----------------------------------------------------------------------------
def write_imagefolder(job: ExportJob, out: Path) -> tuple[dict[str, int], int]:
    """``split/label/sample_id.ext`` plus ``split/metadata.jsonl`` (HF imagefolder reads it).

    Every split has a folder for every class, empty ones too: torchvision's
    ``ImageFolder`` numbers the folders it finds in sorted order, so a split
    lacking a class would shift the indices of the classes after it.
    Lineage in metadata: ``parents`` is a JSON list and ``recipe`` a JSON object,
    both as text ("" for no recipe), so every split's file has the same types.
    Files are written by the engine's workers, chunk by chunk; the metadata
    file by this process, in order.
    """
    counts: dict[str, int] = {}
    skipped = 0
    done = 0
    total = job.members.num_rows
    for split, part in job.split_slices():
        split_dir = out / split
        split_dir.mkdir(parents=True, exist_ok=True)
        for name in job.class_names:
            # check_names() refused every label the rows use; a class no row uses
            # whose name is no folder name (made before names were checked) gets none.
            if name_problem(name, strict=False) is None:
                (split_dir / name).mkdir(exist_ok=True)
        lines: list[str] = []
        items = [
            (str(split_dir), _rows(part, start, FILES_PER_TASK))
            for start in range(0, part.num_rows, FILES_PER_TASK)
        ]
        for (_, rows), (chunk_lines, chunk_skipped, first) in zip(
            items, _run(job, write_folder_files, items, context=job.engine_reader()), strict=True
        ):
            if first is not None:
                _check_written(split_dir / first[0], first[1])
            lines += chunk_lines
            skipped += chunk_skipped
            done += rows.num_rows
            job.progress(done, total, "exporting")
        (split_dir / "metadata.jsonl").write_text("".join(line + "\n" for line in lines))
        counts[split] = len(lines)
    job.progress(total, total, "exporting")
    return counts, skipped


def write_folder_files(item: tuple[str, pa.Table], reader) -> tuple[list[str], int, Any]:
    """Engine function: write one chunk's image files under ``split_dir``.

    Returns (metadata lines, unlabeled rows skipped, (first file, its size) or None).
    """
    split_dir, part = Path(item[0]), item[1]
    lines = []
    skipped = 0
    first = None
    cols = part.to_pydict()
    for i in range(part.num_rows):
        label = cols["label"][i]
        if label is None:
            skipped += 1
            continue
        rel = f"{label}/{cols['sample_id'][i]}.{rowlib.extension(cols['format'][i])}"
        target = split_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        data = reader.read(cols["pack"][i], cols["pack_offset"][i], cols["nbytes"][i])
        target.write_bytes(rowlib.verified(cols["sample_id"][i], data))
        if first is None:
            first = (rel, len(data))
        lines.append(
            json.dumps(
                {
                    "file_name": rel,
                    "label": label,
                    "sample_id": cols["sample_id"][i],
                    "source": cols["source"][i],
                    "label_source": cols["label_source"][i],
                    "origin": cols["origin"][i],
                    # JSON text, not a list/object: HF infers each metadata file's
                    # types on its own, and an all-empty list column would clash.
                    "parents": json.dumps(cols["parents"][i] or []),
                    "recipe": cols["recipe"][i] or "",
                },
                sort_keys=True,
            )
        )
    return lines, skipped, first


def _empty_folder(path: Path) -> bool:
    if not path.is_dir():
        return False
    with os.scandir(path) as entries:
        return next(entries, None) is None


def imagefolder_warnings(root: Path, class_names: list[str]) -> list[str]:
    """What a reader of the image folder export at ``root`` must know (the export's warnings).

    ``class_names``: the manifest's classes (label index = position).
    torchvision's ``ImageFolder`` numbers class folders in sorted order
    instead, so a class added later (``relabel --new-class``) gets another
    index there; and it refuses an empty class folder unless told otherwise.
    """
    warnings = []
    folders = [name for name in class_names if name_problem(name, strict=False) is None]
    position = {name: i for i, name in enumerate(sorted(folders))}
    moved = [name for i, name in enumerate(class_names) if position.get(name, i) != i]
    if moved:
        first = moved[0]
        warnings.append(
            f"{len(moved)} class(es) get other label indices from torchvision's ImageFolder "
            f"(sorted folder names) than in the manifest, e.g. {first!r}: "
            f"{class_names.index(first)} in the manifest, {position[first]} in ImageFolder; "
            "for the manifest's indices override ImageFolder.find_classes, or cast "
            "load_dataset('imagefolder')'s label column to ClassLabel(names=manifest['classes']) "
            "(README: 'Loading an export')"
        )
    for split_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        empty = [name for name in folders if _empty_folder(split_dir / name)]
        if empty:
            shown = ", ".join(repr(name) for name in empty[:5])
            more = f" and {len(empty) - 5} more" if len(empty) > 5 else ""
            warnings.append(
                f"split '{split_dir.name}' has no samples of class(es) {shown}{more}: their "
                "folders stay empty (to keep label indices), so torchvision's ImageFolder "
                "needs allow_empty=True"
            )
    return warnings


# -- webdataset ------------------------------------------------------------------------------
def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def shard_starts(samples: int, shard_samples: int = SHARD_SAMPLES) -> list[int]:
    """Where each webdataset shard of a split of ``samples`` starts (row offsets).

    ``shard_samples`` > 0: shards of that many samples, the last one shorter.
    0 (automatic): :data:`MIN_SHARDS` shards of equal size (give or take one),
    more where one would exceed :data:`MAX_SHARD_SAMPLES`, fewer only for a
    split with fewer samples. A loader with ``num_workers`` gives each worker
    whole shards and fails with fewer shards than workers (``WebLoader``:
    "fewer shards than workers"), so even a small split gets several.
    """
    if shard_samples < 0:
        raise InvalidInput(f"shard_samples must be a positive number, not {shard_samples}")
    if shard_samples:
        return list(range(0, samples, shard_samples))
    shards = min(samples, max(MIN_SHARDS, math.ceil(samples / MAX_SHARD_SAMPLES)))
    return [i * samples // shards for i in range(shards)]


def write_webdataset(
    job: ExportJob, out: Path, shard_samples: int = SHARD_SAMPLES
) -> dict[str, int]:
    """``split-000000.tar`` shards; per sample ``KEY.ext`` (bytes), ``KEY.cls``, ``KEY.json``.

    ``shard_samples``: samples per shard, 0 for :func:`shard_starts`' choice.
    Each shard is one engine task that writes its tar file itself.
    """
    counts: dict[str, int] = {}
    done = 0
    total = job.members.num_rows
    for split, part in job.split_slices():
        n = part.num_rows
        starts = shard_starts(n, shard_samples)
        items = [
            (str(out / f"{split}-{shard:06d}.tar"), _rows(part, start, end - start))
            for shard, (start, end) in enumerate(zip(starts, [*starts[1:], n], strict=True))
        ]
        context = (job.engine_reader(), job.class_order)
        for (path, rows), size in zip(
            items, _run(job, write_shard, items, context=context), strict=True
        ):
            _check_written(Path(path), size)
            done += rows.num_rows
            job.progress(done, total, "exporting")
        counts[split] = n
    job.progress(total, total, "exporting")
    return counts


def write_shard(item: tuple[str, pa.Table], context) -> int:
    """Engine function: write one webdataset shard (a tar file); returns its size.

    ``KEY.json`` has the same types in every sample, as the image folder's
    metadata: datasets' webdataset loader infers them from a shard's first
    five samples and fails on a later one that differs (an original's empty
    ``parents`` and null ``recipe`` against an augmented sample's). So text
    fields are "" for none, ``parents`` a JSON list as text and ``recipe`` the
    recipe's JSON text. ``label`` and ``label_index`` are null, and ``.cls``
    absent, for an unlabeled sample.
    """
    path, part = item
    reader, class_order = context
    cols = part.to_pydict()
    labels = rowlib.label_indices(cols["class_id"], class_order)
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for i in range(part.num_rows):
            key = cols["sample_id"][i]
            data = reader.read(cols["pack"][i], cols["pack_offset"][i], cols["nbytes"][i])
            _add(tar, f"{key}.{rowlib.extension(cols['format'][i])}", rowlib.verified(key, data))
            if labels[i] is not None:
                _add(tar, f"{key}.cls", str(labels[i]).encode())
            meta = {
                "sample_id": key,
                "label": cols["label"][i],
                "label_index": labels[i],
                "split": cols["split"][i] or "",
                "source": cols["source"][i] or "",
                "label_source": cols["label_source"][i] or "",
                "origin": cols["origin"][i] or "",
                "parents": json.dumps(cols["parents"][i] or []),
                "recipe": cols["recipe"][i] or "",
            }
            _add(tar, f"{key}.json", json.dumps(meta, sort_keys=True).encode())
    return os.path.getsize(path)


# -- running file tasks ------------------------------------------------------------------------
def _rows(part: pa.Table, start: int, length: int) -> pa.Table:
    """A slice that pickles as itself (a task's input), not as the whole table."""
    from curate.engines.base import compact

    return compact(part.slice(start, length))


def _run(job: ExportJob, fn, items: list, *, context) -> Iterator:
    """``fn(item, context)`` per item on the job's engine (here, in order, without one),
    checking ``cancel`` between results."""
    if job.engine is None:
        results: Iterator = (fn(item, context) for item in items)
    else:
        results = job.engine.map(fn, items, context=context)
    try:
        for result in results:
            check_cancel(job.cancel)
            yield result
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()


def _check_written(path: Path, size: int) -> None:
    """A worker wrote ``path``: this machine must see it (a cluster needs a shared folder)."""
    try:
        seen = path.stat().st_size
    except FileNotFoundError:
        seen = None
    if seen != size:
        raise InvalidInput(
            f"a worker wrote {path.name} but this machine does not see it"
            + ("" if seen is None else f" whole ({seen} of {size} bytes)"),
            hint="with --engine ray on a cluster, export to a folder every node shares",
        )
