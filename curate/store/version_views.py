"""SQL of migration ``002_version_views``: the views users query with plain DuckDB.

Documented in ``docs/sql.md``. Part of a migration, so never edited once
shipped: change a view by adding a migration that replaces it.

Every view speaks in names (``sample_id``, ``label``, ``version`` = "v3"),
not in the catalog's internal integers, though those (``sid``,
``class_id``, ``version_id``) stay available for fast filters and joins.
"""

from __future__ import annotations

VERSION_VIEWS = """
-- 'v3', '3', 3 or a tag name -> version_id (NULL when nothing matches).
CREATE MACRO version_number(ref) AS coalesce(
    TRY_CAST(ltrim(CAST(ref AS VARCHAR), 'vV') AS INTEGER),
    (SELECT max(t.version_id) FROM tags t WHERE t.name = CAST(ref AS VARCHAR))
);

-- One row per version, newest last.
CREATE VIEW version_log AS
SELECT v.version_id,
       'v' || v.version_id AS version,
       v.hash,
       CASE WHEN v.parent_id IS NOT NULL THEN 'v' || v.parent_id END AS parent,
       v.message,
       v.created_at,
       coalesce(
           (SELECT list(t.name ORDER BY t.name) FROM tags t WHERE t.version_id = v.version_id),
           []::VARCHAR[]
       ) AS tags,
       CAST(v.stats->>'samples' AS BIGINT) AS samples,
       v.sid_watermark,
       v.stats
FROM versions v;

-- Every sample of every version with its label and split then (time travel:
-- WHERE version = 'v3').
CREATE VIEW version_samples AS
SELECT m.version_id,
       'v' || m.version_id AS version,
       s.sample_id,
       src.source,
       c.name AS label,
       m.class_id,
       m.split,
       m.label_source,
       s.origin,
       s.parents,
       s.recipe,
       s.width,
       s.height,
       s.mode,
       s.format,
       m.sid
FROM version_members m
JOIN samples s USING (sid)
LEFT JOIN classes c ON c.class_id = m.class_id
LEFT JOIN sample_source src ON src.sid = m.sid;

-- The working state (newest version + pending changes + new ingests), named.
CREATE VIEW working_samples AS
SELECT s.sample_id,
       src.source,
       c.name AS label,
       w.class_id,
       w.split,
       w.label_source,
       s.origin,
       s.parents,
       s.recipe,
       s.width,
       s.height,
       s.mode,
       s.format,
       w.sid
FROM working w
JOIN samples s USING (sid)
LEFT JOIN classes c ON c.class_id = w.class_id
LEFT JOIN sample_source src ON src.sid = w.sid;

-- Every working change ever made; version IS NULL while pending.
CREATE VIEW change_log AS
SELECT ch.change_id,
       ch.created_at,
       CASE WHEN ch.version_id IS NOT NULL THEN 'v' || ch.version_id END AS version,
       ch.version_id,
       ch.op,
       s.sample_id,
       src.source,
       c.name AS label,
       ch.split,
       ch.label_source,
       ch.reason,
       ch.run_id,
       ch.details,
       ch.sid
FROM changes ch
JOIN samples s USING (sid)
LEFT JOIN classes c ON c.class_id = ch.class_id
LEFT JOIN sample_source src ON src.sid = ch.sid;

CREATE VIEW pending_changes AS
SELECT * EXCLUDE (version, version_id) FROM change_log WHERE version_id IS NULL;

-- Every label a version changed relative to its parent, and why (the
-- latest change that version took in for the sample).
CREATE VIEW label_changes AS
WITH pairs AS (
    SELECT v.version_id, v.parent_id, n.sid, o.class_id AS from_class, n.class_id AS to_class
    FROM versions v
    JOIN version_members n ON n.version_id = v.version_id
    JOIN version_members o ON o.version_id = v.parent_id AND o.sid = n.sid
    WHERE o.class_id IS DISTINCT FROM n.class_id
),
why AS (
    SELECT version_id, sid, label_source, reason, run_id, created_at, details
    FROM changes
    WHERE version_id IS NOT NULL AND op IN ('relabel', 'restore', 'add')
    QUALIFY row_number() OVER (PARTITION BY version_id, sid ORDER BY change_id DESC) = 1
)
SELECT 'v' || p.version_id AS version,
       p.version_id,
       'v' || p.parent_id AS parent,
       s.sample_id,
       src.source,
       cf.name AS from_label,
       ct.name AS to_label,
       w.label_source,
       w.reason,
       w.run_id,
       w.created_at AS changed_at,
       w.details,
       p.sid
FROM pairs p
JOIN samples s USING (sid)
LEFT JOIN sample_source src ON src.sid = p.sid
LEFT JOIN classes cf ON cf.class_id = p.from_class
LEFT JOIN classes ct ON ct.class_id = p.to_class
LEFT JOIN why w ON w.version_id = p.version_id AND w.sid = p.sid;

-- Sample-level differences between any two versions, with the reason of the
-- latest change in between: SELECT * FROM version_diff('v3', 'v5').
CREATE MACRO version_diff(a, b) AS TABLE
WITH ids AS (SELECT version_number(a) AS ia, version_number(b) AS ib),
va AS (SELECT m.* FROM version_members m, ids WHERE m.version_id = ids.ia),
vb AS (SELECT m.* FROM version_members m, ids WHERE m.version_id = ids.ib),
j AS (
    SELECT coalesce(va.sid, vb.sid) AS sid,
           va.sid IS NOT NULL AS in_a,
           vb.sid IS NOT NULL AS in_b,
           va.class_id AS a_class,
           vb.class_id AS b_class,
           va.split AS a_split,
           vb.split AS b_split
    FROM va FULL OUTER JOIN vb ON va.sid = vb.sid
    WHERE va.sid IS NULL OR vb.sid IS NULL
       OR va.class_id IS DISTINCT FROM vb.class_id
       OR va.split IS DISTINCT FROM vb.split
),
why AS (
    SELECT ch.sid, ch.label_source, ch.reason, ch.run_id
    FROM changes ch, ids
    WHERE ch.version_id > least(ids.ia, ids.ib) AND ch.version_id <= greatest(ids.ia, ids.ib)
    QUALIFY row_number() OVER (PARTITION BY ch.sid ORDER BY ch.change_id DESC) = 1
)
SELECT CASE
           WHEN NOT j.in_a THEN 'added'
           WHEN NOT j.in_b THEN 'removed'
           WHEN j.a_class IS DISTINCT FROM j.b_class AND j.a_split IS DISTINCT FROM j.b_split
               THEN 'relabeled+moved'
           WHEN j.a_class IS DISTINCT FROM j.b_class THEN 'relabeled'
           ELSE 'moved'
       END AS change,
       s.sample_id,
       src.source,
       ca.name AS from_label,
       cb.name AS to_label,
       j.a_split AS from_split,
       j.b_split AS to_split,
       w.label_source,
       w.reason,
       w.run_id,
       j.sid
FROM j
JOIN samples s USING (sid)
LEFT JOIN sample_source src ON src.sid = j.sid
LEFT JOIN classes ca ON ca.class_id = j.a_class
LEFT JOIN classes cb ON cb.class_id = j.b_class
LEFT JOIN why w ON w.sid = j.sid;
"""
