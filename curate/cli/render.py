"""Shared rendering for CLI commands: JSON, errors, progress bars."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
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


INTERRUPTED = "interrupted: work that had finished is kept, nothing is half-written"
_ON_INTERRUPT = "curate.on_interrupt"  # click ctx.meta key (meta is shared by a whole invocation)

Said = str | Callable[[], str] | None


@contextmanager
def on_interrupt(message: Said, hint: Said = None) -> Iterator[None]:
    """What a Ctrl-C inside this block leaves behind, for :func:`handle_errors` to say.

    A command knows what its engine keeps (nothing, for an all-or-nothing export;
    every finished batch, for an ingest); the one handler of every command does
    not. ``message``/``hint`` may be callables, read when the interrupt comes (a
    count of what was done by then). Left in place when the block raises, so the
    handler that catches it outside reads it; put back when the block ends well,
    so a Ctrl-C while the result is printed does not claim the work was lost.
    """
    ctx = click.get_current_context(silent=True)
    if ctx is None:  # called as a library, not from a command
        yield
        return
    previous = ctx.meta.get(_ON_INTERRUPT)
    ctx.meta[_ON_INTERRUPT] = (message, hint)
    yield
    ctx.meta[_ON_INTERRUPT] = previous


def interrupted() -> None:
    """The Ctrl-C line: the command's own (see :func:`on_interrupt`), else the generic one."""
    ctx = click.get_current_context(silent=True)
    message, hint = (ctx.meta.get(_ON_INTERRUPT) if ctx is not None else None) or (None, None)
    message = message() if callable(message) else message
    hint = hint() if callable(hint) else hint
    error_line(message or INTERRUPTED, hint, exit_code=130, kind="Interrupted")
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


def warn_pending_changes(ws, ref: str) -> None:
    """``warning: N pending change(s) are not in vN`` on stderr when ``ref`` names the
    newest version (HEAD, LATEST) and the working state has changes not committed:
    exporting or evaluating HEAD then would silently leave them out."""
    if str(ref).strip().upper() not in ("HEAD", "LATEST"):
        return  # a version named on purpose: its content is what was asked for
    from curate.store import versions_repo, worktree_repo

    cat = ws.catalog()
    head = versions_repo.head_id(cat)
    pending = worktree_repo.pending_count(cat) if head is not None else 0
    if pending:
        click.echo(
            click.style("warning: ", fg="yellow")
            + f"{pending} pending change(s) are not in v{head}; "
            "run curate commit -m MSG first to include them",
            err=True,
        )


def stderr_console():
    from rich.console import Console

    return Console(stderr=True)


PLAIN_INTERVAL = 10.0
"""Seconds between two progress lines of a step on a stderr that is not a terminal."""


@contextmanager
def progress_bar(
    description: str, *, enabled: bool = True, interval: float | None = None
) -> Iterator[Any]:
    """Yield a ``progress(done, total, message)`` callback drawing a rich bar on stderr.

    The bar appears at the first report, so a command that fails on its
    arguments prints its error line alone; one that fails before any work was
    done takes its empty bar away. Interrupted work keeps its bar.

    When stderr is not a terminal (a log file, CI, nohup) rich's live bar would
    print nothing until a step ends, and a long scan would look hung: there it
    prints plain lines instead (see :func:`plain_progress`; ``interval``, default
    :data:`PLAIN_INTERVAL`, is their spacing in seconds).
    """
    if not enabled:
        yield lambda done, total, message="": None
        return
    if not stderr_console().is_terminal:
        every = PLAIN_INTERVAL if interval is None else interval
        with plain_progress(description, interval=every) as update:
            yield update
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


@contextmanager
def plain_progress(
    description: str,
    *,
    interval: float = PLAIN_INTERVAL,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Any]:
    """A ``progress`` callback writing lines like ``scanning: 4096/17830 (23%) 0:00:08``
    on stderr: when a step (the message) changes, when another tenth of it is
    done, and at least every ``interval`` seconds while reports come; a last line
    with where it ended. Nothing is printed before any work is done (unless that
    takes ``interval``), so an error on the arguments stays alone, as with the bar.
    """
    lock = threading.Lock()
    first: float | None = None
    latest: tuple[str, int, int | None] | None = None  # (step, done, total) last reported
    printed: tuple[str, int, int | None] | None = None  # ... and last written
    printed_at = 0.0
    printed_tenth = -1
    started = False

    def tenth(done: int, total: int | None) -> int:
        return done * 10 // total if total else -1

    def write(now: float) -> None:
        nonlocal printed, printed_at, printed_tenth
        step, done, total = latest
        count = f"{done}/{total}" if total is not None else str(done or "")
        # "cross-validation: 2/5 fold groups" says it already; "features" with no count at all
        line = step if count in step else f"{step}: {count}"
        if total:
            line += f" ({done / total:.0%})"
        line += f" {timedelta(seconds=int(now - first))}"
        # Marked written first: a Ctrl-C landing in the echo must not repeat the line.
        printed, printed_at, printed_tenth = latest, now, tenth(done, total)
        with suppress(Exception):  # a progress callback must not raise (stderr closed)
            click.echo(line, err=True)

    def update(done: int, total: int | None, message: str = "") -> None:
        nonlocal first, latest, started
        with lock:
            now = clock()
            first = now if first is None else first
            latest = (message or description, done, total)
            started = started or done > 0
            if not started and now - first < interval:
                return
            if (
                printed is None
                or printed[0] != latest[0]  # a new step
                or tenth(done, total) > printed_tenth
                or now - printed_at >= interval
            ):
                write(now)

    try:
        yield update
    except BaseException:
        if (started or printed is not None) and latest != printed:
            write(clock())  # where the interrupted or failed work stopped
        raise
    else:
        if latest is not None and latest != printed:
            write(clock())


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
