"""The main job: run curate's loop on the bundled sample data.

Each step calls the public API, exactly as a user's script would. Steps are
added here as the engines land (scan, fixes, balancing, splits, versions,
export, report); the demo only runs steps that exist for real.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from curate.errors import InvalidInput, WorkspaceExists

StepFn = Callable[[str], None]


def sample_data_dir() -> Path:
    """The repository's sample_data/ folder (next to the curate package)."""
    return Path(__file__).resolve().parent.parent / "sample_data"


def run_demo(
    out: Path,
    *,
    data: Path | None = None,
    overwrite: bool = False,
    step: StepFn = lambda message: None,
) -> dict:
    from curate.api import Workspace

    data = data or sample_data_dir() / "digits"
    if not data.exists():
        raise InvalidInput(
            f"sample data not found at {data}",
            hint="run from a clone of the repository, or pass --data FOLDER",
        )
    out = Path(out)
    if (out / ".curate").exists():
        if not overwrite:
            raise WorkspaceExists(
                f"{out} already holds a workspace", hint="pass --overwrite to start over"
            )
        shutil.rmtree(out / ".curate")

    step(f"creating workspace {out}")
    ws = Workspace.init(out)
    with ws:
        step(f"ingesting {data}")
        report = ws.ingest(data)
        status = ws.status()
    return {
        "workspace": str(out.absolute()),
        "ingest": report.model_dump(mode="json"),
        "status": status.model_dump(mode="json"),
    }
