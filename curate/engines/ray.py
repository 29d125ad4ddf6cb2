"""The Ray engine: batches run as Ray Data tasks, large items as Ray tasks.

``--engine ray`` (or ``CURATE_ENGINE=ray``) runs the parallel stages of
scan, augment and export on Ray: a private Ray instance on this machine by
default, or the cluster at ``--ray-address`` (``auto`` on a cluster node,
``ray://head:10001`` through Ray Client). The driver (this process) keeps the
catalog and everything sequential; workers read image bytes from the packs
through fsspec (:class:`~curate.engines.packs.PackReader`) and send results
back as Arrow tables.

* :meth:`RayEngine.map_batches` is Ray Data: ``from_arrow`` over the batches,
  ``map_batches`` with the function, results streamed back in order
  (``preserve_order``). Every input batch carries its number, and the task
  calls the function once per number, so the function sees exactly the
  batches the local engine would give it, however Ray Data bundles blocks.
* :meth:`RayEngine.map` is one Ray task per item (folds, export shards),
  with the shared ``context`` put in the object store once.

Every node needs the same curate version installed (``pip install
"curate[ray]"``); see docs/ray.md. ``ray`` is imported in this module only.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from curate.engines.base import Engine, compact, slices
from curate.engines.packs import PackReader
from curate.errors import CurateError, InvalidInput, MissingDependency

BATCH_COLUMN = "__curate_batch"
ERROR_COLUMN = "__curate_error"
TASKS_PER_CPU = 2  # map(): tasks in flight per CPU (the next one is queued while one runs)
_RAY_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"


def import_ray(*, data: bool = True):
    """``ray`` (with Ray Data unless ``data=False``), or a one-line MissingDependency."""
    try:
        import ray

        if data:
            import ray.data  # noqa: F401  (needs ray[data]'s dependencies)
    except ImportError as exc:
        raise MissingDependency(
            f"the Ray engine needs ray{' with Ray Data' if data else ''} ({exc})",
            hint='pip install "curate[ray]"',
        ) from None
    return ray


#: Seconds :func:`probe_address` waits for a TCP connection to a cluster's head.
PROBE_SECONDS = 10.0


def probe_address(address: str, *, timeout: float = PROBE_SECONDS) -> None:
    """Raise at once when ``host:port`` (or ``ray://host:port``) does not accept connections.

    ``ray.init`` retries an unreachable GCS for minutes (measured with ray 2.60:
    still waiting after 200 s for ``nowhere:1``) and a refused one for over a
    minute; a plain TCP connect says the same in a second. ``auto`` and
    addresses that are not ``host:port`` are left to Ray.
    """
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    host = host.strip("[]")  # [::1]:6379
    if not sep or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise InvalidInput(
            f"cannot reach Ray at {address}: {exc.strerror or exc or type(exc).__name__}",
            hint="check --ray-address (auto, host:6379 or ray://host:10001) and that the "
            "cluster is up",
        ) from None


def connect(address: str | None = None, num_cpus: int | None = None):
    """Join the cluster at ``address`` or start a private local instance (once per process).

    ``None`` joins ``$RAY_ADDRESS`` when it is set (``ray job submit`` sets it
    for the job's driver), else starts a private instance, as ``"local"``
    always does, even when a ``ray start`` cluster runs here (its address file
    may be stale); pass ``"auto"`` to join that one. A second call reuses the
    first connection.
    """
    ray = import_ray(data=False)
    if ray.is_initialized():
        return ray
    if not address:
        address = os.environ.get("RAY_ADDRESS") or None
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if address in (None, "local"):
            # Ray starts its workers at nice 15, to keep its own daemons responsive on
            # a busy node. A private instance stands in for the local engine's
            # processes, which run at nice 0; at 15 any other job on the machine
            # takes the CPU from it.
            # A new local instance turns Ray's token auth on and warns that it did, on
            # every command; this instance is private and ends with the process, so
            # the warning (and its opt-out) is noise to a curate user.
            auth_log = logging.getLogger(_RAY_AUTH_LOGGER)
            level = auth_log.level
            auth_log.setLevel(logging.ERROR)
            try:
                ray.init(
                    address="local",
                    num_cpus=num_cpus,
                    _system_config={"worker_niceness": 0},
                    **quiet,
                )
            finally:
                auth_log.setLevel(level)
        else:
            quiet.pop("include_dashboard")  # a cluster's dashboard is the cluster's business
            probe_address(address)
            ray.init(address=address, **quiet)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(
            f"cannot start or reach Ray at {address or 'a local instance'}: {first}",
            hint="check --ray-address (auto, host:6379 or ray://host:10001)",
        ) from None
    return ray


def _configure_data(ray) -> None:
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # results in input order
    ctx.enable_progress_bars = False  # curate reports progress itself
    ctx.print_on_execution_start = False
    # curate reports failures itself (as one line); Ray Data would add its own.
    logging.getLogger("ray.data").setLevel(logging.ERROR)


def _apply_batches(table, fn, context):
    """Ray Data UDF: split the block by batch number and call ``fn`` once per batch.

    An exception comes back in-band (a one-row table holding it pickled):
    Ray Data's own wrapper keeps only its text, and the driver must re-raise
    a CurateError as itself, one line for the user.
    """
    import numpy as np
    import pyarrow as pa

    numbers = table.column(BATCH_COLUMN).to_numpy()
    data = table.drop_columns([BATCH_COLUMN])
    outs = []
    bounds = np.flatnonzero(np.diff(numbers)) + 1
    starts = np.concatenate([[0], bounds]).astype(int)
    stops = np.concatenate([bounds, [len(numbers)]]).astype(int)
    try:
        for start, stop in zip(starts, stops, strict=True):
            outs.append(fn(data.slice(int(start), int(stop - start)), context))
    except Exception as exc:
        return pa.table({ERROR_COLUMN: pa.array([_pickled(exc)], pa.binary())})
    return outs[0] if len(outs) == 1 else pa.concat_tables(outs)


def _pickled(exc: Exception) -> bytes:
    import pickle
    import traceback

    try:
        return pickle.dumps(exc)
    except Exception:  # an exception that does not pickle: keep its text
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return pickle.dumps(RuntimeError(text))


def _call(fn, item, context):
    try:
        return fn(item, context)
    except CurateError as exc:  # returned, not raised: Ray would wrap it
        return _Failed(exc)


class _Failed:
    def __init__(self, exc: CurateError) -> None:
        self.exc = exc


def _unwrap(exc: BaseException) -> BaseException:
    """The user's exception inside Ray's wrappers (a CurateError is raised as itself)."""
    seen = exc
    for _ in range(8):
        cause = getattr(seen, "cause", None) or seen.__cause__
        if cause is None or cause is seen:
            break
        if isinstance(cause, CurateError):
            return cause
        seen = cause
    return exc


class RayEngine(Engine):
    name = "ray"
    # Ray Data costs ~30 ms per block on a busy 2-core machine (measured; a Ray
    # task ~4 ms): batches of ~1000 small images keep that under a few percent.
    preferred_batch_rows = 1024

    def __init__(
        self, reader: PackReader, *, address: str | None = None, num_cpus: int | None = None
    ) -> None:
        super().__init__(reader)
        import_ray()
        self._ray = connect(address, num_cpus)
        _configure_data(self._ray)
        self.address = address or os.environ.get("RAY_ADDRESS") or "local"
        self._remote_call = self._ray.remote(num_cpus=1, max_retries=0)(_call)
        cpus = self._ray.cluster_resources().get("CPU", 1)
        self._parallelism = max(1, int(cpus))

    @property
    def parallelism(self) -> int:
        return self._parallelism

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "address": self.address}

    def map_batches(
        self,
        fn: Callable[[Any, Any], Any],
        table,
        *,
        batch_rows: int,
        context: Any = None,
    ) -> Iterator[Any]:
        import pyarrow as pa

        ray = self._ray
        if table.num_rows == 0:
            return self._stream(None)
        blocks = []
        for number, (start, length) in enumerate(slices(table.num_rows, batch_rows)):
            block = compact(table.slice(start, length))
            blocks.append(
                block.append_column(BATCH_COLUMN, pa.array([number] * length, pa.int64()))
            )
        ds = ray.data.from_arrow(blocks).map_batches(
            _apply_batches,
            fn_args=(fn, context),
            batch_format="pyarrow",
            batch_size=None,  # whole blocks; _apply_batches restores the exact batches
            zero_copy_batch=True,
            num_cpus=1,
        )
        return self._stream(ds)

    def _stream(self, ds) -> Iterator[Any]:
        if ds is None:
            return
        it = iter(ds.iter_batches(batch_format="pyarrow", batch_size=None, prefetch_batches=2))
        while True:
            try:
                batch = next(it)
            except StopIteration:
                return
            except Exception as exc:
                raise _unwrap(exc) from None
            if ERROR_COLUMN in batch.column_names:
                import pickle

                raise pickle.loads(batch.column(ERROR_COLUMN)[0].as_py())
            yield batch

    def map(
        self, fn: Callable[[Any, Any], Any], items: Iterable[Any], *, context: Any = None
    ) -> Iterator[Any]:
        ray = self._ray
        if not items:
            return
        shared = ray.put(context)
        window: deque = deque()
        limit = TASKS_PER_CPU * self.parallelism
        try:
            for item in items:
                window.append(self._remote_call.remote(fn, item, shared))
                if len(window) >= limit:
                    yield self._get(window.popleft())
            while window:
                yield self._get(window.popleft())
        finally:
            for ref in window:  # an early stop: drop what has not finished
                ray.cancel(ref)

    def _get(self, ref):
        try:
            out = self._ray.get(ref)
        except Exception as exc:
            raise _unwrap(exc) from None
        if isinstance(out, _Failed):
            raise out.exc
        return out
