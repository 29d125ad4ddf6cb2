"""Content-addressed object store: image bytes in append-only pack files.

Why packs: one file per image is what makes tools crawl at millions of small
files, and BLOBs in DuckDB insert at a fraction of a file write's speed. A
pack is the concatenated bytes of one ingest batch, written to a temporary
name, fsynced and renamed, so a pack on disk is always complete. The catalog
(``samples.pack`` / ``pack_offset`` / ``nbytes``) is the index: a pack that no
catalog row points to (a crash between the rename and the catalog commit) is
garbage that :meth:`ObjectStore.remove_orphans` deletes under the writer lock.
Packs are never modified after the rename.

This module must not import duckdb: the catalog owns the index.
"""

from __future__ import annotations

import mmap
import os
import secrets
import threading
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from curate.errors import DamagedData

PACK_SUFFIX = ".pack"

DAMAGED_WORKSPACE_HINT = (
    "the workspace's object store is damaged (files deleted or edited by hand, a disk "
    "error): restore .curate/objects from a backup"
)


@dataclass(frozen=True, slots=True)
class BlobLocation:
    pack: str
    offset: int
    length: int


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.packs_dir = self.root / "packs"
        self._maps: dict[str, mmap.mmap] = {}
        self._lock = threading.Lock()

    def create(self) -> None:
        self.packs_dir.mkdir(parents=True, exist_ok=True)

    # -- writing -----------------------------------------------------------------
    def write_pack(self, blobs: Sequence[bytes]) -> list[BlobLocation]:
        """Write ``blobs`` as one new pack and return where each one landed.

        The pack is durable (fsynced and renamed) when this returns.
        """
        if not blobs:
            return []
        name = f"pack-{secrets.token_hex(8)}{PACK_SUFFIX}"
        final = self.packs_dir / name
        tmp = final.with_suffix(".tmp")
        locations: list[BlobLocation] = []
        offset = 0
        try:
            with open(tmp, "wb") as fh:
                for blob in blobs:
                    fh.write(blob)
                    locations.append(BlobLocation(name, offset, len(blob)))
                    offset += len(blob)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException as exc:
            # A full disk or a file size limit: no half pack left behind (the
            # next writer's remove_orphans would catch one a kill -9 leaves).
            with suppress(OSError):
                tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError) and exc.filename is None:  # write() names no file
                raise OSError(exc.errno, exc.strerror or str(exc), str(tmp)) from exc
            raise
        _fsync_dir(self.packs_dir)
        return locations

    # -- reading -----------------------------------------------------------------
    def _map(self, pack: str) -> mmap.mmap:
        with self._lock:
            mapped = self._maps.get(pack)
            if mapped is None:
                path = self.packs_dir / pack
                if not path.exists():
                    raise DamagedData(
                        f"pack {pack} is missing from the object store ({self.packs_dir})",
                        hint=DAMAGED_WORKSPACE_HINT,
                    )
                with open(path, "rb") as fh:
                    mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
                self._maps[pack] = mapped
            return mapped

    def read(self, pack: str, offset: int, length: int) -> bytes:
        return self._map(pack)[offset : offset + length]

    def read_many(self, locations: Iterable[tuple[str, int, int]]) -> list[bytes]:
        # One map lookup per pack, not per blob: exports read 100k+ blobs in a row.
        maps: dict[str, mmap.mmap] = {}
        out = []
        for pack, offset, length in locations:
            mapped = maps.get(pack)
            if mapped is None:
                mapped = maps[pack] = self._map(pack)
            out.append(mapped[offset : offset + length])
        return out

    def close(self) -> None:
        with self._lock:
            for mapped in self._maps.values():
                mapped.close()
            self._maps.clear()

    # -- housekeeping --------------------------------------------------------------
    def pack_names(self) -> set[str]:
        if not self.packs_dir.exists():
            return set()
        return {p.name for p in self.packs_dir.glob(f"*{PACK_SUFFIX}")}

    def remove_orphans(self, referenced: set[str]) -> int:
        """Delete temp files and packs no catalog row references. Caller holds the writer lock."""
        removed = 0
        for tmp in self.packs_dir.glob("*.tmp"):
            tmp.unlink(missing_ok=True)
            removed += 1
        for name in self.pack_names() - referenced:
            (self.packs_dir / name).unlink(missing_ok=True)
            removed += 1
        return removed

    def size_bytes(self) -> int:
        if not self.packs_dir.exists():
            return 0
        return sum(p.stat().st_size for p in self.packs_dir.glob(f"*{PACK_SUFFIX}"))
