"""Catalog reads and writes for ingest: all bulk rows go through Arrow tables."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from curate.store.catalog import Catalog

# Columns of the Arrow batch the ingest engine hands to commit_batch().
INCOMING_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("uri", pa.string()),
        ("label", pa.string()),
        ("split", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("channels", pa.int8()),
        ("mode", pa.string()),
        ("format", pa.string()),
        ("nbytes", pa.int64()),
        ("pack", pa.string()),  # null when the image was already stored
        ("pack_offset", pa.int64()),
        ("sid", pa.int64()),  # the known sample's sid; null for new images
    ]
)


def begin_ingest(cat: Catalog, source: str, fmt: str, options: dict[str, Any]) -> int:
    with cat.transaction() as tx:
        ingest_id = tx.execute("SELECT coalesce(max(ingest_id), 0) + 1 FROM ingests").fetchall()[0][
            0
        ]
        tx.execute(
            "INSERT INTO ingests VALUES (?, ?, ?, ?, now(), NULL, 'running', NULL)",
            [ingest_id, source, fmt, json.dumps(options, sort_keys=True)],
        )
    return int(ingest_id)


def finish_ingest(cat: Catalog, ingest_id: int, status: str, report: dict[str, Any]) -> None:
    """``status``: done | cancelled | failed (an error: disk full, permissions, a bug).
    The column is a free VARCHAR, so 'failed' needed no migration."""
    with cat.transaction() as tx:
        tx.execute(
            "UPDATE ingests SET finished_at = now(), status = ?, report = ? WHERE ingest_id = ?",
            [status, json.dumps(report, sort_keys=True, default=str), ingest_id],
        )


def known_sample_ids(cat: Catalog, sample_ids: list[str]) -> dict[str, int]:
    """sid of each of these content hashes that is already stored.

    One scan of ``samples.sample_id`` (a semi-join against the small probe);
    callers pass the result on to :func:`commit_batch` so it need not scan again.
    """
    if not sample_ids:
        return {}
    probe = pa.table({"sample_id": pa.array(sorted(set(sample_ids)), pa.string())})
    cur = cat.cursor()
    cur.register("probe_ids", probe)
    try:
        rows = cur.execute(
            "SELECT s.sample_id, s.sid FROM samples s SEMI JOIN probe_ids p USING (sample_id)"
        ).fetchall()
    finally:
        cur.unregister("probe_ids")
    return dict(rows)


def referenced_packs(cat: Catalog) -> set[str]:
    return {r[0] for r in cat.rows("SELECT DISTINCT pack FROM samples")}


def commit_batch(
    cat: Catalog,
    ingest_id: int,
    incoming: pa.Table,
    quarantined: list[tuple[str, str]],
) -> dict[str, Any]:
    """Record one ingest batch atomically; return what was added.

    ``incoming`` follows :data:`INCOMING_SCHEMA`: one row per good input, with
    ``pack``/``pack_offset`` set for images whose bytes were just stored.
    Idempotent: rows already in the catalog are skipped by anti-joins.
    """
    with cat.transaction() as tx:
        tx.register("incoming", incoming)
        try:
            base_sid = tx.execute("SELECT coalesce(max(sid), -1) + 1 FROM samples").fetchall()[0][0]
            batch = _with_sids(incoming, base_sid)
            tx.register("batch_rows", batch)
            # A class only for labels some sample takes: the new images' first
            # paths (see the assignments below). A label given to an image stored
            # before, or by a second path of a new one, stays on its path
            # (`sources`) and makes no class: an empty class would have nothing
            # to train on, yet balancing plans would ask for samples of it.
            new_classes = [
                r[0]
                for r in tx.execute(
                    "SELECT DISTINCT label FROM batch_rows WHERE is_new AND label IS NOT NULL "
                    "AND label NOT IN (SELECT name FROM classes) ORDER BY label"
                ).fetchall()
            ]
            if new_classes:
                base = tx.execute("SELECT coalesce(max(class_id), -1) + 1 FROM classes").fetchall()[
                    0
                ][0]
                tx.register(
                    "new_classes",
                    pa.table(
                        {
                            "class_id": pa.array(range(base, base + len(new_classes)), pa.int32()),
                            "name": pa.array(new_classes, pa.string()),
                        }
                    ),
                )
                tx.execute("INSERT INTO classes SELECT class_id, name, now() FROM new_classes")
                tx.unregister("new_classes")

            added_samples = tx.execute(
                f"""
                INSERT INTO samples
                SELECT sid, sample_id, width, height, channels, mode, format, nbytes,
                       pack, pack_offset, 'original', NULL, NULL, {ingest_id}, now()
                FROM batch_rows WHERE is_new
                """
            ).fetchall()[0][0]

            # Only paths of already-known images can exist already: compare
            # against their rows alone, and skip the check when all are new.
            known_check = ""
            if not pc.all(batch.column("sid_is_new")).as_py():
                known_check = """
                WHERE NOT EXISTS (
                    SELECT 1 FROM (
                        SELECT o.sid, o.uri, o.label FROM sources o
                        SEMI JOIN (SELECT sid FROM batch_rows WHERE NOT sid_is_new) k USING (sid)
                    ) o
                    WHERE o.sid = b.sid AND o.uri = b.uri AND o.label IS NOT DISTINCT FROM b.label
                )"""
            added_sources = tx.execute(
                f"""
                INSERT INTO sources
                SELECT DISTINCT b.sid, b.uri, b.label, b.split, {ingest_id}
                FROM batch_rows b {known_check}
                """
            ).fetchall()[0][0]

            # What the report tells the user about labels: new images without
            # one, and known unlabeled images this batch names a label for (the
            # label is kept on the path, not applied: that is a relabel's job).
            unlabeled = tx.execute(
                "SELECT count(*) FROM batch_rows WHERE is_new AND label IS NULL"
            ).fetchall()[0][0]
            label_not_applied = 0
            if known_check:  # some rows name images stored before this batch
                label_not_applied = tx.execute(
                    """
                    SELECT count(DISTINCT b.sid) FROM batch_rows b JOIN assignments a USING (sid)
                    WHERE NOT b.sid_is_new AND b.label IS NOT NULL AND a.class_id IS NULL
                    """
                ).fetchall()[0][0]

            # New samples take the label and split of their first path (a
            # conflict is recorded by the second path's row in `sources`).
            tx.execute(
                """
                INSERT INTO assignments
                SELECT b.sid, c.class_id, b.split, 'given'
                FROM batch_rows b LEFT JOIN classes c ON c.name = b.label
                WHERE b.is_new
                """
            )
            tx.unregister("batch_rows")

            if quarantined:
                tx.register(
                    "bad",
                    pa.table(
                        {
                            "uri": pa.array([q[0] for q in quarantined], pa.string()),
                            "reason": pa.array([q[1] for q in quarantined], pa.string()),
                        }
                    ),
                )
                tx.execute(
                    f"INSERT INTO quarantine SELECT {ingest_id}, uri, reason, now() FROM bad"
                )
                tx.unregister("bad")
        finally:
            tx.unregister("incoming")
    return {
        "added_samples": int(added_samples),
        "added_sources": int(added_sources),
        "new_classes": new_classes,
        "unlabeled": int(unlabeled),
        "label_not_applied": int(label_not_applied),
    }


def _with_sids(incoming: pa.Table, base_sid: int) -> pa.Table:
    """Fill ``sid`` for new images (next sids, in sample_id order) and flag them.

    ``is_new``: the row that stored the image's bytes (one per new image);
    ``sid_is_new``: any row whose image is new in this batch.
    """
    is_new = pc.is_valid(incoming.column("pack"))
    new_ids = pc.filter(incoming.column("sample_id"), is_new)
    order = pc.sort_indices(new_ids)
    sorted_ids = pc.take(new_ids, order).to_pylist()
    sid_of = {sample_id: base_sid + i for i, sample_id in enumerate(sorted_ids)}
    known = incoming.column("sid").to_pylist()
    sids = [
        k if k is not None else sid_of[sample_id]
        for k, sample_id in zip(known, incoming.column("sample_id").to_pylist(), strict=True)
    ]
    out = incoming.set_column(
        incoming.schema.get_field_index("sid"), "sid", pa.array(sids, pa.int64())
    )
    out = out.append_column("is_new", is_new)
    return out.append_column("sid_is_new", pc.is_null(incoming.column("sid")))


def conflict_count(cat: Catalog) -> int:
    return int(cat.scalar("SELECT count(*) FROM conflicts"))


#: Images their sources give in more than one split: the first split seen is kept.
SPLIT_CONFLICTS_SQL = """
    SELECT count(*) FROM (
        SELECT sid FROM sources WHERE split IS NOT NULL
        GROUP BY sid HAVING count(DISTINCT split) > 1
    )
"""


def split_conflict_count(cat: Catalog) -> int:
    return int(cat.scalar(SPLIT_CONFLICTS_SQL))
