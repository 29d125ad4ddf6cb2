"""The execution seam: an engine maps a function over batches of work.

Engines (scan, augment, export) split their embarrassingly parallel work into
batches and hand them to an :class:`Engine`; the engine runs them here
(:class:`~curate.engines.local.LocalEngine`, the default) or on a Ray cluster
(:class:`~curate.engines.ray.RayEngine`) and yields the results back to the
driver **in order**. The driver keeps everything that is not parallel: the
DuckDB catalog (one writer), the kNN graph, cleanlab, the files that must be
written in sequence.

Two shapes of work:

* :meth:`Engine.map_batches`: a function over row slices of an Arrow table
  (decode + quality statistics, feature maps, augmentation jobs, export rows).
  On Ray this is Ray Data (``from_arrow`` + ``map_batches``).
* :meth:`Engine.map`: a function over a few large items (the folds of
  out-of-fold training, the shards of an export): one task each.

Functions must be module-level (they are pickled by reference) and
deterministic: the same batches give the same results on every engine, which
is what lets ``--engine ray`` promise the local engine's findings, samples and
files for the same seed. Callers pick the batch boundaries themselves and use
the same ones on every engine (results may depend on them, e.g. the float
sums of a batched matmul).

Workers read image bytes through :class:`~curate.engines.packs.PackReader`
(fsspec URLs of the object store's packs), never through the catalog.

This module imports neither ray nor pyarrow (``curate --help`` stays light).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from curate.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

    from curate.engines.packs import PackReader

EngineName = Literal["local", "ray"]
ENGINES: tuple[str, ...] = ("local", "ray")

#: Environment variables read by :meth:`EngineSettings.from_env`.
ENV_ENGINE = "CURATE_ENGINE"
ENV_RAY_ADDRESS = "CURATE_RAY_ADDRESS"
ENV_RAY_CPUS = "CURATE_RAY_CPUS"
ENV_OBJECTS_URL = "CURATE_OBJECTS_URL"


class EngineSettings(BaseModel):
    """Where the parallel stages of scan, augment and export run.

    Every field can come from the environment (:meth:`from_env`), so a
    cluster job needs no flags: ``CURATE_ENGINE=ray CURATE_RAY_ADDRESS=auto``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: EngineName = Field(
        default="local",
        description="local: this machine's processes (the default); ray: Ray Data tasks "
        "on a Ray instance or cluster",
    )
    ray_address: str | None = Field(
        default=None,
        description="Ray cluster to join: 'auto' (the cluster this machine is part of, "
        "e.g. on a head node), 'ray://host:10001' (Ray Client), 'host:6379', or 'local' "
        "(a private Ray instance on this machine); default: $RAY_ADDRESS when set "
        "(ray job submit sets it), else local",
    )
    ray_cpus: int | None = Field(
        default=None,
        ge=1,
        description="CPUs of a private local Ray instance (default: every core); "
        "ignored when joining a cluster",
    )
    objects_url: str | None = Field(
        default=None,
        description="where workers read the workspace's packs, any fsspec URL "
        "(e.g. s3://bucket/ws/packs or a shared mount); default: the workspace's "
        ".curate/objects/packs folder as a file:// URL",
    )

    @classmethod
    def from_env(cls, **overrides: Any) -> EngineSettings:
        """Settings from ``CURATE_ENGINE``, ``CURATE_RAY_ADDRESS``, ``CURATE_RAY_CPUS`` and
        ``CURATE_OBJECTS_URL``; ``overrides`` that are not None win (CLI flags)."""
        values: dict[str, Any] = {}
        env = {
            "engine": ENV_ENGINE,
            "ray_address": ENV_RAY_ADDRESS,
            "ray_cpus": ENV_RAY_CPUS,
            "objects_url": ENV_OBJECTS_URL,
        }
        for field, var in env.items():
            raw = os.environ.get(var, "").strip()
            if raw:
                values[field] = raw.lower() if field == "engine" else raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        if values.get("engine", "local") not in ENGINES:
            where = "--engine" if overrides.get("engine") is not None else ENV_ENGINE
            raise InvalidInput(
                f"{where}: unknown engine {values['engine']!r}; use {' or '.join(ENGINES)}"
            )
        if "ray_cpus" in values:
            try:
                values["ray_cpus"] = int(values["ray_cpus"])
            except ValueError:
                raise InvalidInput(f"{ENV_RAY_CPUS} must be a whole number") from None
            if values["ray_cpus"] < 1:
                raise InvalidInput(f"{ENV_RAY_CPUS} must be at least 1")
        return cls(**values)


class Engine(ABC):
    """Runs batches of work and yields their results to the driver, in order."""

    name: ClassVar[str]
    #: Rows per batch that keep the engine's per-batch cost small (callers may go lower
    #: to keep every worker busy, never higher than they must keep results equal).
    preferred_batch_rows: ClassVar[int] = 256

    def __init__(self, reader: PackReader) -> None:
        #: How workers read image bytes (picklable: give it to them in ``context``).
        self.reader = reader

    @property
    @abstractmethod
    def parallelism(self) -> int:
        """How many batches run at once."""

    @abstractmethod
    def map_batches(
        self,
        fn: Callable[[pa.Table, Any], pa.Table],
        table: pa.Table,
        *,
        batch_rows: int,
        context: Any = None,
    ) -> Iterator[pa.Table]:
        """``fn(slice, context)`` for every ``batch_rows``-row slice of ``table``.

        Yields result tables whose concatenation is the results in row order;
        a yielded table may hold several batches' results (or part of one).
        Closing the iterator early (a cancel) drops the work not yet done.
        """

    @abstractmethod
    def map(
        self, fn: Callable[[Any, Any], Any], items: Iterable[Any], *, context: Any = None
    ) -> Iterator[Any]:
        """``fn(item, context)`` for every item, one task each; results in item order.

        ``items`` may be a generator: it is consumed as tasks start, so only the
        items in flight are held at once.
        """

    def describe(self) -> dict[str, Any]:
        """What a run records about where it ran."""
        return {"engine": self.name, "parallelism": self.parallelism}

    def close(self) -> None:
        """Release workers (a Ray connection stays up for the next engine in this process)."""
        return None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def slices(n: int, batch_rows: int) -> list[tuple[int, int]]:
    """(start, length) of consecutive ``batch_rows`` slices covering ``n`` rows."""
    if batch_rows < 1:
        raise ValueError("batch_rows must be >= 1")
    return [(start, min(batch_rows, n - start)) for start in range(0, n, batch_rows)]


def compact(table: pa.Table) -> pa.Table:
    """A copy of a slice holding only its own rows.

    Pickling (a process pool, Ray's object store) a zero-copy slice of a
    table writes the whole parent's buffers; ``take`` copies just the slice.
    """
    import numpy as np

    return table.take(np.arange(table.num_rows))


def open_engine(
    engine: str | EngineSettings | Engine | None,
    *,
    packs_dir: os.PathLike | str,
    workers: int = 1,
) -> Engine:
    """An engine from a name, settings, or the environment (``None``).

    ``packs_dir`` is the workspace's pack folder (workers read it unless
    ``objects_url`` says otherwise); ``workers`` is the local engine's process
    count (1: run in this process).
    """
    from pathlib import Path

    from curate.engines.packs import PackReader

    if isinstance(engine, Engine):
        return engine
    if isinstance(engine, EngineSettings):
        settings = engine
    else:
        settings = EngineSettings.from_env(engine=engine)
    url = settings.objects_url or Path(packs_dir).absolute().as_uri()
    reader = PackReader(url, own_packs=not settings.objects_url)
    if settings.engine == "ray":
        from curate.engines.ray import RayEngine

        return RayEngine(reader, address=settings.ray_address, num_cpus=settings.ray_cpus)
    from curate.engines.local import LocalEngine

    return LocalEngine(reader, workers=workers)


@contextmanager
def using_engine(
    engine: str | EngineSettings | Engine | None,
    *,
    packs_dir: os.PathLike | str,
    workers: int = 1,
) -> Iterator[Engine]:
    """:func:`open_engine` for the length of a ``with``; closes only what it opened."""
    opened = open_engine(engine, packs_dir=packs_dir, workers=workers)
    try:
        yield opened
    finally:
        if opened is not engine:
            opened.close()
