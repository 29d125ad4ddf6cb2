"""Does sample quality hold when the DDPM sampler takes fewer steps?

    python benchmarks/bench_synth_steps.py [--fit-steps 600] [--per-class 50] [--threads 1]

Fits the built-in class-conditional DDPM once on ``sample_data/digits``
(true labels from ``ground_truth.csv``, 8x8 grayscale), then samples
``--per-class`` images of every class with several solvers and step counts.
Quality = the share of generated images that a classifier trained on the
real images (curate's scan classifier, the one the synthesis gate uses)
assigns to the class they were asked for, and their mean confidence; speed =
images/s of that sampling run (same machine, same run: compare the ratios).
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent

SOLVERS = [
    ("ddim", 25, 2.0),
    ("dpmsolver++", 20, 2.0),
    ("dpmsolver++", 10, 2.0),
    ("dpmsolver++", 5, 2.0),
    ("dpmsolver++", 10, 1.0),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit-steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--per-class", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    import torch
    from curate_generators.ddpm import DDPMGenerator, DDPMParams
    from PIL import Image

    from curate.plugins.generators import TrainingSet
    from curate.scan.classifier import train_classifier

    torch.set_num_threads(args.threads)
    rows = list(csv.DictReader((REPO / "sample_data" / "ground_truth.csv").open()))
    images = np.stack([np.asarray(Image.open(REPO / "sample_data" / r["path"])) for r in rows])[
        ..., None
    ]
    labels = np.asarray([int(r["true_label"]) for r in rows])
    names = tuple(str(i) for i in range(10))
    clf = train_classifier(images, labels, device="cpu", seed=0)

    t = time.perf_counter()
    gen = DDPMGenerator(DDPMParams(batch_size=args.batch_size), device=args.device)
    fit = gen.fit(TrainingSet(images, labels, names), steps=args.fit_steps, seed=0)
    report: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "load_average_before": [round(v, 2) for v in os.getloadavg()],
        "device": gen.device,
        "fit": {"steps": fit.steps, "seconds": fit.seconds, "loss": fit.final_loss},
        "parameters": gen.parameter_count(),
        "solvers": [],
    }
    print(f"fitted in {time.perf_counter() - t:.0f}s", flush=True)
    ckpt = gen.to_checkpoint()
    for sampler, steps, guidance in SOLVERS:
        params = DDPMParams(
            batch_size=args.batch_size,
            sampler=sampler,
            sampling_steps=steps,
            guidance_scale=guidance,
        )
        model = DDPMGenerator.from_checkpoint(ckpt, params, device=args.device)
        t = time.perf_counter()
        made = {
            c: np.concatenate([b.images for b in model.sample(c, args.per_class, seed=1)])
            for c in names
        }
        seconds = time.perf_counter() - t
        hits, conf = [], []
        for i, c in enumerate(names):
            proba = clf.predict_proba(made[c])
            hits.append(float((proba.argmax(1) == i).mean()))
            conf.append(float(proba[:, i].mean()))
        row = {
            "sampler": sampler,
            "steps": steps,
            "guidance": guidance,
            "accuracy": round(float(np.mean(hits)), 4),
            "worst_class_accuracy": round(float(np.min(hits)), 4),
            "mean_confidence": round(float(np.mean(conf)), 4),
            "images_per_s": round(10 * args.per_class / seconds, 1),
        }
        report["solvers"].append(row)
        print(json.dumps(row), flush=True)
    report["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
