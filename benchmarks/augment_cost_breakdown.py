"""Where the augmentation worker's per-sample work goes, counted in instructions.

    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \\
        <python binary> benchmarks/augment_cost_breakdown.py MODE --copies K [--without PART ...]

Runs one thing over the sample digits, K augmented copies per image, with
the `light` preset, and nothing else worth counting:

* ``worker``: ``curate.augment.engine.augment_batch`` over the jobs (what a
  worker process does: decode, seeded draws, redraws, encode, sha256, recipe,
  result rows), batches of 256, no catalog and no writer;
* ``loop``: a plain loop, decode -> Compose -> PNG encode (no redraws).

Per-image instructions = (count at --copies 4 - count at --copies 1) / (1437 x 3),
which cancels the imports and the ingest. ``--without reseed`` /
``--without recipe`` replace that part of the worker with a no-op, so the
difference to a full ``worker`` count is what the part costs. (These
outputs are not valid samples; this is an analysis, not a benchmark of
curate.) Counts do not depend on the machine's load, unlike wall time.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import pyarrow as pa

DIGITS = Path(__file__).resolve().parent.parent / "sample_data" / "digits"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("worker", "loop"))
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--without", nargs="*", choices=("reseed", "recipe"), default=[])
    args = parser.parse_args()

    import curate.augment.build as build
    import curate.augment.engine as engine
    from curate.api import Workspace
    from curate.augment.policy import load_policy
    from curate.engines.packs import PackReader
    from curate.imaging import decode, encode_png

    if "reseed" in args.without:
        build._SharedRandom.reseed = lambda self, seed: None
    if "recipe" in args.without:
        build.recipe_json = lambda recipe, applied: ""

    policy = load_policy("light")
    k = args.copies
    with tempfile.TemporaryDirectory() as tmp, Workspace.init(Path(tmp) / "ws") as ws:
        ws.ingest(DIGITS)
        table = ws.samples(origins=["original"])
        where = list(
            zip(
                table.column("pack").to_pylist(),
                table.column("pack_offset").to_pylist(),
                table.column("nbytes").to_pylist(),
                strict=True,
            )
        )
        if args.mode == "loop":
            compose = policy.compile(seed=0)
            blobs = [ws.objects.read(*w) for w in where]
            for data in blobs * k:
                image = decode(data)
                encode_png(compose(image=image)["image"])
            return
        n = table.num_rows
        jobs = pa.table(
            {
                "index": pa.array(range(n * k), pa.int64()),
                "parent_id": table.column("sample_id").to_pylist() * k,
                "pack": [w[0] for w in where] * k,
                "offset": pa.array([w[1] for w in where] * k, pa.int64()),
                "nbytes": pa.array([w[2] for w in where] * k, pa.int64()),
                "mode": ["L"] * (n * k),
                "key": ["default"] * (n * k),
                # copy-major, as copies mode orders its jobs: no parent twice in a batch
                "copy": pa.array([c for c in range(k) for _ in range(n)], pa.int64()),
            },
            schema=engine.JOB_SCHEMA,
        )
        doc = json.dumps(policy.to_document(), sort_keys=True)
        base = {
            "kind": "augment",
            "policy": policy.hash,
            "policy_name": policy.name,
            "albumentations": build.albumentations().__version__,
        }
        context = (doc, PackReader(ws.objects.packs_dir.resolve().as_uri()), base)
        for start in range(0, jobs.num_rows, 256):
            engine.augment_batch(jobs.slice(start, 256), context)


if __name__ == "__main__":
    main()
