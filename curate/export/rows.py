"""A version's samples as Arrow record batches with Hugging Face features.

One builder serves every format: parquet and HF exports write these batches,
``Version.to_hf()`` wraps them in ``datasets.Dataset``. The schema carries the
``huggingface`` metadata key, so ``datasets`` reads ``image`` back as an
``Image`` feature and ``label`` as a ``ClassLabel``.

``datasets`` is imported lazily (it costs a second to import).
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from curate.core.progress import CancelFn, ProgressFn, check_cancel, no_progress
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


def _as(array: pa.Array, type_: pa.DataType) -> pa.Array:
    return array if array.type == type_ else array.cast(type_)


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
) -> Iterator[pa.RecordBatch]:
    """Rows of ``members`` (from ``versions_repo.members``) with image bytes, in order."""
    import numpy as np
    import pyarrow.compute as pc

    n = members.num_rows
    # class_id -> label index, vectorized (-1 marks unlabeled, turned into null).
    ids = pc.fill_null(members.column("class_id"), -1).to_numpy().astype(np.int64)
    lut = np.full(max(class_order, default=0) + 2, -1, dtype=np.int64)  # lut[-1] stays -1
    lut[np.asarray(class_order, dtype=np.int64)] = np.arange(len(class_order))
    index = lut[ids]
    fmt = members.column("format").combine_chunks().dictionary_encode()
    exts = pa.array([extension(f) for f in fmt.dictionary.to_pylist()], pa.string())
    paths = pc.binary_join_element_wise(
        members.column("sample_id"), pc.take(exts, fmt.indices), "."
    )
    for start in range(0, n, batch_rows):
        check_cancel(cancel)
        part = members.slice(start, batch_rows)
        blobs = objects.read_many(
            zip(
                part.column("pack").to_pylist(),
                part.column("pack_offset").to_pylist(),
                part.column("nbytes").to_pylist(),
                strict=True,
            )
        )
        image = pa.StructArray.from_arrays(
            [pa.array(blobs, pa.binary()), paths.slice(start, part.num_rows).combine_chunks()],
            names=["bytes", "path"],
        )
        chunk = index[start : start + part.num_rows]
        label = pa.array(chunk, pa.int64(), mask=chunk < 0)
        arrays = {"image": image, "label": label}
        for name in COLUMNS[2:]:
            arrays[name] = part.column(name).combine_chunks()
        yield pa.RecordBatch.from_arrays(
            [_as(arrays[f.name], f.type) for f in schema], schema=schema
        )
        progress(
            done_before + start + part.num_rows, total if total is not None else n, "exporting"
        )
