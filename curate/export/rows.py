"""A version's samples as Arrow record batches with Hugging Face features.

One builder serves every format: parquet and HF exports write these batches,
``Version.to_hf()`` wraps them in ``datasets.Dataset``. The schema carries the
``huggingface`` metadata key, so ``datasets`` reads ``image`` back as an
``Image`` feature and ``label`` as a ``ClassLabel``.

``datasets`` is imported lazily (it costs a second to import).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pyarrow as pa

from curate.core.progress import CancelFn, ProgressFn, check_cancel, no_progress
from curate.errors import CurateError
from curate.store.objects import ObjectStore

BATCH_ROWS = 1024  # one parquet row group: ~1-3 MB of small PNGs

EXTENSIONS = {
    "PNG": "png",
    "JPEG": "jpg",
    "GIF": "gif",
    "BMP": "bmp",
    "TIFF": "tif",
    "WEBP": "webp",
}
LINEAGE_COLUMNS = ["origin", "parents", "recipe"]
COLUMNS = [
    "image",
    "label",
    "sample_id",
    "source",
    "split",
    "label_source",
    "origin",
    "parents",
    "recipe",
    "width",
    "height",
]


def extension(fmt: str | None) -> str:
    return EXTENSIONS.get((fmt or "").upper(), (fmt or "bin").lower())


def features(class_names: list[str]):
    """The ``datasets.Features`` of exported rows."""
    import datasets

    string = datasets.Value("string")
    list_of = getattr(datasets, "List", None) or datasets.Sequence
    return datasets.Features(
        {
            "image": datasets.Image(),
            "label": datasets.ClassLabel(names=list(class_names)),
            "sample_id": string,
            "source": string,
            "split": string,
            "label_source": string,
            "origin": string,
            "parents": list_of(string),
            "recipe": string,
            "width": datasets.Value("int32"),
            "height": datasets.Value("int32"),
        }
    )


def label_indices(class_ids: list[int | None], class_order: list[int]) -> list[int | None]:
    """class_id -> position in the exported class list (None stays None)."""
    position = {cid: i for i, cid in enumerate(class_order)}
    return [None if c is None else position[c] for c in class_ids]


def verified(sample_id: str, data: bytes) -> bytes:
    """``data`` if its sha256 is ``sample_id`` (what the store filed it under), else raise.

    A flipped byte in a pack would otherwise be exported as a corrupt image
    without a word. Costs one sha256 per image, paid in the engine's workers:
    1.7 ms for the 1437 sample digits (176 KB), noise beside the export itself.
    """
    if hashlib.sha256(data).hexdigest() != sample_id:
        raise CurateError(
            f"sample {sample_id[:12]}: its stored bytes do not match its sha256; "
            "the object store is damaged (.curate/objects/packs)",
            hint="restore the workspace from a backup, or drop the sample "
            "(`curate drop`), commit, and export that version",
        )
    return data


def _as(array: pa.Array, type_: pa.DataType) -> pa.Array:
    return array if array.type == type_ else array.cast(type_)


def build_batch(
    reader, part: pa.Table, schema: pa.Schema, class_order: list[int]
) -> pa.RecordBatch:
    """One record batch of exported rows: ``part`` (rows of ``versions_repo.members``) with
    its image bytes read through ``reader`` (an ObjectStore or a PackReader: ``read_many``)."""
    import numpy as np
    import pyarrow.compute as pc

    # class_id -> label index, vectorized (-1 marks unlabeled, turned into null).
    ids = pc.fill_null(part.column("class_id"), -1).to_numpy().astype(np.int64)
    lut = np.full(max(class_order, default=0) + 2, -1, dtype=np.int64)  # lut[-1] stays -1
    lut[np.asarray(class_order, dtype=np.int64)] = np.arange(len(class_order))
    index = lut[ids]
    fmt = part.column("format").combine_chunks().dictionary_encode()
    exts = pa.array([extension(f) for f in fmt.dictionary.to_pylist()], pa.string())
    paths = pc.binary_join_element_wise(part.column("sample_id"), pc.take(exts, fmt.indices), ".")
    blobs = reader.read_many(
        zip(
            part.column("pack").to_pylist(),
            part.column("pack_offset").to_pylist(),
            part.column("nbytes").to_pylist(),
            strict=True,
        )
    )
    for sample_id, data in zip(part.column("sample_id").to_pylist(), blobs, strict=True):
        verified(sample_id, data)
    image = pa.StructArray.from_arrays(
        [pa.array(blobs, pa.binary()), paths.combine_chunks()], names=["bytes", "path"]
    )
    label = pa.array(index, pa.int64(), mask=index < 0)
    arrays = {"image": image, "label": label}
    for name in COLUMNS[2:]:
        arrays[name] = part.column(name).combine_chunks()
    return pa.RecordBatch.from_arrays([_as(arrays[f.name], f.type) for f in schema], schema=schema)


def rows_batch(part: pa.Table, context: tuple) -> pa.Table:
    """Engine function: :func:`build_batch` in a worker; ``context`` = (reader, schema,
    class order)."""
    reader, schema, class_order = context
    return pa.Table.from_batches([build_batch(reader, part, schema, class_order)], schema=schema)


def record_batches(
    objects: ObjectStore,
    members: pa.Table,
    schema: pa.Schema,
    class_order: list[int],
    *,
    batch_rows: int = BATCH_ROWS,
    progress: ProgressFn = no_progress,
    cancel: CancelFn | None = None,
    done_before: int = 0,
    total: int | None = None,
    engine=None,
) -> Iterator[pa.RecordBatch]:
    """Rows of ``members`` (from ``versions_repo.members``) with image bytes, in order.

    With an ``engine`` (:mod:`curate.engines`) the batches are built by its
    workers, which read the bytes from the packs themselves; batches of
    ``batch_rows`` either way (a parquet row group each: the same file bytes).
    """
    n = members.num_rows
    if engine is None:
        parts: Iterator = (
            pa.Table.from_batches(
                [build_batch(objects, members.slice(start, batch_rows), schema, class_order)]
            )
            for start in range(0, n, batch_rows)
        )
    else:
        # Larger engine batches (fewer tasks); rebatch() below cuts them back to
        # batch_rows, so the files do not change.
        parts = engine.map_batches(
            rows_batch,
            members,
            batch_rows=max(batch_rows, 8 * engine.preferred_batch_rows),
            context=(engine.reader, schema, class_order),
        )
    done = 0
    try:
        for batch in rebatch(parts, batch_rows, schema):
            check_cancel(cancel)
            yield batch
            done += batch.num_rows
            progress(done_before + done, total if total is not None else n, "exporting")
    finally:
        close = getattr(parts, "close", None)
        if close is not None:
            close()


def rebatch(tables: Iterator[pa.Table], rows: int, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Record batches of exactly ``rows`` rows (the last one shorter) from ordered tables.

    An engine may hand back results joined or split differently from its input
    batches; the files must not depend on that.
    """
    pending: list[pa.Table] = []
    held = 0
    for table in tables:
        pending.append(table)
        held += table.num_rows
        while held >= rows:
            joined = pa.concat_tables(pending)
            yield _one_batch(joined.slice(0, rows), schema)
            rest = joined.slice(rows)
            pending, held = ([rest] if rest.num_rows else []), rest.num_rows
    if held:
        yield _one_batch(pa.concat_tables(pending), schema)


def _one_batch(table: pa.Table, schema: pa.Schema) -> pa.RecordBatch:
    columns = table.combine_chunks().columns  # one chunk each
    arrays = [c.chunk(0) if c.num_chunks == 1 else c.combine_chunks() for c in columns]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
