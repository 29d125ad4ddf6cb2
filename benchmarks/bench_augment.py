"""Materialized augmentation throughput vs a plain albumentations loop.

    python benchmarks/bench_augment.py [--rgb 600] [--repeats 3] [--policy light]

For two datasets, (a) the sample digits (1437 8x8 grayscale PNGs) and (b)
generated 224x224 RGB PNGs, and one policy (default: the `light` preset):

* baseline: a plain albumentations loop, one process pinned to one core, over
  the same stored PNG bytes: decode (Pillow) -> Compose(image=...) -> encode
  PNG (the same encoder settings curate uses). What anyone writing augmented
  files needs, without any bookkeeping.
* curate, 1 worker pinned to the same core: `Workspace.augment(copies=K,
  workers=1)` (K=4 for the digits, 1 for RGB; the baseline makes as many):
  planning, validation on real images, per-sample seeding and no-op
  redraws, applied-parameter capture, lineage, sha256, pack writes and
  catalog transactions included.
* curate, 2 worker processes, allowed both cores.

Each repeat runs the three side by side on a fresh copy of an ingested
workspace; the script reports images/s and the ratios (median over repeats).
Targets (issue 5): curate/baseline >= 0.9 on one core, >= 1.7 with 2 workers.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
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


def baseline(ws, policy, copies: int = 1) -> tuple[int, float]:
    """Plain loop: stored bytes -> decode -> albumentations -> PNG bytes, ``copies`` times."""
    from curate.imaging import encode_png

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
    start = time.perf_counter()
    out = []
    for data, mode in zip(blobs * copies, modes * copies, strict=True):
        with Image.open(io.BytesIO(data)) as im:
            image = np.asarray(im.convert(mode) if im.mode != mode else im)
        out.append(encode_png(compose(image=image)["image"]))
    return len(out), time.perf_counter() - start


def curate_run(
    template: Path, scratch: Path, policy, workers: int, copies: int = 1
) -> tuple[int, float]:
    from curate.api import Workspace

    if scratch.exists():
        shutil.rmtree(scratch)
    shutil.copytree(template, scratch)
    with Workspace.open(scratch) as ws:
        start = time.perf_counter()
        report = ws.augment(policy, balance=False, copies=copies, workers=workers)
        seconds = time.perf_counter() - start
    return report.added + report.duplicates + report.unchanged, seconds


def bench(name: str, source: Path, tmp: Path, policy, repeats: int, copies: int) -> dict:
    from curate.api import Workspace

    template = tmp / f"{name}-ws"
    with Workspace.init(template) as ws:
        ws.ingest(source)
        n_images = ws.samples().num_rows
    rows = {"baseline_1core": [], "curate_1worker": [], "curate_2workers": []}
    cores = sorted(os.sched_getaffinity(0))
    one = {cores[0]}
    for _ in range(repeats):
        os.sched_setaffinity(0, one)
        with Workspace.open(template) as ws:
            n, s = baseline(ws, policy, copies)
        rows["baseline_1core"].append(n / s)
        n, s = curate_run(template, tmp / f"{name}-run", policy, 1, copies)
        rows["curate_1worker"].append(n / s)
        os.sched_setaffinity(0, set(cores[:2]))
        n, s = curate_run(template, tmp / f"{name}-run", policy, 2, copies)
        rows["curate_2workers"].append(n / s)
    os.sched_setaffinity(0, set(cores))
    ratios_1 = [c / b for c, b in zip(rows["curate_1worker"], rows["baseline_1core"], strict=True)]
    ratios_2 = [c / b for c, b in zip(rows["curate_2workers"], rows["baseline_1core"], strict=True)]
    return {
        "dataset": name,
        "images": n_images,
        "augmented_per_run": n_images * copies,
        "images_per_s": {k: round(statistics.median(v), 1) for k, v in rows.items()},
        "ratio_1worker": round(statistics.median(ratios_1), 3),
        "ratio_2workers": round(statistics.median(ratios_2), 3),
        "ratios_1worker_all": [round(r, 3) for r in ratios_1],
        "ratios_2workers_all": [round(r, 3) for r in ratios_2],
    }


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
    parser.add_argument("--policy", default="light", help="preset name or policy file")
    args = parser.parse_args()

    from curate.augment.policy import load_policy

    policy = load_policy(args.policy)
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("needs 2 cores")
    results = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        results.append(
            bench("digits 8x8 gray", DIGITS, tmp, policy, args.repeats, args.digits_copies)
        )
        rgb = make_rgb(tmp / "rgb", args.rgb)
        results.append(bench("224x224 RGB", rgb, tmp, policy, args.repeats, 1))
    print(
        f"policy {policy.name} ({policy.short_hash}), {platform.machine()}, {os.cpu_count()} CPUs"
    )
    header = f"{'dataset':<18}{'images':>7}{'baseline/s':>12}{'curate 1w/s':>13}{'curate 2w/s':>13}{'1w/base':>9}{'2w/base':>9}"
    print(header)
    for r in results:
        ips = r["images_per_s"]
        print(
            f"{r['dataset']:<18}{r['images']:>7}{ips['baseline_1core']:>12}"
            f"{ips['curate_1worker']:>13}{ips['curate_2workers']:>13}"
            f"{r['ratio_1worker']:>9}{r['ratio_2workers']:>9}"
        )
    print(json.dumps({"policy": policy.hash, "results": results}))


if __name__ == "__main__":
    main()
