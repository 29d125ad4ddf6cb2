"""Generator throughput: training and sampling images/s, naive vs optimised, side by side.

    python benchmarks/bench_synth_throughput.py [--device auto|cpu|cuda] [--big]

Shapes follow the issue: 32x32 grayscale, 10 classes.

* DDPM, a class-conditional UNet2DModel of 4.2M parameters (widths 64/128/128,
  one ResNet per block, no attention); ``--big`` adds the 35.7M one (the DDPM
  CIFAR shape: 128/256/256/256, two per block, attention).
  Training: images/s of the DDPM loss + AdamW + EMA step.
  Sampling: "naive" = DDIM 25 steps, fp32, eager; "fast" = DPM-Solver++ 10
  steps, and on CUDA bf16 autocast + channels_last + torch.compile
  (mode="reduce-overhead": CUDA graphs). Both without guidance (one UNet
  call per step); "default" = DPM-Solver++ 20 steps with guidance 2 (two).
* GAN: the built-in conditional DCGAN (width 32) at 32x32: training (one D
  and one G step per batch) and sampling images/s.

Throughput is measured by difference: a fit of W steps and a fit of W + M
steps; (M x batch) / (difference of their training-loop times) excludes
set-up and compilation.
Sampling discards a warm-up batch. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np


def fit_rate(cls, params, data, warm: int, measure: int, batch: int) -> float:
    short = cls(params, device=params_device).fit(data, steps=warm, seed=0)
    long = cls(params, device=params_device).fit(data, steps=warm + measure, seed=0)
    # FitReport.seconds times the training loop only (CUDA-synchronised)
    return measure * batch / max(long.seconds - short.seconds, 1e-9)


def sample_rate(gen, n_batches: int, batch: int) -> float:
    it = gen.sample("3", batch * (n_batches + 1), seed=0)
    next(it)  # warm-up (compilation, CUDA graph capture)
    sync()
    t = time.perf_counter()
    made = sum(len(b.images) for b in it)
    sync()
    return made / (time.perf_counter() - t)


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def main() -> None:
    global params_device
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--big", action="store_true", help="also the 35.7M-parameter UNet")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = parser.parse_args()

    import torch
    from curate_generators._torch import resolve_device
    from curate_generators.ddpm import DDPMGenerator, DDPMParams
    from curate_generators.gan import GANGenerator, GANParams

    from curate.plugins.generators import TrainingSet

    if args.threads:
        torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    params_device = str(dev)
    cuda = dev.type == "cuda"
    rng = np.random.default_rng(0)
    n = 4096 if cuda else 512
    data = TrainingSet(
        images=rng.integers(0, 256, size=(n, 32, 32, 1), dtype=np.uint8),
        labels=rng.integers(0, 10, size=n),
        class_names=tuple(str(i) for i in range(10)),
    )
    out: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "device": torch.cuda.get_device_name(dev) if cuda else f"cpu ({platform.machine()})",
        "torch_threads": torch.get_num_threads(),
        "load_average_before": [round(v, 2) for v in os.getloadavg()],
        "results": [],
    }
    shapes = [("ddpm-4.2M", {"channels": (64, 128, 128), "layers_per_block": 1})]
    if args.big:
        shapes.append(
            (
                "ddpm-35.7M",
                {"channels": (128, 256, 256, 256), "layers_per_block": 2, "attention": True},
            )
        )
    train_batch = 512 if cuda else 32
    # CPU: small counts, or a run takes an hour (a 4M UNet does ~5 train img/s on one core)
    sample_batch = 2048 if cuda else 16
    warm, measure = (20, 100) if cuda else (2, 6)
    sample_batches = 10 if cuda else 1
    for label, shape in shapes:
        base = dict(shape, norm_groups=16, batch_size=train_batch, sample_batch_size=sample_batch)
        for variant, extra in (
            ("naive fp32 eager", {"precision": "fp32", "compile": False}),
            ("bf16+compile" if cuda else "fp32 (CPU)", {"precision": "auto", "compile": cuda}),
        ):
            if not cuda and variant != "naive fp32 eager":
                continue  # on CPU both variants are the same computation
            params = DDPMParams(**base, **extra)
            rate = fit_rate(DDPMGenerator, params, data, warm, measure, train_batch)
            out["results"].append(
                {"model": label, "what": "train", "variant": variant, "images_per_s": rate}
            )
            print(f"{label} train {variant}: {rate:,.0f} img/s", flush=True)
        gen = DDPMGenerator(DDPMParams(**base), device=params_device)
        gen.fit(data, steps=1, seed=0)
        out["parameters"] = out.get("parameters", {}) | {label: gen.parameter_count()}
        for variant, extra in (
            (
                "naive: DDIM 25, fp32, eager",
                {
                    "sampler": "ddim",
                    "sampling_steps": 25,
                    "guidance_scale": 1.0,
                    "precision": "fp32",
                },
            ),
            (
                "fast: DPM-Solver++ 10" + (", bf16, compile" if cuda else ""),
                {
                    "sampler": "dpmsolver++",
                    "sampling_steps": 10,
                    "guidance_scale": 1.0,
                    "compile": cuda,
                },
            ),
            (
                "default: DPM-Solver++ 20, guidance 2" + (", bf16" if cuda else ""),
                {"sampler": "dpmsolver++", "sampling_steps": 20, "guidance_scale": 2.0},
            ),
        ):
            sampler = DDPMGenerator.from_checkpoint(
                gen.to_checkpoint(), DDPMParams(**base, **extra), device=params_device
            )
            rate = sample_rate(sampler, sample_batches, sample_batch)
            out["results"].append(
                {"model": label, "what": "sample", "variant": variant, "images_per_s": rate}
            )
            print(f"{label} sample {variant}: {rate:,.0f} img/s", flush=True)

    gan_batch = 1024 if cuda else 128
    gparams = GANParams(
        width=32, batch_size=gan_batch, sample_batch_size=16384 if cuda else 1024, compile=cuda
    )
    rate = fit_rate(GANGenerator, gparams, data, 5 if cuda else 2, 50 if cuda else 10, gan_batch)
    out["results"].append(
        {"model": "gan", "what": "train", "variant": "default", "images_per_s": rate}
    )
    print(f"gan train: {rate:,.0f} img/s", flush=True)
    gan = GANGenerator(gparams, device=params_device)
    gan.fit(data, steps=1, seed=0)
    rate = sample_rate(gan, 10 if cuda else 5, gparams.sample_batch_size)
    out["results"].append(
        {"model": "gan", "what": "sample", "variant": "default", "images_per_s": rate}
    )
    print(f"gan sample: {rate:,.0f} img/s", flush=True)
    out["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    for r in out["results"]:
        r["images_per_s"] = round(r["images_per_s"], 1)
    print(json.dumps(out, indent=2))


params_device = "cpu"

if __name__ == "__main__":
    main()
