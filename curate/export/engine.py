"""Export a version to a folder: hf | parquet | imagefolder | webdataset.

All or nothing: files are written to a hidden sibling folder and renamed
into place at the end, so an interrupted export leaves no half-written
output (and an existing folder is only replaced with ``overwrite``).
Every export carries ``curate-manifest.json``: version name and hash, the
class list (position = label index), lineage columns and the files written.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import time
from pathlib import Path

from curate.core.progress import CancelFn, ProgressFn, no_progress
from curate.core.versions import ExportFormat, ExportResult, VersionInfo
from curate.errors import InvalidInput
from curate.export import rows as rowlib
from curate.export import writers
from curate.outputs import check_output_folder, check_replaceable, output_errors
from curate.processes import pid_alive
from curate.store import samples_repo, versions_repo
from curate.store.catalog import Catalog
from curate.store.objects import ObjectStore

MANIFEST = "curate-manifest.json"


def build_job(
    cat: Catalog,
    objects: ObjectStore,
    info: VersionInfo,
    *,
    progress: ProgressFn = no_progress,
    cancel: CancelFn | None = None,
    engine=None,
) -> writers.ExportJob:
    classes = samples_repo.version_classes(cat, info)
    return writers.ExportJob(
        objects=objects,
        members=versions_repo.members(cat, info.version_id),
        class_names=[name for _, name in classes],
        class_order=[cid for cid, _ in classes],
        version_hash=info.hash,
        progress=progress,
        cancel=cancel,
        engine=engine,
    )


def check_out(out: str | Path, overwrite: bool, *, workspace: str | Path | None = None) -> None:
    """Raise unless ``out`` can receive an export (missing, an empty folder, or ``overwrite``).

    ``overwrite`` never replaces a workspace: not ``workspace`` (the root of
    the one exported from) nor a folder holding it, nor any ``.curate`` folder.
    """
    out = check_output_folder(followed(out))
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise InvalidInput(
                f"{out} is not empty",
                hint="pass --overwrite to replace an earlier export, or name a new or empty folder",
            )
        check_replaceable(out, workspace=workspace)


def followed(out: str | Path) -> str | Path:
    """``out``, or the folder it links to: an export fills a link's target (as ``cp``
    does); publishing renames a folder onto its path, which would replace the link."""
    return Path(out).resolve() if os.path.islink(out) else out


def _tmp_name(out: Path, pid: int) -> str:
    return f".{out.name}.curate-tmp-{pid}"


def _remove_stale_tmps(out: Path) -> None:
    """Remove ``out``'s temporary folders left by exports that died (SIGTERM, SIGKILL).

    Only names of :func:`_tmp_name`'s pattern for this ``out``, and only when
    their PID is no longer alive: a live PID may be another export at work.
    """
    pattern = re.compile(re.escape(f".{out.name}.curate-tmp-") + r"(\d+)")
    try:
        entries = list(os.scandir(out.parent))
    except OSError:
        return  # no parent yet: nothing left behind
    for entry in entries:
        found = pattern.fullmatch(entry.name)
        if not found or int(found[1]) == os.getpid() or pid_alive(int(found[1])):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)


def _prepare(out: Path, overwrite: bool, workspace: Path | None) -> Path:
    check_out(out, overwrite, workspace=workspace)
    tmp = out.parent / _tmp_name(out, os.getpid())
    _remove_stale_tmps(out)
    with output_errors(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    return tmp


def _publish(tmp: Path, out: Path, overwrite: bool) -> None:
    if not overwrite and not out.is_symlink():
        # check_out() passed at the start; another export (or program) may have
        # written ``out`` since. rename() replaces only an empty folder, atomically,
        # so the check cannot race: a non-empty ``out`` is never replaced.
        try:
            os.rename(tmp, out)
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                raise InvalidInput(
                    f"{out} appeared while exporting (another export?); left it as it is",
                    hint="export again, with --overwrite to replace it",
                ) from None
            raise InvalidInput(f"cannot write {out}: {exc.strerror or exc}") from None
        return
    old = None
    with output_errors(out):
        if out.exists():
            old = out.parent / f".{out.name}.curate-old-{os.getpid()}"
            os.replace(out, old)
        try:
            os.replace(tmp, out)
        except BaseException:
            if old is not None:  # put the earlier export back
                os.replace(old, out)
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _manifest(
    info: VersionInfo, fmt: ExportFormat, job: writers.ExportJob, splits: dict[str, int], root: Path
) -> dict:
    files = sorted(
        (str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file()
    )
    return {
        "curate_export": 1,
        "format": fmt.value,
        "version": info.name,
        "version_id": info.version_id,
        "hash": info.hash,
        "parent": info.parent,
        "message": info.message,
        "created_at": info.created_at.isoformat(),
        "classes": job.class_names,
        "label": "index into classes; null/absent for unlabeled samples",
        "splits": splits,
        "samples": sum(splits.values()),
        "columns": rowlib.COLUMNS,
        "lineage_columns": rowlib.LINEAGE_COLUMNS,
        "files": [{"path": p, "bytes": n} for p, n in files],
    }


def _write(job, fmt: ExportFormat, tmp: Path, info: VersionInfo, shard_samples: int):
    """(rows per split, unlabeled rows skipped) of the format's writer."""
    if fmt is ExportFormat.PARQUET:
        return writers.write_parquet(job, tmp), 0
    if fmt is ExportFormat.HF:
        return writers.write_hf(job, tmp, description=f"curate {info.name} {info.hash}"), 0
    if fmt is ExportFormat.IMAGEFOLDER:
        return writers.write_imagefolder(job, tmp)
    return writers.write_webdataset(job, tmp, shard_samples=shard_samples), 0


def export_version(
    cat: Catalog,
    objects: ObjectStore,
    info: VersionInfo,
    fmt: ExportFormat | str,
    out: str | Path,
    *,
    overwrite: bool = False,
    shard_samples: int = writers.SHARD_SAMPLES,
    progress: ProgressFn = no_progress,
    cancel: CancelFn | None = None,
    engine=None,
) -> ExportResult:
    """Write ``info``'s samples as ``fmt`` under ``out``.

    ``engine`` (``"local"``, ``"ray"``, settings, an open engine; default:
    the environment's, else local): where rows are built and shards written.
    The files are byte-identical on every engine.
    """
    from curate.engines import using_engine

    started = time.perf_counter()
    try:
        fmt = ExportFormat(fmt)
    except ValueError:
        raise InvalidInput(
            f"unknown export format {fmt!r}: use one of {', '.join(f.value for f in ExportFormat)}"
        ) from None
    if shard_samples and fmt is not ExportFormat.WEBDATASET:
        raise InvalidInput("--shard-samples is for --format webdataset only")
    out = Path(followed(out)).absolute()
    check_output_folder(out)  # a bad --out fails before the catalog is read
    job = build_job(cat, objects, info, progress=progress, cancel=cancel)
    writers.check_names(job, hf=fmt is ExportFormat.HF, imagefolder=fmt is ExportFormat.IMAGEFOLDER)
    # The object store lives in <workspace>/.curate/objects.
    tmp = _prepare(out, overwrite, Path(objects.root).absolute().parent.parent)
    try:
        progress(0, job.members.num_rows, "exporting")
        with using_engine(engine, packs_dir=objects.packs_dir) as runner:
            job.engine = runner
            splits, skipped = _write(job, fmt, tmp, info, shard_samples)
        manifest = _manifest(info, fmt, job, splits, tmp)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        files = len(manifest["files"]) + 1
        size = sum(f["bytes"] for f in manifest["files"]) + (tmp / MANIFEST).stat().st_size
        _publish(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    warnings = (
        writers.imagefolder_warnings(out, job.class_names)
        if fmt is ExportFormat.IMAGEFOLDER
        else []
    )
    unsplit = splits.get(writers.UNSPLIT, 0)
    if unsplit and fmt in (ExportFormat.PARQUET, ExportFormat.IMAGEFOLDER):
        # datasets' folder loaders know train/validation/test by name and skip the rest.
        where = "data/unsplit-*.parquet" if fmt == ExportFormat.PARQUET else "unsplit/**"
        warnings.append(
            f"{unsplit} sample(s) have no split and were written as split '{writers.UNSPLIT}', which "
            f"load_dataset('{fmt.value}', data_dir=...) skips: split them first "
            f"(`curate split`, then commit), or load them with "
            f"data_files={{'{writers.UNSPLIT}': '{out}/{where}'}}"
        )
    return ExportResult(
        warnings=warnings,
        version=info.name,
        hash=info.hash,
        format=fmt,
        out=str(out),
        samples=sum(splits.values()),
        splits=splits,
        skipped_unlabeled=skipped,
        files=files,
        bytes=size,
        seconds=round(time.perf_counter() - started, 3),
        manifest=str(out / MANIFEST),
    )
