"""Matrices a scan computes per sample (pixels, features, embeddings, fingerprints),
in memory or on disk, read the same way: in row chunks or by row indices.

A scan of a million images cannot hold its matrices in memory: 1M 28x28
thumbnails are 0.8 GB as uint8 and 3 GB as float, 512-dimensional patch
features another 2 GB. A streaming scan therefore writes each matrix batch by
batch to a Parquet file (one ``FixedSizeList`` column, one row group per
written batch, no compression) under the workspace's ``.curate/cache/scan/``
and reads it back in chunks. Parquet, so the files are plain data any tool
(DuckDB, pandas, pyarrow) can open while a scan runs.

:class:`ArrayMatrix` wraps an in-memory array with the same interface, so the
code that consumes matrices (feature extraction, fold heads, kNN graphs) has
one shape for both, and tests can check the two give the same results.

Reads go through ``pyarrow`` into fresh buffers, never ``mmap``: resident
memory is what the chunks hold, not the file.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from curate.processes import pid_alive

#: Rows per chunk when a streaming scan reads or writes a matrix. At 28x28
#: float32 a chunk of images is 200 MB, of 512-d features 130 MB.
CHUNK_ROWS = 65_536


class Matrix:
    """A (rows, *row_shape) matrix read in chunks or by row index."""

    n: int
    row_shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.n, *self.row_shape)

    def chunks(self, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, block) pairs covering every row in order."""
        raise NotImplementedError

    def take(self, index: np.ndarray) -> np.ndarray:
        """Rows ``index`` (any order, repeats allowed), as one array in that order."""
        raise NotImplementedError

    def read(self) -> np.ndarray:
        """Every row as one array (for small matrices only)."""
        raise NotImplementedError


class ArrayMatrix(Matrix):
    """An in-memory array behind the :class:`Matrix` interface."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.n = int(array.shape[0])
        self.row_shape = tuple(array.shape[1:])
        self.dtype = array.dtype

    def chunks(self, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        rows = rows or CHUNK_ROWS
        for start in range(0, self.n, rows):
            yield start, self.array[start : start + rows]

    def take(self, index: np.ndarray) -> np.ndarray:
        return self.array[np.asarray(index, dtype=np.int64)]

    def read(self) -> np.ndarray:
        return self.array


class DiskMatrix(Matrix):
    """A matrix stored in a Parquet file by :class:`MatrixWriter`."""

    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        self.path = Path(path)
        meta = pq.read_metadata(self.path)
        info = json.loads(meta.metadata[b"curate.matrix"])
        self.row_shape = tuple(info["row_shape"])
        self.dtype = np.dtype(info["dtype"])
        self.n = int(meta.num_rows)
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        self._starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])

    def _file(self):
        import pyarrow.parquet as pq

        return pq.ParquetFile(self.path, memory_map=False)

    def _decode(self, table) -> np.ndarray:
        import pyarrow as pa

        col = table.column(0).combine_chunks()
        if pa.types.is_fixed_size_binary(col.type):  # integer matrices: raw row bytes
            width = col.type.byte_width
            raw = np.frombuffer(
                col.buffers()[1], dtype=np.uint8, count=len(col) * width, offset=col.offset * width
            )
            values = raw.view(self.dtype)
        else:
            values = col.flatten().to_numpy(zero_copy_only=False)
        out = values.reshape(len(col), *self.row_shape).astype(self.dtype, copy=False)
        # Arrow's buffers are read-only; torch wants to own writable memory.
        return out if out.flags.writeable else out.copy()

    def _group(self, f, g: int) -> np.ndarray:
        return self._decode(f.read_row_group(g))

    def chunks(self, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Row groups as written; ``rows`` merges or splits them to about that many rows."""
        f = self._file()
        want = rows or CHUNK_ROWS
        pending: list[np.ndarray] = []
        held = 0
        start = 0
        for g in range(len(self._starts) - 1):
            block = self._group(f, g)
            while block.shape[0]:
                take = min(want - held, block.shape[0])
                pending.append(block[:take])
                held += take
                block = block[take:]
                if held == want:
                    out = pending[0] if len(pending) == 1 else np.concatenate(pending)
                    yield start, out
                    start += held
                    pending, held = [], 0
        if held:
            yield start, pending[0] if len(pending) == 1 else np.concatenate(pending)

    def take(self, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index, dtype=np.int64)
        out = np.empty((len(index), *self.row_shape), dtype=self.dtype)
        if len(index) == 0:
            return out
        if index.min() < 0 or index.max() >= self.n:
            raise IndexError(f"row index out of range for {self.n} rows")
        order = np.argsort(index, kind="stable")
        sorted_index = index[order]
        groups = np.searchsorted(self._starts, sorted_index, side="right") - 1
        f = self._file()
        bounds = np.flatnonzero(np.diff(groups)) + 1
        for lo, hi in zip(
            np.concatenate([[0], bounds]), np.concatenate([bounds, [len(groups)]]), strict=True
        ):
            g = int(groups[lo])
            block = self._group(f, g)
            out[order[lo:hi]] = block[sorted_index[lo:hi] - self._starts[g]]
        return out

    def read(self) -> np.ndarray:
        if self.n == 0:
            return np.zeros((0, *self.row_shape), dtype=self.dtype)
        return np.concatenate([block for _, block in self.chunks(self.n)])


class MatrixWriter:
    """Append row batches of one matrix to a Parquet file; :meth:`close` gives the matrix."""

    def __init__(self, path: Path, row_shape: tuple[int, ...], dtype) -> None:
        self.path = Path(path)
        self.row_shape = tuple(int(s) for s in row_shape)
        self.dtype = np.dtype(dtype)
        self._width = int(np.prod(self.row_shape, dtype=np.int64))
        self._writer = None
        self._rows = 0

    def _schema(self):
        import pyarrow as pa

        info = {"row_shape": list(self.row_shape), "dtype": self.dtype.str}
        if self._binary:
            column = pa.binary(self._width * self.dtype.itemsize)
        else:
            column = pa.list_(pa.from_numpy_dtype(self.dtype), self._width)
        return pa.schema([("v", column)], metadata={"curate.matrix": json.dumps(info)})

    @property
    def _binary(self) -> bool:
        # Floats are FixedSizeList<float> (DuckDB reads them as FLOAT[n] arrays).
        # Parquet has no 8-bit type: a uint8 list would be stored as int32, 4x the
        # bytes, so integer rows (pixels) are stored as their raw bytes instead.
        return self.dtype.kind != "f"

    def append(self, block: np.ndarray) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        block = np.ascontiguousarray(block, dtype=self.dtype)
        if tuple(block.shape[1:]) != self.row_shape:
            raise ValueError(f"rows of shape {block.shape[1:]}, expected {self.row_shape}")
        schema = self._schema()
        if self._writer is None:
            # Features are noise-like floats: compression costs time and saves little.
            self._writer = pq.ParquetWriter(
                self.path, schema, compression="none", use_dictionary=False, write_statistics=False
            )
        if self._binary:
            column = pa.FixedSizeBinaryArray.from_buffers(
                schema.field(0).type,
                len(block),
                [None, pa.py_buffer(block.reshape(-1).view(np.uint8))],
            )
        else:
            flat = pa.array(block.reshape(-1), type=schema.field(0).type.value_type)
            column = pa.FixedSizeListArray.from_arrays(flat, self._width)
        self._writer.write_table(pa.Table.from_arrays([column], schema=schema))
        self._rows += block.shape[0]

    def close(self) -> DiskMatrix:
        if self._writer is None:  # no rows: still a valid, empty matrix
            import pyarrow.parquet as pq

            self._writer = pq.ParquetWriter(self.path, self._schema(), compression="none")
        self._writer.close()
        return DiskMatrix(self.path)


class FeatureStore:
    """A folder of named matrices (``<name>.parquet``) for one scan."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.parquet"

    def writer(self, name: str, row_shape: tuple[int, ...], dtype) -> MatrixWriter:
        return MatrixWriter(self.path(name), row_shape, dtype)

    def put(self, name: str, array: np.ndarray, rows: int | None = None) -> DiskMatrix:
        """Write an in-memory array (in chunks of ``rows``) and return it as a matrix."""
        w = self.writer(name, array.shape[1:], array.dtype)
        rows = rows or CHUNK_ROWS
        for start in range(0, len(array), rows):
            w.append(array[start : start + rows])
        return w.close()

    def open(self, name: str) -> DiskMatrix:
        return DiskMatrix(self.path(name))

    def remove(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.glob("*.parquet"))

    @classmethod
    @contextmanager
    def temporary(cls, parent: Path) -> Iterator[FeatureStore]:
        """A fresh store under ``parent``, deleted on exit (also on errors and Ctrl-C).

        Stores a killed process left behind (``run-<pid>-*`` of a pid that no
        longer runs) are deleted first.
        """
        remove_stale(parent)
        folder = Path(parent) / f"run-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        store = cls(folder)
        try:
            yield store
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def remove_stale(parent: Path) -> int:
    """Delete what killed scans left under ``parent`` (``run-<pid>-*`` folders and
    ``findings-<pid>-*`` files whose process is gone); how many were removed."""
    removed = 0
    parent = Path(parent)
    if not parent.is_dir():
        return 0
    for path in parent.iterdir():
        prefix, _, rest = path.name.partition("-")
        pid = rest.split("-", 1)[0]
        if prefix not in ("run", "findings") or not pid.isdigit() or pid_alive(int(pid)):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed += 1
    return removed
