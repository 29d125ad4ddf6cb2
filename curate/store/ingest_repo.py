"""Catalog reads and writes for ingest: all bulk rows go through Arrow tables."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

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
    with cat.transaction() as tx:
        tx.execute(
            "UPDATE ingests SET finished_at = now(), status = ?, report = ? WHERE ingest_id = ?",
            [status, json.dumps(report, sort_keys=True, default=str), ingest_id],
        )


def known_sample_ids(cat: Catalog, sample_ids: list[str]) -> set[str]:
    """Which of these content hashes are already stored."""
    if not sample_ids:
        return set()
    probe = pa.table({"sample_id": pa.array(sample_ids, pa.string())})
    cur = cat.cursor()
    cur.register("probe_ids", probe)
    try:
        rows = cur.execute(
            "SELECT DISTINCT s.sample_id FROM samples s SEMI JOIN probe_ids p USING (sample_id)"
        ).fetchall()
    finally:
        cur.unregister("probe_ids")
    return {r[0] for r in rows}


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
            new_classes = [
                r[0]
                for r in tx.execute(
                    "SELECT DISTINCT label FROM incoming WHERE label IS NOT NULL "
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

            base_sid = tx.execute("SELECT coalesce(max(sid), -1) + 1 FROM samples").fetchall()[0][0]
            # One new sample per new content hash (the first row that stored its bytes).
            added_samples = tx.execute(
                f"""
                INSERT INTO samples
                SELECT {base_sid} + row_number() OVER (ORDER BY sample_id) - 1,
                       sample_id, width, height, channels, mode, format, nbytes,
                       pack, pack_offset, 'original', NULL, NULL, {ingest_id}, now()
                FROM (
                    SELECT * FROM incoming
                    WHERE pack IS NOT NULL
                    QUALIFY row_number() OVER (PARTITION BY sample_id ORDER BY uri) = 1
                ) i
                WHERE sample_id NOT IN (SELECT sample_id FROM samples)
                """
            ).fetchall()[0][0]

            added_sources = tx.execute(
                f"""
                INSERT INTO sources
                SELECT DISTINCT s.sid, i.uri, i.label, i.split, {ingest_id}
                FROM incoming i JOIN samples s USING (sample_id)
                WHERE NOT EXISTS (
                    SELECT 1 FROM sources o
                    WHERE o.sid = s.sid AND o.uri = i.uri
                      AND o.label IS NOT DISTINCT FROM i.label
                )
                """
            ).fetchall()[0][0]

            # New samples take the label and split of their first path (a
            # conflict is recorded by the second path's row in `sources`).
            tx.execute(
                f"""
                INSERT INTO assignments
                SELECT s.sid, c.class_id, first.split, 'given'
                FROM samples s
                JOIN (
                    SELECT * FROM incoming
                    QUALIFY row_number() OVER (PARTITION BY sample_id ORDER BY uri) = 1
                ) first USING (sample_id)
                LEFT JOIN classes c ON c.name = first.label
                WHERE s.sid >= {base_sid}
                """
            )

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
    }


def conflict_count(cat: Catalog) -> int:
    return int(cat.scalar("SELECT count(*) FROM conflicts"))
