"""Augmentation policies from Python: build, save, validate, preview, materialize, replay, train.

    python docs/examples/augment_policy.py [--out DIR]

Uses the sample digits shipped in the repository (nothing is downloaded) and
writes a workspace, a policy file and a preview grid under DIR (default: a
temporary folder).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import curate

REPO = Path(__file__).resolve().parents[2]


def main(out: Path) -> None:
    # 1. A workspace with the sample digits (classes 2, 5 and 9 are rare), split
    #    first: augmentation only uses train samples as parents, so val and test
    #    keep real images of every class (augmenting before splitting would put
    #    all of a rare class in train, next to the samples made from it).
    ws = curate.Workspace.init(out / "ws")
    ws.ingest(REPO / "sample_data" / "digits")
    ws.split("0.8,0.1,0.1", seed=0)
    ws.commit("digits, split")
    print("classes before:", ws.status().classes)

    # 2. A policy in Python: albumentations transforms by name, with a
    #    stronger pipeline for the rarest class. Creating it builds the
    #    pipeline, so a typo or a bad value fails here, naming the field.
    policy = curate.Policy(
        name="digits",
        seed=7,
        pipeline=[
            {
                "transform": "Affine",
                "rotate": [-12, 12],
                "translate_percent": [-0.08, 0.08],
                "p": 0.9,
            },
            {"transform": "RandomBrightnessContrast", "brightness_limit": 0.15, "p": 0.5},
        ],
        classes={
            "5": {
                "pipeline": [
                    {"transform": "Affine", "rotate": [-20, 20], "shear": [-8, 8], "p": 1.0}
                ]
            }
        },
    )
    path = policy.save(out / "digits.yaml")
    assert curate.load_policy(path) == policy  # the YAML round trip is exact
    print(f"policy {policy.name}: hash {policy.short_hash}, saved to {path}")

    # 3. Validation reports every problem with the path of its field.
    from curate.augment import validate_policy_text

    bad = "name: bad\npipeline:\n  - {transform: Rotat, limit: 10}\n  - {transform: Blur, p: 1.5}\n"
    for issue in validate_policy_text(bad):
        print("  invalid:", issue)

    # 4. Preview: originals of the rare class next to augmented views.
    grid = ws.augment_preview(policy, class_name="5", n=8, views=3)
    grid.save(out / "preview.png")
    print("preview written to", out / "preview.png")

    # 5. Materialize: every class topped up to 150 train samples, as pending
    #    changes with lineage (parent, policy hash, seed, applied parameters).
    report = ws.augment(policy, balance=True, target_per_class=150)
    print(
        f"added {report.added} samples in {report.seconds:.1f}s ({report.images_per_second:.0f}/s)"
    )
    for warning in report.warnings:  # e.g. augmenting before any split
        print("  warning:", warning)
    print("classes after:", ws.status().classes)

    # 6. Any augmented sample replays bit for bit from its recipe.
    sid = ws.samples(origins=["augmented"]).column("sid")[0].as_py()
    check = ws.verify_replay(sid)
    print(f"replay of sample {sid}: identical={check.identical}")

    # 7. Online: the same policy inside a DataLoader, reproducible per worker.
    ws.commit("digits balanced with policy digits")
    dataset = ws.version("HEAD").to_torch("train", transform=policy)
    from torch.utils.data import DataLoader

    loader = DataLoader(dataset, batch_size=64, num_workers=2, collate_fn=list)
    first_batch = next(iter(loader))
    print(f"online: {len(dataset)} train samples, first batch of {len(first_batch)}")
    ws.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        main(args.out)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
