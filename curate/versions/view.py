"""A committed version as data: ``ws.version("v3").to_hf() / .to_torch("train") / ...``.

A version is immutable, so everything here reads the same rows whenever it
runs (time travel: ``ws.version("v1")`` still gives v1 after v9 exists).
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate.core.progress import CANCELLED, CancelFn, ProgressFn, no_progress
from curate.core.versions import ExportFormat, ExportResult, VersionDiff, VersionInfo
from curate.errors import Cancelled, InvalidInput, NotFound
from curate.store import samples_repo, versions_repo

if TYPE_CHECKING:
    import pyarrow as pa

    from curate.api import Workspace

# Where image bytes live: internal columns that to_pandas() leaves out.
_STORAGE_COLUMNS = ["pack", "pack_offset", "nbytes"]


def version_ref(value: Any, name: str = "version") -> str | int:
    """What names a version: a name, tag, hash prefix or HEAD[~N] (str), a number
    (int) or a :class:`Version` (its name). Anything else is an InvalidInput naming
    ``name``, never a "no version named ..." for a list's repr."""
    if isinstance(value, Version):
        return value.name
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:56] + " ..."
    raise InvalidInput(
        f"{name} must be a version name (str), number (int) or Version, "
        f"not {shown} ({type(value).__name__})"
    )


def split_arg(split: Any) -> str:
    """``split`` checked to be a split name: a number would reach DuckDB as one."""
    if not isinstance(split, str):
        raise InvalidInput(
            f"split must be a split name (str), not {split!r} ({type(split).__name__})"
        )
    return split


def unknown_split(where: str, split: str, known: list[str], unsplit: int) -> NotFound:
    """The NotFound for a split that holds no sample of ``where`` (a version, or the
    working state): the splits there are, and a close name when there is one."""
    import difflib

    hint = f"splits: {', '.join(known) or 'none'}"
    if unsplit:
        hint += f" ({unsplit} samples have no split)"
    close = difflib.get_close_matches(split, known, n=1)
    if close:
        hint += f"; did you mean {close[0]!r}?"
    elif not known:
        hint += "; make splits with `curate split` (and commit them for a version)"
    return NotFound(f"{where} has no samples in split {split!r}", hint=hint)


class Version:
    def __init__(self, workspace: Workspace, info: VersionInfo) -> None:
        self._ws = workspace
        self.info = info

    # -- identity -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.info.name

    @property
    def hash(self) -> str:
        return self.info.hash

    @property
    def version_id(self) -> int:
        return self.info.version_id

    @property
    def stats(self):
        return self.info.stats

    def __repr__(self) -> str:
        tags = f" ({', '.join(self.info.tags)})" if self.info.tags else ""
        return (
            f"<Version {self.name}{tags} {self.hash[:12]}: {self.info.stats.samples} samples, "
            f"{self.info.message!r}>"
        )

    @property
    def classes(self) -> list[str]:
        """Class names when this version was committed; a label index is a position in this
        list (stable: a later version's list starts with this one)."""
        return [name for _, name in samples_repo.version_classes(self._ws.catalog(), self.info)]

    @property
    def splits(self) -> list[str]:
        return sorted(k for k in self.info.stats.splits if k != "-")

    # -- rows -------------------------------------------------------------------------------
    def samples(self, split: str | None = None) -> pa.Table:
        """One row per sample (ordered by split, sample_id) with label, split and lineage.

        ``split``: only that split's samples (None: all). A split this version
        has no samples in is a NotFound naming the splits it has.
        """
        if split is not None:
            split = split_arg(split)
            if split not in self.splits:
                unsplit = self.info.stats.splits.get("-", 0)
                raise unknown_split(self.name, split, self.splits, unsplit)
        return versions_repo.members(self._ws.catalog(), self.version_id, split=split)

    def to_pandas(self, split: str | None = None):
        """:meth:`samples` as a pandas DataFrame, without the storage columns."""
        return self.samples(split).drop_columns(_STORAGE_COLUMNS).to_pandas()

    def diff(self, other: Version | str | int) -> VersionDiff:
        """Differences from ``other`` (a Version, or what names one) to this version."""
        from curate.versions import history

        return history.diff(self._ws.catalog(), version_ref(other, "other"), self.name)

    # -- consumers --------------------------------------------------------------------------
    def to_hf(self):
        """A ``datasets.DatasetDict`` (one Dataset per split; ``image`` is an Image feature,
        ``label`` a ClassLabel). Held in memory: for big versions prefer
        ``export(..., "hf")`` and ``datasets.load_from_disk``."""
        from curate.export import engine, writers

        job = engine.build_job(self._ws.catalog(), self._ws.objects, self.info)
        return writers.hf_dataset_dict(job, description=f"curate {self.name} {self.hash}")

    def to_torch(self, split: str, transform: Callable[[Any], Any] | None = None):
        """A ``torch.utils.data.Dataset`` of ``(transform(image), label)`` for ``split``.

        Works with ``DataLoader(num_workers=N)``; see
        :mod:`curate.versions.torch_dataset` for the ``seed_worker`` hook.
        """
        from curate.export.rows import label_indices
        from curate.imaging import common_mode
        from curate.versions.torch_dataset import VersionDataset

        rows = self.samples(split_arg(split))
        if rows.num_rows == 0:
            raise NotFound(
                f"{self.name} has no samples in split {split!r}",
                hint=f"splits: {', '.join(self.splits) or 'none (run `curate split`)'}",
            )
        classes = samples_repo.version_classes(self._ws.catalog(), self.info)
        labels = label_indices(rows.column("class_id").to_pylist(), [c for c, _ in classes])
        return VersionDataset(
            self._ws.objects.root,
            packs=rows.column("pack").to_pylist(),
            offsets=rows.column("pack_offset").to_numpy(),
            lengths=rows.column("nbytes").to_numpy(),
            labels=[-1 if x is None else x for x in labels],
            sample_ids=rows.column("sample_id").to_pylist(),
            classes=[n for _, n in classes],
            mode=common_mode(rows.column("mode").to_pylist()),
            transform=transform,
            version=self.name,
            split=split,
        )

    def export(
        self,
        format: ExportFormat | str,
        out: str | Path,
        *,
        overwrite: bool = False,
        shard_samples: int = 0,
        progress: ProgressFn = no_progress,
        cancel: CancelFn | None = None,
        engine=None,
    ) -> ExportResult:
        """``engine``: ``"local"`` | ``"ray"`` | :class:`~curate.engines.EngineSettings`
        (default: ``CURATE_ENGINE``, else local); the same files either way.
        ``shard_samples``: webdataset samples per shard (0: 8 shards per split, more
        for a split of over 80,000). ``overwrite``: replace what is in ``out``.
        Returns an :class:`~curate.core.versions.ExportResult`. Cancelling
        (``cancel`` returning True) raises Cancelled and writes nothing: the
        unfinished files are removed and ``out`` is left as it was."""
        from curate.export.engine import export_version

        if not isinstance(out, (str, os.PathLike)):
            raise InvalidInput(f"out must be a folder path, not {out!r} ({type(out).__name__})")
        if isinstance(shard_samples, bool) or not isinstance(shard_samples, numbers.Integral):
            raise InvalidInput(
                f"shard_samples must be a whole number, not {shard_samples!r} "
                f"({type(shard_samples).__name__})"
            )
        if not isinstance(overwrite, bool):
            raise InvalidInput(f"overwrite must be True or False, not {overwrite!r}")
        try:
            return export_version(
                self._ws.catalog(),
                self._ws.objects,
                self.info,
                format,
                out,
                overwrite=overwrite,
                shard_samples=int(shard_samples),
                progress=progress,
                cancel=cancel,
                engine=engine,
            )
        except Cancelled as exc:
            if exc.message != CANCELLED:  # the engine said something more precise
                raise
            raise Cancelled(f"export cancelled: nothing was written ({out} is as it was)") from None

    def to_parquet(self, out: str | Path, *, overwrite: bool = False) -> ExportResult:
        """Write ``out/data/<split>-00000-of-00001.parquet`` (+ manifest)."""
        return self.export(ExportFormat.PARQUET, out, overwrite=overwrite)
