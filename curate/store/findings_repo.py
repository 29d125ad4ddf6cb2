"""Scan runs and their findings.

A run and all its findings are written in ONE transaction at the end of a
scan, so a cancelled or crashed scan leaves nothing half-written. Findings are
long-form rows (sid, kind, score, is_issue, suggested_class_id, details JSON).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from curate.core.findings import Finding, FindingKind, ScanRun
from curate.store.catalog import Catalog

FINDING_SCHEMA = pa.schema(
    [
        ("sid", pa.int64()),
        ("kind", pa.string()),
        ("score", pa.float64()),
        ("is_issue", pa.bool_()),
        ("suggested_class_id", pa.int32()),
        ("details", pa.string()),  # JSON text
    ]
)


#: Significant digits a finding's score keeps. Scores come from float32
#: probabilities and distances; below this their last digits are noise that
#: changes with a BLAS or library upgrade, and would reorder samples whose
#: scores are equal (ranked by score, then sid). Rounded, equal stays equal.
SCORE_DIGITS = 6

_ROUNDED_SCORE = f"""CASE WHEN score IS NULL OR score = 0 OR NOT isfinite(score) THEN score
    ELSE round(score, ({SCORE_DIGITS - 1} - floor(log10(abs(score))))::INTEGER) END"""


def record_run(
    cat: Catalog,
    *,
    extractor: str,
    config: dict[str, Any],
    seed: int,
    timing: dict[str, float],
    started_at: float,
    findings: pa.Table | Path,
) -> int:
    """Insert a finished run and its findings atomically; return the run id.

    Scores are stored to :data:`SCORE_DIGITS` significant digits.

    ``findings``: an Arrow table, or a Parquet file of the same columns (a
    streaming scan's millions of rows, which DuckDB reads without Python
    holding them).
    """
    if isinstance(findings, (str, Path)):
        literal = "'" + str(findings).replace("'", "''") + "'"
        source = f"read_parquet({literal})"
    else:
        findings = findings.select(FINDING_SCHEMA.names).cast(FINDING_SCHEMA)
        source = "new_findings"
    with cat.transaction() as tx:
        run_id = tx.execute("SELECT coalesce(max(run_id), 0) + 1 FROM scan_runs").fetchall()[0][0]
        tx.execute(
            "INSERT INTO scan_runs VALUES (?, to_timestamp(?)::TIMESTAMP, now(), ?, ?::JSON, ?, ?::JSON, 'done')",
            [
                run_id,
                started_at,
                extractor,
                json.dumps(config, sort_keys=True),
                seed,
                json.dumps(timing, sort_keys=True),
            ],
        )
        if source == "new_findings":
            tx.register("new_findings", findings)
        try:
            tx.execute(
                f"""
                INSERT INTO findings
                SELECT {int(run_id)}, sid, kind, {_ROUNDED_SCORE}, is_issue,
                       suggested_class_id::INTEGER, details::JSON
                FROM {source}
                """
            )
        finally:
            if source == "new_findings":
                tx.unregister("new_findings")
    return int(run_id)


def latest_run_id(cat: Catalog) -> int | None:
    return cat.scalar("SELECT max(run_id) FROM scan_runs WHERE status = 'done'")


def get_run(cat: Catalog, run_id: int) -> ScanRun | None:
    rows = cat.rows(
        "SELECT run_id, extractor, config::VARCHAR, seed, status, timing::VARCHAR, "
        "started_at::VARCHAR, finished_at::VARCHAR FROM scan_runs WHERE run_id = ?",
        [run_id],
    )
    if not rows:
        return None
    r = rows[0]
    return ScanRun(
        run_id=r[0],
        extractor=r[1],
        config=json.loads(r[2] or "{}"),
        seed=r[3],
        status=r[4],
        timing=json.loads(r[5] or "{}"),
        started_at=r[6],
        finished_at=r[7],
    )


def list_runs(cat: Catalog) -> list[ScanRun]:
    ids = [r[0] for r in cat.rows("SELECT run_id FROM scan_runs ORDER BY run_id")]
    return [run for i in ids if (run := get_run(cat, i)) is not None]


_FINDINGS_SQL = """
SELECT f.run_id, f.sid, s.sample_id, src.source, f.kind,
       gc.name AS given_label, cc.name AS current_label, sc.name AS suggested_label,
       f.score, f.is_issue, f.details::VARCHAR AS details
FROM findings f
JOIN samples s USING (sid)
JOIN working w ON w.sid = f.sid
LEFT JOIN sample_source src ON src.sid = f.sid
LEFT JOIN classes gc ON gc.class_id = TRY_CAST(json_extract(f.details, '$.given_class_id') AS INTEGER)
LEFT JOIN classes cc ON cc.class_id = w.class_id
LEFT JOIN classes sc ON sc.class_id = f.suggested_class_id
WHERE f.run_id = ? {where}
ORDER BY f.score ASC NULLS LAST, f.sid
{limit}
"""


def findings_table(
    cat: Catalog,
    run_id: int,
    *,
    kind: FindingKind | None = None,
    class_ids: list[int] | None = None,
    limit: int | None = None,
    only_issues: bool = True,
) -> pa.Table:
    """Findings of ``run_id`` for samples still live, most suspicious first.

    ``class_ids`` filters on the label the sample had when the scan ran.
    """
    where, params = [], [run_id]
    if kind is not None:
        where.append("AND f.kind = ?")
        params.append(FindingKind(kind).value)
    if class_ids is not None:
        where.append(
            "AND list_contains(?, TRY_CAST(json_extract(f.details, '$.given_class_id') AS INTEGER))"
        )
        params.append(list(class_ids))
    if only_issues:
        where.append("AND f.is_issue")
    sql = _FINDINGS_SQL.format(
        where=" ".join(where), limit=f"LIMIT {int(limit)}" if limit is not None else ""
    )
    return cat.arrow(sql, params)


def conflicts_table(
    cat: Catalog, *, class_names: list[str] | None = None, limit: int | None = None
) -> pa.Table:
    """Images known under more than one label (live from the ``conflicts`` view)."""
    where, params = "", []
    if class_names is not None:
        where = "WHERE list_has_any(c.labels, ?)"
        params.append(list(class_names))
    return cat.arrow(
        f"""
        SELECT c.sid, s.sample_id, src.source, c.labels, c.uris, cc.name AS current_label
        FROM conflicts c
        JOIN samples s USING (sid)
        LEFT JOIN sample_source src ON src.sid = c.sid
        LEFT JOIN working w ON w.sid = c.sid
        LEFT JOIN classes cc ON cc.class_id = w.class_id
        {where}
        ORDER BY c.sid
        {f"LIMIT {int(limit)}" if limit is not None else ""}
        """,
        params,
    )


def findings_from_table(table: pa.Table) -> list[Finding]:
    out = []
    for row in table.to_pylist():
        out.append(
            Finding(
                run_id=row["run_id"],
                sid=row["sid"],
                sample_id=row["sample_id"],
                source=row["source"],
                kind=FindingKind(row["kind"]),
                given_label=row["given_label"],
                current_label=row["current_label"],
                suggested_label=row["suggested_label"],
                score=row["score"],
                is_issue=bool(row["is_issue"]),
                details=json.loads(row["details"] or "{}"),
            )
        )
    return out


def conflict_findings(table: pa.Table) -> list[Finding]:
    return [
        Finding(
            run_id=None,
            sid=row["sid"],
            sample_id=row["sample_id"],
            source=row["source"],
            kind=FindingKind.CONFLICT,
            given_label=None,
            current_label=row["current_label"],
            suggested_label=None,
            score=0.0,
            is_issue=True,
            details={"labels": list(row["labels"]), "sources": list(row["uris"])},
        )
        for row in table.to_pylist()
    ]


def multi_source_samples(cat: Catalog) -> dict[int, list[str]]:
    """sid -> its paths, for samples ingested from more than one path (identical files)."""
    return {
        int(sid): list(uris)
        for sid, uris in cat.rows(
            "SELECT sid, list(DISTINCT uri ORDER BY uri) FROM sources "
            "GROUP BY sid HAVING count(DISTINCT uri) > 1"
        )
    }


def duplicate_groups(cat: Catalog, run_id: int) -> list[list[int]]:
    """Groups (sids, ascending) of exact or near duplicates of ``run_id``.

    Exact and near-duplicate groups are merged where they share a sample, so
    each sid is in at most one group. Dropped samples are left out.
    """
    rows = cat.rows(
        """
        SELECT f.kind, CAST(json_extract(f.details, '$.group') AS BIGINT) AS g, f.sid
        FROM findings f JOIN working w USING (sid)
        WHERE f.run_id = ? AND f.kind IN ('duplicate', 'near_duplicate')
        ORDER BY 1, 2, 3
        """,
        [run_id],
    )
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    groups: dict[tuple[str, int], list[int]] = {}
    for kind, g, sid in rows:
        groups.setdefault((kind, g), []).append(sid)
    for members in groups.values():
        root = find(members[0])
        for m in members[1:]:
            parent[find(m)] = root
    merged: dict[int, list[int]] = {}
    for sid in sorted(parent):
        merged.setdefault(find(sid), []).append(sid)
    return sorted((m for m in merged.values() if len(m) > 1), key=lambda m: m[0])
