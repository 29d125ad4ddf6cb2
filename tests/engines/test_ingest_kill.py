"""kill -9 in the middle of an ingest leaves a consistent catalog; re-running completes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from curate.api import Workspace
from tests.conftest import write_png

SCRIPT = """
import sys, time
from curate.api import Workspace
ws = Workspace.open(sys.argv[1])
marker = sys.argv[3]
def progress(done, total, message=""):
    open(marker, "a").write(f"{done}\\n")
    time.sleep(0.3)  # give the parent time to kill us between batches
ws.ingest(sys.argv[2], batch_size=20, progress=progress)
"""


def test_killed_ingest_leaves_consistent_catalog_and_rerun_completes(tmp_path: Path):
    root = tmp_path / "src"
    for i in range(200):
        write_png(root / ("a" if i % 2 else "b") / f"{i:03d}.png", i)
    ws_path = tmp_path / "ws"
    Workspace.init(ws_path).close()
    marker = tmp_path / "progress.txt"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(ws_path), str(root), str(marker)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if marker.exists() and len(marker.read_text().split()) >= 4:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    with Workspace.open(ws_path) as ws:
        partial = ws.status().samples
        assert 0 < partial < 200
        # Every sample the catalog knows has its bytes, its source and its label.
        cat = ws.catalog()
        assert cat.scalar("SELECT count(*) FROM samples") == partial
        assert cat.scalar("SELECT count(DISTINCT sid) FROM sources") == partial
        assert cat.scalar("SELECT count(*) FROM assignments") == partial
        for sid in ws.samples().column("sid").to_pylist():
            assert ws.read_bytes(sid)
        report = ws.ingest(root)
        assert report.added_samples == 200 - partial
        assert ws.status().samples == 200
        assert ws.status().classes == {"a": 100, "b": 100}
