"""Balancing a rare class: curate vs a plain albumentations loop, one core.

    python benchmarks/bench_augment_balance.py [--keep 10] [--target 5000] [--repeats 3]

The use the augmentation engine is built for: one class has a handful of
train images (``--keep`` of the sample digits' class 3) and is topped up to
``--target`` samples with the `light` preset, so each parent is augmented
hundreds of times. Side by side in each repeat, in one process pinned to
one core:

* plain loop: decode each parent once, then for each new sample (parents
  taken in turn) Compose(image=...) -> PNG encode (curate's encoder
  settings), drawing again when a draw left the image unchanged (curate
  stores no unchanged copies, so the loop makes the same kind of outputs);
* curate: ``Workspace.augment(balance=True, target_per_class=N, classes=[...],
  workers=1)`` on a fresh copy of the workspace, everything included
  (planning, checks, per-sample seeding, lineage, sha256, packs with fsync,
  catalog transactions, closing the workspace).

Reports images/s of each and their ratio (median over repeats, each repeat's
ratio taken within it). Context for issue 5's throughput targets, which the
copies-mode benchmark (`bench_augment.py`) measures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_augment import DIGITS, pin  # noqa: E402

RARE = "3"


def make_workspace(root: Path, keep: int) -> Path:
    from curate.api import Workspace

    source = root / "digits"
    shutil.copytree(DIGITS, source)
    for path in sorted((source / RARE).glob("*.png"))[keep:]:
        path.unlink()
    with Workspace.init(root / "template") as ws:
        ws.ingest(source)
    return root / "template"


def plain_loop(template: Path, policy, n: int) -> tuple[int, float]:
    from curate.api import Workspace
    from curate.imaging import decode, encode_png

    with Workspace.open(template) as ws:
        table = ws.samples(origins=["original"])
        rows = [r for r in table.to_pylist() if r["label"] == RARE]
        blobs = [ws.objects.read(r["pack"], r["pack_offset"], r["nbytes"]) for r in rows]
    compose = policy.compile(seed=0)
    start = time.perf_counter()
    images = []
    for data in blobs:
        images.append(decode(data, mode="L"))  # curate's decoder, so the same codec
    for k in range(n):
        image = images[k % len(images)]
        out = compose(image=image)["image"]
        while out.shape == image.shape and np.array_equal(out, image):
            out = compose(image=image)["image"]
        encode_png(out)
    return n, time.perf_counter() - start


def curate_balance(template: Path, scratch: Path, policy, target: int) -> tuple[int, float]:
    from curate.api import Workspace

    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(template, scratch)
    ws = Workspace.open(scratch)
    start = time.perf_counter()
    try:
        report = ws.augment(
            policy, balance=True, target_per_class=target, classes=[RARE], workers=1
        )
    finally:
        ws.close()
    return report.added, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=int, default=10, help="train images left in class 3")
    parser.add_argument("--target", type=int, default=5000, help="samples class 3 is topped up to")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--policy", default="light", help="preset name or policy file")
    args = parser.parse_args()

    from curate.augment.policy import load_policy

    policy = load_policy(args.policy)
    pin({sorted(os.sched_getaffinity(0))[0]})
    loop_rate: list[float] = []
    curate_rate: list[float] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        template = make_workspace(tmp, args.keep)
        pin({sorted(os.sched_getaffinity(0))[0]})  # threads the ingest started, too
        for repeat in range(-1, args.repeats):  # one untimed warm-up round
            added, seconds = curate_balance(template, tmp / "run", policy, args.target)
            n, loop_seconds = plain_loop(template, policy, added)
            if repeat >= 0:
                curate_rate.append(added / seconds)
                loop_rate.append(n / loop_seconds)
    ratios = [c / b for c, b in zip(curate_rate, loop_rate, strict=True)]
    result = {
        "policy": policy.name,
        "parents": args.keep,
        "added_per_run": added,
        "loop_images_per_s": round(statistics.median(loop_rate), 1),
        "curate_images_per_s": round(statistics.median(curate_rate), 1),
        "ratio": round(statistics.median(ratios), 3),
        "ratios_all": [round(r, 3) for r in ratios],
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(
        f"class {RARE}: {args.keep} parents -> +{added} samples ({policy.name}); "
        f"plain loop {result['loop_images_per_s']}/s, curate 1 worker "
        f"{result['curate_images_per_s']}/s, curate / loop {result['ratio']} "
        f"(repeats: {result['ratios_all']})"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
