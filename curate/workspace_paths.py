"""Where a workspace keeps its files, and how commands find it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from curate.errors import WorkspaceNotFound

MARKER = ".curate"
ENV_VAR = "CURATE_WORKSPACE"


@dataclass(frozen=True)
class WorkspacePaths:
    root: Path

    @property
    def meta(self) -> Path:
        return self.root / MARKER

    @property
    def catalog(self) -> Path:
        return self.meta / "catalog.duckdb"

    @property
    def objects(self) -> Path:
        return self.meta / "objects"

    @property
    def lock(self) -> Path:
        return self.meta / "write.lock"

    @property
    def cache(self) -> Path:
        """Derived, rebuildable data (embeddings, checkpoints): safe to delete."""
        return self.meta / "cache"

    def exists(self) -> bool:
        return self.catalog.exists()


def inside_meta(path: str | os.PathLike) -> Path | None:
    """The workspace whose ``.curate`` folder holds ``path`` (or is ``path``), else None.

    A workspace's own files (catalog, packs, cache) are never a source to
    ingest, a place for another workspace, nor a workspace to name. A folder
    named .curate that belongs to no workspace is an ordinary folder.
    """
    absolute = Path(os.path.abspath(path))
    for candidate in (absolute, *absolute.parents):
        if candidate.name == MARKER and WorkspacePaths(candidate.parent).exists():
            return candidate.parent
    return None


def find_workspace(start: Path | None = None) -> WorkspacePaths:
    """The workspace at ``start`` or the nearest one above the current directory."""
    if start is not None:
        paths = WorkspacePaths(Path(start).absolute())
        if not paths.exists():
            owner = inside_meta(start)
            if owner is not None:
                raise WorkspaceNotFound(
                    f"{start} is not a curate workspace: it is inside the {MARKER} folder "
                    f"of {owner}",
                    hint=f"name the workspace itself: --workspace {owner}",
                )
            raise WorkspaceNotFound(
                f"{start} is not a curate workspace", hint=f"create one with: curate init {start}"
            )
        return paths
    env = os.environ.get(ENV_VAR)
    if env:
        return find_workspace(Path(env))
    here = Path.cwd().absolute()
    for candidate in (here, *here.parents):
        if WorkspacePaths(candidate).exists():
            return WorkspacePaths(candidate)
    raise WorkspaceNotFound(
        "not inside a curate workspace (looked in this folder and its parents)",
        hint="create one with `curate init DIR` or pass --workspace DIR",
    )
