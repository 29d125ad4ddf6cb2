"""Ordered, named schema migrations of the catalog.

A shipped migration is never edited: add a new one at the end of
``MIGRATIONS``. ``schema_migrations`` records which have been applied.

Conventions:
* ``sid`` is a dense BIGINT per sample inside one workspace (joins stay on
  integers); ``sample_id`` is the sha256 hex of the image bytes, stable across
  workspaces.
* No PRIMARY KEY / UNIQUE constraints on the big tables: uniqueness is kept by
  the single writer with anti-joins, which keeps bulk inserts fast in DuckDB.
"""

from __future__ import annotations

from dataclasses import dataclass

from curate.store.version_views import VERSION_VIEWS


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str


INITIAL = """
CREATE TABLE samples (
    sid          BIGINT NOT NULL,
    sample_id    VARCHAR NOT NULL,          -- sha256 of the image bytes
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    channels     TINYINT NOT NULL,
    mode         VARCHAR NOT NULL,          -- PIL mode: L, RGB, RGBA, ...
    format       VARCHAR NOT NULL,          -- PNG, JPEG, ...
    nbytes       BIGINT NOT NULL,
    pack         VARCHAR NOT NULL,          -- object store pack holding the bytes
    pack_offset  BIGINT NOT NULL,
    origin       VARCHAR NOT NULL,          -- original | augmented | synthetic
    parents      VARCHAR[],                 -- lineage: sample_ids this one was made from
    recipe       JSON,                      -- lineage: how it was made (policy/generator, seed, params)
    ingest_id    INTEGER,
    created_at   TIMESTAMP NOT NULL
);

-- Every original path/URI a sample came from, with the label and split that
-- path gave it. The same image under two labels is two rows here (a conflict).
CREATE TABLE sources (
    sid        BIGINT NOT NULL,
    uri        VARCHAR NOT NULL,
    label      VARCHAR,
    split      VARCHAR,
    ingest_id  INTEGER NOT NULL
);

CREATE TABLE classes (
    class_id    INTEGER NOT NULL,           -- stable: never renumbered
    name        VARCHAR NOT NULL,
    created_at  TIMESTAMP NOT NULL
);

-- The label and split each sample had when it entered the workspace. Working
-- changes and versions are layered on top; this table is append-only.
CREATE TABLE assignments (
    sid           BIGINT NOT NULL,
    class_id      INTEGER,                  -- NULL: unlabeled
    split         VARCHAR,                  -- NULL: no given split
    label_source  VARCHAR NOT NULL          -- given | human | accepted-suggestion
);

CREATE TABLE ingests (
    ingest_id    INTEGER NOT NULL,
    source       VARCHAR NOT NULL,
    format       VARCHAR NOT NULL,
    options      JSON,
    started_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP,
    status       VARCHAR NOT NULL,          -- running | done | cancelled (a killed run stays 'running')
    report       JSON
);

CREATE TABLE quarantine (
    ingest_id   INTEGER NOT NULL,
    uri         VARCHAR NOT NULL,
    reason      VARCHAR NOT NULL,
    created_at  TIMESTAMP NOT NULL
);

-- Filled by scans.
CREATE TABLE scan_runs (
    run_id       INTEGER NOT NULL,
    started_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP,
    extractor    VARCHAR NOT NULL,
    config       JSON,
    seed         BIGINT,
    timing       JSON,
    status       VARCHAR NOT NULL
);

CREATE TABLE findings (
    run_id              INTEGER NOT NULL,
    sid                 BIGINT NOT NULL,
    kind                VARCHAR NOT NULL,   -- label | duplicate | near_duplicate | outlier | quality | conflict
    score               DOUBLE,             -- lower = more suspicious (cleanlab's convention)
    is_issue            BOOLEAN NOT NULL,
    suggested_class_id  INTEGER,
    details             JSON
);

-- Working changes (like git's index). Pending while version_id IS NULL; a
-- commit stamps them with the version they went into, so "which labels
-- changed between v3 and v4, and why" stays one query.
CREATE TABLE changes (
    change_id     BIGINT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    op            VARCHAR NOT NULL,         -- add | relabel | drop | restore | move
    sid           BIGINT NOT NULL,
    class_id      INTEGER,                  -- add/relabel/restore: the class it gets
    split         VARCHAR,                  -- add/move/restore: the split it gets
    label_source  VARCHAR,                  -- given | human | accepted-suggestion
    reason        VARCHAR,
    run_id        INTEGER,                  -- the scan run whose finding prompted it
    details       JSON,
    version_id    INTEGER                   -- NULL: pending
);

CREATE TABLE versions (
    version_id     INTEGER NOT NULL,
    hash           VARCHAR NOT NULL,        -- content hash of the members: same content, same hash
    parent_id      INTEGER,
    message        VARCHAR,
    created_at     TIMESTAMP NOT NULL,
    sid_watermark  BIGINT NOT NULL,         -- max(sid) at commit: later ingests are new to the working state
    stats          JSON
);

CREATE TABLE version_members (
    version_id    INTEGER NOT NULL,
    sid           BIGINT NOT NULL,
    class_id      INTEGER,
    split         VARCHAR,
    label_source  VARCHAR NOT NULL
);

CREATE TABLE tags (
    name        VARCHAR NOT NULL,
    version_id  INTEGER NOT NULL,
    created_at  TIMESTAMP NOT NULL
);

-- The working state: every live sample with its current label and split.
-- Base: the newest version's members, plus samples ingested after it (or all
-- ingested samples before the first commit). Pending changes apply on top,
-- the latest change of each kind winning.
CREATE VIEW working AS
WITH head AS (
    SELECT version_id, sid_watermark FROM versions ORDER BY version_id DESC LIMIT 1
),
base AS (
    SELECT m.sid, m.class_id, m.split, m.label_source
    FROM version_members m JOIN head USING (version_id)
    UNION ALL
    SELECT a.sid, a.class_id, a.split, a.label_source
    FROM assignments a
    WHERE a.sid > coalesce((SELECT sid_watermark FROM head), -1)
),
pending AS (SELECT * FROM changes WHERE version_id IS NULL),
membership AS (
    SELECT sid, arg_max(op, change_id) AS op FROM pending
    WHERE op IN ('add', 'restore', 'drop') GROUP BY sid
),
labeled AS (
    SELECT sid, arg_max(class_id, change_id) AS class_id,
           arg_max(label_source, change_id) AS label_source
    FROM pending WHERE op IN ('add', 'restore', 'relabel') GROUP BY sid
),
placed AS (
    SELECT sid, arg_max(split, change_id) AS split FROM pending
    WHERE op IN ('add', 'restore', 'move') GROUP BY sid
),
universe AS (SELECT sid FROM base UNION SELECT sid FROM pending)
SELECT u.sid,
       coalesce(l.class_id, b.class_id) AS class_id,
       CASE WHEN p.sid IS NOT NULL THEN p.split ELSE b.split END AS split,
       coalesce(l.label_source, b.label_source) AS label_source
FROM universe u
LEFT JOIN base b USING (sid)
LEFT JOIN membership m USING (sid)
LEFT JOIN labeled l USING (sid)
LEFT JOIN placed p USING (sid)
WHERE CASE WHEN m.op IS NULL THEN b.sid IS NOT NULL ELSE m.op <> 'drop' END;

-- Images known under more than one label.
CREATE VIEW conflicts AS
SELECT sid, list(DISTINCT label ORDER BY label) AS labels, list(uri ORDER BY uri) AS uris
FROM sources
WHERE label IS NOT NULL
GROUP BY sid
HAVING count(DISTINCT label) > 1;

-- One path per sample (the smallest, so it is deterministic): what listings show as "source".
CREATE VIEW sample_source AS
SELECT sid, min(uri) AS source FROM sources GROUP BY sid;
"""

POLICIES = """
CREATE TABLE policies (
    hash        VARCHAR NOT NULL,           -- sha256 of the policy content (curate.augment.policy)
    name        VARCHAR NOT NULL,           -- the name it had when first used
    document    JSON NOT NULL,              -- the whole policy document
    created_at  TIMESTAMP NOT NULL
);
"""

FINDINGS_WIDE = """
-- The long-form findings pivoted to one row per (run, sample), in the column
-- names of cleanlab's Datalab.get_issues(): is_<kind>_issue, <kind>_score.
CREATE VIEW findings_wide AS
SELECT run_id, sid,
       bool_or(is_issue) FILTER (WHERE kind = 'label')          AS is_label_issue,
       min(score) FILTER (WHERE kind = 'label')                 AS label_score,
       any_value(suggested_class_id) FILTER (WHERE kind = 'label') AS suggested_class_id,
       bool_or(is_issue) FILTER (WHERE kind = 'outlier')        AS is_outlier_issue,
       min(score) FILTER (WHERE kind = 'outlier')               AS outlier_score,
       coalesce(bool_or(is_issue) FILTER (WHERE kind = 'near_duplicate'), false)
                                                                AS is_near_duplicate_issue,
       min(score) FILTER (WHERE kind = 'near_duplicate')        AS near_duplicate_score,
       any_value(CAST(json_extract(details, '$.group') AS BIGINT))
           FILTER (WHERE kind = 'near_duplicate')               AS near_duplicate_group,
       coalesce(bool_or(is_issue) FILTER (WHERE kind = 'duplicate'), false)
                                                                AS is_duplicate_issue,
       any_value(CAST(json_extract(details, '$.group') AS BIGINT))
           FILTER (WHERE kind = 'duplicate')                    AS duplicate_group,
       bool_or(is_issue) FILTER (WHERE kind = 'quality')        AS is_quality_issue,
       min(score) FILTER (WHERE kind = 'quality')               AS quality_score
FROM findings
GROUP BY run_id, sid;
"""

MIGRATIONS: list[Migration] = [
    Migration("001_initial", INITIAL),
    # Views for versions, labels and changes (issue 4; SQL in version_views.py).
    Migration("002_version_views", VERSION_VIEWS),
    # Augmentation policies by content hash, so every augmented sample's recipe
    # can name its policy and be replayed (issue 5).
    Migration("003_policies", POLICIES),
    # One row per (scan run, sample) with cleanlab-style columns (issue 3).
    Migration("004_findings_wide", FINDINGS_WIDE),
]
