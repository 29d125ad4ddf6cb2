"""Versions at scale: commit and diff of 1M-sample versions, catalog growth, parquet export.

    python benchmarks/bench_versions.py [--samples 1000000] [--export-samples 100000]

Claims (issue 4), each printed as PASS/MISS with the measured figure:

* commit of a 1,000,000-sample version <= 2 s (first commit, and commits after
  a 1% relabel; median of the latter);
* diff of two 1M-sample versions <= 1 s (1% relabeled between them);
* a version changing 1% of the labels adds <= 10% of the first version's
  catalog bytes (file size after CHECKPOINT, WAL included);
* export of 100,000 samples to parquet at >= 0.5x the speed of writing the
  same rows with ``pyarrow.parquet.write_table`` directly (same process, run
  back to back, best of 3 each).

The 1M catalog is synthetic (rows inserted with SQL: sample ids are sha256 of
the row number, no image bytes), built through the real migrations; commit,
relabel and diff then go through the public API. The export catalog holds
real PNG bytes in a real pack.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from curate.api import Workspace  # noqa: E402


def catalog_bytes(ws: Workspace) -> int:
    ws.catalog(write=True).con.execute("CHECKPOINT")
    wal = ws.paths.catalog.with_suffix(".duckdb.wal")
    return ws.paths.catalog.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def build_synthetic(ws: Workspace, n: int, classes: int = 10) -> None:
    with ws.writing() as cat:
        c = cat.cursor()
        c.execute(f"INSERT INTO classes SELECT i, 'class_' || i, now() FROM range({classes}) t(i)")
        c.execute(
            f"""INSERT INTO samples SELECT i, sha256(i::VARCHAR), 32, 32, 3, 'RGB', 'PNG',
                3000 + (i % 500), 'pack-' || lpad((i // 2048)::VARCHAR, 16, '0') || '.pack',
                (i % 2048) * 3500, 'original', NULL, NULL, 1, now() FROM range({n}) t(i)"""
        )
        c.execute(
            f"""INSERT INTO sources SELECT i, '/data/images/class_' || (i % {classes}) || '/img_'
                || lpad(i::VARCHAR, 8, '0') || '.png', 'class_' || (i % {classes}), NULL, 1
                FROM range({n}) t(i)"""
        )
        c.execute(
            f"""INSERT INTO assignments SELECT i, (i % {classes})::INT,
                CASE WHEN hash(i) % 10 < 8 THEN 'train' WHEN hash(i) % 10 < 9 THEN 'val'
                     ELSE 'test' END, 'given' FROM range({n}) t(i)"""
        )
        c.execute("CHECKPOINT")


def relabel_fraction(ws: Workspace, n: int, fraction: float, rng, classes: int = 10) -> int:
    picked = rng.choice(n, size=int(n * fraction), replace=False)
    current = picked % classes  # assignments give class i % classes; versions keep it
    target = (current + rng.integers(1, classes, size=picked.size)) % classes
    recorded = 0
    for cls in range(classes):
        sids = [int(s) for s in picked[target == cls]]
        recorded += ws.relabel(sids, f"class_{cls}", reason="bench: 1% relabel").recorded
    return recorded


def bench_versions(root: Path, n: int, rounds: int) -> dict:
    ws = Workspace.init(root / "big")
    t = time.perf_counter()
    build_synthetic(ws, n)
    print(f"built synthetic catalog of {n:,} samples in {time.perf_counter() - t:.1f}s")
    base_bytes = catalog_bytes(ws)

    cpu = time.process_time()
    first = ws.commit("v1: everything")
    first_cpu = time.process_time() - cpu
    v1_bytes = catalog_bytes(ws)
    print(
        f"commit v1 ({first.version.stats.samples:,} samples, all new): {first.seconds:.3f}s "
        f"(cpu {first_cpu:.2f}s on {os.cpu_count()} CPUs); "
        f"catalog {base_bytes / 1e6:.1f} MB -> {v1_bytes / 1e6:.1f} MB"
    )
    rng = np.random.default_rng(0)
    commits, diffs, growths, sql_diffs = [], [], [], []
    before = v1_bytes
    for r in range(rounds):
        t = time.perf_counter()
        changed = relabel_fraction(ws, n, 0.01, rng)
        relabel_s = time.perf_counter() - t
        cpu = time.process_time()
        result = ws.commit(f"relabel 1% (round {r + 1})")
        commit_cpu = time.process_time() - cpu
        after = catalog_bytes(ws)
        growth = (after - before) / v1_bytes
        vb = result.version.name
        va = result.version.parent
        t, cpu = time.perf_counter(), time.process_time()
        d = ws.diff(va, vb)
        diff_s, diff_cpu = time.perf_counter() - t, time.process_time() - cpu
        assert d.summary["relabeled"] == changed and not d.added and not d.removed, d.summary
        t = time.perf_counter()
        rows = ws.catalog().rows(
            "SELECT count(*) FROM version_diff(?, ?) WHERE change = 'relabeled'", [va, vb]
        )
        sql_s = time.perf_counter() - t
        assert rows[0][0] == changed
        commits.append(result.seconds)
        diffs.append(diff_s)
        sql_diffs.append(sql_s)
        growths.append(growth)
        print(
            f"round {r + 1}: relabel {changed:,} via API {relabel_s:.2f}s; commit {vb} "
            f"{result.seconds:.3f}s (cpu {commit_cpu:.2f}s); diff {va}..{vb} {diff_s:.3f}s "
            f"(cpu {diff_cpu:.2f}s; SQL version_diff {sql_s:.3f}s); "
            f"catalog +{(after - before) / 1e6:.2f} MB = {growth:.1%} of v1's {v1_bytes / 1e6:.1f} MB"
        )
        before = after
    ws.close()
    return {
        "first_commit_s": first.seconds,
        "commit_s": statistics.median(commits),
        "diff_s": statistics.median(diffs),
        "sql_diff_s": statistics.median(sql_diffs),
        "growth": max(growths),
        "v1_bytes": v1_bytes,
    }


def png_blobs(count: int, size: int = 32, distinct: int = 4096) -> list[bytes]:
    """``count`` PNG byte strings (cycling ``distinct`` random-noise images, ~3 KB each)."""
    from PIL import Image

    rng = np.random.default_rng(1)
    pool = []
    for _ in range(min(count, distinct)):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, "PNG")
        pool.append(buf.getvalue())
    return [pool[i % len(pool)] for i in range(count)]


def bench_export(root: Path, n: int) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.export import rows as rowlib

    ws = Workspace.init(root / "export")
    blobs = png_blobs(n)
    locations = ws.objects.write_pack(blobs)
    table = pa.table(
        {
            "sid": pa.array(range(n), pa.int64()),
            "pack": [loc.pack for loc in locations],
            "pack_offset": pa.array([loc.offset for loc in locations], pa.int64()),
            "nbytes": pa.array([loc.length for loc in locations], pa.int64()),
        }
    )
    with ws.writing() as cat:
        c = cat.cursor()
        c.register("locs", table)
        c.execute("INSERT INTO classes SELECT i, 'class_' || i, now() FROM range(10) t(i)")
        c.execute(
            """INSERT INTO samples SELECT sid, sha256(sid::VARCHAR), 32, 32, 3, 'RGB', 'PNG',
               nbytes, pack, pack_offset, 'original', NULL, NULL, 1, now() FROM locs"""
        )
        c.execute(
            "INSERT INTO sources SELECT sid, '/data/img_' || lpad(sid::VARCHAR, 8, '0') || '.png', "
            "NULL, NULL, 1 FROM locs"
        )
        c.execute(
            "INSERT INTO assignments SELECT sid, (sid % 10)::INT, "
            "CASE WHEN sid % 10 < 8 THEN 'train' ELSE 'val' END, 'given' FROM locs"
        )
        c.unregister("locs")
    ws.commit("export bench")
    version = ws.version("HEAD")
    version.to_parquet(root / "warmup-export", overwrite=True)  # imports datasets once

    # The same rows, already in memory, written by pyarrow directly.
    members = version.samples()
    schema = rowlib.features(version.classes).arrow_schema
    in_memory = pa.Table.from_batches(
        list(rowlib.record_batches(ws.objects, members, schema, list(range(10)))), schema=schema
    )
    payload = sum(len(b) for b in blobs)
    export_times, raw_times = [], []
    for i in range(3):
        t = time.perf_counter()
        result = version.to_parquet(root / f"export-{i}", overwrite=True)
        export_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        pq.write_table(in_memory, root / f"raw-{i}.parquet")
        raw_times.append(time.perf_counter() - t)
    out_bytes = sum(p.stat().st_size for p in (root / "export-0").rglob("*.parquet"))
    raw_bytes = (root / "raw-0.parquet").stat().st_size
    check = pq.read_table(root / "export-0" / "data" / "train-00000-of-00001.parquet")
    assert (
        check.num_rows
        + pq.read_metadata(root / "export-0" / "data" / "val-00000-of-00001.parquet").num_rows
        == n
    )
    ws.close()
    best_export, best_raw = min(export_times), min(raw_times)
    print(
        f"export {n:,} samples ({payload / 1e6:.0f} MB of PNG) to parquet: curate "
        f"{best_export:.2f}s ({out_bytes / 1e6:.0f} MB, {result.samples:,} rows), "
        f"pyarrow.write_table {best_raw:.2f}s ({raw_bytes / 1e6:.0f} MB); "
        f"all runs curate {[round(x, 2) for x in export_times]}, pyarrow {[round(x, 2) for x in raw_times]}"
    )
    return {"export_s": best_export, "raw_s": best_raw, "speed_ratio": best_raw / best_export}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--export-samples", type=int, default=100_000)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    root = Path(tempfile.mkdtemp(prefix="curate-bench-versions-"))
    try:
        v = bench_versions(root, args.samples, args.rounds)
        e = bench_export(root, args.export_samples)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    claims = [
        ("first commit of 1M samples <= 2 s", v["first_commit_s"], v["first_commit_s"] <= 2.0, "s"),
        (
            "commit of 1M samples after 1% relabel <= 2 s (median)",
            v["commit_s"],
            v["commit_s"] <= 2.0,
            "s",
        ),
        ("diff of two 1M versions <= 1 s (median)", v["diff_s"], v["diff_s"] <= 1.0, "s"),
        (
            "1% relabel adds <= 10% of v1's catalog bytes (worst round)",
            v["growth"],
            v["growth"] <= 0.10,
            "%",
        ),
        (
            "parquet export >= 0.5x pyarrow.write_table speed",
            e["speed_ratio"],
            e["speed_ratio"] >= 0.5,
            "x",
        ),
    ]
    print(f"load average {os.getloadavg()[0]:.1f} (wall times on a shared machine scale with it)")
    for name, value, ok, unit in claims:
        shown = f"{value:.1%}" if unit == "%" else f"{value:.3f}{unit}"
        print(f"{'PASS' if ok else 'MISS'}  {name}: {shown}")


if __name__ == "__main__":
    main()
