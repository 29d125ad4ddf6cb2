"""Torch plumbing shared by the built-in generators: devices, precision, resizing.

GPU path: bf16 autocast, channels_last memory format, TF32 matmuls and,
optionally, ``torch.compile(mode="reduce-overhead")`` (which captures CUDA
graphs; small models are launch-bound without them). CPU path: fp32, no
compilation (inductor on CPU needs a C++ toolchain and buys little on tiny
models).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from curate.errors import InvalidInput, MissingDependency


def resolve_device(device: str) -> torch.device:
    """``auto`` -> cuda when present, else cpu; checks that a requested CUDA device exists."""
    if device in ("auto", "", None):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise InvalidInput(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise MissingDependency(
                f"device {device!r} requested but torch sees no CUDA GPU",
                hint="use --device cpu, or install a CUDA build of torch",
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InvalidInput(f"no CUDA device {dev.index} (found {torch.cuda.device_count()})")
    elif dev.type != "cpu":
        raise InvalidInput(f"unsupported device {device!r}: use auto, cpu, cuda or cuda:N")
    return dev


def use_bf16(device: torch.device, precision: str) -> bool:
    if precision == "bf16":
        return True
    if precision == "fp32":
        return False
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on the device, or a no-op."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def prepare_module(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move to ``device``; channels_last on CUDA (faster convolutions with tensor cores)."""
    module = module.to(device)
    if device.type == "cuda":
        module = module.to(memory_format=torch.channels_last)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    return module


def maybe_compile(module, device: torch.device, enabled: bool, mode: str = "reduce-overhead"):
    """``torch.compile`` on CUDA when asked; ``reduce-overhead`` captures CUDA graphs.

    ``dynamic=False``: a module called at two batch sizes gets one static graph
    for each, instead of a slower shape-generic one after the second size.
    """
    if not enabled or device.type != "cuda":
        return module
    return torch.compile(module, mode=mode, fullgraph=False, dynamic=False)


def model_size(height: int, width: int, multiple: int, minimum: int = 8) -> tuple[int, int]:
    """The smallest (H, W) >= the data's that the network's downsampling accepts."""

    def up(v: int) -> int:
        return max(minimum, int(math.ceil(v / multiple)) * multiple)

    return up(height), up(width)


def to_model_tensor(
    images: np.ndarray, size: tuple[int, int], device: torch.device
) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float (N, C, h, w) in [-1, 1] at the model's size."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    x = x / 127.5 - 1.0
    if tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return x.to(device)


def to_uint8_images(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """float (N, C, h, w) in [-1, 1] -> uint8 (N, H, W, C) at the data's size, on x's device."""
    x = x.detach().float()
    if tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    x = ((x.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).contiguous()


def to_host(batches: Iterator[tuple[int, torch.Tensor]], device: torch.device):
    """``(offset, tensor)`` pairs -> ``(offset, numpy array)`` pairs, in order.

    On CUDA the copy of batch i to (pinned) host memory is queued without
    waiting, and batch i is handed over once batch i+1 has been queued, so
    the GPU computes the next batch while the caller handles this one (the
    wait is on the copy's event, not on the whole stream). On CPU each batch
    is handed over at once.
    """
    if device.type != "cuda":
        for offset, x in batches:
            yield offset, x.cpu().numpy()
        return
    pending = None
    for offset, x in batches:
        host = torch.empty(x.shape, dtype=x.dtype, pin_memory=True)
        host.copy_(x, non_blocking=True)
        copied = torch.cuda.Event()
        copied.record()
        if pending is not None:
            yield _collect(pending)
        pending = (offset, host, copied)
    if pending is not None:
        yield _collect(pending)


def _collect(pending) -> tuple[int, np.ndarray]:
    offset, host, copied = pending
    copied.synchronize()
    return offset, host.numpy()


def torch_generator(device: torch.device, seed: int) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed) & ((1 << 63) - 1))
    return gen


def batches(n: int, batch_size: int) -> Iterator[tuple[int, int]]:
    """(offset, count) pairs covering ``n`` items."""
    for offset in range(0, n, batch_size):
        yield offset, min(batch_size, n - offset)


class Timer:
    """Wall-clock seconds that wait for queued CUDA work first (honest GPU timings)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def now(self) -> float:
        import time

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()


class EMA:
    """Exponential moving average of a module's parameters, with warm-up.

    The decay ramps as ``1 - (1 + step) ** -power`` up to ``decay`` (the
    schedule of diffusers' ``EMAModel(use_ema_warmup=True)``), so a short
    training run is not dominated by the random initial weights. Written here
    because importing ``diffusers.training_utils`` costs seconds.
    """

    def __init__(self, module: torch.nn.Module, decay: float, power: float = 0.75) -> None:
        self.decay = decay
        self.power = power
        self.steps = 0
        self.shadow = [p.detach().clone() for p in module.parameters()]

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        self.steps += 1
        decay = min(self.decay, 1.0 - (1.0 + self.steps) ** -self.power)
        params = [p.detach() for p in module.parameters()]
        torch._foreach_lerp_(self.shadow, params, 1.0 - decay)

    @torch.no_grad()
    def copy_to(self, module: torch.nn.Module) -> None:
        for target, value in zip(module.parameters(), self.shadow, strict=True):
            target.copy_(value)


def balanced_weights(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Per-sample weights that give every class the same total (1 / class count)."""
    counts = torch.bincount(labels, minlength=n_classes).clamp_min(1).float()
    return (1.0 / counts)[labels]


def draw(weights: torch.Tensor | None, n: int, k: int, gen: torch.Generator) -> torch.Tensor:
    """``k`` training indices: uniform, or by ``weights`` (with replacement)."""
    if weights is None:
        return torch.randint(0, n, (k,), device=gen.device, generator=gen)
    return torch.multinomial(weights, k, replacement=True, generator=gen)
