"""Working changes: the pending edits a commit turns into a version.

Every edit is a row in ``changes`` (append-only until a commit stamps it);
the ``working`` view resolves them. This module holds the two writes every
engine needs: recording changes in bulk, and adding new (derived) samples.
"""

from __future__ import annotations

import hashlib
import json

import pyarrow as pa

from curate.core.models import NewSample
from curate.store import ingest_repo
from curate.store.catalog import Catalog
from curate.store.objects import ObjectStore

CHANGE_SCHEMA = pa.schema(
    [
        ("op", pa.string()),
        ("sid", pa.int64()),
        ("class_id", pa.int32()),
        ("split", pa.string()),
        ("label_source", pa.string()),
        ("reason", pa.string()),
        ("run_id", pa.int32()),
        ("details", pa.string()),  # JSON text
    ]
)


def record_changes(cat: Catalog, changes: pa.Table) -> int:
    """Append ``changes`` (:data:`CHANGE_SCHEMA`) in one transaction; return how many."""
    if changes.num_rows == 0:
        return 0
    changes = changes.select(CHANGE_SCHEMA.names).cast(CHANGE_SCHEMA)
    with cat.transaction() as tx:
        _insert_changes(tx, changes)
    return changes.num_rows


def _insert_changes(tx, changes: pa.Table) -> None:
    base = tx.execute("SELECT coalesce(max(change_id), 0) + 1 FROM changes").fetchall()[0][0]
    # Explicit ids: "the latest change wins" must follow the caller's row order,
    # which row_number() OVER () does not promise.
    changes = changes.append_column(
        "change_id", pa.array(range(base, base + changes.num_rows), pa.int64())
    )
    tx.register("new_changes", changes)
    try:
        tx.execute(
            """
            INSERT INTO changes
            SELECT change_id, now(), op, sid, class_id, split,
                   label_source, reason, run_id, details::JSON, NULL
            FROM new_changes
            """
        )
    finally:
        tx.unregister("new_changes")


def add_samples(cat: Catalog, objects: ObjectStore, samples: list[NewSample]) -> list[int]:
    """Store new images and record an ``add`` change for each; return their sids.

    Idempotent by content: an image already in the catalog is not stored again,
    and a sample already pending as an add is not added twice. Atomic: bytes go
    to a durable pack first, then all catalog rows in one transaction.
    """
    if not samples:
        return []
    ids = [hashlib.sha256(s.data).hexdigest() for s in samples]
    known = ingest_repo.known_sample_ids(cat, ids)
    fresh: dict[str, NewSample] = {}
    for sample_id, s in zip(ids, samples, strict=True):
        if sample_id not in known and sample_id not in fresh:
            fresh[sample_id] = s
    locations = dict(zip(fresh, objects.write_pack([s.data for s in fresh.values()]), strict=True))
    rows = pa.table(
        {
            "sample_id": pa.array(list(fresh), pa.string()),
            "width": pa.array([s.info.width for s in fresh.values()], pa.int32()),
            "height": pa.array([s.info.height for s in fresh.values()], pa.int32()),
            "channels": pa.array([s.info.channels for s in fresh.values()], pa.int8()),
            "mode": pa.array([s.info.mode for s in fresh.values()], pa.string()),
            "format": pa.array([s.info.format for s in fresh.values()], pa.string()),
            "nbytes": pa.array([len(s.data) for s in fresh.values()], pa.int64()),
            "pack": pa.array([locations[k].pack for k in fresh], pa.string()),
            "pack_offset": pa.array([locations[k].offset for k in fresh], pa.int64()),
            "origin": pa.array([s.origin.value for s in fresh.values()], pa.string()),
            "parents": pa.array([s.parents for s in fresh.values()], pa.list_(pa.string())),
            "recipe": pa.array(
                [json.dumps(s.recipe, sort_keys=True) for s in fresh.values()], pa.string()
            ),
        }
    )
    with cat.transaction() as tx:
        base_sid = tx.execute("SELECT coalesce(max(sid), -1) + 1 FROM samples").fetchall()[0][0]
        rows = rows.append_column(
            "sid", pa.array(range(base_sid, base_sid + rows.num_rows), pa.int64())
        )
        tx.register("new_samples", rows)
        try:
            tx.execute(
                """
                INSERT INTO samples
                SELECT sid, sample_id, width, height, channels,
                       mode, format, nbytes, pack, pack_offset, origin, parents, recipe::JSON,
                       NULL, now()
                FROM new_samples
                """
            )
        finally:
            tx.unregister("new_samples")
        # New images got base_sid, base_sid + 1, ... in insertion order; only
        # images that were already stored can already be pending or live.
        sid_of = {**known, **{k: base_sid + i for i, k in enumerate(fresh)}}
        skip: set[int] = set()
        if known:
            tx.register("probe_sids", pa.table({"sid": pa.array(list(known.values()), pa.int64())}))
            try:
                skip = {
                    r[0]
                    for r in tx.execute(
                        "SELECT sid FROM changes SEMI JOIN probe_sids USING (sid) "
                        "WHERE version_id IS NULL AND op = 'add' "
                        "UNION SELECT sid FROM working SEMI JOIN probe_sids USING (sid)"
                    ).fetchall()
                }
            finally:
                tx.unregister("probe_sids")
        sids = [sid_of[i] for i in ids]
        todo = [(sid, s) for sid, s in zip(sids, samples, strict=True) if sid not in skip]
        seen: set[int] = set()
        todo = [(sid, s) for sid, s in todo if not (sid in seen or seen.add(sid))]
        if todo:
            _insert_changes(
                tx,
                pa.table(
                    {
                        "op": ["add"] * len(todo),
                        "sid": [sid for sid, _ in todo],
                        "class_id": [s.class_id for _, s in todo],
                        "split": [s.split for _, s in todo],
                        "label_source": ["given"] * len(todo),
                        "reason": [s.reason for _, s in todo],
                        "run_id": [None] * len(todo),
                        "details": [None] * len(todo),
                    },
                    schema=CHANGE_SCHEMA,
                ),
            )
    return sids
