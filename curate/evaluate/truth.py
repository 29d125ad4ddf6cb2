"""Clean labels for the held-out split, read from a CSV or parquet file.

The file names each image by ``sample_id`` (the sha256 of its bytes) or by
``path``. Relative paths are taken from the file's folder, like an ingest
manifest's, so ``sample_data/ground_truth.csv`` (``digits/0/x.png``) names the
images ingested from ``sample_data/digits``. A path that does not resolve to
an ingested source is matched on its trailing components instead, so a copy of
the sample folder ingested from elsewhere still finds its labels.
"""

from __future__ import annotations

import os
from pathlib import Path

from curate.errors import InvalidInput, one_line

LABEL_COLUMNS = ("true_label", "label")


class Truth:
    """label lookup by sample_id or source path."""

    def __init__(
        self,
        by_sample_id: dict[str, str],
        by_path: list[tuple[str, str, str]],
        *,
        description: str,
    ) -> None:
        """``by_path``: (absolute path, path as written, label) triples."""
        self.by_sample_id = by_sample_id
        self.description = description
        self._absolute = {absolute: label for absolute, _, label in by_path}
        # path as written -> label, indexed by component count, for suffix matches
        self._suffixes: dict[int, dict[str, str]] = {}
        for _, written, label in by_path:
            parts = _parts(written)
            if parts:
                self._suffixes.setdefault(len(parts), {}).setdefault("/".join(parts), label)

    def __len__(self) -> int:
        return len(self.by_sample_id) + len(self._absolute)

    def label(self, sample_id: str, sources: list[str]) -> str | None:
        if sample_id in self.by_sample_id:
            return self.by_sample_id[sample_id]
        for src in sources:
            norm = os.path.normpath(src)
            if norm in self._absolute:
                return self._absolute[norm]
        for src in sources:
            parts = _parts(src)
            for n, table in self._suffixes.items():
                if n <= len(parts):
                    hit = table.get("/".join(parts[-n:]))
                    if hit is not None:
                        return hit
        return None


def _parts(path: str) -> list[str]:
    return [p for p in path.replace("\\", "/").split("/") if p and p != "."]


def load_truth(path: str | Path, column: str | None = None) -> Truth:
    """Read a clean-label file; raise :class:`InvalidInput` with one line if it is unusable."""
    import pyarrow as pa

    file = Path(path)
    if not file.is_file():
        raise InvalidInput(f"truth file {path} does not exist")
    try:
        if file.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            table = pq.read_table(file)
        else:
            import pyarrow.csv as pacsv

            # Every column as text: labels such as "0" must stay names, not numbers.
            table = pacsv.read_csv(
                file, convert_options=pacsv.ConvertOptions(auto_dict_encode=False)
            )
            table = table.cast(pa.schema([pa.field(n, pa.string()) for n in table.column_names]))
    except (pa.ArrowInvalid, OSError, ValueError) as exc:  # UnicodeDecodeError: not text
        raise InvalidInput(
            f"cannot read truth file {path}: {one_line(exc)}",
            hint="a truth file is CSV or parquet with a path column and a label column",
        ) from None
    names = table.column_names
    if column is None:
        column = next((c for c in LABEL_COLUMNS if c in names), None)
        if column is None:
            raise InvalidInput(
                f"truth file {path} has no true_label or label column",
                hint=f"columns: {', '.join(names)}; name one with --truth-column",
            )
    elif column not in names:
        raise InvalidInput(
            f"truth file {path} has no column {column!r}", hint=f"columns: {', '.join(names)}"
        )
    if "sample_id" not in names and "path" not in names:
        raise InvalidInput(
            f"truth file {path} needs a path or a sample_id column",
            hint=f"columns: {', '.join(names)}",
        )
    labels = [None if v is None else str(v) for v in table.column(column).to_pylist()]
    by_id: dict[str, str] = {}
    by_path: list[tuple[str, str, str]] = []
    base = file.absolute().parent
    ids = table.column("sample_id").to_pylist() if "sample_id" in names else [None] * len(labels)
    paths = table.column("path").to_pylist() if "path" in names else [None] * len(labels)
    for sid, rel, label in zip(ids, paths, labels, strict=True):
        if label is None or label == "":
            continue
        if sid:
            by_id[str(sid)] = label
        elif rel:
            by_path.append((os.path.normpath(base / str(rel)), str(rel), label))
    if not by_id and not by_path:
        raise InvalidInput(f"truth file {path} names no labeled image")
    return Truth(by_id, by_path, description=f"clean labels from {file.name} ({column})")
