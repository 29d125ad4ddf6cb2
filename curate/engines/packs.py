"""Read image bytes from the object store's packs through fsspec, in any worker.

A :class:`PackReader` is only a URL (plus fsspec storage options), so it
pickles into a Ray task or a forked process; each process opens the packs it
needs once and keeps them open. The URL is the workspace's pack folder as a
``file://`` URL by default; on a cluster it can be a shared mount or object
storage holding a copy of the packs (``s3://bucket/ws/.curate/objects/packs``,
``gs://...``: whatever fsspec and its installed backends read), so workers
never open the catalog and never need the driver to ship them bytes.

Local files are memory-mapped (what :class:`curate.store.objects.ObjectStore`
does); other filesystems get one open file per pack with ranged reads.
Packs are immutable once written, so cached handles never go stale.
"""

from __future__ import annotations

import mmap
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from curate.errors import DamagedData, InvalidInput, MissingDependency, NotFound
from curate.store.objects import DAMAGED_WORKSPACE_HINT

# Per process: (url, pack) -> an mmap (local files) or an open fsspec file.
_OPEN: dict[tuple[str, str], Any] = {}
_FILESYSTEMS: dict[str, tuple[Any, str, bool]] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class PackReader:
    """Reads ``(pack, offset, length)`` locations under ``url``."""

    url: str
    storage_options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    # True: ``url`` is the workspace's own pack folder, not a copy elsewhere
    # (objects_url): a pack missing there is a damaged workspace.
    own_packs: bool = field(default=False, compare=False)

    def _fs(self) -> tuple[Any, str, bool]:
        cached = _FILESYSTEMS.get(self.url)
        if cached is None:
            from fsspec.core import url_to_fs
            from fsspec.implementations.local import LocalFileSystem

            try:
                fs, root = url_to_fs(self.url, **self.storage_options)
            except ImportError as exc:  # e.g. s3:// without s3fs
                raise MissingDependency(
                    f"cannot read packs from {self.url}: {exc}",
                    hint="install the fsspec backend of that URL, or fix CURATE_OBJECTS_URL",
                ) from None
            except ValueError as exc:  # an unknown protocol
                raise InvalidInput(
                    f"cannot read packs from {self.url}: {exc}",
                    hint="objects_url (CURATE_OBJECTS_URL) is an fsspec URL or a folder "
                    "holding the workspace's .curate/objects/packs",
                ) from None
            local = isinstance(fs, LocalFileSystem)
            if local and self.url.startswith("file:"):
                # A file:// URI percent-encodes its path (Path.as_uri() writes a
                # space as %20); fsspec keeps the escapes, so a workspace under
                # a folder with a space in its name found no packs.
                from urllib.parse import unquote

                root = unquote(root)
            cached = _FILESYSTEMS[self.url] = (fs, root.rstrip("/"), local)
        return cached

    def _open(self, pack: str) -> Any:
        key = (self.url, pack)
        handle = _OPEN.get(key)
        if handle is not None:
            return handle
        with _LOCK:
            handle = _OPEN.get(key)
            if handle is None:
                fs, root, local = self._fs()
                path = f"{root}/{pack}"
                try:
                    if local:
                        with open(path, "rb") as fh:
                            handle = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
                    else:
                        handle = fs.open(path, "rb")
                except FileNotFoundError:
                    if self.own_packs:
                        raise DamagedData(
                            f"pack {pack} is missing from the object store ({root})",
                            hint=DAMAGED_WORKSPACE_HINT,
                        ) from None
                    raise NotFound(
                        f"pack {pack} is not under {self.url}",
                        hint="workers read packs from objects_url (CURATE_OBJECTS_URL): "
                        "it must hold the workspace's .curate/objects/packs",
                    ) from None
                _OPEN[key] = handle
        return handle

    def read(self, pack: str, offset: int, length: int) -> bytes:
        handle = self._open(pack)
        if isinstance(handle, mmap.mmap):
            return handle[offset : offset + length]
        with _LOCK:  # one file position per pack handle
            handle.seek(offset)
            return handle.read(length)

    def read_many(self, locations: Iterable[tuple[str, int, int]]) -> list[bytes]:
        return [self.read(pack, offset, length) for pack, offset, length in locations]


def close_all() -> None:
    """Close every pack this process opened (tests; long-lived workers never need it)."""
    with _LOCK:
        for handle in _OPEN.values():
            handle.close()
        _OPEN.clear()
        _FILESYSTEMS.clear()
