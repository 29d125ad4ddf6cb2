"""One exception family for everything a user can get wrong.

The CLI and the TUI render a :class:`CurateError` as a one-line message (plus an
optional hint); anything else is a bug and may show a traceback.
"""

from __future__ import annotations


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
