"""Files and folders the user asks curate to write (``--out``, ``-o``).

Checked before the work starts, so a typo in an output path fails in a
second with one line instead of after a long run with a traceback; and the
write itself turns an ``OSError`` (no such folder, a file where a folder
should be, no permission, disk full) into the same kind of one-line error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from curate.errors import InvalidInput

WORKSPACE_MARKER = ".curate"  # curate.workspace_paths.MARKER (not imported: keep this leaf light)
EXPORT_MARKER = "curate-manifest.json"  # curate.export.engine.MANIFEST (same reason)


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")


def _writable_folder(folder: Path, target: Path) -> None:
    """``folder`` (an existing ancestor of ``target``) must be a folder we may write in."""
    if not folder.is_dir():
        raise InvalidInput(f"cannot write {target}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidInput(f"cannot write {target}: no permission to write in {folder}")


def check_output_file(path: str | os.PathLike, *, make_parents: bool = True) -> Path:
    """Raise :class:`InvalidInput` unless a file can be written at ``path``.

    ``make_parents``: missing folders on the way will be created, as every
    command that writes a file does (else the file's folder must exist).
    """
    target = Path(path)
    if target.is_dir():
        raise InvalidInput(f"{target} is a folder; name the file to write")
    if make_parents:
        _writable_folder(_nearest_existing(target.parent.absolute()), target)
    elif not target.parent.absolute().exists():
        raise InvalidInput(f"cannot write {target}: folder {target.parent} does not exist")
    else:
        _writable_folder(target.parent.absolute(), target)
    return target


# Image formats a grid or preview may be written as, by file extension. Pillow
# writes many more; these are the ones an image viewer opens without surprises
# (no alpha is lost: previews are RGB).
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


def image_format(path: str | os.PathLike) -> str:
    """The Pillow format for writing an image at ``path``, from its extension.

    No extension means PNG. Any other extension is an error naming the ones
    that work, so ``-o grid.txt`` does not quietly get PNG bytes.
    """
    suffix = Path(path).suffix.lower()
    if not suffix:
        return "PNG"
    fmt = IMAGE_FORMATS.get(suffix)
    if fmt is None:
        known = ", ".join(IMAGE_FORMATS)
        raise InvalidInput(f"cannot write an image as {suffix!r} ({path}); use one of: {known}")
    return fmt


#: Characters that make a name more than one path component (or end it early) somewhere:
#: '/' everywhere, '\\' on Windows (and in zip/tar readers that normalize it), NUL in C.
_PATH_CHARS = {"/": "'/'", "\\": "'\\'", "\0": "a NUL character"}


def name_problem(name: str, *, strict: bool = True) -> str | None:
    """Why ``name`` (a class or split) cannot be one folder or file name, or None if it can.

    Exports turn class and split names into paths (``split/class/...``,
    ``data/split-*.parquet``), so a name like ``../x`` would write outside
    ``--out``. Always refused: empty, ``.``, ``..``, path separators, NUL.
    ``strict`` (where names are created) also refuses whitespace-only names
    and leading or trailing whitespace, which look like another name.
    """
    if name == "" or (strict and not name.strip()):
        return "it is empty"
    if name in (".", ".."):
        return f"{name!r} means a folder itself"
    for char, shown in _PATH_CHARS.items():
        if char in name:
            return f"it contains {shown}"
    if strict and name != name.strip():
        return "it starts or ends with whitespace"
    return None


def check_name(name: str, kind: str, *, strict: bool = True, hint: str | None = None) -> str:
    """Raise :class:`InvalidInput` unless ``name`` can be one folder or file name; return it.

    ``kind``: what the name is ("class", "split"), for the message.
    """
    problem = name_problem(name, strict=strict)
    if problem is not None:
        raise InvalidInput(
            f"{kind} name {name!r} cannot be used as a folder or file name: {problem}", hint=hint
        )
    return name


def check_output_folder(path: str | os.PathLike) -> Path:
    """Raise :class:`InvalidInput` unless ``path`` is or can become a folder we may write."""
    target = Path(path)
    if str(path).strip() == "":
        raise InvalidInput("the output folder name is empty")
    if target.exists() and not target.is_dir():
        raise InvalidInput(f"{target} exists and is not a folder")
    if target.is_symlink():
        # Exports publish by renaming a finished folder onto ``path``: that would
        # replace the link itself, not fill the folder it points to. The CLI
        # resolves a link before it gets here; a caller that did not is refused.
        raise InvalidInput(
            f"{target} is a symbolic link (to {os.readlink(target)})",
            hint=f"name the folder it points to: {target.resolve()}",
        )
    _writable_folder(_nearest_existing(target.absolute()), target)
    return target


def _has_entries(folder: Path) -> bool:
    """``folder`` is a folder with something in it (read one entry, not all of them)."""
    if not folder.is_dir():
        return False
    with os.scandir(folder) as entries:
        return next(entries, None) is not None


def _workspace_below(folder: Path) -> Path | None:
    """The first workspace (a folder holding ``.curate``) anywhere below ``folder``, or None.

    Walks the whole tree when there is none (an ``--overwrite`` of an earlier
    export pays one ``scandir`` per subfolder); stops at the first hit.
    Symlinks are not followed: replacing a folder removes a link, not its target.
    """
    for root, dirs, _files in os.walk(folder):
        if WORKSPACE_MARKER in dirs:
            return Path(root)
    return None


def check_replaceable(
    path: str | os.PathLike,
    *,
    workspace: str | os.PathLike | None = None,
    marker: str = EXPORT_MARKER,
):
    """Raise unless replacing the folder ``path`` (``--overwrite``) destroys only curate's output.

    Replaced: an empty folder, or one with ``marker`` at its top (an earlier
    export); any other folder may be the user's own data (their source
    images), so it is refused. Refused too, marker or not: a folder that holds
    a workspace (``.curate``) at any depth, one inside a workspace's
    ``.curate`` folder, and any folder that contains ``workspace`` (the root
    of the workspace being read).
    """
    target = Path(path).absolute().resolve()
    if (target / WORKSPACE_MARKER).exists():
        raise InvalidInput(f"refusing to replace {path}: it holds a curate workspace")
    if any(p.name == WORKSPACE_MARKER for p in (target, *target.parents)):
        raise InvalidInput(f"refusing to replace {path}: it is inside a workspace's .curate folder")
    if workspace is not None:
        root = Path(workspace).absolute().resolve()
        if root == target or target in root.parents:
            raise InvalidInput(f"refusing to replace {path}: it contains the workspace {root}")
    # Before the walk below: a big folder of the user's images is refused at once.
    if _has_entries(target) and not (target / marker).is_file():
        raise InvalidInput(
            f"refusing to replace {path}: it is not empty and not an earlier curate export "
            f"(no {marker} in it)",
            hint="choose a new or empty folder, or remove this one yourself",
        )
    nested = _workspace_below(target)
    if nested is not None:
        raise InvalidInput(f"refusing to replace {path}: it holds a curate workspace at {nested}")


@contextmanager
def output_errors(path: str | os.PathLike) -> Iterator[None]:
    """Turn an ``OSError`` raised while writing ``path`` into a one-line :class:`InvalidInput`."""
    try:
        yield
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}") from None


def write_atomically(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    A reader sees the old file or the new one, never half of one, and an
    ``OSError`` becomes a one-line :class:`InvalidInput`. Missing parent
    folders are created.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    with output_errors(target):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, str):
                tmp.write_text(data, encoding="utf-8")
            else:
                tmp.write_bytes(data)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
