"""Read-only summaries of a workspace's working state."""

from __future__ import annotations

from curate.store import ingest_repo
from curate.store.catalog import Catalog


def class_counts(cat: Catalog) -> list[tuple[int, str, int, dict[str, int]]]:
    """(class_id, name, count, {split: count}) for every class, in class_id order."""
    rows = cat.rows(
        "SELECT c.class_id, c.name, count(w.sid) FROM classes c "
        "LEFT JOIN working w USING (class_id) GROUP BY ALL ORDER BY 1"
    )
    out = []
    for class_id, name, count in rows:
        out.append((class_id, name, count, {}))
    by_split = cat.rows(
        "SELECT class_id, coalesce(split, '-'), count(*) FROM working "
        "WHERE class_id IS NOT NULL GROUP BY ALL ORDER BY ALL"
    )
    index = {c[0]: c for c in out}
    for class_id, split, n in by_split:
        index[class_id][3][split] = n
    return out


def summary(cat: Catalog) -> dict:
    q = cat.scalar
    quarantine = cat.rows(
        """
        SELECT split_part(reason, ':', 1) AS kind, count(DISTINCT uri)
        FROM quarantine
        WHERE uri NOT IN (SELECT uri FROM sources)
        GROUP BY kind ORDER BY kind
        """
    )
    return {
        "samples": int(q("SELECT count(*) FROM working")),
        "splits": dict(
            cat.rows("SELECT coalesce(split, '-'), count(*) FROM working GROUP BY ALL ORDER BY 1")
        ),
        "origins": dict(
            cat.rows(
                "SELECT s.origin, count(*) FROM working w JOIN samples s USING (sid) GROUP BY ALL ORDER BY 1"
            )
        ),
        "unlabeled": int(q("SELECT count(*) FROM working WHERE class_id IS NULL")),
        "quarantine_reasons": {k: int(v) for k, v in quarantine},
        "conflicts": int(q("SELECT count(*) FROM conflicts")),
        "split_conflicts": int(q(ingest_repo.SPLIT_CONFLICTS_SQL)),
    }
