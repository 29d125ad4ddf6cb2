"""What the disk's and the catalog's failures mean to a user, in one line.

Permission denied, a full disk, a file size limit, a read-only file system:
these are the environment's problems, not bugs, whether Python reports them
(``OSError``) or DuckDB does (its I/O and permission errors, or a failed
commit that could not open the ``.wal``). :func:`environment_error` turns
them into a :class:`CurateError` (what failed, the path, a hint) for the CLI
and the TUI to show without a traceback; anything else stays a bug.

DuckDB answers Ctrl-C during a query with a plain ``RuntimeError("Query
interrupted")`` (and consumes the KeyboardInterrupt): :func:`is_interrupt`
recognises it so callers treat it as Ctrl-C.
"""

from __future__ import annotations

import errno
import re

import duckdb

from curate.errors import CurateError, one_line

_NO_ACCESS = (
    "check the permissions of that path: commands that change the workspace "
    "need write access to its .curate folder"
)
_HINTS = {
    errno.EACCES: _NO_ACCESS,
    errno.EPERM: _NO_ACCESS,
    errno.EROFS: "the file system is read-only: remount it read-write, or copy the "
    "workspace to a writable disk",
    errno.ENOSPC: "free some disk space, then run the command again",
    errno.EDQUOT: "the disk quota is used up: free some space, then run the command again",
    errno.EFBIG: "a file size limit was reached (ulimit -f, or the file system's largest "
    "file): raise it, then run the command again",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n)",
    errno.EIO: "the disk reported an I/O error: check it before going on",
}
# What DuckDB's messages say when the file system refused (a TransactionException
# "Failed to commit: Cannot open file ...wal": Permission denied" is one).
_DUCKDB_IO = re.compile(
    r"permission denied|read-only file system|no space left|disk quota|file too large"
    r"|cannot open file|could not (?:write|read|open|create|truncate|sync)|i/o error",
    re.IGNORECASE,
)
_DUCKDB_HINTS = (
    ("permission denied", _HINTS[errno.EACCES]),
    ("read-only file system", _HINTS[errno.EROFS]),
    ("no space left", _HINTS[errno.ENOSPC]),
    ("disk quota", _HINTS[errno.EDQUOT]),
    ("file too large", _HINTS[errno.EFBIG]),
)


def is_interrupt(exc: BaseException) -> bool:
    """DuckDB's answer to Ctrl-C during a query."""
    if isinstance(exc, duckdb.InterruptException):
        return True
    return type(exc) is RuntimeError and str(exc).startswith("Query interrupted")


def environment_error(exc: BaseException) -> CurateError | None:
    """``exc`` as a one-line :class:`CurateError` if the file system caused it, else None."""
    if isinstance(exc, OSError):
        return _from_os_error(exc)
    if isinstance(exc, duckdb.Error) and (
        isinstance(exc, duckdb.IOException | duckdb.PermissionException)
        or _DUCKDB_IO.search(str(exc))
    ):
        text = str(exc)
        # "TransactionContext Error: Failed to commit: ..." -> "failed to commit: ..."
        text = re.sub(r"^\w+ Error: ", "", text.strip())
        text = text[:1].lower() + text[1:]
        lowered = text.lower()
        hint = next((h for key, h in _DUCKDB_HINTS if key in lowered), None)
        return CurateError(f"catalog: {one_line(text, 300)}", hint=hint)
    return None


def _from_os_error(exc: OSError) -> CurateError:
    what = exc.strerror or str(exc) or type(exc).__name__
    what = what[:1].lower() + what[1:]
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    message = f"{what}: {' -> '.join(paths)}" if paths else what
    return CurateError(one_line(message, 300), hint=_HINTS.get(exc.errno or 0))
