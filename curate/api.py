"""The Python API: everything the CLI and the TUI do goes through here.

ws = curate.Workspace.init("my-ws")
ws.ingest("sample_data/digits")
print(ws.status().classes)
"""

from __future__ import annotations

import numbers
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from curate.core.models import IngestFormat, IngestReport, WorkspaceStatus
from curate.core.progress import CANCELLED, CancelFn, ProgressFn, no_progress
from curate.errors import Cancelled, InvalidInput, NotFound, WorkspaceExists
from curate.store.catalog import Catalog
from curate.store.lock import WriterLock
from curate.store.objects import ObjectStore
from curate.workspace_paths import WorkspacePaths, find_workspace, inside_meta

#: How long work with results at stake (a finished scan, admitted synthetic
#: samples) waits for another process that is writing, before giving up.
RESULTS_WAIT_SECONDS = 600.0

#: The splits of the working state: those some live sample is in.
_SPLITS_SQL = "SELECT DISTINCT split FROM working WHERE split IS NOT NULL ORDER BY 1"


# -- argument checks ---------------------------------------------------------------------
# Scripts call the facade with whatever they have at hand; a wrong type must be
# a one-line InvalidInput naming the argument here, not a TypeError (or a DuckDB
# conversion error) from deep inside an engine.
def _wrong(name: str, expected: str, value: object) -> InvalidInput:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:56] + " ..."
    return InvalidInput(f"{name} must be {expected}, not {shown} ({type(value).__name__})")


def _whole(name: str, value: Any, *, optional: bool = False) -> int | None:
    """``value`` as an int (numpy integers too; never a bool or a numeric string)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _wrong(name, "a whole number", value)
    return int(value)


def _number(name: str, value: Any, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _wrong(name, "a number", value)
    return float(value)


def _text(name: str, value: Any, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _wrong(name, "a string", value)
    return value


def _flag(name: str, value: Any) -> bool:
    # "no" or "false" would be true: a flag that turns off a dry run must be a bool
    if not isinstance(value, bool) and type(value).__name__ not in ("bool_", "bool"):
        raise _wrong(name, "True or False", value)
    return bool(value)


def _path(name: str, value: Any, *, optional: bool = False) -> str | Path | None:
    if value is None and optional:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise _wrong(name, "a path (str or pathlib.Path)", value)
    return value


def _path_ref(value: os.PathLike) -> str:
    """A path naming a sample, as text that reads as a path: a bare relative
    ``Path("1234")`` would otherwise name the sid 1234 or an id prefix."""
    text = os.fsdecode(os.fspath(value))
    if not os.path.isabs(text) and os.sep not in text:
        text = os.path.join(os.curdir, text)
    return text


def _names(name: str, value: Any, *, numbers_too: bool = False) -> list[str] | None:
    """``classes=``, ``origins=``, ``names=``: None, one name, or an iterable of names.

    One rule across the API: a single str is one name (``classes="12"`` is the
    class "12", never "1" and "2"). ``numbers_too``: a whole number names the
    class of that name (digit datasets), as ``relabel`` takes it.
    """
    if value is None:
        return None
    if isinstance(value, str) or (
        numbers_too and isinstance(value, numbers.Integral) and not isinstance(value, bool)
    ):
        value = [value]
    if isinstance(value, (bytes, Mapping)) or not isinstance(value, Iterable):
        raise _wrong(name, "a name or a list of names", value)
    out = []
    for item in value:
        if numbers_too and isinstance(item, numbers.Integral) and not isinstance(item, bool):
            item = str(int(item))
        if not isinstance(item, str):
            raise _wrong(f"each of {name}", "a name (str)", item)
        out.append(item)
    return out


def _request(model, values: dict[str, Any]):
    """``model`` validated from ``values``; one InvalidInput naming every problem
    (pydantic lists them all; the first alone hid a misspelt argument behind the
    "Field required" of the one it meant)."""
    import difflib

    from pydantic import ValidationError

    try:
        return model.model_validate(values)
    except ValidationError as exc:
        fields = list(model.model_fields)
        problems, unknown = [], False
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden" and len(err["loc"]) == 1:
                unknown = True
                close = difflib.get_close_matches(loc, fields, n=1)
                problems.append(
                    f"unknown argument {loc!r}"
                    + (f" (did you mean {close[0]!r}?)" if close else "")
                )
            else:
                problems.append(f"{loc}: {err['msg']}" if loc else err["msg"])
        hint = f"arguments: {', '.join(fields)}" if unknown else None
        raise InvalidInput("; ".join(problems), hint=hint) from None


@contextmanager
def _cancel_says(message: str) -> Iterator[None]:
    """Engines that keep nothing when cancelled: replace the neutral "cancelled by
    request" of :func:`curate.core.progress.check_cancel` with what happened."""
    try:
        yield
    except Cancelled as exc:
        if exc.message != CANCELLED:  # the engine said something more precise
            raise
        raise Cancelled(message, hint=exc.hint) from None


class Workspace:
    """A curate workspace: a DuckDB catalog plus a content-addressed object store.

    Make one with :meth:`init` or open one with :meth:`open`; use it as a context
    manager (or call :meth:`close`) so the catalog and the writer lock are let go.
    Wrong arguments raise one-line :class:`curate.errors.InvalidInput`, names of
    things that do not exist :class:`curate.errors.NotFound`.
    """

    def __init__(self, paths: WorkspacePaths) -> None:
        self.paths = paths
        self.objects = ObjectStore(paths.objects)
        self._lock = WriterLock(paths.lock)
        self._catalog: Catalog | None = None

    # -- lifecycle --------------------------------------------------------------
    @classmethod
    def init(cls, path: str | Path) -> Workspace:
        """Create a new, empty workspace in the folder ``path`` and return it, open.

        The folder may exist (its files are left alone: curate writes only its
        ``.curate`` folder); a folder that already is a workspace is a
        WorkspaceExists, one inside another workspace's ``.curate`` an InvalidInput.
        """
        paths = WorkspacePaths(Path(_path("path", path)).absolute())
        if paths.exists():
            raise WorkspaceExists(f"{path} is already a curate workspace")
        owner = inside_meta(paths.root) or inside_meta(paths.root.resolve())
        if owner is not None:
            raise InvalidInput(
                f"refusing to create a workspace in {path}: it is inside the .curate folder "
                f"of the workspace {owner}",
                hint="choose a folder outside it",
            )
        if paths.root.exists() and not paths.root.is_dir():
            raise InvalidInput(f"{path} exists and is not a folder")
        created_meta = not paths.meta.exists()
        try:
            paths.meta.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidInput(
                f"cannot create a workspace in {path}: {exc.strerror or exc}"
            ) from None
        try:
            ws = cls(paths)
            ws.objects.create()
            with ws._lock:
                # Build the catalog under a temporary name so a crash never
                # leaves a half-migrated file that looks like a workspace.
                tmp = paths.meta / "catalog.duckdb.init"
                tmp.unlink(missing_ok=True)
                cat = Catalog(tmp, read_only=False)
                cat.migrate()
                cat.con.execute("CHECKPOINT")
                cat.close()
                tmp.rename(paths.catalog)
        except BaseException:
            if created_meta:
                shutil.rmtree(paths.meta, ignore_errors=True)
            raise
        return ws

    @classmethod
    def open(cls, path: str | Path | None = None) -> Workspace:
        """Open the workspace at ``path``, or find it from the current directory upwards.

        Returns the :class:`Workspace`; none there is a WorkspaceNotFound.
        """
        _path("path", path, optional=True)
        return cls(find_workspace(Path(path) if path is not None else None))

    def close(self) -> None:
        """Close the catalog connection and the object store and let go of the writer
        lock; returns None. ``with Workspace.open(...) as ws:`` calls it for you."""
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None
        self.objects.close()
        self._lock.release()

    def disconnect(self) -> None:
        """Close the catalog connection; the next call that needs it reconnects.

        While a process holds the DuckDB file open read-write no other process
        can open it, so a long-lived process (the TUI) disconnects while idle.
        Not while writing: the writer's connection would close under it.
        """
        if self._lock.held:
            raise RuntimeError("disconnect() inside writing()")
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def root(self) -> Path:
        """The workspace folder (the one holding ``.curate``)."""
        return self.paths.root

    # -- catalog access ---------------------------------------------------------
    def catalog(
        self,
        *,
        write: bool = False,
        wait: float = 0.0,
        on_wait: Callable[[str], None] | None = None,
    ) -> Catalog:
        """The catalog; ``write=True`` needs the writer lock (see :meth:`writing`).

        A program outside curate holding the file (a DuckDB client; curate's own
        writers hold the lock first) is waited for up to ``wait`` seconds, at
        least a few, with ``on_wait(message)`` once.
        """
        cat = self._catalog
        if cat is not None and (not write or not cat.read_only):
            return cat
        if cat is not None:
            cat.close()
        if write:
            self._catalog = Catalog(self.paths.catalog, read_only=False, wait=wait, on_wait=on_wait)
            self._catalog.migrate()
        else:
            probe = Catalog(self.paths.catalog, read_only=True)
            if probe.pending_migrations() > 0:
                probe.close()
                with self.writing():
                    pass  # migrates
                return self.catalog()
            self._catalog = probe
        return self._catalog

    @contextmanager
    def writing(
        self, *, wait: float = 0.0, on_wait: Callable[[str], None] | None = None
    ) -> Iterator[Catalog]:
        """Hold the single-writer lock and yield a writable catalog.

        Another process writing: wait up to ``wait`` seconds for it (default:
        none, the error names it at once), calling ``on_wait(message)`` once.
        Long work that has results at stake (a scan, a synthesis) waits, for
        a curate writer and for a program that has the catalog file open alike.
        """

        def busy(holder: str) -> None:
            # The holder may be waiting for our connection to open the catalog
            # read-write (DuckDB allows one process then): close it first, or both
            # wait until one gives up. Ours may be read-write too, left open by an
            # earlier write of this process (a synthesis admits in several steps);
            # nothing writes through it without the lock, which we do not hold.
            if self._catalog is not None:
                self._catalog.close()
                self._catalog = None
            if on_wait is not None:
                on_wait(f"waiting for PID {holder} to finish writing")

        self._lock.acquire(wait=wait, on_busy=busy)
        try:
            yield self.catalog(write=True, wait=wait, on_wait=on_wait)
        finally:
            self._lock.release()

    # -- operations --------------------------------------------------------------
    def ingest(
        self,
        source: str | Path,
        *,
        format: IngestFormat | str = IngestFormat.AUTO,
        path_column: str = "path",
        label_column: str | None = None,
        split_column: str = "split",
        image_column: str | None = None,
        root: str | Path | None = None,
        max_pixels: int | None = None,
        batch_size: int | None = None,
        progress: ProgressFn = no_progress,
        cancel: CancelFn | None = None,
    ) -> IngestReport:
        """Bring the images of ``source`` into the workspace; returns an IngestReport.

        Idempotent: images already stored (same bytes) are counted, not added again.
        ``format``: ``auto`` (the default: guessed from ``source``), ``imagefolder``
        (``source/<class>/<image>``, or ``source/<split>/<class>/<image>``),
        ``manifest`` (a CSV or parquet file listing the images) or ``hf`` (a
        Hugging Face dataset saved to disk). The column arguments name a
        manifest's or dataset's columns: ``path_column`` the image path (relative
        to ``root``, default: the manifest's folder), ``label_column`` the class
        (default: ``label``; a dataset's only ClassLabel), ``split_column`` the
        split, ``image_column`` a dataset's Image feature (default: found).
        Images above ``max_pixels`` pixels are quarantined; ``batch_size`` images
        are committed at a time. Cancelling raises Cancelled saying how many
        inputs were read and stored (every finished batch is kept).
        """
        from curate.ingest.decode import DEFAULT_MAX_PIXELS
        from curate.ingest.engine import BATCH_SIZE, IngestOptions, run_ingest
        from curate.ingest.sources import ColumnNames

        _path("source", source)
        _path("root", root, optional=True)
        path_column = _text("path_column", path_column)
        label_column = _text("label_column", label_column, optional=True)
        split_column = _text("split_column", split_column)
        image_column = _text("image_column", image_column, optional=True)
        max_pixels = _whole("max_pixels", max_pixels, optional=True)
        batch_size = _whole("batch_size", batch_size, optional=True)
        # Absolute and normalised ("ws/../data" -> "data"), symlinks kept: the
        # paths stored for the images must be the same from every working directory,
        # or a re-ingest from elsewhere would record every image again under new paths.
        src = Path(os.path.abspath(source))
        if not src.exists():
            raise InvalidInput(f"source {source} does not exist")
        owner = inside_meta(src) or inside_meta(src.resolve())
        if owner is not None:
            raise InvalidInput(
                f"refusing to ingest {source}: it is inside the .curate folder of the "
                f"workspace {owner} (curate's own files, not images)",
                hint="ingest the folder of your images",
            )
        try:
            fmt = IngestFormat(format)
        except ValueError:
            raise InvalidInput(
                f"unknown format {format!r}: use one of auto, imagefolder, manifest, hf"
            ) from None
        options = IngestOptions(
            fmt=fmt,
            columns=ColumnNames(path_column, label_column, split_column, image_column),
            root=None if root is None else Path(os.path.abspath(root)),
            max_pixels=max_pixels or DEFAULT_MAX_PIXELS,
            batch_size=batch_size or BATCH_SIZE,
        )
        with self.writing() as cat:
            return run_ingest(cat, self.objects, src, options, progress=progress, cancel=cancel)

    def status(self) -> WorkspaceStatus:
        """A WorkspaceStatus: samples, classes (with counts per split), splits,
        origins, quarantined inputs, label and split conflicts, unlabeled samples
        and the bytes on disk."""
        from curate.core.models import ClassCount
        from curate.store import status_repo

        cat = self.catalog()
        classes = status_repo.class_counts(cat)
        summary = status_repo.summary(cat)
        object_bytes = self.objects.size_bytes()
        catalog_bytes = self.paths.catalog.stat().st_size
        wal = self.paths.catalog.with_suffix(".duckdb.wal")
        catalog_bytes += wal.stat().st_size if wal.exists() else 0
        return WorkspaceStatus(
            path=str(self.root),
            samples=summary["samples"],
            classes={name: count for _, name, count, _ in classes},
            class_details=[
                ClassCount(class_id=cid, name=name, count=count, by_split=by_split)
                for cid, name, count, by_split in classes
            ],
            splits=summary["splits"],
            origins=summary["origins"],
            quarantined=sum(summary["quarantine_reasons"].values()),
            quarantine_reasons=summary["quarantine_reasons"],
            conflicts=summary["conflicts"],
            split_conflicts=summary["split_conflicts"],
            unlabeled=summary["unlabeled"],
            workspace_bytes=object_bytes + catalog_bytes,
            object_bytes=object_bytes,
            catalog_bytes=catalog_bytes,
            schema_version=cat.schema_version(),
        )

    def quarantine(self) -> list[tuple[str, str]]:
        """A list of (path, reason): every input that was skipped and never ingested since."""
        return self.catalog().rows(
            "SELECT uri, arg_max(reason, created_at) FROM quarantine "
            "WHERE uri NOT IN (SELECT uri FROM sources) GROUP BY uri ORDER BY uri"
        )

    # -- samples --------------------------------------------------------------------
    def samples(
        self,
        *,
        split: str | None = None,
        classes: list[str] | None = None,
        origins: list[str] | None = None,
    ):
        """The live samples as a pyarrow Table (one row each, ordered by sid).

        ``split``: only that split's samples (a split no sample is in is a
        NotFound naming the splits there are). ``classes`` / ``origins``: only
        samples of these classes / origins (original, augmented, synthetic); a
        single str is one name (``classes="12"`` is the class "12").
        """
        from curate.core.models import Origin
        from curate.store import samples_repo

        classes = _names("classes", classes, numbers_too=True)
        origins = _names("origins", origins)
        cat = self.catalog()
        split = self._check_split(cat, split)
        class_ids = self._class_ids(classes)
        if origins is not None:
            kinds = [o.value for o in Origin]
            bad = [o for o in origins if o not in kinds]
            if bad:  # a fixed vocabulary, like finding kinds: a bad argument
                raise InvalidInput(f"unknown origin {bad[0]!r}: use one of {', '.join(kinds)}")
        return samples_repo.working_samples(cat, split=split, class_ids=class_ids, origins=origins)

    def _class_ids(self, classes: list[str] | None) -> list[int] | None:
        """class_ids of the class ``classes`` names; a NotFound naming an unknown one."""
        if classes is None:
            return None
        known = {name: cid for cid, name in self.classes()}
        unknown = [c for c in classes if c not in known]
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], list(known), n=1)
            hint = f"classes: {', '.join(known) or 'none'}"
            raise NotFound(
                f"no class named {unknown[0]!r}",
                hint=hint + (f"; did you mean {close[0]!r}?" if close else ""),
            )
        return [known[c] for c in classes]

    def _check_split(self, cat, split: str | None) -> str | None:
        """``split`` checked to hold a live sample; a NotFound naming the splits there are."""
        from curate.versions.view import split_arg, unknown_split

        if split is None:
            return None
        split = split_arg(split)
        known = [r[0] for r in cat.rows(_SPLITS_SQL)]
        if split not in known:
            unsplit = int(cat.scalar("SELECT count(*) FROM working WHERE split IS NULL") or 0)
            raise unknown_split("the working state", split, known, unsplit)
        return split

    def classes(self) -> list[tuple[int, str]]:
        """(class_id, name) pairs in class_id order (every class, even one with no samples)."""
        from curate.store import samples_repo

        return samples_repo.classes(self.catalog())

    def load_pixels(self, table, *, size: tuple[int, int] | None = None, mode: str | None = None):
        """Decode the rows of ``table`` (from :meth:`samples`) to a (N, H, W, C) uint8 array.

        ``size`` defaults to the most common (width, height); ``mode`` to L when
        every image is grayscale, else RGB.
        """
        from collections import Counter

        from curate.imaging import common_mode, load_pixels

        if size is None:
            pairs = zip(
                table.column("width").to_pylist(), table.column("height").to_pylist(), strict=True
            )
            size = Counter(pairs).most_common(1)[0][0] if table.num_rows else (1, 1)
        mode = mode or common_mode(table.column("mode").to_pylist())
        return load_pixels(self.objects, table, size=size, mode=mode)

    def add_samples(self, samples) -> list[int]:
        """Store new (augmented/synthetic) samples as pending ``add`` changes.

        ``samples``: :class:`curate.core.models.NewSample` objects (what the engines
        make). Returns their sids, in order.
        """
        from curate.store import changes_repo

        with self.writing(wait=RESULTS_WAIT_SECONDS) as cat:  # a synthesis's admitted samples
            return changes_repo.add_samples(cat, self.objects, list(samples))

    def balancing_plan(self, *, target: int | None = None, split: str | None = "train"):
        """Extra samples each class needs to reach ``target`` (default: the largest class).

        Counts come from the training side: samples in ``split`` plus samples
        with no split yet (augmentation and synthesis only ever add to train,
        so in an unsplit workspace originals and derived samples count
        together). ``split=None`` counts every live sample. A ``split`` no sample
        is in is a NotFound (except the default, ``train``, before any split).
        Returns a :class:`curate.core.balance.BalancingPlan` (count and need per class).
        """
        from curate.core.balance import plan_balance

        target = _whole("target", target, optional=True)
        cat = self.catalog()
        if split is not None:
            known = [r[0] for r in cat.rows(_SPLITS_SQL)]
            if split not in known and (known or split != "train"):
                self._check_split(cat, split)  # raises, naming the splits there are
        where = "AND (w.split = ? OR w.split IS NULL)" if split is not None else ""
        counts = cat.rows(
            "SELECT c.class_id, c.name, count(w.sid) FROM classes c "
            f"LEFT JOIN working w ON w.class_id = c.class_id {where} GROUP BY ALL ORDER BY 1",
            [split] if split is not None else [],
        )
        # Name the split only when some sample is in it: None means "unsplit, all counted".
        named = (
            split
            if split is not None
            and cat.scalar("SELECT count(*) FROM working WHERE split = ?", [split])
            else None
        )
        return plan_balance(counts, target=target, split=named)

    # Engines add their facade methods below, one section each, in issue order.
    # -- scan (issue 3) ----------------------------------------------------------------
    def scan(
        self,
        extractor: str | None = None,
        *,
        params: dict | None = None,
        folds: int = 5,
        device: str = "auto",
        seed: int = 0,
        streaming: bool | None = None,
        max_train: int = 50_000,
        workers: int | None = None,
        progress: ProgressFn = no_progress,
        cancel: CancelFn | None = None,
        engine=None,
    ):
        """Scan the live samples for label errors, duplicates, outliers and bad images.

        Returns a :class:`curate.core.findings.ScanResult`; the findings are
        recorded in the catalog as one run (see :meth:`findings`). Nothing is
        recorded when the scan is cancelled or fails. ``streaming`` (default:
        above 50,000 samples) keeps pixels, features and embeddings on disk
        under ``.curate/cache/scan`` for the length of the scan; ``max_train``
        caps the rows each fold's classifier heads train on. ``engine``:
        ``"local"`` or ``"ray"`` (or :class:`curate.engines.EngineSettings`;
        default: ``CURATE_ENGINE``, else local) runs decoding, quality checks,
        feature maps and the folds batch by batch; same seed, same findings.
        ``workers``: the local engine's processes for a CPU scan (default 1:
        this process; same findings either way; on 2 cores, 2 scanned 1M images 1.48x
        faster and 10k images slower, 11.6 vs 10.0 s: docs/benchmarks.md).
        Cancelling raises Cancelled and records nothing.
        """
        from curate.core.findings import ScanRequest
        from curate.scan.engine import run_scan
        from curate.store import findings_repo

        request = _request(
            ScanRequest,
            {
                "extractor": extractor,
                "params": params or {},
                "folds": folds,
                "device": device,
                "seed": seed,
                "streaming": streaming,
                "max_train": max_train,
                "workers": workers,
            },
        )
        self._lock.check_writable()  # a read-only workspace: say so before the scan, not after
        with _cancel_says("scan cancelled: no findings were recorded"):
            out = run_scan(
                self.catalog(),
                self.objects,
                request,
                cache_dir=self.paths.cache / "scan",
                progress=progress,
                cancel=cancel,
                engine=engine,
            )

        def waiting(message: str) -> None:
            progress(0, None, message)

        try:
            with self.writing(wait=RESULTS_WAIT_SECONDS, on_wait=waiting) as cat:
                run_id = findings_repo.record_run(
                    cat,
                    extractor=out.extractor,
                    config=out.config,
                    seed=out.seed,
                    timing=out.timing,
                    started_at=out.started_at,
                    findings=out.findings,
                )
        finally:
            out.cleanup()
        plan = None
        if out.labeled:
            try:
                plan = self.balancing_plan()
            except NotFound:  # split, but none named train: the findings still stand
                plan = None
        counts = self.catalog().rows(
            "SELECT c.class_id, c.name, count(w.sid) FROM classes c "
            "JOIN working w ON w.class_id = c.class_id GROUP BY ALL ORDER BY 1"
        )
        return out.result(run_id, plan, [(int(a), b, int(n)) for a, b, n in counts])

    def scan_runs(self):
        """Every recorded scan run, oldest first: a list of
        :class:`curate.core.findings.ScanRun`."""
        from curate.store import findings_repo

        return findings_repo.list_runs(self.catalog())

    def findings(
        self,
        kind: str | None = None,
        *,
        classes: list[str] | None = None,
        limit: int | None = None,
        only_issues: bool = True,
        run_id: int | None = None,
        as_arrow: bool = False,
    ):
        """Findings of the latest scan (or ``run_id``), most suspicious first.

        Each entry (:class:`curate.core.findings.Finding`) has sample_id, sid,
        source (original path), given_label, suggested_label, score (lower =
        more suspicious) and details. ``kind="conflict"`` lists images known
        under two labels, live from the catalog (no scan needed).
        ``classes`` filters on the label the sample had when scanned (a single
        str is one class). ``limit``: at most this many; ``only_issues=False``
        includes the samples not flagged. ``as_arrow`` returns a pyarrow Table
        instead of a list.
        """
        from curate.core.findings import FindingKind
        from curate.core.models import check_limit
        from curate.store import findings_repo

        classes = _names("classes", classes, numbers_too=True)
        run_id = _whole("run_id", run_id, optional=True)
        if kind is not None:
            try:
                kind = FindingKind(kind)
            except ValueError:
                raise InvalidInput(
                    f"unknown finding kind {kind!r}: use one of "
                    + ", ".join(k.value for k in FindingKind)
                ) from None
        check_limit(limit)  # DuckDB casts LIMIT to BIGINT: a huge one must be one line
        cat = self.catalog()
        if kind == FindingKind.CONFLICT:
            self._class_ids(classes)  # validates the names
            table = findings_repo.conflicts_table(cat, class_names=classes, limit=limit)
            return table if as_arrow else findings_repo.conflict_findings(table)
        if run_id is None:
            run_id = findings_repo.latest_run_id(cat)
            if run_id is None:
                raise NotFound("no scan has run in this workspace yet", hint="curate scan")
        elif findings_repo.get_run(cat, run_id) is None:
            raise NotFound(f"no scan run {run_id}")
        class_ids = self._class_ids(classes)
        table = findings_repo.findings_table(
            cat, run_id, kind=kind, class_ids=class_ids, limit=limit, only_issues=only_issues
        )
        return table if as_arrow else findings_repo.findings_from_table(table)

    def duplicate_groups(self, run_id: int | None = None) -> list[list[int]]:
        """sids of each group of exact or near duplicates found by the latest scan.

        Groups are disjoint (exact and near groups sharing a sample are merged),
        sorted by their smallest sid; only live samples; [] before any scan.
        Returns a list of lists of sids.
        """
        from curate.store import findings_repo

        run_id = _whole("run_id", run_id, optional=True)
        cat = self.catalog()
        run_id = run_id if run_id is not None else findings_repo.latest_run_id(cat)
        if run_id is None:
            return []
        return findings_repo.duplicate_groups(cat, run_id)

    def classifier(
        self,
        *,
        exclude_label_issues: bool = True,
        extractor: str | None = None,
        device: str = "auto",
        seed: int | None = None,
        split: str | None = None,
        progress: ProgressFn = no_progress,
        cancel: CancelFn | None = None,
    ):
        """A classifier trained on the live labeled samples (see :mod:`curate.scan.classifier`).

        Uses the latest scan's extractor and seed by default and leaves out
        the samples it flagged as mislabelled. ``split``: train on that split
        only (default: every live labeled sample). Returns a
        :class:`curate.scan.classifier.Classifier`: ``.predict_proba(images)``
        columns follow ``.class_names``. Cancelling raises Cancelled (no classifier).
        """
        from curate.scan.classifier import classifier_from_workspace

        seed = _whole("seed", seed, optional=True)
        with _cancel_says("training cancelled: no classifier was made"):
            return classifier_from_workspace(
                self,
                exclude_label_issues=exclude_label_issues,
                extractor=extractor,
                device=device,
                seed=seed,
                split=split,
                progress=progress,
                cancel=cancel,
            )

    # -- working changes, splits, versions, export (issue 4) -----------------------
    def resolve_sample(self, ref: str | os.PathLike) -> int:
        """sid (an int) of the sample named by its sample_id, a unique id prefix or a
        source path (a str or a pathlib.Path)."""
        from curate.store import worktree_repo

        if isinstance(ref, os.PathLike):
            ref = _path_ref(ref)
        return worktree_repo.resolve_sample(self.catalog(), _text("sample", ref))

    def _sids(self, samples) -> list[int]:
        """sids of ``samples`` (a sid, a reference string or path, or a list of them); a
        NotFound for a sid no sample has, an InvalidInput for anything that names no sample
        (a mapping too: its keys are no way to name samples)."""

        def wrong(ref) -> InvalidInput:
            shown = repr(ref) if len(repr(ref)) <= 60 else repr(ref)[:56] + " ..."
            return InvalidInput(
                f"cannot name a sample by {shown} ({type(ref).__name__})",
                hint="name a sample by its sid (a whole number), its id, a unique id prefix "
                "or its source path; several in a list",
            )

        single = isinstance(samples, (str, numbers.Integral, os.PathLike)) and not isinstance(
            samples, bool
        )
        if single:
            refs = [samples]
        elif isinstance(samples, (bytes, bool, Mapping)) or not hasattr(samples, "__iter__"):
            raise wrong(samples)
        else:
            refs = list(samples)
        if not refs:
            raise InvalidInput("name at least one sample")
        sids = []
        for ref in refs:
            if isinstance(ref, os.PathLike):
                ref = _path_ref(ref)
            if isinstance(ref, bool) or not isinstance(ref, (str, numbers.Integral)):
                raise wrong(ref)
            if isinstance(ref, str):
                sids.append(self.resolve_sample(ref))
            elif not 0 <= int(ref) < 2**63:  # DuckDB's BIGINT: no sample has it
                raise NotFound(f"no sample has sid {int(ref)}")
            else:
                sids.append(int(ref))
        known = {
            int(r[0])
            for r in self.catalog().rows(
                "SELECT sid FROM samples WHERE list_contains(?::BIGINT[], sid)", [sids]
            )
        }
        missing = [sid for sid in sids if sid not in known]
        if missing:
            raise NotFound(f"no sample has sid {missing[0]}", hint="`curate issues` shows sids")
        return sids

    def _sid(self, sample, method: str) -> int:
        """The sid of the one sample a single-sample method takes: a list of several is
        refused, never cut to its first."""
        many = not isinstance(sample, (str, bytes, numbers.Integral, os.PathLike, Mapping))
        if many and hasattr(sample, "__iter__"):
            sample = list(sample)
            if len(sample) != 1:
                raise InvalidInput(
                    f"{method} takes one sample, got {len(sample)}",
                    hint=f"call {method} once per sample",
                )
        return self._sids(sample)[0]

    def relabel(self, samples, label: str, *, reason: str | None = None, new_class: bool = False):
        """Give samples the class ``label`` as a pending change; returns a ChangeReport.

        ``samples``: a sid, a sample_id, a unique id prefix or a source path, or a
        list of them. ``label``: a class name (a whole number is its str);
        ``new_class=True`` creates it when there is none of that name. ``reason``
        is kept with the change.
        """
        from curate.versions import changes

        reason = _text("reason", reason, optional=True)
        new_class = _flag("new_class", new_class)
        with self.writing() as cat:  # lock first: a second writer is told who holds it
            sids = self._sids(samples)
            return changes.relabel(cat, sids, label, reason=reason, create_class=new_class)

    def drop(self, samples, *, reason: str | None = None):
        """Take samples out of the working state as a pending change; returns a
        ChangeReport. ``samples`` as for :meth:`relabel`; :meth:`restore` brings
        them back."""
        from curate.versions import changes

        reason = _text("reason", reason, optional=True)
        with self.writing() as cat:  # lock first: a second writer is told who holds it
            sids = self._sids(samples)
            return changes.drop(cat, sids, reason=reason)

    def restore(self, samples, *, reason: str | None = None):
        """Bring dropped samples back with the label and split they had last; returns a
        ChangeReport. ``samples`` as for :meth:`relabel`."""
        from curate.versions import changes

        reason = _text("reason", reason, optional=True)
        with self.writing() as cat:  # lock first: a second writer is told who holds it
            sids = self._sids(samples)
            return changes.restore(cat, sids, reason=reason)

    def accept(
        self,
        type: str = "label",
        *,
        samples=None,
        run_id: int | None = None,
        min_confidence: float | None = None,
        limit: int | None = None,
        dry_run: bool = False,
    ):
        """Take the latest scan's label suggestions as pending relabels (most suspicious first).

        confidence = 1 - the finding's label quality score. ``samples`` (refs
        or sids) accepts just their suggestions, as the TUI's accept key does;
        ``run_id`` takes another scan run's. ``min_confidence`` (0 to 1) and
        ``limit`` keep fewer; ``dry_run`` only reports. Returns an AcceptReport.
        """
        from curate.versions import changes

        run_id = _whole("run_id", run_id, optional=True)
        min_confidence = _number("min_confidence", min_confidence, optional=True)
        limit = _whole("limit", limit, optional=True)
        dry_run = _flag("dry_run", dry_run)
        if type != "label":
            raise InvalidInput(f"cannot accept findings of type {type!r}: only 'label'")
        with self.writing() as cat:
            sids = None if samples is None else self._sids(samples)
            return changes.accept_labels(
                cat,
                sids=sids,
                run_id=run_id,
                min_confidence=min_confidence,
                limit=limit,
                dry_run=dry_run,
            )

    def changes(self):
        """Pending working changes, oldest first: a list of
        :class:`curate.core.versions.Change`."""
        from curate.store import worktree_repo

        return worktree_repo.list_changes(self.catalog())

    def reset(self, samples=None):
        """Forget pending changes: all, or those of ``samples`` (as for :meth:`relabel`).
        Returns a ChangeReport."""
        from curate.versions import changes

        with self.writing() as cat:
            sids = None if samples is None else self._sids(samples)
            return changes.reset(cat, sids)

    def split(
        self,
        ratios="0.8,0.1,0.1",
        *,
        names: list[str] | None = None,
        seed: int = 0,
        resplit: bool = False,
        dry_run: bool = False,
    ):
        """Stratified, leakage-aware split of the working state, recorded as pending moves.

        ``ratios``: ``"0.8,0.1,0.1"`` or a list such as ``[0.8, 0.1, 0.1]``; two or
        three name train, val[, test], more need ``names`` (one per ratio).
        ``seed`` picks the shuffle; ``resplit`` moves samples that have a split
        already (default: only unsplit ones get one); ``dry_run`` only reports.
        Returns a SplitReport.
        """
        from curate.versions.split import apply_split, parse_ratios

        if not isinstance(ratios, str):
            if isinstance(ratios, (bytes, Mapping)) or not isinstance(ratios, Iterable):
                raise _wrong("ratios", 'ratios like "0.8,0.1,0.1" or a list of numbers', ratios)
            ratios = list(ratios)
            for r in ratios:
                if isinstance(r, bool) or not isinstance(r, (numbers.Real, str)):
                    raise _wrong("each ratio", "a number", r)
        names = _names("names", names)
        seed = _whole("seed", seed)
        resplit = _flag("resplit", resplit)
        dry_run = _flag("dry_run", dry_run)
        parsed, split_names = parse_ratios(ratios, names)
        with self.writing() as cat:
            # The scan's duplicate groups (issue 3) when its API is there, else its findings.
            groups = self.duplicate_groups() if hasattr(self, "duplicate_groups") else None
            return apply_split(
                cat,
                ratios=parsed,
                names=split_names,
                seed=seed,
                resplit=resplit,
                dry_run=dry_run,
                groups=groups,
            )

    def commit(self, message: str | None = None, *, allow_empty: bool = False):
        """Freeze the working state as a new immutable version; returns a CommitResult.

        ``message`` says what changed. Nothing pending is an InvalidInput unless
        ``allow_empty``.
        """
        from curate.versions import history

        message = _text("message", message, optional=True)
        allow_empty = _flag("allow_empty", allow_empty)
        with self.writing() as cat:
            return history.commit(cat, message, allow_empty=allow_empty)

    def log(self):
        """All versions, newest first: a list of :class:`curate.core.versions.VersionInfo`."""
        from curate.versions import history

        return history.log(self.catalog())

    def version(self, ref: str | int = "HEAD"):
        """A version by number ("v3", 3), tag, hash prefix or HEAD[~N], as data: a
        :class:`curate.versions.view.Version` (``.samples()``, ``.to_torch()``, ...)."""
        from curate.versions import history
        from curate.versions.view import Version, version_ref

        return Version(self, history.show(self.catalog(), version_ref(ref)))

    def diff(self, a: str | int | None = "HEAD", b: str | int | None = None):
        """Sample-level differences from version ``a`` to ``b``: a VersionDiff.

        Each side is a version (what :meth:`version` takes, or a Version) or None:
        the working state.
        """
        from curate.versions import history
        from curate.versions.view import version_ref

        a = None if a is None else version_ref(a, "a")
        b = None if b is None else version_ref(b, "b")
        return history.diff(self.catalog(), a, b)

    def tag(self, name: str, version: str | int | None = None, *, force: bool = False):
        """Name a version (default: the newest); returns the Tag. A name already on
        another version is an InvalidInput unless ``force`` moves it."""
        from curate.versions import history
        from curate.versions.view import version_ref

        name = _text("name", name)
        version = None if version is None else version_ref(version)
        force = _flag("force", force)
        with self.writing() as cat:
            return history.tag(cat, name, version, force=force)

    def untag(self, name: str) -> None:
        """Remove the tag ``name`` (the version stays); returns None."""
        from curate.store import versions_repo

        name = _text("name", name)
        with self.writing() as cat:
            versions_repo.delete_tag(cat, name)

    def tags(self):
        """Every tag: a list of :class:`curate.core.versions.Tag`."""
        from curate.store import versions_repo

        return versions_repo.list_tags(self.catalog())

    def export(
        self,
        version: str | int,
        format: str,
        out: str | Path,
        *,
        overwrite: bool = False,
        shard_samples: int = 0,
        progress: ProgressFn = no_progress,
        cancel: CancelFn | None = None,
        engine=None,
    ):
        """Write a version as hf | parquet | imagefolder | webdataset under ``out``.

        ``version``: what :meth:`version` takes, or a Version. ``overwrite``:
        replace an earlier export in ``out``. ``engine``: ``"local"`` or ``"ray"``
        (see :meth:`augment`); the same files. ``shard_samples``: see
        :meth:`curate.versions.view.Version.export`. Returns an ExportResult;
        cancelling raises Cancelled and writes nothing.
        """
        return self.version(version).export(
            format,
            out,
            overwrite=overwrite,
            shard_samples=shard_samples,
            progress=progress,
            cancel=cancel,
            engine=engine,
        )

    # -- augmentation (issue 5) --------------------------------------------------------
    def augment(
        self,
        policy,
        *,
        balance: bool = True,
        target_per_class: int | None = None,
        copies: int | None = None,
        classes: list[str] | None = None,
        workers: int | None = None,
        dry_run: bool = False,
        progress: ProgressFn = no_progress,
        cancel: CancelFn | None = None,
        engine=None,
    ):
        """Add augmented train samples for the classes the balancing plan says need them.

        ``policy`` is a :class:`curate.Policy`, a YAML/JSON path or a preset name.
        ``balance`` tops classes up to ``target_per_class`` (default: the largest
        class); ``copies=N`` instead gives every parent N augmented copies in all.
        ``classes``: only these classes (a single str is one class; default: every
        class the plan lists). ``workers``: processes of the local engine (default:
        the CPU cores). ``dry_run``: plan and
        report, make nothing. Returns an :class:`curate.augment.AugmentReport`;
        results are pending ``add`` changes. ``engine``: ``"local"`` or ``"ray"``
        (or :class:`curate.engines.EngineSettings`; default: ``CURATE_ENGINE``,
        else local): the same samples, bit for bit. Cancelling raises Cancelled
        saying how many samples were made; those are kept as pending changes
        (run again to make the rest).
        """
        from curate.augment.engine import AugmentRequest, run_augment
        from curate.augment.policy import as_policy

        classes = _names("classes", classes, numbers_too=True)
        pol = as_policy(policy)
        request = _request(
            AugmentRequest,
            {
                "balance": balance,
                "target_per_class": target_per_class,
                "copies": copies,
                "classes": classes,
                "workers": workers,
                "dry_run": dry_run,
            },
        )
        # The engine plans with core.balance.plan_balance over the same counts
        # as balancing_plan (train, or every sample while there are no splits),
        # read in the one query that also lists the parents.
        with self.writing() as cat:
            return run_augment(
                cat, self.objects, pol, request, progress=progress, cancel=cancel, engine=engine
            )

    def augment_preview(
        self, policy, *, class_name: str | None = None, n: int = 16, views: int = 3
    ):
        """A PIL image: ``n`` train samples, each next to ``views`` augmented views.

        ``policy`` as for :meth:`augment`; ``class_name``: samples of that class only.
        """
        from curate.augment.policy import as_policy
        from curate.augment.preview import workspace_preview

        if isinstance(class_name, numbers.Integral) and not isinstance(class_name, bool):
            class_name = str(int(class_name))  # as classes= takes it
        class_name = _text("class_name", class_name, optional=True)
        n = _whole("n", n)
        views = _whole("views", views)
        return workspace_preview(
            self.catalog(), self.objects, as_policy(policy), class_name=class_name, n=n, views=views
        )

    def replay(self, sample: int | str) -> bytes:
        """Rebuild an augmented sample from its recipe; returns the image bytes as stored.

        ``sample``: one sample: a sid, or a sample_id, unique id prefix or source path.
        """
        from curate.augment.engine import replay_sample

        return replay_sample(self.catalog(), self.objects, self._sid(sample, "replay"))

    def verify_replay(self, sample: int | str):
        """Replay one ``sample`` and compare: a ReplayCheck (sid, sample_id, identical,
        data). ``sample`` as for :meth:`replay`."""
        from curate.augment.engine import check_replay

        return check_replay(self.catalog(), self.objects, self._sid(sample, "verify_replay"))

    def lineage(self, sample: int | str):
        """Where ``sample`` came from and what was made from it: a Lineage (origin, working
        label and split, sources, parents, the recipe as stored, children).

        ``sample``: one sample: a sid, or a sample_id, unique id prefix or source path.
        """
        from curate.store import policies_repo

        sid = self._sid(sample, "lineage")
        found = policies_repo.lineage(self.catalog(), sid)
        if found is None:  # named, then gone: another process reset its add meanwhile
            raise NotFound(f"no sample has sid {sid}")
        return found

    def policies(self) -> list[dict]:
        """Policies that made samples here: a list of dicts (hash, name, created_at,
        samples)."""
        from curate.store import policies_repo

        return policies_repo.list_policies(self.catalog())

    # -- synthesis (issue 6) -------------------------------------------------------------
    def synthesize(
        self,
        request=None,
        /,
        *,
        progress: ProgressFn = no_progress,
        cancel: CancelFn | None = None,
        **fields,
    ):
        """Generate samples for rare classes, gate them, admit survivors as pending adds.

        Pass a :class:`curate.synthesize.SynthRequest` (or a dict of its fields) or
        its fields (``generator="gan", classes=["5"], n=100, ...``; a single str
        is one class). A wrong field is an InvalidInput naming every problem.
        Returns a :class:`curate.synthesize.SynthResult`; cancelling raises
        Cancelled and keeps what was admitted.
        """
        from curate.synthesize import SynthRequest, run_synthesis

        if request is not None and fields:
            raise InvalidInput("pass either a SynthRequest or its fields, not both")
        if isinstance(request, Mapping):
            request, fields = None, dict(request)
        if request is None:
            if "classes" in fields:
                fields["classes"] = _names("classes", fields["classes"], numbers_too=True)
            request = _request(SynthRequest, fields)
        elif not isinstance(request, SynthRequest):
            raise _wrong("request", "a SynthRequest or a dict of its fields", request)
        return run_synthesis(self, request, progress=progress, cancel=cancel)

    # -- report, evaluate (issue 8) ---------------------------------------------------------
    def evaluate(
        self,
        version: str | int = "HEAD",
        against: str | int | None = None,
        *,
        truth: str | Path | None = None,
        truth_column: str | None = None,
        eval_split: str = "test",
        train_split: str = "train",
        oracle: bool = True,
        classifier=None,
        progress: ProgressFn = no_progress,
        cancel: CancelFn | None = None,
    ):
        """Train the fixed downstream classifier on each version's train split; score held out.

        Scores use ``against``'s (else ``version``'s) ``eval_split``, with the
        clean labels of ``truth`` (CSV/parquet: path or sample_id + label)
        when given; ``oracle`` adds an arm trained on the same split with the
        clean labels. ``classifier``: a :class:`curate.evaluate.ClassifierConfig`
        or its fields as a dict. ``version`` / ``against``: what :meth:`version`
        takes, or a Version. Returns an :class:`curate.evaluate.EvaluationResult`;
        cancelling raises Cancelled (nothing is kept).
        """
        from curate.evaluate import ClassifierConfig, EvalRequest, run_evaluation
        from curate.versions.view import version_ref

        if classifier is None:
            classifier = ClassifierConfig()
        elif isinstance(classifier, Mapping):
            classifier = _request(ClassifierConfig, dict(classifier))
        elif not isinstance(classifier, ClassifierConfig):
            raise _wrong("classifier", "a ClassifierConfig or a dict of its fields", classifier)
        _path("truth", truth, optional=True)
        request = _request(
            EvalRequest,
            {
                "version": str(version_ref(version)),
                "against": None if against is None else str(version_ref(against, "against")),
                "truth": None if truth is None else str(truth),
                "truth_column": truth_column,
                "eval_split": eval_split,
                "train_split": train_split,
                "oracle": oracle,
                "classifier": classifier,
            },
        )
        with _cancel_says("evaluation cancelled: nothing was kept"):
            return run_evaluation(self, request, progress=progress, cancel=cancel)

    def report(
        self,
        version: str | int = "HEAD",
        against: str | int | None = None,
        *,
        out: str | Path,
        format: str | None = None,
        evaluation=None,
        steps=None,
        notes: list[str] | None = None,
        top_issues: int = 12,
        examples_per_class: int = 8,
        thumb_size: int = 64,
        title: str | None = None,
    ):
        """Write the curation report of ``version`` against ``against`` (default: the first
        version) to ``out``: .html (self-contained) or .md (+ ``<name>_files/``).

        ``evaluation`` (from :meth:`evaluate`) adds the raw / curated / oracle
        table; ``steps`` (:class:`curate.report.ReportStep` or dicts) and
        ``notes`` (sentences) say how the version was made. Returns a
        :class:`curate.report.ReportResult`. ``version`` / ``against``: what
        :meth:`version` takes, or a Version.
        """
        from curate.report import ReportRequest, ReportStep, write_report
        from curate.versions.view import version_ref

        _path("out", out)
        request = _request(
            ReportRequest,
            {
                "version": str(version_ref(version)),
                "against": None if against is None else str(version_ref(against, "against")),
                "format": format,
                "top_issues": top_issues,
                "examples_per_class": examples_per_class,
                "thumb_size": thumb_size,
                "title": title,
            },
        )
        steps = [s if isinstance(s, ReportStep) else ReportStep(**s) for s in (steps or [])]
        return write_report(self, request, out, evaluation=evaluation, steps=steps, notes=notes)

    # -- internals ------------------------------------------------------------------------
    def read_bytes(self, sid: int) -> bytes:
        """The stored bytes of the sample with sid ``sid``."""
        sid = _whole("sid", sid)
        if not 0 <= sid < 2**63:  # DuckDB's BIGINT: no sample has it
            raise NotFound(f"no sample with sid {sid}")
        row = self.catalog().rows(
            "SELECT pack, pack_offset, nbytes FROM samples WHERE sid = ?", [sid]
        )
        if not row:
            raise NotFound(f"no sample with sid {sid}")
        return self.objects.read(*row[0])
