"""Does synthesis help? The sample digits with one class cut to ~10%, four ways.

    python benchmarks/bench_synth_helps.py [--cut 3] [--keep 0.1] [--seeds 3]
        [--gan-steps 1500] [--ddpm-steps 0] [--threads 1]

Data: ``sample_data/digits`` with the TRUE labels from ``ground_truth.csv``
(the label noise is another benchmark's subject). A stratified 30% is held
out as a clean test split; from the rest, class ``--cut`` keeps ``--keep`` of
its images. Both go into a curate workspace (train/ and test/ splits), so the
synthesis gate checks leakage against the test split for real.

Arms, each trained with the same downstream classifier (a small CNN, fixed
epochs, plain cross-entropy) over ``--seeds`` seeds:

* ``baseline``: the imbalanced train split as is;
* ``augment``: + ``ws.augment("light", classes=[cut])`` up to the largest
  class (curate's augmentation engine; no synthesis);
* ``synth-gan``: + the samples ``ws.synthesize(generator="gan")`` admitted
  (count from the balancing plan, ``fill`` on);
* ``synth-ddpm``: + the DDPM's admitted samples (only with ``--ddpm-steps``
  > 0; slow on a CPU).

Reports the cut class's recall and the macro-F1 on the clean test split
(mean and standard deviation over seeds), plus the gate's admitted/rejected
counts. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def load_digits_true() -> tuple[list[Path], np.ndarray]:
    rows = list(csv.DictReader((REPO / "sample_data" / "ground_truth.csv").open()))
    paths = [REPO / "sample_data" / r["path"] for r in rows]
    return paths, np.asarray([int(r["true_label"]) for r in rows])


def build_split(out: Path, cut: int, keep: float, seed: int) -> dict:
    """Write out/train/<label>/ and out/test/<label>/ copies; return counts."""
    paths, labels = load_digits_true()
    rng = np.random.default_rng(seed)
    test_idx, train_idx = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(round(0.3 * len(idx)))
        test_idx += list(idx[:n_test])
        rest = idx[n_test:]
        if c == cut:
            rest = rest[: max(2, int(round(keep * len(rest))))]
        train_idx += list(rest)
    for split, idx in (("train", train_idx), ("test", test_idx)):
        for i in idx:
            dst = out / split / str(labels[i]) / paths[i].name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(paths[i], dst)
    return {
        "train": int(len(train_idx)),
        "test": int(len(test_idx)),
        "cut_class_train": int(sum(labels[i] == cut for i in train_idx)),
        "cut_class_test": int(sum(labels[i] == cut for i in test_idx)),
    }


def arrays(ws, split: str) -> tuple[np.ndarray, np.ndarray]:
    table = ws.samples(split=split)
    images = ws.load_pixels(table, size=(8, 8), mode="L")
    names = [int(n) for n in table.column("label").to_pylist()]
    return images, np.asarray(names)


def train_eval(x_tr, y_tr, x_te, y_te, cut: int, seed: int, epochs: int) -> dict:
    import torch
    import torch.nn.functional as F
    from sklearn.metrics import f1_score, recall_score
    from torch import nn

    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 16, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )
    x = torch.from_numpy(x_tr).permute(0, 3, 1, 2).float() / 255.0
    y = torch.from_numpy(y_tr).long()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), 64):
            idx = perm[start : start + 64]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        xt = torch.from_numpy(x_te).permute(0, 3, 1, 2).float() / 255.0
        pred = model(xt).argmax(1).numpy()
    return {
        "cut_recall": float(recall_score(y_te, pred, labels=[cut], average="macro")),
        "macro_f1": float(f1_score(y_te, pred, average="macro")),
        "accuracy": float((pred == y_te).mean()),
    }


def summarise(runs: list[dict]) -> dict:
    out = {}
    for key in runs[0]:
        vals = np.asarray([r[key] for r in runs])
        out[key] = {"mean": round(float(vals.mean()), 4), "std": round(float(vals.std()), 4)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cut", type=int, default=3, help="the class to make rare")
    parser.add_argument("--keep", type=float, default=0.1, help="share of it kept in train")
    parser.add_argument("--seeds", type=int, default=3, help="downstream training seeds")
    parser.add_argument("--epochs", type=int, default=30, help="downstream training epochs")
    parser.add_argument("--gan-steps", type=int, default=1500)
    parser.add_argument("--ddpm-steps", type=int, default=0, help="0: skip the DDPM arm")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    import torch

    from curate.api import Workspace

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="curate-bench-synth-"))
    cut = str(args.cut)
    report: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "load_average_before": [round(v, 2) for v in os.getloadavg()],
        "args": vars(args),
        "arms": {},
    }
    try:
        counts = build_split(root / "data", args.cut, args.keep, seed=0)
        report["data"] = counts
        extra: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        gates: dict[str, dict] = {}

        def workspace(name: str):
            ws = Workspace.init(root / name)
            ws.ingest(root / "data")
            return ws

        with workspace("baseline") as ws:
            x_tr, y_tr = arrays(ws, "train")
            x_te, y_te = arrays(ws, "test")

        t = time.perf_counter()
        with workspace("augment") as ws:
            ws.augment("light", classes=[cut])
            table = ws.samples(split="train", origins=["augmented"])
            extra["augment"] = (
                ws.load_pixels(table, size=(8, 8), mode="L"),
                np.full(table.num_rows, args.cut),
            )
        gates["augment"] = {
            "added": int(len(extra["augment"][1])),
            "seconds": round(time.perf_counter() - t, 1),
        }

        generators = [("synth-gan", "gan", args.gan_steps)]
        if args.ddpm_steps > 0:
            generators.append(("synth-ddpm", "ddpm", args.ddpm_steps))
        for arm, generator, steps in generators:
            t = time.perf_counter()
            with workspace(arm) as ws:
                result = ws.synthesize(
                    generator=generator,
                    classes=[cut],
                    fit_steps=steps,
                    fill=True,
                    device=args.device,
                    seed=0,
                )
                table = ws.samples(split="train", origins=["synthetic"])
                extra[arm] = (
                    ws.load_pixels(table, size=(8, 8), mode="L"),
                    np.full(table.num_rows, args.cut),
                )
            (outcome,) = result.classes
            gates[arm] = {
                "requested": outcome.requested,
                "generated": outcome.generated,
                "admitted": outcome.admitted,
                "rejected": outcome.rejected,
                "reasons": outcome.reasons,
                "mean_confidence": outcome.mean_confidence,
                "feature_distance": outcome.feature_distance,
                "real_split_half_distance": outcome.real_split_half_distance,
                "near_duplicate_distance": result.near_duplicate_distance,
                "leakage_checked": result.leakage_checked,
                "seconds": round(time.perf_counter() - t, 1),
                "fit_seconds": result.fit.seconds if result.fit else None,
            }
            print(f"{arm}: {json.dumps(gates[arm])}", flush=True)
        report["gates"] = gates

        arms = {"baseline": (x_tr, y_tr)}
        for name, (xe, ye) in extra.items():
            arms[name] = (np.concatenate([x_tr, xe]), np.concatenate([y_tr, ye]))
        for name, (xa, ya) in arms.items():
            runs = [
                train_eval(xa, ya, x_te, y_te, args.cut, seed, args.epochs)
                for seed in range(args.seeds)
            ]
            report["arms"][name] = {"train_size": int(len(ya)), **summarise(runs)}
            print(f"{name}: {json.dumps(report['arms'][name])}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
