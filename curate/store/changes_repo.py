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


#: Columns of :func:`add_sample_table`'s input: one row per new image, bytes included.
NEW_SAMPLE_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),  # sha256 hex of data
        ("data", pa.binary()),  # encoded image bytes
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("channels", pa.int8()),
        ("mode", pa.string()),
        ("format", pa.string()),
        ("origin", pa.string()),
        ("parents", pa.list_(pa.string())),
        ("recipe", pa.string()),  # JSON text
        ("class_id", pa.int32()),
        ("split", pa.string()),
        ("reason", pa.string()),
    ]
)


def add_samples(cat: Catalog, objects: ObjectStore, samples: list[NewSample]) -> list[int]:
    """Store new images and record an ``add`` change for each; return their sids.

    Idempotent by content: an image already in the catalog is not stored again,
    and a sample already pending as an add is not added twice. Atomic: bytes go
    to a durable pack first, then all catalog rows in one transaction.
    """
    if not samples:
        return []
    table = pa.table(
        {
            "sample_id": [hashlib.sha256(s.data).hexdigest() for s in samples],
            "data": [s.data for s in samples],
            "width": [s.info.width for s in samples],
            "height": [s.info.height for s in samples],
            "channels": [s.info.channels for s in samples],
            "mode": [s.info.mode for s in samples],
            "format": [s.info.format for s in samples],
            "origin": [s.origin.value for s in samples],
            "parents": [s.parents for s in samples],
            "recipe": [json.dumps(s.recipe, sort_keys=True) for s in samples],
            "class_id": [s.class_id for s in samples],
            "split": [s.split for s in samples],
            "reason": [s.reason for s in samples],
        },
        schema=NEW_SAMPLE_SCHEMA,
    )
    return add_sample_table(cat, objects, table)


def add_sample_table(cat: Catalog, objects: ObjectStore, table: pa.Table) -> list[int]:
    """:func:`add_samples` for rows already in columns (:data:`NEW_SAMPLE_SCHEMA`).

    For engines that make thousands of samples a second (augmentation): their
    workers hash the bytes and write the recipe JSON, so storing a sample here
    costs no Python object and no JSON encoding per row.
    """
    return add_new_samples(cat, objects, table, revive_dropped=True)[0]


def add_new_samples(
    cat: Catalog, objects: ObjectStore, table: pa.Table, *, revive_dropped: bool
) -> tuple[list[int], list[int]]:
    """(sid of each row, the rows that got an ``add``): :func:`add_sample_table` that says
    which rows were new to the working state.

    A row whose image is live or pending already gets no add. One whose image
    was dropped (its newest change is a drop) gets one only with
    ``revive_dropped``: an engine topping up a class must not bring back what
    the user took out. An image stored but never recorded (its pending add was
    reset) is added again either way.
    """
    if table.num_rows == 0:
        return [], []
    table = table.select(NEW_SAMPLE_SCHEMA.names).cast(NEW_SAMPLE_SCHEMA)
    ids = table.column("sample_id").to_pylist()
    known = ingest_repo.known_sample_ids(cat, ids)
    first: dict[str, int] = {}  # new content -> its first row
    for row, sample_id in enumerate(ids):
        if sample_id not in known and sample_id not in first:
            first[sample_id] = row
    fresh = table.take(pa.array(list(first.values()), pa.int64()))
    locations = objects.write_pack(fresh.column("data").to_pylist())
    rows = pa.table(
        {
            **{
                name: fresh.column(name)
                for name in ("sample_id", "width", "height", "channels", "mode", "format")
            },
            "nbytes": pa.array([loc.length for loc in locations], pa.int64()),
            "pack": pa.array([loc.pack for loc in locations], pa.string()),
            "pack_offset": pa.array([loc.offset for loc in locations], pa.int64()),
            **{name: fresh.column(name) for name in ("origin", "parents", "recipe")},
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
        sid_of = {**known, **{k: base_sid + i for i, k in enumerate(first)}}
        skip: set[int] = set()
        if known:
            tx.register("probe_sids", pa.table({"sid": pa.array(list(known.values()), pa.int64())}))
            try:
                dropped = (
                    ""
                    if revive_dropped
                    else "UNION SELECT sid FROM changes SEMI JOIN probe_sids USING (sid) "
                    "GROUP BY sid HAVING arg_max(op, change_id) = 'drop' "
                )
                skip = {
                    r[0]
                    for r in tx.execute(
                        "SELECT sid FROM changes SEMI JOIN probe_sids USING (sid) "
                        "WHERE version_id IS NULL AND op = 'add' "
                        "UNION SELECT sid FROM working SEMI JOIN probe_sids USING (sid) " + dropped
                    ).fetchall()
                }
            finally:
                tx.unregister("probe_sids")
        sids = [sid_of[i] for i in ids]
        seen: set[int] = set()
        todo = [  # rows to record as adds: the first of each sid not pending or live yet
            row
            for row, sid in enumerate(sids)
            if sid not in skip and not (sid in seen or seen.add(sid))
        ]
        if todo:
            picked = table.select(["class_id", "split", "reason"]).take(pa.array(todo, pa.int64()))
            n = len(todo)
            _insert_changes(
                tx,
                pa.table(
                    {
                        "op": pa.array(["add"] * n, pa.string()),
                        "sid": pa.array([sids[row] for row in todo], pa.int64()),
                        "class_id": picked.column("class_id"),
                        "split": picked.column("split"),
                        "label_source": pa.array(["given"] * n, pa.string()),
                        "reason": picked.column("reason"),
                        "run_id": pa.nulls(n, pa.int32()),
                        "details": pa.nulls(n, pa.string()),
                    },
                    schema=CHANGE_SCHEMA,
                ),
            )
    return sids, todo
