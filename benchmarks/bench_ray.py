"""The Ray engine next to the local engine, and what a 10-node run would take.

    python benchmarks/bench_ray.py --n 50000 --workdir /tmp/bench_ray
    python benchmarks/bench_ray.py --n 5000 --workdir /tmp/bench_ray5k --nodes 10 --cores 16

Claim (issue 9): on a local Ray instance with 2 CPUs, ``--engine ray`` costs
at most 1.3x the local engine's wall time on 50,000 images, for the stages
that run on an engine: scan (decode + quality statistics, feature maps,
out-of-fold heads; plus the driver's kNN, cleanlab and catalog write),
augmentation materialization and export (parquet, webdataset).

One run, side by side: the same images (``bench_scale.generate``: 28x28
grayscale digits with planted problems) ingested once, copied to one
workspace per engine; every stage runs on the local engine, then on Ray,
with the same seed. The results are checked equal (findings, augmented
sample ids, exported file hashes): the benchmark fails otherwise.

Measured per stage: wall time on each engine; inside the scan, the time of
the engine-mapped parts (decode, feature maps, fold heads) and of the
driver's parts (feature-map fitting and PCA, kNN graphs, cleanlab, findings
rows, the catalog write); for augmentation the driver's catalog writes.
From those, per-item costs, Ray's fixed start-up cost, and a projection of
a ``--nodes`` x ``--cores`` cluster run (printed; see docs/benchmarks.md).
Results go to ``<workdir>/bench_ray-<order>.json``; ``--order ray,local``
runs Ray first in every stage (the machine's load drifts during a run).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

ENGINES = ("local", "ray")
POLICY = "light"


# -- timing hooks -----------------------------------------------------------------------------
class Clock:
    """Seconds spent inside wrapped functions, by name (benchmark instrumentation only)."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self.rows: dict[str, int] = {}

    def reset(self) -> None:
        self.spent.clear()
        self.rows.clear()

    def wrap(self, module, name: str, key: str, rows=None) -> None:
        original = getattr(module, name)

        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.spent[key] = self.spent.get(key, 0.0) + time.perf_counter() - t
                if rows is not None:
                    self.rows[key] = self.rows.get(key, 0) + rows(*args, **kwargs)

        setattr(module, name, timed)


def install(clock: Clock) -> None:
    import curate.augment.engine as augment_engine
    import curate.scan.batches as batches
    import curate.scan.features as features
    import curate.store.findings_repo as findings_repo

    clock.wrap(batches, "map_features", "scan.feature_maps")
    clock.wrap(features, "cross_val_heads", "scan.folds")
    clock.wrap(features, "cross_val_heads_streaming", "scan.folds")
    clock.wrap(
        findings_repo,
        "record_run",
        "scan.catalog_write",
        rows=lambda cat, **kw: _num_rows(kw["findings"]),
    )
    clock.wrap(
        augment_engine,
        "_write",
        "augment.catalog_write",
        rows=lambda cat, objects, table, *a: table.num_rows,
    )


def _num_rows(findings) -> int:
    import pyarrow.parquet as pq

    if isinstance(findings, Path | str):
        return pq.ParquetFile(findings).metadata.num_rows
    return findings.num_rows


@contextmanager
def stopwatch(out: dict, key: str):
    t = time.perf_counter()
    yield
    out[key] = round(time.perf_counter() - t, 3)


def files_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def _imports(batch, _context):
    import time as _time

    import albumentations  # noqa: F401
    import cleanlab  # noqa: F401
    import torch  # noqa: F401

    import curate.augment.engine  # noqa: F401
    import curate.export.writers  # noqa: F401
    import curate.scan.batches  # noqa: F401

    _time.sleep(0.5)  # keep this worker busy so the next batch starts another
    return batch


def warm_up(cpus: int) -> None:
    """Start every Ray worker and import what the stages need (a command pays this once)."""
    import pyarrow as pa

    from curate.engines import open_engine

    engine = open_engine("ray", packs_dir=Path("."))
    table = pa.table({"x": list(range(2 * cpus))})
    list(engine.map_batches(_imports, table, batch_rows=1))


# -- stages -----------------------------------------------------------------------------------
def prepare(n: int, work: Path, seed: int) -> Path:
    """Images (once), a workspace with them ingested and committed (once)."""
    from bench_scale import generate

    from curate.api import Workspace

    if not (work / "images").exists():
        t = time.perf_counter()
        generate(n, work, seed)
        print(f"generated {n} images in {time.perf_counter() - t:.0f}s", flush=True)
    base = work / "base"
    if not (base / ".curate" / "catalog.duckdb").exists():
        shutil.rmtree(base, ignore_errors=True)
        t = time.perf_counter()
        with Workspace.init(base) as ws:
            report = ws.ingest(work / "images")
            ws.commit("ingested")
        print(f"ingested {report.added_samples} in {time.perf_counter() - t:.0f}s", flush=True)
    return base


def fresh_copy(base: Path, dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(base, dest)
    return dest


def run_scan(ws, engine: str, clock: Clock) -> tuple[dict, list]:
    clock.reset()
    out: dict = {}
    with stopwatch(out, "wall"):
        result = ws.scan(seed=0, engine=engine)
    timing = dict(result.timing)
    spent = dict(clock.spent)
    out["timing"] = timing
    out["parallel"] = {
        "decode": timing["decode"],
        "feature_maps": round(spent.get("scan.feature_maps", 0.0), 3),
        "folds": round(spent.get("scan.folds", 0.0), 3),
    }
    out["driver"] = {
        "fit_and_pca": round(timing["extract"] - sum(list(out["parallel"].values())[1:]), 3),
        "knn": timing["knn"],
        "cleanlab": timing["cleanlab"],
        "duplicates_quality": timing["duplicates_quality"],
        "findings_rows": timing["findings"],
        "catalog_write": round(spent.get("scan.catalog_write", 0.0), 3),
    }
    out["finding_rows"] = clock.rows.get("scan.catalog_write", 0)
    out["issues"] = result.issues
    rows = ws.catalog().rows(
        "SELECT sid, kind, score, is_issue, suggested_class_id, details FROM findings "
        "WHERE run_id = ? ORDER BY sid, kind",
        [result.run_id],
    )
    return out, rows


def run_augment(ws, engine: str, clock: Clock) -> tuple[dict, list]:
    clock.reset()
    out: dict = {}
    with stopwatch(out, "wall"):
        report = ws.augment(POLICY, balance=False, copies=1, workers=2, engine=engine)
    out["added"] = report.added
    out["workers"] = report.workers
    out["catalog_write"] = round(clock.spent.get("augment.catalog_write", 0.0), 3)
    out["written_rows"] = clock.rows.get("augment.catalog_write", 0)
    ids = [r[0] for r in ws.catalog().rows("SELECT sample_id FROM samples ORDER BY 1")]
    return out, ids


def run_export(ws, engine: str, fmt: str, dest: Path) -> tuple[dict, str]:
    shutil.rmtree(dest, ignore_errors=True)
    out: dict = {}
    with stopwatch(out, "wall"):
        result = ws.export("HEAD", fmt, dest, engine=engine)
    out["samples"] = result.samples
    out["bytes"] = result.bytes
    return out, files_digest(dest)


# -- projection -------------------------------------------------------------------------------
def project(results: dict, n: int, nodes: int, cores: int, folds: int = 5) -> dict:
    """A cluster run from the measured costs (a model, not a measurement).

    A parallel part costs its local engine's per-item compute (one core) plus
    Ray's measured per-item overhead (``ray_s x cpus / n - compute``: on this
    shared 2-core machine the driver competes with the workers, so this
    overstates it), spread over ``min(workers, tasks)`` workers: a stage has
    only as many tasks as batches (4,096 images), folds (5 per ensemble
    member) or shards (10,000 samples). The driver's parts (feature-map
    fitting and PCA, kNN graphs, cleanlab, findings rows, catalog writes,
    the parquet file) stay as measured here. Ray's start-up (init and the
    workers' imports) is paid once per command.
    """
    local, ray = results["local"], results["ray"]
    workers = nodes * cores
    cpus = results["ray_cpus"]
    out: dict = {"nodes": nodes, "cores_per_node": cores, "workers": workers, "stages": {}}

    def part(local_s: float, ray_s: float, local_workers: int, tasks: int) -> dict:
        compute = local_s * local_workers / n
        overhead = max(0.0, ray_s * cpus / n - compute)
        eff = max(1, min(workers, tasks))
        return {
            "per_item_ms": round(compute * 1e3, 4),
            "ray_overhead_per_item_ms": round(overhead * 1e3, 4),
            "tasks": tasks,
            "cluster_s": round(n * (compute + overhead) / eff, 2),
        }

    from curate.scan.batches import ENGINE_BATCH_ROWS

    batches = -(-n // ENGINE_BATCH_ROWS)
    ls, rs = local["scan"], ray["scan"]
    scan_parts = {
        "decode": part(ls["parallel"]["decode"], rs["parallel"]["decode"], 1, batches),
        "feature_maps": part(
            ls["parallel"]["feature_maps"], rs["parallel"]["feature_maps"], 1, batches
        ),
        "folds": part(ls["parallel"]["folds"], rs["parallel"]["folds"], 1, folds),
    }
    # Members run one after the other (their times add up in the measured parts), each
    # with as many tasks as batches or folds: min(workers, tasks) holds per member.
    driver = sum(rs["driver"].values())
    out["stages"]["scan"] = {
        "parallel": scan_parts,
        "driver_s": round(driver, 2),
        "driver_parts_s": rs["driver"],
        "local_s": ls["wall"],
        "cluster_s": round(driver + sum(p["cluster_s"] for p in scan_parts.values()), 2),
    }
    la, ra = local["augment"], ray["augment"]
    chunk = max(1, min(1024, -(-n // (workers * 4))))
    aug = part(
        la["wall"] - la["catalog_write"], ra["wall"] - ra["catalog_write"], 2, -(-n // chunk)
    )
    out["stages"]["augment"] = {
        **aug,
        "driver_s": ra["catalog_write"],
        "local_s": la["wall"],
        "cluster_s": round(aug["cluster_s"] + ra["catalog_write"], 2),
    }
    # parquet: one file per split, written by the driver: no faster on a cluster
    out["stages"]["export_parquet"] = {
        "local_s": local["export_parquet"]["wall"],
        "cluster_s": local["export_parquet"]["wall"],
        "note": "driver-bound (one parquet file per split)",
    }
    lw, rw = local["export_webdataset"], ray["export_webdataset"]
    web = part(lw["wall"], rw["wall"], 1, -(-n // 10_000))
    out["stages"]["export_webdataset"] = {**web, "local_s": lw["wall"]}
    total_local = sum(s["local_s"] for s in out["stages"].values())
    total_cluster = results["ray_start_s"] + sum(s["cluster_s"] for s in out["stages"].values())
    out["start_s"] = results["ray_start_s"]
    out["total_local_s"] = round(total_local, 1)
    out["total_cluster_s"] = round(total_cluster, 1)
    out["speedup"] = round(total_local / total_cluster, 1)
    return out


# -- main -------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_ray"))
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance")
    parser.add_argument("--nodes", type=int, default=10, help="projection: cluster nodes")
    parser.add_argument("--cores", type=int, default=16, help="projection: cores per node")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--order",
        default="local,ray",
        help="which engine runs first in each stage (the machine's load drifts)",
    )
    args = parser.parse_args()
    order = tuple(args.order.split(","))
    if sorted(order) != sorted(ENGINES):
        parser.error("--order must name local and ray once each")

    from curate.api import Workspace
    from curate.engines.ray import connect

    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    base = prepare(args.n, work, args.seed)
    clock = Clock()
    install(clock)
    load = os.getloadavg()[0]
    results: dict = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "n": args.n,
        "ray_cpus": args.cpus,
        "order": list(order),
        "load_before": round(load, 2),
        "local": {},
        "ray": {},
    }

    # The driver's own imports are paid by either engine: out of the timings.
    import albumentations  # noqa: F401
    import cleanlab  # noqa: F401
    import sklearn.model_selection  # noqa: F401
    import torch  # noqa: F401

    import curate.scan.batches  # noqa: F401

    t = time.perf_counter()
    connect("local", num_cpus=args.cpus)
    results["ray_init_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    warm_up(args.cpus)
    results["ray_warmup_s"] = round(time.perf_counter() - t, 2)
    results["ray_start_s"] = round(results["ray_init_s"] + results["ray_warmup_s"], 2)
    print(
        f"ray start (local, {args.cpus} CPUs): init {results['ray_init_s']}s, "
        f"workers' imports {results['ray_warmup_s']}s",
        flush=True,
    )

    spaces = {e: Workspace.open(fresh_copy(base, work / f"ws_{e}")) for e in ENGINES}
    checks = {}

    # scan
    found = {}
    for engine in order:
        results[engine]["scan"], found[engine] = run_scan(spaces[engine], engine, clock)
        print(f"scan   {engine:5s} {results[engine]['scan']['wall']:8.1f}s", flush=True)
    checks["scan_findings_equal"] = found["local"] == found["ray"]
    del found

    # export (before augmentation: the committed version is the ingested one)
    for fmt in ("parquet", "webdataset"):
        digests = {}
        for engine in order:
            out, digests[engine] = run_export(spaces[engine], engine, fmt, work / f"out_{engine}")
            results[engine][f"export_{fmt}"] = out
            print(f"export {engine:5s} {fmt:10s} {out['wall']:8.1f}s", flush=True)
        checks[f"export_{fmt}_files_equal"] = digests["local"] == digests["ray"]

    # augmentation materialization: one copy of every image
    ids = {}
    for engine in order:
        results[engine]["augment"], ids[engine] = run_augment(spaces[engine], engine, clock)
        print(f"augment {engine:5s} {results[engine]['augment']['wall']:8.1f}s", flush=True)
    checks["augment_samples_equal"] = ids["local"] == ids["ray"]

    for ws in spaces.values():
        ws.close()
    results["checks"] = checks
    results["load_after"] = round(os.getloadavg()[0], 2)

    stages = ("scan", "augment", "export_parquet", "export_webdataset")
    ratios = {s: results["ray"][s]["wall"] / results["local"][s]["wall"] for s in stages}
    total_local = sum(results["local"][s]["wall"] for s in stages)
    total_ray = sum(results["ray"][s]["wall"] for s in stages)
    results["ratios"] = {k: round(v, 2) for k, v in ratios.items()}
    results["ratio_warm"] = round(total_ray / total_local, 2)
    results["ratio_with_start"] = round((total_ray + results["ray_start_s"]) / total_local, 2)
    results["projection"] = project(results, args.n, args.nodes, args.cores)
    (work / f"bench_ray-{'-'.join(order)}.json").write_text(json.dumps(results, indent=2))

    n = args.n
    print(f"\n{n:,} images, Ray local instance with {args.cpus} CPUs, load {load:.1f}")
    print("| stage | local s | ray s | ray / local |")
    print("|---|---|---|---|")
    for s in stages:
        print(
            f"| {s} | {results['local'][s]['wall']:.1f} | {results['ray'][s]['wall']:.1f} "
            f"| {ratios[s]:.2f} |"
        )
    print(
        f"| all four (warm instance) | {total_local:.1f} | {total_ray:.1f} "
        f"| **{results['ratio_warm']:.2f}** |"
    )
    print(
        f"| all four + Ray start ({results['ray_start_s']:.1f} s) | {total_local:.1f} | "
        f"{total_ray + results['ray_start_s']:.1f} | **{results['ratio_with_start']:.2f}** |"
    )
    print("\nscan parts (s):")
    for engine in ENGINES:
        sc = results[engine]["scan"]
        print(f"  {engine}: parallel {sc['parallel']} driver {sc['driver']}")
    ls = results["local"]["scan"]
    print("\nper-item costs (local engine, one core):")
    for part, secs in ls["parallel"].items():
        print(f"  scan {part}: {secs / n * 1e3:.3f} ms/image")
    la = results["local"]["augment"]
    print(f"  augment: {(la['wall'] - la['catalog_write']) * 2 / n * 1e3:.3f} ms/image (2 workers)")
    for fmt in ("parquet", "webdataset"):
        print(f"  export {fmt}: {results['local'][f'export_{fmt}']['wall'] / n * 1e3:.3f} ms/image")
    rs = results["ray"]["scan"]
    ra = results["ray"]["augment"]
    print(
        f"  driver catalog write: scan {rs['driver']['catalog_write'] / max(1, rs['finding_rows']) * 1e6:.1f}"
        f" us/finding row ({rs['finding_rows']} rows), augment "
        f"{ra['catalog_write'] / max(1, ra['written_rows']) * 1e6:.1f} us/sample ({ra['written_rows']} rows)"
    )
    p = results["projection"]
    print(
        f"\nprojection, {p['nodes']} nodes x {p['cores_per_node']} cores: "
        f"{p['total_cluster_s']} s vs {p['total_local_s']} s here -> {p['speedup']}x"
    )
    print(json.dumps(p["stages"], indent=1))
    print("checks:", checks)
    if not all(checks.values()):
        sys.exit("the engines disagree")


if __name__ == "__main__":
    main()
