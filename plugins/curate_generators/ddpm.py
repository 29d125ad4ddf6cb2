"""Class-conditional diffusion: diffusers ``UNet2DModel`` with a class embedding.

Training is plain DDPM (epsilon prediction, cosine noise schedule) with
classifier-free guidance dropout: one extra class embedding (index = number of
classes) stands for "no class", so sampling can mix the conditional and the
unconditional prediction (``guidance_scale``). Sampling uses DPM-Solver++ (few
steps), DDIM or ancestral DDPM from diffusers' schedulers. The model runs at
the dataset's resolution, rounded up to what its downsampling accepts.

GPU: bf16 autocast, channels_last, TF32 and optional
``torch.compile(mode="reduce-overhead")`` (CUDA graphs: a fixed batch shape,
so the last batch is padded). CPU: fp32 with a small default network.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, field_validator

from curate.core.progress import CancelFn, ProgressFn, check_cancel, no_progress
from curate.plugins.generators import (
    FitReport,
    GeneratedBatch,
    Generator,
    GeneratorParams,
    TrainingSet,
    derive_seed,
    runtime_stage,
    sample_stage,
)
from curate_generators import _torch as T


class DDPMParams(GeneratorParams):
    channels: tuple[int, ...] = Field(
        (32, 64, 64),
        description="UNet widths, one per resolution level (each a multiple of norm_groups); "
        "the image is halved between levels",
    )
    layers_per_block: int = Field(1, ge=1, le=4, description="ResNet layers per UNet block")
    attention: bool = Field(
        False, description="self-attention in the lowest-resolution level (costs time)"
    )
    norm_groups: int = Field(8, ge=1, description="GroupNorm groups in the UNet")
    batch_size: int | None = Field(
        None, ge=1, description="training batch size (default: 128 on CPU, 512 on CUDA)"
    )
    learning_rate: float = Field(1e-3, gt=0, description="AdamW learning rate (after warm-up)")
    ema_decay: float = Field(
        0.999, ge=0, lt=1, description="decay of the weight EMA used for sampling (with warm-up)"
    )
    balanced: bool = Field(
        True,
        description="draw training batches class-balanced, so rare classes get as many "
        "updates as common ones",
    )
    cond_drop_prob: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="share of training images shown without their class "
        "(enables classifier-free guidance)",
    )
    num_train_timesteps: int = Field(1000, ge=10, description="diffusion steps of the DDPM")
    beta_schedule: Literal["squaredcos_cap_v2", "linear"] = Field(
        "squaredcos_cap_v2", description="noise schedule (cosine suits small images)"
    )
    sampler: Literal["dpmsolver++", "ddim", "ddpm"] = Field(
        "dpmsolver++", **sample_stage("sampling solver: DPM-Solver++ (multistep), DDIM or DDPM")
    )
    sampling_steps: int = Field(10, ge=1, le=1000, **sample_stage("denoising steps per sample"))
    guidance_scale: float = Field(
        2.0,
        ge=1.0,
        **sample_stage("classifier-free guidance weight (1 = off: half the sampling cost)"),
    )
    sample_batch_size: int | None = Field(
        None, ge=1, **sample_stage("images per sampling batch (default: 256 CPU, 2048 CUDA)")
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", **runtime_stage("auto: bf16 autocast on CUDA, fp32 on CPU")
    )
    compile: bool = Field(
        False,
        **runtime_stage(
            'torch.compile(mode="reduce-overhead") with CUDA graphs on CUDA (ignored on CPU)'
        ),
    )

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not 1 <= len(v) <= 5 or any(c < 1 for c in v):
            raise ValueError("give 1 to 5 positive widths")
        return v


class DDPMGenerator(Generator):
    name = "ddpm"
    description = "class-conditional DDPM (diffusers UNet2DModel), DPM-Solver++/DDIM sampling"
    Params = DDPMParams
    supports_class_conditional = True
    needs_fit = True
    needs_gpu = False
    deterministic_with_seed = True
    default_fit_steps = 2000

    params: DDPMParams

    def __init__(self, params: DDPMParams | None = None, *, device: str = "cpu") -> None:
        super().__init__(params, device=device)
        self._device = T.resolve_device(device)
        self.device = str(self._device)  # what it runs on, after resolving 'auto'
        self.unet = None
        self._compiled = None
        self.model_hw: tuple[int, int] | None = None
        if any(c % self.params.norm_groups for c in self.params.channels):
            from curate.errors import InvalidInput

            raise InvalidInput(
                f"ddpm: every width in channels must be a multiple of norm_groups "
                f"({self.params.norm_groups})"
            )

    # -- model -------------------------------------------------------------------------
    def _build(self, n_classes: int, channels: int, hw: tuple[int, int]):
        from diffusers import UNet2DModel

        p = self.params
        levels = len(p.channels)
        down = ["DownBlock2D"] * levels
        up = ["UpBlock2D"] * levels
        if p.attention:
            down[-1] = "AttnDownBlock2D"
            up[0] = "AttnUpBlock2D"
        return UNet2DModel(
            sample_size=hw,
            in_channels=channels,
            out_channels=channels,
            down_block_types=tuple(down),
            up_block_types=tuple(up),
            block_out_channels=tuple(p.channels),
            layers_per_block=p.layers_per_block,
            norm_num_groups=p.norm_groups,
            attention_head_dim=8,
            num_class_embeds=n_classes + 1,  # the last one means "no class" (guidance)
        )

    def _scheduler(self, kind: str):
        from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

        kw = {
            "num_train_timesteps": self.params.num_train_timesteps,
            "beta_schedule": self.params.beta_schedule,
            "prediction_type": "epsilon",
        }
        if kind == "train" or kind == "ddpm":
            return DDPMScheduler(**kw, clip_sample=True)
        if kind == "ddim":
            return DDIMScheduler(**kw, clip_sample=True)
        # thresholding at sample_max_value=1 clips the predicted clean image to [-1, 1],
        # as DDPM/DDIM's clip_sample does; without it few-step samples drift off-class
        return DPMSolverMultistepScheduler(
            **kw,
            algorithm_type="dpmsolver++",
            solver_order=2,
            lower_order_final=True,
            thresholding=True,
            sample_max_value=1.0,
        )

    def _bf16(self) -> bool:
        return T.use_bf16(self._device, self.params.precision)

    def _default_batch(self, cpu: int, cuda: int) -> int:
        return cuda if self._device.type == "cuda" else cpu

    # -- fit -----------------------------------------------------------------------------
    def fit(
        self,
        data: TrainingSet,
        *,
        steps: int,
        seed: int = 0,
        progress: ProgressFn = no_progress,
        cancel: CancelFn | None = None,
    ) -> FitReport:
        p = self.params
        h, w, c = data.shape
        self.class_names = tuple(data.class_names)
        self.image_shape = (h, w, c)
        self.model_hw = T.model_size(h, w, 2 ** (len(p.channels) - 1))
        torch.manual_seed(derive_seed("ddpm-init", seed))
        dev = self._device
        unet = T.prepare_module(self._build(len(self.class_names), c, self.model_hw), dev)
        ema = T.EMA(unet, p.ema_decay)
        # fused: one kernel for the whole update instead of one per tensor (CUDA only)
        opt = torch.optim.AdamW(
            unet.parameters(), lr=p.learning_rate, weight_decay=0.0, fused=dev.type == "cuda"
        )
        warmup = max(1, min(200, steps // 10))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))
        noise_sched = self._scheduler("train")
        alphas = noise_sched.alphas_cumprod.to(dev)

        x_all = T.to_model_tensor(data.images, self.model_hw, dev)
        if dev.type == "cuda":
            x_all = x_all.contiguous(memory_format=torch.channels_last)
        y_all = torch.as_tensor(np.asarray(data.labels), dtype=torch.long, device=dev)
        n = x_all.shape[0]
        weights = T.balanced_weights(y_all, len(self.class_names)) if p.balanced else None
        bs = p.batch_size or self._default_batch(128, 512)
        gen = T.torch_generator(dev, derive_seed("ddpm-fit", seed))
        forward = T.maybe_compile(unet, dev, p.compile)
        timer = T.Timer(dev)
        start = timer.now()
        loss_value = None
        null = len(self.class_names)
        unet.train()
        for step in range(steps):
            if step % 10 == 0:
                check_cancel(cancel)
            idx = T.draw(weights, n, bs, gen)
            x0, y = x_all[idx], y_all[idx]
            drop = torch.rand(bs, device=dev, generator=gen) < p.cond_drop_prob
            y = torch.where(drop, torch.full_like(y, null), y)
            noise = torch.randn(x0.shape, device=dev, generator=gen)
            t = torch.randint(0, p.num_train_timesteps, (bs,), device=dev, generator=gen)
            a = alphas[t].view(-1, 1, 1, 1)
            xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
            if dev.type == "cuda":
                xt = xt.contiguous(memory_format=torch.channels_last)
            with T.autocast(dev, self._bf16()):
                pred = forward(xt, t, class_labels=y).sample
            loss = F.mse_loss(pred.float(), noise)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
            opt.step()
            sched.step()
            ema.update(unet)
            if step % 50 == 0 or step == steps - 1:
                loss_value = float(loss.detach())
                progress(step + 1, steps, f"fitting ddpm (loss {loss_value:.4f})")
        seconds = timer.now() - start
        ema.copy_to(unet)  # sample from the averaged weights
        unet.eval()
        self.unet = unet
        self._compiled = None
        return FitReport(
            steps=steps,
            images_seen=steps * bs,
            seconds=round(seconds, 3),
            final_loss=loss_value,
        )

    # -- checkpoint ---------------------------------------------------------------------
    def state_tensors(self) -> dict[str, Any]:
        if self.unet is None:
            raise RuntimeError("ddpm: not fitted")
        return {f"unet.{k}": v for k, v in self.unet.state_dict().items()}

    def extra_config(self) -> dict[str, Any]:
        return {"model_hw": list(self.model_hw or ())}

    def load_state(self, tensors: dict[str, Any], config: dict[str, Any]) -> None:
        h, w, c = self.image_shape  # type: ignore[misc]
        self.model_hw = tuple(config["model_hw"])  # type: ignore[assignment]
        unet = self._build(len(self.class_names), c, self.model_hw)
        unet.load_state_dict({k.removeprefix("unet."): v for k, v in tensors.items()})
        self.unet = T.prepare_module(unet, self._device).eval()
        self._compiled = None

    # -- sample ------------------------------------------------------------------------
    def _denoiser(self):
        if self._compiled is None:
            self._compiled = T.maybe_compile(self.unet, self._device, self.params.compile)
        return self._compiled

    @torch.no_grad()
    def sample(self, class_name: str, n: int, *, seed: int) -> Iterator[GeneratedBatch]:
        if self.unet is None:
            raise RuntimeError("ddpm: fit or load a checkpoint before sampling")
        p = self.params
        cls = self.class_index(class_name)
        dev = self._device
        h, w, c = self.image_shape  # type: ignore[misc]
        bs = p.sample_batch_size or self._default_batch(256, 2048)
        # CUDA graphs replay one shape: pad the last batch instead of recompiling.
        fixed = p.compile and dev.type == "cuda"

        def made() -> Iterator[tuple[int, torch.Tensor]]:
            for offset, count in T.batches(n, bs):
                rows = bs if fixed else count
                x = self._denoise(cls, rows, derive_seed("ddpm-sample", seed, offset))
                yield offset, T.to_uint8_images(x[:count], (h, w))

        for offset, images in T.to_host(made(), dev):
            yield GeneratedBatch(images=images, seed=seed, offset=offset)

    def _denoise(self, cls: int, rows: int, seed: int) -> torch.Tensor:
        p = self.params
        dev = self._device
        gen = T.torch_generator(dev, seed)
        sched = self._scheduler(p.sampler)
        sched.set_timesteps(p.sampling_steps, device=dev)
        c = self.image_shape[2]  # type: ignore[index]
        x = torch.randn((rows, c, *self.model_hw), device=dev, generator=gen)
        x = x * sched.init_noise_sigma
        guided = p.guidance_scale != 1.0
        labels = torch.full((rows,), cls, device=dev, dtype=torch.long)
        if guided:
            labels = torch.cat([labels, torch.full_like(labels, len(self.class_names))])
        net = self._denoiser()
        for t in sched.timesteps:
            inp = sched.scale_model_input(x, t)
            if guided:
                inp = torch.cat([inp, inp])
            if dev.type == "cuda":
                inp = inp.contiguous(memory_format=torch.channels_last)
            with T.autocast(dev, self._bf16()):
                eps = net(inp, t, class_labels=labels).sample.float()
            if self.params.compile and dev.type == "cuda":
                eps = eps.clone()  # CUDA graphs reuse their output buffer on the next call
            if guided:
                cond, uncond = eps.chunk(2)
                eps = uncond + p.guidance_scale * (cond - uncond)
            x = sched.step(eps, t, x, generator=gen).prev_sample
        return x

    def parameter_count(self) -> int:
        return sum(t.numel() for t in self.unet.parameters()) if self.unet is not None else 0

    def close(self) -> None:
        self.unet = None
        self._compiled = None
        if self._device.type == "cuda":
            torch.cuda.empty_cache()
