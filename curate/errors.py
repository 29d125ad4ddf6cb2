"""One exception family for everything a user can get wrong.

The CLI and the TUI render a :class:`CurateError` as a one-line message (plus an
optional hint); anything else is a bug and may show a traceback.
"""

from __future__ import annotations

import re


def one_line(text: object, limit: int = 160) -> str:
    """A library's error text fit for a one-line message: its first line, cut before
    any control or undecodable character and at ``limit`` characters (a CSV parser
    quoting a binary file would otherwise put raw bytes on the terminal)."""
    first = str(text).strip().splitlines()[0] if str(text).strip() else ""
    garbage = re.search("[^ -~\u00a1-\uffef]|\ufffd", first)  # control bytes, undecodable
    clean = first[: garbage.start()].rstrip() + " ..." if garbage else first
    return clean if len(clean) <= limit else clean[: limit - 4] + " ..."


class CurateError(Exception):
    """Base class: a problem the user can act on."""

    title = "Error"
    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class WorkspaceNotFound(CurateError):
    title = "No workspace"


class WorkspaceExists(CurateError):
    title = "Workspace exists"


class WorkspaceLocked(CurateError):
    title = "Workspace locked"


class NotWritable(CurateError):
    """The workspace's files cannot be written (permissions, a read-only disk)."""

    title = "Workspace not writable"


class DamagedData(CurateError):
    """Stored image bytes that no longer decode, or a pack missing from the object store."""

    title = "Damaged workspace"

    def __init__(self, message: str, *, hint: str | None = None, row: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.row = row  # where in its batch, for a caller that knows the batch's samples


class InvalidInput(CurateError):
    """Bad arguments, bad files, bad documents."""

    title = "Invalid input"
    exit_code = 2


class NotFound(CurateError):
    """A named thing (sample, class, version, plugin) does not exist."""

    title = "Not found"


class PluginError(CurateError):
    title = "Plugin error"


class MissingDependency(CurateError):
    title = "Missing dependency"


class Cancelled(CurateError):
    """Raised by engines when their ``cancel`` callback returns True."""

    title = "Cancelled"
    exit_code = 130


class Interrupted(CurateError):
    """Ctrl-C (or DuckDB's own "Query interrupted") where a plain KeyboardInterrupt
    would not tell the whole story: while a transaction was committing.

    Not a :class:`Cancelled`: engines that catch that to finish up must not
    carry on after the user pressed Ctrl-C."""

    title = "Interrupted"
    exit_code = 130
