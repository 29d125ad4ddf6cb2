"""Generator throughput: training and sampling images/s, naive vs optimised, side by side.

    python benchmarks/bench_synth_throughput.py [--device auto|cpu|cuda] [--big]

Shapes follow the issue: 32x32 grayscale, 10 classes.

* DDPM, a class-conditional UNet2DModel of 4.2M parameters (widths 64/128/128,
  one ResNet per block, no attention); ``--big`` adds the 35.7M one (the DDPM
  CIFAR shape: 128/256/256/256, two per block, attention).
  Training: images/s of the DDPM loss + AdamW + EMA step.
  Training: naive fp32 eager, then on CUDA bf16 autocast + channels_last +
  fused AdamW + torch.compile(mode="reduce-overhead") at batch 1024 and 2048.
  Sampling: "naive" = DDIM 25 steps, fp32, eager; "fast" = DPM-Solver++ 10
  (and on CUDA 8 and 5) steps, bf16 autocast + channels_last +
  torch.compile (CUDA graphs). Both without guidance (one UNet call per
  step); "defaults" = what ``curate synth`` runs: DPM-Solver++ 10 steps with
  guidance 2 (two UNet calls per step), not compiled.
* GAN: the built-in conditional DCGAN (width 32) at 32x32: training (one D
  and one G step per batch) eager and compiled at batch 4096, compiled at
  8192 on CUDA; sampling images/s (compiled, batches of 16,384).

Throughput is measured by difference: after a warm-up fit, a fit of W steps
and a fit of W + M steps; (M x batch) / (difference of their training-loop
times) excludes set-up and compilation.
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
    # a first fit pays the one-off costs (cuDNN autotuning, compilation, CUDA
    # graph capture), which would otherwise land in the short fit only
    cls(params, device=params_device).fit(data, steps=warm, seed=0)
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
    parser.add_argument(
        "--parts",
        default="train,sample,gan",
        help="comma-separated subset of: train (DDPM), sample (DDPM), gan",
    )
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
    parts = set(args.parts.split(","))

    def record(model: str, what: str, variant: str, rate: float) -> None:
        out["results"].append(
            {"model": model, "what": what, "variant": variant, "images_per_s": rate}
        )
        print(f"{model} {what} {variant}: {rate:,.0f} img/s", flush=True)

    for label, shape in shapes:
        base = dict(shape, norm_groups=16, batch_size=train_batch, sample_batch_size=sample_batch)
        train_variants = [("naive fp32 eager", {"precision": "fp32", "compile": False})]
        if cuda:
            train_variants += [
                ("bf16+compile, batch 1024", {"compile": True, "batch_size": 1024}),
                ("bf16+compile, batch 2048", {"compile": True, "batch_size": 2048}),
            ]
        for variant, extra in train_variants if "train" in parts else ():
            params = DDPMParams(**(base | extra))
            batch = params.batch_size
            rate = fit_rate(DDPMGenerator, params, data, warm, measure, batch)
            record(label, "train", variant, rate)
        if "sample" not in parts:
            continue
        gen = DDPMGenerator(DDPMParams(**base), device=params_device)
        gen.fit(data, steps=1, seed=0)
        out["parameters"] = out.get("parameters", {}) | {label: gen.parameter_count()}
        naive = {
            "sampler": "ddim",
            "sampling_steps": 25,
            "guidance_scale": 1.0,
            "precision": "fp32",
        }
        sample_variants = [("naive: DDIM 25, fp32, eager", naive, 3)]
        for steps in (10, 8, 5) if cuda else (10,):
            sample_variants.append(
                (
                    f"fast: DPM-Solver++ {steps}" + (", bf16, compile" if cuda else ""),
                    {
                        "sampler": "dpmsolver++",
                        "sampling_steps": steps,
                        "guidance_scale": 1.0,
                        "compile": cuda,
                    },
                    sample_batches,
                )
            )
        # what `curate synth` runs without options: DPM-Solver++ 10 steps with guidance 2
        sample_variants.append(
            ("defaults: DPM-Solver++ 10, guidance 2" + (", bf16" if cuda else ""), {}, 3)
        )
        for variant, extra, n_batches in sample_variants:
            sampler = DDPMGenerator.from_checkpoint(
                gen.to_checkpoint(), DDPMParams(**base, **extra), device=params_device
            )
            record(label, "sample", variant, sample_rate(sampler, n_batches, sample_batch))

    if "gan" in parts:
        # (training batch, compiled): eager vs torch.compile side by side on CUDA
        gan_variants = ((4096, False), (4096, True), (8192, True)) if cuda else ((128, False),)
        for gan_batch, compiled in gan_variants:
            gparams = GANParams(width=32, batch_size=gan_batch, compile=compiled)
            warm_g, measure_g = (5, 50) if cuda else (2, 10)
            rate = fit_rate(GANGenerator, gparams, data, warm_g, measure_g, gan_batch)
            record("gan", "train", f"batch {gan_batch}" + (", compile" if compiled else ""), rate)
        sample_bs = 16384 if cuda else 1024
        gparams = GANParams(width=32, sample_batch_size=sample_bs, compile=cuda)
        gan = GANGenerator(gparams, device=params_device)
        gan.fit(data, steps=1, seed=0)
        rate = sample_rate(gan, 10 if cuda else 5, sample_bs)
        record("gan", "sample", f"batch {sample_bs}" + (", compile" if cuda else ""), rate)
    out["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    for r in out["results"]:
        r["images_per_s"] = round(r["images_per_s"], 1)
    print(json.dumps(out, indent=2))


params_device = "cpu"

if __name__ == "__main__":
    main()
