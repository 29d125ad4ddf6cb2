"""Enumerate what a source holds: one :class:`Item` per input image.

An item either carries a way to read its bytes or a quarantine reason found
while enumerating (a path escaping its folder, a symlink pointing outside).
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from curate.core.models import IngestFormat
from curate.errors import InvalidInput, one_line
from curate.outputs import name_problem

SPLIT_NAMES = {"train", "val", "valid", "validation", "test"}
#: Other names of one split, as curate names it (folders, manifests, HF DatasetDicts).
SPLIT_ALIASES = {"valid": "val", "validation": "val"}
#: Folders operating systems leave behind: never a class or a split (macOS zips
#: carry __MACOSX/ with a ._ copy of every file).
JUNK_DIRS = frozenset({"__MACOSX", "@eaDir", "$RECYCLE.BIN", "System Volume Information"})
#: Where `curate export` puts samples without a split (beside train/, val/, ...).
UNSPLIT_FOLDER = "unsplit"
MANIFEST_SUFFIXES = {".csv", ".parquet"}
#: File endings that make a folder an image folder, not a Hub-style dataset of parquet files.
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}


@dataclass(slots=True)
class Item:
    uri: str
    label: str | None
    split: str | None
    read: Callable[[], bytes] | None = None
    problem: str | None = None


@dataclass(frozen=True)
class ColumnNames:
    path: str = "path"
    label: str | None = None  # manifest: "label"; HF: "label", else the only ClassLabel
    split: str = "split"
    image: str | None = None  # HF: auto-detected Image feature when None


def _file_reader(path: str) -> Callable[[], bytes]:
    def read() -> bytes:
        with open(path, "rb") as fh:
            return fh.read()

    return read


def _name_problem(label: str | None, split: str | None) -> str | None:
    """A quarantine reason when a label or split cannot be one folder or file name.

    Exports make them paths (``split/label/...``): ``../x`` would write outside
    the export folder.
    """
    for kind, name in (("label", label), ("split", split)):
        problem = None if name is None else name_problem(name)
        if problem is not None:
            return f"bad {kind}: {name!r} cannot be a folder name ({problem})"
    return None


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


#: Files an image-folder dataset carries beside its images: HF imagefolder metadata and
#: curate's export manifest. Skipped, like dot-files, not quarantined as "not an image".
SIDECAR_FILES = frozenset({"metadata.jsonl", "metadata.csv", "curate-manifest.json"})


def detect_format(source: Path) -> IngestFormat:
    if source.is_file() and source.suffix.lower() in MANIFEST_SUFFIXES:
        return IngestFormat.MANIFEST
    if source.is_dir():
        if (source / "dataset_dict.json").exists() or (source / "state.json").exists():
            return IngestFormat.HF
        if _exported_format(source) == "parquet":
            return IngestFormat.HF  # data/<split>-*.parquet: datasets' parquet loader reads it
        if _hub_layout(source):
            return IngestFormat.HF
        return IngestFormat.IMAGEFOLDER
    raise InvalidInput(
        f"cannot tell the format of {source}",
        hint="pass --format imagefolder|manifest|hf",
    )


def _hub_layout(source: Path) -> bool:
    """A dataset as the Hugging Face Hub stores it: parquet or arrow files at the top or
    in data/ (``data/train-00000-of-00001.parquet``), and no image files beside them."""
    for folder in (source, source / "data"):
        if not folder.is_dir():
            continue
        with os.scandir(folder) as entries:
            suffixes = {os.path.splitext(e.name)[1].lower() for e in entries if e.is_file()}
        if suffixes & {".parquet", ".arrow"} and not suffixes & IMAGE_SUFFIXES:
            return True
    return False


def _exported_format(source: Path) -> str | None:
    """The format of a `curate export` folder (its manifest says), else None."""
    import json

    manifest = source / "curate-manifest.json"
    if not manifest.is_file():
        return None
    try:
        return str(json.loads(manifest.read_text()).get("format"))
    except (OSError, ValueError, AttributeError):
        return None


def split_name(name: str) -> str:
    """A split as curate names it: lower case, 'valid' and 'validation' as 'val'."""
    lowered = name.strip().lower()
    return SPLIT_ALIASES.get(lowered, lowered)


def label_name(name: str) -> str:
    """A label in Unicode's composed form (NFC): macOS writes folder names decomposed,
    so 'été' from a folder and 'été' from a CSV would be two classes."""
    return unicodedata.normalize("NFC", name)


# -- image folder ------------------------------------------------------------------
def _walk_files(top: str, root_real: Path) -> Iterator[tuple[str, str, str | None]]:
    """Yield (path, path relative to top, problem) for every file under ``top``, sorted.

    Plain strings and os.scandir, not pathlib: enumeration must not be what
    limits a million-file ingest.
    """
    stack = [(top, "")]
    while stack:
        folder, rel_folder = stack.pop()
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        subdirs = []
        for entry in entries:
            if entry.name.startswith(".") or entry.name in JUNK_DIRS:
                continue  # .DS_Store, .git, __MACOSX and friends are not inputs
            if entry.name in SIDECAR_FILES and entry.is_file(follow_symlinks=False):
                continue  # an exported dataset's own metadata, not an image to quarantine
            rel = f"{rel_folder}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                subdirs.append((entry.path, rel + os.sep))
            elif entry.is_symlink():
                target = Path(entry.path).resolve()
                if not _inside(target, root_real):
                    yield entry.path, rel, f"symlink outside source: points to {target}"
                elif target.is_dir():
                    continue  # a link to a folder inside the source: its files are reached directly
                elif not target.is_file():
                    yield entry.path, rel, f"broken symlink: {target} is not a file"
                else:
                    yield entry.path, rel, None
            else:
                yield entry.path, rel, None
        stack.extend(reversed(subdirs))


def imagefolder_items(root: Path) -> Iterator[Item]:
    root = root.absolute()
    root_real = root.resolve()
    subdirs = sorted(
        p
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name not in JUNK_DIRS
    )
    is_split = [p.name.lower() in SPLIT_NAMES or p.name == UNSPLIT_FOLDER for p in subdirs]
    split_layout = bool(subdirs) and all(is_split)
    if not split_layout and sum(is_split) >= 2:
        # Split folders beside others (annotations/, a 'dev' split): taking every
        # top folder as a class would label images 'train' and 'test'. One split
        # name alone may be a class (CIFAR-100 has a class 'train').
        named = [p.name for p, split in zip(subdirs, is_split, strict=True) if split]
        others = [p.name for p, split in zip(subdirs, is_split, strict=True) if not split]
        raise InvalidInput(
            f"{root} mixes split folders ({', '.join(named)}) with other folders "
            f"({', '.join(others[:5])})",
            hint="move the other folders out, or ingest each split folder on its own "
            "(split folders: train, val, valid, validation, test)",
        )
    tops: list[tuple[Path, str | None]] = (
        [(p, None if p.name == UNSPLIT_FOLDER else split_name(p.name)) for p in subdirs]
        if split_layout
        else [(root, None)]
    )
    for top, split in tops:
        for path, rel, problem in _walk_files(str(top), root_real):
            head, sep, _ = rel.partition(os.sep)
            yield Item(
                uri=path,
                label=label_name(head) if sep else None,
                split=split,
                read=None if problem else _file_reader(path),
                problem=problem,
            )


# -- manifest ------------------------------------------------------------------------
def _read_manifest(path: Path):
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    try:
        if path.suffix.lower() == ".parquet":
            return pq.read_table(path)
        # Every column as text, only an empty cell as missing: labels like "007",
        # "1.50" or "NA" must stay what the file says, not become 7, 1.5 or null.
        names = pacsv.open_csv(path).schema.names
        return pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                null_values=[""],
                strings_can_be_null=True,
            ),
        )
    except Exception as exc:  # pyarrow raises several types for malformed files
        raise InvalidInput(f"cannot read manifest {path}: {one_line(exc)}") from None


def manifest_items(path: Path, columns: ColumnNames, root: Path | None = None) -> Iterator[Item]:
    """The manifest's rows; relative paths start from ``root`` (default: the manifest's
    folder), and no path may leave it."""
    items = list(_manifest_rows(path, columns, root))
    located = [i for i in items if i.problem is None or not i.problem.startswith(_NOT_THERE)]
    if items and not located:  # every path wrong: the base is, most likely
        base = (root or path.parent).absolute()
        raise InvalidInput(
            f"none of the {len(items)} paths in {path.name} is a file under {base} "
            f"(the first: {items[0].problem})",
            hint="relative paths start from the manifest's folder; "
            "pass --root DIR if they start from another",
        )
    return iter(items)


_NOT_THERE = ("missing file", "path escapes", "bad path")


def _manifest_rows(path: Path, columns: ColumnNames, root: Path | None) -> Iterator[Item]:
    table = _read_manifest(path)
    names = table.column_names
    if columns.path not in names:
        raise InvalidInput(
            f"manifest {path.name} has no '{columns.path}' column (columns: {', '.join(names)})",
            hint="name it with --path-column",
        )
    label_column = columns.label or "label"
    if label_column not in names:
        # Every row would be quarantined for it: say it once, store nothing.
        raise InvalidInput(
            f"manifest {path.name} has no '{label_column}' column (columns: {', '.join(names)})",
            hint="name it with --label-column",
        )
    base = (root or path.parent).absolute()
    base_real = base.resolve()
    where = "manifest folder" if root is None else f"--root {base}"
    paths = table.column(columns.path).to_pylist()
    labels = [_cell_label(v) for v in table.column(label_column).to_pylist()]
    splits = (
        [None if v is None else str(v) for v in table.column(columns.split).to_pylist()]
        if columns.split in names
        else [None] * len(paths)
    )
    for rel, label, split in zip(paths, labels, splits, strict=True):
        if rel is None or str(rel).strip() == "":
            yield Item(
                uri=f"{path}:<empty path>",
                label=None,
                split=None,
                problem="missing path: empty path cell",
            )
            continue
        rel = str(rel)
        full = Path(rel) if os.path.isabs(rel) else base / rel
        uri = os.path.normpath(str(full))
        label = label_name(label.strip()) if label else None
        split = split_name(split) if split else None
        try:
            problem = _row_problem(uri, rel, label, split, base_real, where)
        except (OSError, ValueError) as exc:  # a NUL byte, a name too long: this row only
            problem = f"bad path: {one_line(exc)}"
            uri = f"{path}:{_shorten(rel)}"
        yield Item(
            uri=uri,
            label=label,
            split=split or None,
            read=None if problem else _file_reader(uri),
            problem=problem,
        )


def _cell_label(value) -> str | None:
    """A manifest's label cell as text (parquet cells may be numbers); NaN is missing,
    and a whole float (pandas makes 0.0 of 0 beside a missing value) its integer."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _row_problem(uri: str, rel: str, label, split, base_real: Path, where: str) -> str | None:
    if not _inside(Path(uri).resolve(), base_real):
        return f"path escapes {where}: {_shorten(rel)}"
    if not label:
        return "missing label: empty label cell"
    if not Path(uri).exists():
        return f"missing file: {_shorten(rel)}"
    return _name_problem(label, split or None)


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


# -- Hugging Face datasets ----------------------------------------------------------
def _load_hf(source: Path):
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a dependency
        raise InvalidInput(f"ingesting HF datasets needs the 'datasets' package: {exc}") from None
    try:
        if source.is_dir() and (
            (source / "dataset_dict.json").exists() or (source / "state.json").exists()
        ):
            loaded = datasets.load_from_disk(str(source))
        elif source.suffix.lower() in {".parquet", ".arrow", ".json", ".jsonl", ".csv"}:
            builder = {".jsonl": "json"}.get(source.suffix.lower(), source.suffix.lower()[1:])
            loaded = datasets.load_dataset(builder, data_files=str(source))
        elif source.is_dir():
            loaded = datasets.load_dataset(str(source))
        else:
            raise InvalidInput(f"{source} is not a Hugging Face dataset")
    except InvalidInput:
        raise
    except Exception as exc:
        raise InvalidInput(f"cannot load HF dataset {source}: {one_line(exc)}") from None
    if isinstance(loaded, datasets.Dataset):
        return {None: loaded}
    return dict(loaded)


#: Rows whose labels and paths are read in one step while enumerating; their image
#: bytes are not read then, only when the engine reads each item.
HF_ROWS_PER_STEP = 1024


@dataclass(frozen=True)
class _HfSplit:
    name: str | None  # as the dataset names it; None for a plain Dataset
    rows: object  # datasets.Dataset of the image (and label) column, Arrow-formatted
    image_col: str
    label_col: str | None
    to_name: Callable[[int], str] | None  # a ClassLabel's int -> name


class HfItems:
    """A Hugging Face dataset's rows as items, made as the caller reaches them.

    Sized, so the engine counts rows for its progress total without listing them.
    Rows are enumerated ``HF_ROWS_PER_STEP`` at a time and an item's reader fetches
    its bytes from the dataset's Arrow table (memory-mapped from disk by ``datasets``)
    only when called: a dataset bigger than memory is never in memory at once.
    Binding the bytes into each item instead held the whole dataset.
    """

    def __init__(self, source: Path, columns: ColumnNames, root: Path | None = None) -> None:
        self.source = source
        # Relative image paths start from the dataset's folder (the data file's
        # folder for a single file), not the process's current folder: a saved
        # dataset must read the same from anywhere. --root names another base.
        self.base = (root or (source if source.is_dir() else source.parent)).absolute()
        self._base_real = self.base.resolve()
        self._where = "dataset folder" if root is None else f"--root {self.base}"
        self._splits = [
            _hf_split(source, split, ds, columns) for split, ds in _load_hf(source).items()
        ]

    def __len__(self) -> int:
        return sum(len(s.rows) for s in self._splits)

    def __iter__(self) -> Iterator[Item]:
        for part in self._splits:
            yield from self._split_items(part)

    def _split_items(self, part: _HfSplit) -> Iterator[Item]:
        import pyarrow.compute as pc

        prefix = f"hf://{self.source.absolute()}/{part.name or 'data'}/"
        split = split_name(part.name) if part.name else None
        for start in range(0, len(part.rows), HF_ROWS_PER_STEP):
            # A slice of the memory-mapped table: no copy of the bytes.
            table = part.rows[start : start + HF_ROWS_PER_STEP]
            images = table.column(part.image_col)
            blobs = pc.struct_field(images, "bytes")  # null where the cell or its bytes is
            has_bytes = pc.is_valid(blobs).to_pylist()
            paths = pc.struct_field(images, "path").to_pylist()
            labels = (
                table.column(part.label_col).to_pylist() if part.label_col else [None] * len(paths)
            )
            for offset, (stored, ipath, label) in enumerate(
                zip(has_bytes, paths, labels, strict=True)
            ):
                label = _hf_label(label, part.to_name)
                problem = _hf_label_problem(part.label_col, label, split)
                reader: Callable[[], bytes] | None = None
                if problem is None:
                    if stored:
                        reader = _blob_reader(blobs, offset)
                    elif ipath:
                        full, problem = self._locate(ipath)
                        reader = None if problem else _file_reader(full)
                    else:
                        problem = "empty file: image cell holds no bytes and no path"
                yield Item(
                    uri=f"{prefix}{start + offset}" + (f"#{ipath}" if ipath else ""),
                    label=label,
                    split=split,
                    read=reader,
                    problem=problem,
                )

    def _locate(self, path: str) -> tuple[str, str | None]:
        """The file a path-only image cell names, or why this row cannot be read.

        Absolute paths are taken as they are: ``datasets`` itself writes them for
        local images. Relative ones start from the base and, as in manifests, may
        not leave it.
        """
        full = os.path.normpath(path if os.path.isabs(path) else os.path.join(self.base, path))
        try:
            if not os.path.isabs(path) and not _inside(Path(full).resolve(), self._base_real):
                return full, f"path escapes {self._where}: {_shorten(path)}"
            if not os.path.isfile(full):
                return full, f"missing file: {_shorten(path)} (looked for {_shorten(full)})"
        except (OSError, ValueError) as exc:  # a NUL byte, a name too long: this row only
            return full, f"bad path: {one_line(exc)}"
        return full, None


def _hf_split(source: Path, split: str | None, ds, columns: ColumnNames) -> _HfSplit:
    """One split's image and label columns, checked now: a wrong column name is one
    error before anything is stored, not a quarantine reason on every row."""
    import datasets

    feats = ds.features
    image_col = columns.image or next(
        (n for n, f in feats.items() if isinstance(f, datasets.Image)), None
    )
    if image_col is None or image_col not in feats:
        raise InvalidInput(
            f"HF dataset {source.name} has no Image column (columns: {', '.join(feats)})",
            hint="name it with --image-column",
        )
    label_col = _hf_label_column(source, feats, columns.label)
    to_name = None
    if label_col is not None and isinstance(feats[label_col], datasets.ClassLabel):
        to_name = feats[label_col].int2str
    # Image(decode=False) stores {bytes, path}; casting a path or binary column named
    # with --image-column gives it that shape. For an Image column it only changes the
    # features, not the data. The Arrow format hands out tables, never decoded images.
    try:
        raw = ds.cast_column(image_col, datasets.Image(decode=False))
    except Exception as exc:  # pyarrow names the failed cast with several exception types
        raise InvalidInput(
            f"column '{image_col}' of HF dataset {source.name} holds neither images nor "
            f"image paths: {one_line(exc)}",
            hint="name the image column with --image-column",
        ) from None
    keep = [image_col] + ([label_col] if label_col else [])
    rows = raw.select_columns(keep).with_format("arrow")
    return _HfSplit(split, rows, image_col, label_col, to_name)


def _blob_reader(blobs, index: int) -> Callable[[], bytes]:
    """Reads one cell of an Arrow binary column when called. ``blobs`` is a zero-copy
    slice of the dataset's memory-mapped table: holding it copies no bytes into memory."""

    def read() -> bytes:
        return blobs[index].as_py()

    return read


def _hf_label(value, to_name: Callable[[int], str] | None) -> str | None:
    if value is not None and to_name is not None:
        value = to_name(int(value)) if int(value) >= 0 else None
    return None if value is None else label_name(str(value))


def _hf_label_problem(label_col: str | None, label: str | None, split: str | None) -> str | None:
    if label_col is None:
        return "missing label: dataset has no 'label' or ClassLabel column"
    if label is None or label.strip() == "":
        return "missing label: empty label"
    return _name_problem(label, split)


def hf_items(source: Path, columns: ColumnNames, root: Path | None = None) -> HfItems:
    return HfItems(source, columns, root)


def _hf_label_column(source: Path, feats, asked: str | None) -> str | None:
    """The label column: the one named (it must exist), else 'label', else the only
    ClassLabel column. Several ClassLabels and none named: which one is not guessed."""
    import datasets

    if asked is not None:
        if asked not in feats:
            raise InvalidInput(
                f"HF dataset {source.name} has no '{asked}' column (columns: {', '.join(feats)})",
                hint="name the label column with --label-column",
            )
        return asked
    if "label" in feats:
        return "label"
    class_labels = [n for n, f in feats.items() if isinstance(f, datasets.ClassLabel)]
    if len(class_labels) > 1:
        raise InvalidInput(
            f"HF dataset {source.name} has several ClassLabel columns "
            f"({', '.join(class_labels)}) and none named 'label'",
            hint="name the label column with --label-column",
        )
    return class_labels[0] if class_labels else None


def enumerate_items(
    source: Path, fmt: IngestFormat, columns: ColumnNames, root: Path | None = None
) -> Iterator[Item] | HfItems:
    """The source's items; ``root`` is where a manifest's or an HF dataset's relative
    paths start. An HF dataset's come as :class:`HfItems`, which knows its length
    without enumerating its rows."""
    if fmt is IngestFormat.IMAGEFOLDER:
        if not source.is_dir():
            raise InvalidInput(
                f"{source} is not a folder (an image folder has one subfolder per class)"
            )
        return imagefolder_items(source)
    if fmt is IngestFormat.MANIFEST:
        if not source.is_file():
            raise InvalidInput(f"{source} is not a manifest file (.csv or .parquet)")
        return manifest_items(source, columns, root)
    if fmt is IngestFormat.HF:
        return hf_items(source, columns, root)
    raise InvalidInput(f"unknown format {fmt}")
