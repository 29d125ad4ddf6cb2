"""Reads of samples and classes in the working state, as Arrow tables.

Engines stream these in record batches (``to_batches``) so they never hold
more than a batch of pixels at once.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from curate.store.catalog import Catalog

WORKING_COLUMNS = """
    w.sid, s.sample_id, w.class_id, c.name AS label, w.split, w.label_source,
    s.origin, s.width, s.height, s.channels, s.mode, s.format,
    s.pack, s.pack_offset, s.nbytes, src.source, s.parents, s.recipe::VARCHAR AS recipe
"""


def working_samples(
    cat: Catalog,
    *,
    split: str | None = None,
    class_ids: list[int] | None = None,
    origins: list[str] | None = None,
    sids: list[int] | None = None,
) -> pa.Table:
    """The live samples, one row each, ordered by sid (deterministic)."""
    where, params = [], []
    if split is not None:
        where.append("w.split = ?")
        params.append(split)
    if class_ids is not None:
        where.append("list_contains(?, w.class_id)")
        params.append(list(class_ids))
    if origins is not None:
        where.append("list_contains(?, s.origin)")
        params.append(list(origins))
    if sids is not None:
        where.append("list_contains(?, w.sid)")
        params.append(list(sids))
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    return cat.arrow(
        f"""
        SELECT {WORKING_COLUMNS}
        FROM working w
        JOIN samples s USING (sid)
        LEFT JOIN classes c ON c.class_id = w.class_id
        LEFT JOIN sample_source src ON src.sid = w.sid
        {clause}
        ORDER BY w.sid
        """,
        params,
    )


def classes(cat: Catalog) -> list[tuple[int, str]]:
    return [
        (int(i), n) for i, n in cat.rows("SELECT class_id, name FROM classes ORDER BY class_id")
    ]


def version_classes(cat: Catalog, info) -> list[tuple[int, str]]:
    """The classes of version ``info`` (a VersionInfo): those the workspace had at its commit.

    Class ids are never renumbered and only ever appended, so a version's
    list is a prefix of today's: a class made after the commit must not
    shift or lengthen the label indices of an export of that version.
    """
    count = info.stats.class_count
    if count is None:  # committed before the count was recorded: by commit time
        count = cat.scalar(
            """
            SELECT coalesce(max(class_id) + 1, 0) FROM (
                SELECT class_id FROM classes WHERE created_at <= ?
                UNION ALL
                SELECT class_id FROM version_members WHERE version_id = ?
            )
            """,
            [info.created_at, info.version_id],
        )
    rows = cat.rows(
        "SELECT class_id, name FROM classes WHERE class_id < ? ORDER BY class_id", [int(count)]
    )
    return [(int(i), n) for i, n in rows]


def sample_rows(cat: Catalog, sids: list[int]) -> pa.Table:
    """Any samples (live or not) by sid, with their stored location."""
    return cat.arrow(
        """
        SELECT s.sid, s.sample_id, s.origin, s.width, s.height, s.channels, s.mode, s.format,
               s.pack, s.pack_offset, s.nbytes, src.source, s.parents, s.recipe::VARCHAR AS recipe
        FROM samples s LEFT JOIN sample_source src USING (sid)
        WHERE list_contains(?, s.sid) ORDER BY s.sid
        """,
        [list(sids)],
    )


def get_or_create_classes(cat: Catalog, names: list[str]) -> dict[str, int]:
    """class_id for each name, creating missing classes (caller holds the writer lock)."""
    existing: dict[str, Any] = {n: i for i, n in classes(cat)}
    missing = sorted({n for n in names if n not in existing})
    if missing:
        with cat.transaction() as tx:
            base = tx.execute("SELECT coalesce(max(class_id), -1) + 1 FROM classes").fetchall()[0][
                0
            ]
            for offset, name in enumerate(missing):
                tx.execute("INSERT INTO classes VALUES (?, ?, now())", [base + offset, name])
                existing[name] = base + offset
    return {n: existing[n] for n in names}
