"""Shared rendering for CLI commands: JSON, errors, progress bars."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from curate.errors import CurateError, InvalidInput


def emit_json(value: Any) -> None:
    """One JSON document on stdout (pydantic models are dumped in JSON mode)."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def parse_key_values(items: tuple[str, ...], *, option: str = "--param") -> dict[str, Any]:
    """KEY=VALUE pairs of a repeatable option; a VALUE that parses as JSON
    (numbers, lists, true) is taken as JSON, anything else as a string."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"{option} {item!r}: expected KEY=VALUE")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        out[key.strip()] = value
    return out


def wants_json() -> bool:
    """Whether the command line asked for JSON (``--json`` anywhere after ``curate``).

    Read from argv, not from click: an error can come before the command's
    own options are parsed (a mistyped option), and its report must still be
    JSON for the script that asked.
    """
    return "--json" in sys.argv[1:]


def error_line(
    message: str, hint: str | None = None, *, exit_code: int = 1, kind: str = "Error"
) -> None:
    """An error on stderr: ``error: ...`` and ``hint: ...`` lines, or with ``--json``
    one JSON object ``{"error", "hint", "kind", "exit_code"}`` a script can parse."""
    if wants_json():
        doc = {"error": message, "hint": hint, "kind": kind, "exit_code": exit_code}
        click.echo(json.dumps(doc), err=True)
        return
    click.echo(click.style("error: ", fg="red", bold=True) + message, err=True)
    if hint:
        click.echo(click.style("hint: ", fg="yellow") + hint, err=True)


def debugging() -> bool:
    """``CURATE_DEBUG=1``: show the traceback of every error (for bug reports)."""
    return os.environ.get("CURATE_DEBUG", "").strip() not in ("", "0")


@contextmanager
def handle_errors() -> Iterator[None]:
    """Turn user errors into one line on stderr and a non-zero exit code."""
    try:
        yield
    except CurateError as exc:
        if debugging():
            traceback.print_exc()
        error_line(exc.message, exc.hint, exit_code=exc.exit_code, kind=type(exc).__name__)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        interrupted()
    except Exception as exc:
        # The disk or the catalog file refused (permission, space, size limit),
        # or DuckDB's own Ctrl-C: one line too. Anything else is a bug: traceback.
        # (click's own exceptions pass straight through, without importing duckdb.)
        if not (
            isinstance(exc, OSError)
            or type(exc) is RuntimeError
            or type(exc).__module__.lstrip("_").startswith("duckdb")
        ):
            raise
        from curate.store.faults import environment_error, is_interrupt

        if is_interrupt(exc):
            interrupted()
        known = environment_error(exc)
        if known is None or debugging():  # CURATE_DEBUG: the traceback, as for a bug
            raise
        error_line(known.message, known.hint, exit_code=known.exit_code, kind=type(known).__name__)
        sys.exit(known.exit_code)


def interrupted() -> None:
    error_line(
        "interrupted: work that had finished is kept, nothing is half-written",
        exit_code=130,
        kind="Interrupted",
    )
    sys.exit(130)


@contextmanager
def cancel_on_interrupt() -> Iterator[threading.Event]:
    """First Ctrl-C asks the engine to stop after the current batch; a second one aborts."""
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event
        return

    def handler(signum, frame):
        if event.is_set():
            raise KeyboardInterrupt
        event.set()
        click.echo("\nstopping after the current batch (Ctrl-C again to abort)", err=True)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield event
    finally:
        signal.signal(signal.SIGINT, previous)


def stderr_console():
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def progress_bar(description: str, *, enabled: bool = True) -> Iterator[Any]:
    """Yield a ``progress(done, total, message)`` callback drawing a rich bar on stderr.

    The bar appears at the first report, so a command that fails on its
    arguments prints its error line alone; one that fails before any work was
    done takes its empty bar away. Interrupted work keeps its bar.
    """
    if not enabled:
        yield lambda done, total, message="": None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar: Progress | None = None
    task = None
    started = False

    def update(done: int, total: int | None, message: str = "") -> None:
        nonlocal bar, task, started
        if bar is None:
            bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=stderr_console(),
                transient=False,
            )
            bar.start()
            task = bar.add_task(description, total=None)
        started = started or done > 0
        bar.update(task, completed=done, total=total, description=message or description)

    try:
        yield update
    except BaseException:
        if bar is not None and not started:
            bar.live.transient = True
        raise
    finally:
        if bar is not None:
            bar.stop()


def _remember_workspace(ctx: click.Context, _param, value):
    if value is not None:
        ctx.ensure_object(dict)["workspace"] = value
    return value


def _workspace_kwargs() -> dict[str, Any]:
    return {
        "type": click.Path(file_okay=False, path_type=str),
        "expose_value": False,
        "callback": _remember_workspace,
        "help": "Workspace folder (default: the nearest one at or above the current folder).",
    }


def workspace_param(*, hidden: bool = False) -> click.Option:
    """`-w/--workspace DIR` after a command's name (`curate status -w DIR`), as before it.

    ``hidden``: accepted (and ignored, as before the name) but left out of the help,
    for commands that make their folder themselves.
    """
    return click.Option(["--workspace", "-w"], hidden=hidden, **_workspace_kwargs())


def workspace_option(func):
    """:func:`workspace_param` as a decorator, for the subcommands of a group."""
    return click.option("--workspace", "-w", **_workspace_kwargs())(func)


def open_workspace(ctx: click.Context):
    from curate.api import Workspace

    return Workspace.open((ctx.obj or {}).get("workspace"))


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document on stdout."
)
