"""Export a version to a folder: hf | parquet | imagefolder | webdataset.

All or nothing: files are written to a hidden sibling folder and renamed
into place at the end, so an interrupted export leaves no half-written
output (and an existing folder is only replaced with ``overwrite``).
Replacing an earlier export leaves nothing behind either: see :func:`_publish`
for what happens on a failure or Ctrl-C, and :func:`_clean_leftovers` for
what the next export does with what a killed one left.
Every export carries ``curate-manifest.json``: version name and hash, the
class list (position = label index), lineage columns and the files written.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import threading
import time
from pathlib import Path

from curate.core.progress import CancelFn, ProgressFn, no_progress
from curate.core.versions import ExportFormat, ExportResult, VersionInfo
from curate.errors import InvalidInput
from curate.export import rows as rowlib
from curate.export import writers
from curate.outputs import (
    WORKSPACE_MARKER,
    check_output_folder,
    check_replaceable,
    output_errors,
)
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
    resolved = Path(out).absolute().resolve()
    if any(p.name == WORKSPACE_MARKER for p in (resolved, *resolved.parents)):
        # A workspace's own files (catalog, packs): an export there could be taken
        # for them, or be deleted with the workspace's caches.
        raise InvalidInput(
            f"refusing to export into {out}: it is inside a workspace's {WORKSPACE_MARKER} folder",
            hint="name a folder outside .curate, e.g. beside the workspace",
        )
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
    """The folder an export writes into (and, at the end, deletes the earlier export from)."""
    return f".{out.name}.curate-tmp-{pid}"


def _old_name(out: Path, pid: int) -> str:
    """Where an earlier export waits, intact, while ``--overwrite`` puts the new one in place."""
    return f".{out.name}.curate-old-{pid}"


def _remove(path: Path) -> bool:
    """Delete the folder (or link) ``path`` as far as possible; whether it is gone."""
    try:
        if path.is_symlink():
            path.unlink()
        else:
            shutil.rmtree(path, ignore_errors=True)
    except OSError:
        pass
    return not os.path.lexists(path)


def _clean_leftovers(out: Path) -> tuple[list[str], str | None]:
    """Tidy what exports to ``out`` killed mid-way (SIGKILL, SIGTERM, a power cut) left.

    ``.OUT.curate-tmp-PID``: a half-written export, or an earlier export half
    deleted: removed. ``.OUT.curate-old-PID``: an earlier export set aside,
    intact, by an export killed while replacing it (see :func:`_publish`):
    put back as ``out`` when ``out`` is missing (the newest one, if several),
    else removed. Only names of this ``out``, and only when their PID is no
    longer alive: a live PID may be another export at work (this process's
    own are its business). Returns a one-line note per thing done, and
    the one on an earlier export put back (None if none was).
    """
    pattern = re.compile(re.escape(f".{out.name}.curate-") + r"(tmp|old)-(\d+)")
    try:
        entries = list(os.scandir(out.parent))
    except OSError:
        return [], None  # no parent yet: nothing left behind
    tmps, olds = [], []
    for entry in entries:
        found = pattern.fullmatch(entry.name)
        if not found or int(found[2]) == os.getpid() or pid_alive(int(found[2])):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
            mtime = entry.stat(follow_symlinks=False).st_mtime_ns
        except OSError:  # gone meanwhile (another export cleaning up)
            continue
        (tmps if found[1] == "tmp" else olds).append((mtime, Path(entry.path), int(found[2])))
    notes = []
    for _mtime, path, pid in tmps:
        if _remove(path):
            notes.append(
                f"removed {path.name}: unfinished work of an export to {out} that was "
                f"stopped (process {pid})"
            )
    restored = None
    for _mtime, path, pid in sorted(olds, reverse=True):  # the newest first
        if not restored and not os.path.lexists(out):
            try:
                os.rename(path, out)  # replaces at most an empty folder made meanwhile
            except OSError:
                pass
            else:
                restored = (
                    f"put back the earlier export {out}, which an export stopped while "
                    f"replacing it (process {pid}) had left as {path.name}"
                )
                notes.append(restored)
                continue
        # Under the temporary name first: if this is killed too, what is left is
        # removed next time, never put back half deleted.
        trash = path.with_name(_tmp_name(out, pid))
        try:
            os.rename(path, trash)
        except OSError:
            trash = path
        if _remove(trash):
            notes.append(
                f"removed {path.name}: an earlier export of {out}, set aside by an export "
                f"stopped while replacing it (process {pid})"
            )
    return notes, restored


def _prepare(out: Path, overwrite: bool, workspace: Path | None) -> tuple[Path, list[str]]:
    """The temporary folder to write into, and notes on what earlier exports left."""
    notes, restored = _clean_leftovers(out)
    try:
        check_out(out, overwrite, workspace=workspace)
    except InvalidInput as exc:
        if restored:  # what made ``out`` not empty must be said
            raise InvalidInput(f"{exc.message} ({restored})", hint=exc.hint) from None
        raise
    tmp = out.parent / _tmp_name(out, os.getpid())
    with output_errors(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    return tmp, notes


class _HeldCtrlC:
    """Ctrl-C (SIGINT) held back while an export is put in place: ``held`` counts them.

    Publishing is a few renames that must all happen or be undone, then the
    deletion of the earlier export, which must finish: a KeyboardInterrupt
    landing between two of them would leave OUT missing or an earlier export
    half deleted beside it. Held Ctrl-Cs are played to the previous handler
    at one chosen point (:meth:`replay`), or dropped once the export is in
    place. The cost: Ctrl-C waits for the earlier export's deletion (one
    folder per class and split, or a few big files, except for an image
    folder export of many samples); Ctrl-\\ or a kill still stop it, and the
    next export removes the rest. Only the main thread runs Python's signal
    handlers and may set one: elsewhere (a TUI worker) no KeyboardInterrupt
    can arrive, and this does nothing; nor with SIGINT ignored or not handled
    from Python.
    """

    def __init__(self) -> None:
        self.held = 0
        self._previous = None

    def __enter__(self) -> _HeldCtrlC:
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if callable(previous):
                signal.signal(signal.SIGINT, self._hold)
                self._previous = previous
        return self

    def _hold(self, signum, frame) -> None:
        self.held += 1

    def replay(self) -> None:
        """What the Ctrl-Cs held so far would have done, done now (a KeyboardInterrupt)."""
        while self.held and self._previous is not None:
            self.held -= 1
            self._previous(signal.SIGINT, None)

    def __exit__(self, *exc_info) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def _publish(tmp: Path, out: Path, overwrite: bool, ctrl_c: _HeldCtrlC) -> list[str]:
    """Rename the finished ``tmp`` to ``out``; warnings (an earlier export not deleted).

    Called with Ctrl-C held (``ctrl_c``). With ``overwrite`` the earlier
    export in ``out`` is set aside as ``.OUT.curate-old-PID``, ``tmp`` renamed
    to ``out``, the earlier export renamed to ``tmp``'s name, now free, and
    deleted. If the second rename fails the earlier export is put back; if a
    Ctrl-C held during the renames stops the export, they are undone: either
    way ``out`` is the earlier export again, intact, and ``tmp`` the new one
    (the caller removes it). Once the earlier export is in ``tmp``, the new
    one stays: its deletion finishes, a Ctrl-C meanwhile is held and dropped.
    Killed between the first two renames, an export leaves
    ``.OUT.curate-old-PID`` (intact) and no ``out``; killed while deleting,
    a temporary folder: :func:`_clean_leftovers` puts back the one and
    removes the other.
    """
    old = out.parent / _old_name(out, os.getpid())
    set_aside = False
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
    else:
        with output_errors(out):
            set_aside = os.path.lexists(out)
            if set_aside:
                os.replace(out, old)
            try:
                os.replace(tmp, out)
            except BaseException:
                if set_aside:
                    _put_back(old, out)
                raise
    try:
        ctrl_c.replay()  # a Ctrl-C that came meanwhile stops the export here ...
    except BaseException:
        try:
            os.replace(out, tmp)  # ... undone: ``tmp`` is the new export again
        except OSError:
            pass  # cannot undo: the new export stays, as if Ctrl-C had come later
        else:
            if set_aside:
                _put_back(old, out)
            raise
    if not set_aside:
        return []
    trash = tmp
    try:
        os.replace(old, trash)
    except OSError:
        trash = old  # deleted where it is
    if not _remove(trash):
        return [f"could not delete all of the earlier export of {out}: delete {trash} yourself"]
    return []


def _put_back(old: Path, out: Path) -> None:
    """Rename the earlier export set aside as ``old`` back to ``out``."""
    try:
        os.replace(old, out)
    except OSError as exc:
        raise InvalidInput(
            f"cannot write {out}, nor put the earlier export back: {exc.strerror or exc}",
            hint=f"it is in {old}: rename it to {out.name}",
        ) from None


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


def _warnings(
    fmt: ExportFormat, out: Path, job: writers.ExportJob, splits: dict[str, int]
) -> list[str]:
    """What a reader of the export in ``out`` must know."""
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
    return warnings


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
    tmp, notes = _prepare(out, overwrite, Path(objects.root).absolute().parent.parent)
    ctrl_c = _HeldCtrlC()
    try:
        progress(0, job.members.num_rows, "exporting")
        with using_engine(engine, packs_dir=objects.packs_dir) as runner:
            job.engine = runner
            splits, skipped = _write(job, fmt, tmp, info, shard_samples)
        manifest = _manifest(info, fmt, job, splits, tmp)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        files = len(manifest["files"]) + 1
        size = sum(f["bytes"] for f in manifest["files"]) + (tmp / MANIFEST).stat().st_size
        with ctrl_c:  # the export is all there: put in place, and finished, without a break
            notes += _publish(tmp, out, overwrite, ctrl_c)
            warnings = notes + _warnings(fmt, out, job, splits)
            result = ExportResult(
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
            if ctrl_c.held:
                result.warnings.append("Ctrl-C came once the export was in place: it was finished")
    except BaseException:
        _remove(tmp)  # the unfinished export (or, from _publish, the new one, undone)
        raise
    return result
