"""Materialized augmentation throughput vs a plain albumentations loop.

    python benchmarks/bench_augment.py [--rgb 600] [--repeats 3] [--policy light]
                                       [--datasets digits rgb]

For two datasets, (a) the sample digits (1437 8x8 grayscale PNGs) and (b)
generated 224x224 RGB PNGs, and one policy (default: the `light` preset):

* baseline: a plain albumentations loop, one process pinned to one core, over
  the same stored PNG bytes: decode -> Compose(image=...) -> encode PNG
  (curate's own decode and encode functions, so the same codecs: libpng
  through OpenCV for plain grey/RGB PNGs, Pillow otherwise), kept in memory. The targets are
  judged against this one: it is the augmentation work alone.
* baseline with redraws (context, not the target): the same loop, drawing
  again when a draw left the image unchanged, as curate does. Its outputs
  are the kind curate makes; unchanged copies are cheap to make (a smooth
  224x224 original encodes ~4x faster than a rotated one), so this loop is
  slower than the plain one.
* baseline with files: the same loop writing one PNG file per image, as a
  script producing augmented images would (context, not the target).
* curate, 1 worker pinned to the same core: `Workspace.augment(copies=K,
  workers=1)` (K=4 for the digits, 1 for RGB; the baseline makes as many):
  planning, validation on real images, per-sample seeding and no-op
  redraws, applied-parameter capture, lineage, sha256, pack writes with
  fsync, catalog transactions and closing the workspace (DuckDB's
  checkpoint of what the run wrote) included.
* curate, 2 worker processes, allowed both cores.

Decode and encode are in the baseline on purpose: a loop that materializes
augmented images has to read its inputs and write its outputs, and curate
does exactly the same decode and PNG encode per sample. What the
ratios measure is what curate adds on top: its bookkeeping, its per-sample
reseeding (the price of replaying any sample alone, with any worker count)
and the redraw of draws that change nothing (the plain loop keeps those as
unchanged copies, ~10% of its outputs with the light preset).

Each repeat runs the five side by side (every other repeat in reverse
order) on a fresh copy of an ingested workspace, after one untimed warm-up
round (``--warmup``: one-time imports, such as pyarrow's lazy import of
pandas on curate's first Arrow array, are no part of throughput), with every thread of the process pinned; the
script reports images/s and the ratios (median over repeats, each repeat's
ratio taken within it), the ratios of the best run of each (the least
disturbed on a shared machine) and every repeat's ratio.
Targets (issue 5): curate/baseline >= 0.9 on one core, >= 1.7 with 2 workers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
DIGITS = REPO / "sample_data" / "digits"


def make_rgb(root: Path, n: int, size: int = 224) -> Path:
    """Smooth colour images with shapes (compress like photos, not like noise)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    for i in range(n):
        a, b, c = rng.uniform(0.5, 3.0, 3)
        img = np.stack(
            [
                np.sin(a * np.pi * xx + i) * 0.5 + 0.5,
                np.cos(b * np.pi * yy - i) * 0.5 + 0.5,
                np.sin(c * np.pi * (xx + yy)) * 0.5 + 0.5,
            ],
            axis=-1,
        )
        img = (img * 255).astype(np.uint8)
        y, x = rng.integers(20, size - 80, 2)
        img[y : y + 60, x : x + 40] = rng.integers(0, 255, 3)
        path = root / f"c{i % 4}" / f"{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(path)
    return root


def cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the worker pool is shut down per run)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def baseline(
    ws, policy, out_dir: Path | None, copies: int = 1, *, redraw: bool = False
) -> tuple[int, float, float]:
    """Plain loop: stored bytes -> decode -> albumentations -> PNG bytes, ``copies`` times.

    With ``out_dir``, each PNG is also written to its own file there. With
    ``redraw``, a draw that left the image unchanged is drawn again, as
    curate does: the loop then makes the same kind of outputs as curate.
    """
    from curate.imaging import decode, encode_png

    table = ws.samples(origins=["original"])
    blobs = [
        ws.objects.read(p, o, n)
        for p, o, n in zip(
            table.column("pack").to_pylist(),
            table.column("pack_offset").to_pylist(),
            table.column("nbytes").to_pylist(),
            strict=True,
        )
    ]
    modes = ["L" if m == "L" else "RGB" for m in table.column("mode").to_pylist()]
    compose = policy.compile(seed=0)
    cpu = cpu_seconds()
    start = time.perf_counter()
    if out_dir is not None:
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.mkdir(parents=True)
    count = 0
    for data, mode in zip(blobs * copies, modes * copies, strict=True):
        image = decode(data, mode=mode)
        out = compose(image=image)["image"]
        while redraw and out.shape == image.shape and np.array_equal(out, image):
            out = compose(image=image)["image"]
        png = encode_png(out)
        if out_dir is not None:
            (out_dir / f"{count:07d}.png").write_bytes(png)
        count += 1
    return count, time.perf_counter() - start, cpu_seconds() - cpu


def curate_run(
    template: Path, scratch: Path, policy, workers: int, copies: int = 1
) -> tuple[int, float, float]:
    from curate.api import Workspace

    if scratch.exists():
        shutil.rmtree(scratch)
    shutil.copytree(template, scratch)
    ws = Workspace.open(scratch)
    cpu = cpu_seconds()
    start = time.perf_counter()
    try:
        report = ws.augment(policy, balance=False, copies=copies, workers=workers)
    finally:
        ws.close()  # the catalog's checkpoint is part of storing the samples
    seconds = time.perf_counter() - start
    cpu = cpu_seconds() - cpu
    return report.added + report.duplicates + report.unchanged, seconds, cpu


def pin(cores: set[int]) -> None:
    """Move every thread of this process to ``cores``.

    ``os.sched_setaffinity(0, ...)`` moves the calling thread only (Linux), and
    threads started before it (OpenBLAS's, OpenCV's, DuckDB's) would keep
    running on the other core: a "one core" run would not be one.
    """
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):  # the thread ended meanwhile
            os.sched_setaffinity(int(tid), cores)


def bench(
    name: str, source: Path, tmp: Path, policy, repeats: int, copies: int, warmup: int = 1
) -> dict:
    from curate.api import Workspace

    template = tmp / f"{name}-ws"
    with Workspace.init(template) as ws:
        ws.ingest(source)
        n_images = ws.samples().num_rows
    names = (
        "baseline_1core",
        "baseline_redraw_1core",
        "baseline_files_1core",
        "curate_1worker",
        "curate_2workers",
    )
    wall: dict[str, list[float]] = {k: [] for k in names}  # images per wall second
    cpu: dict[str, list[float]] = {k: [] for k in names}  # images per CPU second
    cores = sorted(os.sched_getaffinity(0))
    load = []

    def plain(out_dir: Path | None = None, redraw: bool = False):
        def run():
            with Workspace.open(template) as ws:
                return baseline(ws, policy, out_dir, copies, redraw=redraw)

        return run

    def with_curate(workers: int):
        return lambda: curate_run(template, tmp / f"{name}-run", policy, workers, copies)

    one, two = {cores[0]}, set(cores[:2])
    configs = [  # (name, cores it may use, run)
        ("baseline_1core", one, plain()),
        ("baseline_redraw_1core", one, plain(redraw=True)),
        ("baseline_files_1core", one, plain(tmp / f"{name}-plain")),
        ("curate_1worker", one, with_curate(1)),
        ("curate_2workers", two, with_curate(2)),
    ]
    for repeat in range(-warmup, repeats):
        if repeat >= 0:
            load.append(os.getloadavg()[0])
        # Every other repeat in reverse order: a machine that speeds up or slows
        # down during a repeat favours neither side.
        runs = {}
        for key, allowed, run in configs if repeat % 2 == 0 else configs[::-1]:
            pin(allowed)
            runs[key] = run()
        if repeat < 0:  # warm-up: one-time imports and caches, in neither side's figures
            continue
        for key, (n, seconds, cpu_s) in runs.items():
            wall[key].append(n / seconds)
            cpu[key].append(n / cpu_s)
    pin(set(cores))

    def ratio(table: dict[str, list[float]], key: str, base="baseline_1core") -> list[float]:
        return [c / b for c, b in zip(table[key], table[base], strict=True)]

    return {
        "dataset": name,
        "images": n_images,
        "augmented_per_run": n_images * copies,
        "images_per_s": {k: round(statistics.median(v), 1) for k, v in wall.items()},
        "images_per_cpu_s": {k: round(statistics.median(v), 1) for k, v in cpu.items()},
        "ratio_1worker": round(statistics.median(ratio(wall, "curate_1worker")), 3),
        "ratio_2workers": round(statistics.median(ratio(wall, "curate_2workers")), 3),
        "cpu_ratio_1worker": round(statistics.median(ratio(cpu, "curate_1worker")), 3),
        "cpu_ratio_2workers": round(statistics.median(ratio(cpu, "curate_2workers")), 3),
        "ratio_1worker_vs_redraw": round(
            statistics.median(ratio(wall, "curate_1worker", "baseline_redraw_1core")), 3
        ),
        "ratio_2workers_vs_redraw": round(
            statistics.median(ratio(wall, "curate_2workers", "baseline_redraw_1core")), 3
        ),
        "cpu_ratio_1worker_vs_redraw": round(
            statistics.median(ratio(cpu, "curate_1worker", "baseline_redraw_1core")), 3
        ),
        "ratio_1worker_vs_files": round(
            statistics.median(ratio(wall, "curate_1worker", "baseline_files_1core")), 3
        ),
        # Best run of each (timeit's rule on a shared machine: the least disturbed run).
        "best_images_per_s": {k: round(max(v), 1) for k, v in wall.items()},
        "best_ratio_1worker": round(max(wall["curate_1worker"]) / max(wall["baseline_1core"]), 3),
        "best_ratio_2workers": round(max(wall["curate_2workers"]) / max(wall["baseline_1core"]), 3),
        "ratios_1worker_all": [round(r, 3) for r in ratio(wall, "curate_1worker")],
        "ratios_2workers_all": [round(r, 3) for r in ratio(wall, "curate_2workers")],
        "load_average_1min": [round(x, 2) for x in load],
    }


def single(mode: str, policy, copies: int) -> None:
    """One run, for counting instructions: `none` does the set-up alone."""
    import curate.augment.engine as engine
    from curate.api import Workspace
    from curate.augment.build import albumentations

    albumentations()  # imported in every mode, like the set-up
    # Under valgrind a run is ~50x slower: groups of results written every few
    # seconds would be many more than in a real run. Count and size rules only.
    engine.WRITE_SECONDS = float("inf")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with Workspace.init(tmp / "ws") as ws:
            ws.ingest(DIGITS)
        if mode == "curate":
            n, seconds, _ = curate_run(tmp / "ws", tmp / "run", policy, 1, copies)
        else:
            shutil.copytree(tmp / "ws", tmp / "run")
            with Workspace.open(tmp / "run") as ws:
                n, seconds, _ = baseline(ws, policy, None, copies if mode == "baseline" else 0)
    print(json.dumps({"mode": mode, "copies": copies, "images": n, "seconds": round(seconds, 3)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rgb", type=int, default=600, help="generated 224x224 RGB images")
    parser.add_argument(
        "--digits-copies",
        type=int,
        default=4,
        help="augmented copies per digit (1437 images x 4 = 5748 per run: a run of ~1 s "
        "would mostly measure the fixed ~0.2 s of planning and catalog writes)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed rounds of every configuration first (one-time imports such as "
        "pyarrow's lazy pandas import, ~0.4 s, and caches; 0 to time a cold first run)",
    )
    parser.add_argument("--policy", default="light", help="preset name or policy file")
    parser.add_argument(
        "--datasets", nargs="+", choices=("digits", "rgb"), default=["digits", "rgb"]
    )
    parser.add_argument(
        "--single",
        choices=("none", "baseline", "curate"),
        help="one run on the digits, nothing else (the ingest and workspace copy happen "
        "in every mode): to count instructions, which a shared machine does not disturb, "
        "e.g. under `valgrind --tool=cachegrind --cache-sim=no`; per-image cost = "
        "difference between two --digits-copies / (1437 x their difference)",
    )
    args = parser.parse_args()

    from curate.augment.policy import load_policy

    policy = load_policy(args.policy)
    if args.single:
        single(args.single, policy, args.digits_copies)
        return
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("needs 2 cores")
    results = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if "digits" in args.datasets:
            results.append(
                bench(
                    "digits 8x8 gray",
                    DIGITS,
                    tmp,
                    policy,
                    args.repeats,
                    args.digits_copies,
                    args.warmup,
                )
            )
        if "rgb" in args.datasets:
            rgb = make_rgb(tmp / "rgb", args.rgb)
            results.append(bench("224x224 RGB", rgb, tmp, policy, args.repeats, 1, args.warmup))
    print(
        f"policy {policy.name} ({policy.short_hash}), {platform.machine()}, {os.cpu_count()} CPUs"
    )
    print("images/s (wall); in brackets: the ratio per CPU-second (overhead alone)")
    head = ["dataset", "images", "baseline/s", "curate 1w/s", "curate 2w/s", "1w/base", "2w/base"]
    print("{:<18}{:>7}{:>12}{:>13}{:>13}{:>16}{:>16}".format(*head))
    for r in results:
        ips = r["images_per_s"]
        print(
            f"{r['dataset']:<18}{r['augmented_per_run']:>7}{ips['baseline_1core']:>12}"
            f"{ips['curate_1worker']:>13}{ips['curate_2workers']:>13}"
            f"{r['ratio_1worker']:>8} [{r['cpu_ratio_1worker']:.2f}]"
            f"{r['ratio_2workers']:>8} [{r['cpu_ratio_2workers']:.2f}]"
        )
    for r in results:
        best = r["best_images_per_s"]
        print(
            f"{r['dataset']}: best runs {best['baseline_1core']} / {best['curate_1worker']} / "
            f"{best['curate_2workers']} images/s; ratios of the best runs: 1 worker "
            f"{r['best_ratio_1worker']}, 2 workers {r['best_ratio_2workers']}"
        )
    for r in results:
        print(
            f"{r['dataset']}: plain loop redrawing unchanged outputs (as curate does) "
            f"{r['images_per_s']['baseline_redraw_1core']}/s; curate / that loop: "
            f"1 worker {r['ratio_1worker_vs_redraw']} [{r['cpu_ratio_1worker_vs_redraw']:.2f}], "
            f"2 workers {r['ratio_2workers_vs_redraw']}"
        )
    for r in results:
        print(
            f"{r['dataset']}: plain loop writing one file per image "
            f"{r['images_per_s']['baseline_files_1core']}/s; curate 1 worker / that loop "
            f"{r['ratio_1worker_vs_files']}"
        )
    print("1-min load average before each repeat:", [r["load_average_1min"] for r in results])
    print(json.dumps({"policy": policy.hash, "results": results}))


if __name__ == "__main__":
    main()
