"""Augmentation policies and the lineage of the samples they made.

The ``policies`` table (migration ``003_policies``) keeps every policy
document that produced samples, keyed by its content hash, so the recipe of
an augmented sample (``recipe->>'policy'``) is enough to replay it.
"""

from __future__ import annotations

import json
from typing import Any

from curate.core.versions import Lineage, LineageChild, LineageParent
from curate.store.catalog import Catalog


def save_policy(cat: Catalog, policy_hash: str, name: str, document: dict[str, Any]) -> bool:
    """Store a policy document once per hash (caller holds the writer lock); True if new."""
    with cat.transaction() as tx:
        known = tx.execute("SELECT count(*) FROM policies WHERE hash = ?", [policy_hash]).fetchall()
        if known[0][0]:
            return False
        tx.execute(
            "INSERT INTO policies VALUES (?, ?, ?::JSON, now())",
            [policy_hash, name, json.dumps(document, sort_keys=True)],
        )
    return True


def get_policy(cat: Catalog, policy_hash: str) -> dict[str, Any] | None:
    """The stored document for a hash (or a unique hash prefix of 6+ characters)."""
    if len(policy_hash) < 6:
        return None
    rows = cat.rows(
        "SELECT document::VARCHAR FROM policies WHERE starts_with(hash, ?)", [policy_hash]
    )
    return json.loads(rows[0][0]) if len(rows) == 1 else None


def list_policies(cat: Catalog) -> list[dict[str, Any]]:
    """Stored policies with how many samples each made (live or not)."""
    rows = cat.rows(
        """
        SELECT p.hash, p.name, p.created_at, count(s.sid)
        FROM policies p
        LEFT JOIN samples s ON s.origin = 'augmented' AND s.recipe->>'policy' = p.hash
        GROUP BY ALL ORDER BY p.created_at
        """
    )
    return [{"hash": h, "name": n, "created_at": c, "samples": int(k)} for h, n, c, k in rows]


def used_copies(cat: Catalog, policy_hash: str) -> set[tuple[str, int]]:
    """(parent sample_id, copy) pairs this policy already made, dropped samples included.

    A later run continues with fresh copy numbers instead of remaking (and so
    re-adding) a sample the user dropped. A sample whose pending add was
    forgotten (``curate reset``) has no change left and does not count: the
    same command makes the same samples again.
    """
    rows = cat.rows(
        """
        SELECT s.parents[1], CAST(s.recipe->>'copy' AS INTEGER) FROM samples s
        WHERE s.origin = 'augmented' AND s.recipe->>'policy' = ?
          AND EXISTS (SELECT 1 FROM changes c WHERE c.sid = s.sid)
        """,
        [policy_hash],
    )
    return {(p, int(c)) for p, c in rows if p is not None and c is not None}


def sample_lineage(cat: Catalog, sample: int | str) -> dict[str, Any] | None:
    """sid, sample_id, origin, parents, recipe and stored location of one sample."""
    column = "sid" if isinstance(sample, int) else "sample_id"
    rows = cat.rows(
        f"""
        SELECT sid, sample_id, origin, parents, recipe::VARCHAR, pack, pack_offset, nbytes
        FROM samples WHERE {column} = ? ORDER BY sid LIMIT 1
        """,
        [sample],
    )
    if not rows:
        return None
    sid, sample_id, origin, parents, recipe, pack, offset, nbytes = rows[0]
    return {
        "sid": int(sid),
        "sample_id": sample_id,
        "origin": origin,
        "parents": list(parents or []),
        "recipe": json.loads(recipe) if recipe else None,
        "location": (pack, int(offset), int(nbytes)),
    }


def lineage(cat: Catalog, sid: int) -> Lineage | None:
    """One sample's lineage: itself, its parents and its children, with their working state.

    One statement, so the three parts are read from one snapshot. Children
    are found by scanning ``samples.parents`` (no index on it): a look-up
    of one sample, fine at a million rows, not a per-row call.
    """
    rows = cat.rows(
        """
        WITH me AS (SELECT sid, sample_id, parents FROM samples WHERE sid = ?),
        kin AS (
            SELECT 0 AS role, sid FROM me
            UNION ALL
            SELECT 1, s.sid FROM samples s
            WHERE list_contains((SELECT parents FROM me), s.sample_id)
            UNION ALL
            SELECT 2, s.sid FROM samples s
            WHERE list_contains(s.parents, (SELECT sample_id FROM me))
        )
        SELECT k.role, s.sid, s.sample_id, s.origin, s.parents,
               CASE WHEN k.role = 0 THEN s.recipe::VARCHAR END,
               w.sid IS NOT NULL, c.name, w.split, src.uris
        FROM kin k
        JOIN samples s USING (sid)
        LEFT JOIN (SELECT * FROM working WHERE sid IN (SELECT sid FROM kin)) w USING (sid)
        LEFT JOIN classes c ON c.class_id = w.class_id
        LEFT JOIN (SELECT sid, list(uri ORDER BY uri) AS uris FROM sources
                   WHERE sid IN (SELECT sid FROM kin) GROUP BY sid) src USING (sid)
        ORDER BY k.role, s.sid
        """,
        [sid],
    )
    me = next((r for r in rows if r[0] == 0), None)
    if me is None:
        return None
    parents = {
        r[2]: LineageParent(
            sid=int(r[1]),
            sample_id=r[2],
            origin=r[3],
            live=bool(r[6]),
            label=r[7],
            split=r[8],
            source=r[9][0] if r[9] else None,
        )
        for r in rows
        if r[0] == 1
    }
    return Lineage(
        sid=int(me[1]),
        sample_id=me[2],
        origin=me[3],
        live=bool(me[6]),
        label=me[7],
        split=me[8],
        sources=list(me[9] or []),
        parents=[
            parents.get(p)
            or LineageParent(
                sid=None, sample_id=p, origin=None, live=False, label=None, split=None, source=None
            )
            for p in (me[4] or [])
        ],
        recipe=json.loads(me[5]) if me[5] else None,
        children=[
            LineageChild(sid=int(r[1]), sample_id=r[2], origin=r[3], live=bool(r[6]))
            for r in rows
            if r[0] == 2
        ],
    )


def locations_by_sample_id(cat: Catalog, sample_ids: list[str]) -> dict[str, tuple[str, int, int]]:
    """Where the bytes of each sample_id are stored."""
    if not sample_ids:
        return {}
    rows = cat.rows(
        "SELECT sample_id, pack, pack_offset, nbytes FROM samples "
        "WHERE list_contains(?, sample_id)",
        [list(sample_ids)],
    )
    return {sid: (pack, int(off), int(n)) for sid, pack, off, n in rows}
