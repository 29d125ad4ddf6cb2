"""A committed version as data: ``ws.version("v3").to_hf() / .to_torch("train") / ...``.

A version is immutable, so everything here reads the same rows whenever it
runs (time travel: ``ws.version("v1")`` still gives v1 after v9 exists).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate.core.progress import CancelFn, ProgressFn, no_progress
from curate.core.versions import ExportFormat, ExportResult, VersionDiff, VersionInfo
from curate.errors import NotFound
from curate.store import samples_repo, versions_repo

if TYPE_CHECKING:
    import pyarrow as pa

    from curate.api import Workspace

# Where image bytes live: internal columns that to_pandas() leaves out.
_STORAGE_COLUMNS = ["pack", "pack_offset", "nbytes"]


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
        """One row per sample (ordered by split, sample_id) with label, split and lineage."""
        return versions_repo.members(self._ws.catalog(), self.version_id, split=split)

    def to_pandas(self, split: str | None = None):
        return self.samples(split).drop_columns(_STORAGE_COLUMNS).to_pandas()

    def diff(self, other: Version | str) -> VersionDiff:
        """Differences from ``other`` to this version."""
        from curate.versions import history

        ref = other.name if isinstance(other, Version) else other
        return history.diff(self._ws.catalog(), ref, self.name)

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

        rows = self.samples(split)
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
        for a split of over 80,000)."""
        from curate.export.engine import export_version

        return export_version(
            self._ws.catalog(),
            self._ws.objects,
            self.info,
            format,
            out,
            overwrite=overwrite,
            shard_samples=shard_samples,
            progress=progress,
            cancel=cancel,
            engine=engine,
        )

    def to_parquet(self, out: str | Path, *, overwrite: bool = False) -> ExportResult:
        """Write ``out/data/<split>-00000-of-00001.parquet`` (+ manifest)."""
        return self.export(ExportFormat.PARQUET, out, overwrite=overwrite)
