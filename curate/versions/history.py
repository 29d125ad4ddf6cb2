"""Commit, log, diff and tag: thin orchestration over ``versions_repo``."""

from __future__ import annotations

import time

from curate.core.versions import CommitResult, Tag, VersionDiff, VersionInfo
from curate.errors import InvalidInput
from curate.store import versions_repo
from curate.store.catalog import Catalog


def _step(name: str) -> None:
    """Between commit stages. A no-op; the crash-safety tests replace it with kill -9."""


def commit(cat: Catalog, message: str | None, *, allow_empty: bool = False) -> CommitResult:
    """Freeze the working state as a new immutable version (caller holds the writer lock)."""
    if message is not None and not message.strip():
        raise InvalidInput("the commit message is empty", hint="say what changed: -m MESSAGE")
    started = time.perf_counter()
    vid = versions_repo.commit(cat, message, allow_empty=allow_empty, step=lambda n: _step(n))
    return CommitResult(
        version=versions_repo.get_version(cat, vid),
        seconds=round(time.perf_counter() - started, 3),
    )


def log(cat: Catalog) -> list[VersionInfo]:
    return versions_repo.list_versions(cat)


def show(cat: Catalog, ref: str | int) -> VersionInfo:
    return versions_repo.get_version(cat, versions_repo.resolve_version(cat, ref))


def diff(cat: Catalog, a: str | int | None, b: str | int | None) -> VersionDiff:
    """Differences from ``a`` to ``b``; None or "working" names the working state.

    Before the first commit HEAD is the empty state: HEAD -> working lists every
    sample as added, what the first commit would record.
    """
    side = versions_repo.resolve_diff_side
    return versions_repo.diff(cat, side(cat, a), side(cat, b))


def tag(cat: Catalog, name: str, ref: str | int | None = None, *, force: bool = False) -> Tag:
    vid = versions_repo.resolve_version(cat, "HEAD" if ref is None else ref)
    return versions_repo.set_tag(cat, name, vid, force=force)
