"""Run a generator on another machine's GPU through a Ray actor.

Why Ray rather than a home-made service: it already moves numpy arrays
between machines efficiently (its object store), schedules onto a GPU
(``num_gpus=1``), and handles authentication (token auth is on by default
in recent Ray) and cluster membership. The laptop keeps the workspace, the gate and admission;
the GPU host only fits and samples, and returns checkpoints as bytes, which
are stored and content-hashed locally.

Set-up (both machines need the same curate version installed with the
``remote`` extra, ``pip install "curate[remote]"``, which brings Ray Client)::

    gpu-host$ ray start --head --port=6379        # Ray Client listens on 10001
    gpu-host$ ray get-auth-token                  # when token auth is on (Ray >= 2.52)
    laptop$   export RAY_AUTH_MODE=token RAY_AUTH_TOKEN=...
    laptop$   curate synth --generator ddpm --classes 5 --ray-address ray://gpu-host:10001

On a cluster node (``--engine ray`` joins ``CURATE_RAY_ADDRESS``, e.g. ``auto``)::

    head$     CURATE_RAY_ADDRESS=auto curate synth --generator ddpm --classes 5 --engine ray

The actor asks for ``num_gpus=1`` (``--remote-gpus``), so Ray places it on a
GPU node; a cluster without enough GPUs is an error, not an endless wait.

Checked here over Ray Client (``ray://127.0.0.1:10001`` against a local
``ray start --head`` with token auth), CPU only.

``ray`` is imported here only; it is an optional dependency.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from curate.core.progress import CancelFn, ProgressFn, no_progress
from curate.errors import CurateError, MissingDependency, PluginError
from curate.plugins.generators import Checkpoint, FitReport, GeneratedBatch, TrainingSet

POLL_SECONDS = 0.5


def _ray():
    try:
        import ray
    except ImportError:
        raise MissingDependency(
            "running a generator remotely needs ray",
            hint='pip install "curate[remote]" (on this machine and on the GPU host)',
        ) from None
    return ray


class _GeneratorActor:
    """Lives on the GPU host. Threaded (max_concurrency=2) so progress and cancel
    can be asked for while fit runs."""

    def __init__(self, name: str, params: dict[str, Any], device: str) -> None:
        from curate.synthesize.runner import LocalRunner

        self.runner = LocalRunner(name, params, device)
        self._progress: tuple[int, int | None, str] = (0, None, "")
        self._cancel = threading.Event()
        self._streams: dict[int, Iterator[GeneratedBatch]] = {}
        self._lock = threading.Lock()

    def device(self) -> str:
        return self.runner.device

    def fit(self, data: TrainingSet, steps: int, seed: int) -> FitReport:
        self._cancel.clear()

        def progress(done: int, total: int | None, message: str = "") -> None:
            self._progress = (done, total, message)

        return self.runner.fit(
            data, steps=steps, seed=seed, progress=progress, cancel=self._cancel.is_set
        )

    def progress(self) -> tuple[int, int | None, str]:
        return self._progress

    def cancel(self) -> None:
        self._cancel.set()

    def load(self, config: dict[str, Any], weights: bytes) -> None:
        self.runner.load(Checkpoint(config, weights))

    def checkpoint(self) -> tuple[dict[str, Any], bytes]:
        ckpt = self.runner.checkpoint()
        return ckpt.config, ckpt.weights

    # Sampling is a session of plain calls, not a Ray generator method: streaming
    # generators do not work through Ray Client (ray://), the laptop-to-GPU-host case.
    def open_sample(self, class_name: str, n: int, seed: int) -> int:
        with self._lock:
            key = max(self._streams, default=0) + 1
            self._streams[key] = iter(self.runner.sample(class_name, n, seed=seed))
            return key

    def next_batch(self, key: int) -> GeneratedBatch | None:
        with self._lock:
            stream = self._streams.get(key)
            return None if stream is None else next(stream, None)

    def close_sample(self, key: int) -> None:
        with self._lock:
            self._streams.pop(key, None)

    def close(self) -> None:
        self.runner.close()


class RayRunner:
    """A generator in a Ray actor holding ``num_gpus`` GPUs (1 by default)."""

    def __init__(
        self,
        name: str,
        params: dict[str, Any],
        device: str,
        *,
        address: str | None,
        num_gpus: float = 1.0,
    ) -> None:
        from curate.engines.ray import connect

        _ray()
        ray = connect(address)  # "local"/None: a private instance; "auto": this node's cluster
        gpus = ray.cluster_resources().get("GPU", 0)
        if num_gpus > gpus:
            # Ray would wait forever for a GPU no node has: say so now.
            raise MissingDependency(
                f"the generator actor asks for {num_gpus:g} GPU(s) but the Ray cluster "
                f"has {gpus:g}",
                hint="add a GPU node to the cluster (start it before the run when it "
                "autoscales), or pass --remote-gpus 0 to run it on a CPU worker",
            )
        actor_cls = ray.remote(_GeneratorActor).options(
            num_gpus=num_gpus, max_concurrency=2, name=None
        )
        self._ray = ray
        self.actor = actor_cls.remote(name, params, device)
        try:
            self.device = ray.get(self.actor.device.remote())
        except ray.exceptions.RayActorError as exc:
            raise PluginError(f"remote generator {name!r} failed to start: {exc}") from None
        except ray.exceptions.RayTaskError as exc:
            raise _unwrap(exc) from None

    def fit(
        self,
        data: TrainingSet,
        *,
        steps: int,
        seed: int,
        progress: ProgressFn = no_progress,
        cancel: CancelFn | None = None,
    ) -> FitReport:
        ray = self._ray
        ref = self.actor.fit.remote(data, steps, seed)
        asked_cancel = False
        while True:
            ready, _ = ray.wait([ref], timeout=POLL_SECONDS)
            if ready:
                break
            done, total, message = ray.get(self.actor.progress.remote())
            progress(done, total, message)
            if cancel is not None and cancel() and not asked_cancel:
                self.actor.cancel.remote()
                asked_cancel = True
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            raise _unwrap(exc) from None

    def load(self, ckpt: Checkpoint) -> None:
        self._call(self.actor.load.remote(ckpt.config, ckpt.weights))

    def checkpoint(self) -> Checkpoint:
        config, weights = self._call(self.actor.checkpoint.remote())
        return Checkpoint(config, weights)

    def sample(self, class_name: str, n: int, *, seed: int) -> Iterator[GeneratedBatch]:
        key = self._call(self.actor.open_sample.remote(class_name, n, seed))
        pending = self.actor.next_batch.remote(key)
        try:
            while True:
                batch = self._call(pending)
                if batch is None:
                    return
                # ask for the next batch now: the GPU works while the caller gates this one
                pending = self.actor.next_batch.remote(key)
                if not batch.images.flags.writeable:  # Ray hands out read-only views
                    batch = replace(batch, images=batch.images.copy())
                yield batch
        finally:
            # the caller may stop early (cancel, enough admitted): end the session
            self.actor.close_sample.remote(key)

    def info(self) -> dict[str, Any]:
        return {"where": "ray", "device": self.device}

    def _call(self, ref):
        try:
            return self._ray.get(ref)
        except self._ray.exceptions.RayTaskError as exc:
            raise _unwrap(exc) from None

    def close(self) -> None:
        with contextlib.suppress(Exception):  # the actor is going away anyway
            self._ray.get(self.actor.close.remote(), timeout=30)
        self._ray.kill(self.actor)


def _unwrap(exc) -> Exception:
    """Re-raise curate's own errors from the remote side as themselves."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, CurateError):
        return cause
    return PluginError(f"remote generator failed: {exc}")
