"""Versions in the catalog: commit, read, resolve, diff, tag.

A version is a full snapshot of the working state in ``version_members``
(one row per live sample: sid, class, split, label source). Image bytes are
never copied: members point at ``samples`` by sid. DuckDB stores the
snapshot column-compressed (sids sorted -> delta encoding, class and split ->
bit-packed dictionaries), about 1.5 bytes per sample, so a 1M-sample
version costs ~1.5 MB; see ``benchmarks/bench_versions.py``.

The content hash is sha256 over the lines ``sample_id \\t label \\t split \\n``
sorted by sample_id (NULL written as an empty field): the same content gives
the same hash in any workspace, whatever the sids or the order of edits.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from curate.core.versions import (
    ClassCounts,
    DiffSample,
    Move,
    Relabel,
    Tag,
    VersionDiff,
    VersionInfo,
    VersionStats,
)
from curate.errors import InvalidInput, NotFound
from curate.store.catalog import Catalog

WORKING = "working"  # pseudo-ref for the working state in diffs
# The state before the first commit, as a diff side: no samples. Version ids start
# at 1, so id 0 has no members and members_sql(0) selects nothing.
EMPTY = "empty"
EMPTY_ID = 0

_TAG_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")
_VERSION_NUMBER = re.compile(r"^[vV]?(\d+)$")
_HASH_PREFIX = re.compile(r"^[0-9a-fA-F]{4,64}$")
_PARENT_SUFFIX = re.compile(r"^(.*?)~(\d*)$")
_UNSPLIT = "-"


def version_name(version_id: int | None) -> str | None:
    return None if version_id is None else f"v{version_id}"


# -- reading versions ------------------------------------------------------------------
def head_id(cat: Catalog) -> int | None:
    return cat.scalar("SELECT max(version_id) FROM versions")


def _tags_by_version(cat: Catalog) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for name, vid in cat.rows("SELECT name, version_id FROM tags ORDER BY name"):
        out.setdefault(int(vid), []).append(name)
    return out


def _info(row: tuple, tags: dict[int, list[str]]) -> VersionInfo:
    vid, digest, parent, message, created_at, watermark, stats = row
    return VersionInfo(
        version_id=int(vid),
        name=f"v{vid}",
        hash=digest,
        parent=version_name(parent),
        message=message,
        created_at=created_at,
        sid_watermark=int(watermark),
        tags=tags.get(int(vid), []),
        stats=VersionStats.model_validate(json.loads(stats)),
    )


_VERSION_COLUMNS = "version_id, hash, parent_id, message, created_at, sid_watermark, stats::VARCHAR"


def get_version(cat: Catalog, version_id: int) -> VersionInfo:
    rows = cat.rows(f"SELECT {_VERSION_COLUMNS} FROM versions WHERE version_id = ?", [version_id])
    if not rows:
        raise NotFound(f"no version v{version_id}")
    return _info(rows[0], _tags_by_version(cat))


def list_versions(cat: Catalog) -> list[VersionInfo]:
    """All versions, newest first."""
    tags = _tags_by_version(cat)
    rows = cat.rows(f"SELECT {_VERSION_COLUMNS} FROM versions ORDER BY version_id DESC")
    return [_info(r, tags) for r in rows]


def resolve_version(cat: Catalog, ref: str | int) -> int:
    """A version number ("3", "v3"), tag, hash prefix, HEAD, or any of them + "~N" -> version_id."""
    text = str(ref).strip()
    if not text:
        raise InvalidInput("empty version name")
    suffix = _PARENT_SUFFIX.match(text)
    if suffix and suffix.group(1):
        steps = int(suffix.group(2) or 1)
        vid = resolve_version(cat, suffix.group(1))
        for _ in range(steps):
            parent = cat.scalar("SELECT parent_id FROM versions WHERE version_id = ?", [vid])
            if parent is None:
                raise NotFound(f"{text}: v{vid} has no parent")
            vid = int(parent)
        return vid
    if text.upper() in ("HEAD", "LATEST"):
        vid = head_id(cat)
        if vid is None:
            raise NotFound("no versions yet", hint="make one with `curate commit -m MESSAGE`")
        return int(vid)
    number = _VERSION_NUMBER.match(text)
    if number:
        vid = int(number.group(1))
        if cat.scalar("SELECT count(*) FROM versions WHERE version_id = ?", [vid]):
            return vid
    tagged = cat.scalar("SELECT max(version_id) FROM tags WHERE name = ?", [text])
    if tagged is not None:
        return int(tagged)
    if _HASH_PREFIX.match(text):
        rows = cat.rows(
            "SELECT version_id FROM versions WHERE starts_with(hash, ?) ORDER BY version_id",
            [text.lower()],
        )
        if len(rows) == 1:
            return int(rows[0][0])
        if len(rows) > 1:
            names = ", ".join(f"v{r[0]}" for r in rows[:5])
            raise InvalidInput(
                f"hash prefix {text!r} is ambiguous: {names}", hint="use more characters"
            )
    known = [f"v{r[0]}" for r in cat.rows("SELECT version_id FROM versions ORDER BY 1 DESC")]
    tags = [r[0] for r in cat.rows("SELECT name FROM tags ORDER BY name")]
    hint = "versions: " + (", ".join(known[:10]) or "none yet")
    if tags:
        hint += "; tags: " + ", ".join(tags[:10])
    raise NotFound(f"no version named {text!r}", hint=hint)


def resolve_diff_side(cat: Catalog, ref: str | int | None) -> int | None:
    """One side of a diff -> version_id; None (or "working") is the working state.

    Before the first commit, HEAD names the empty state (EMPTY_ID), so a bare
    `curate diff` (HEAD -> working) lists everything a first commit would
    record as added. HEAD~N and every other name still need a version.
    """
    if ref is None or str(ref).strip().lower() == WORKING:
        return None
    if str(ref).strip().upper() in ("HEAD", "LATEST") and head_id(cat) is None:
        return EMPTY_ID
    return resolve_version(cat, ref)


def _side_name(version_id: int | None) -> str:
    if version_id is None:
        return WORKING
    return EMPTY if version_id == EMPTY_ID else f"v{version_id}"


# -- commit ------------------------------------------------------------------------------
# The content hash. Each member row (sample_id, label, split) maps to two
# 64-bit values r0, r1 = mix(first 128 bits of sample_id XOR key(label, split));
# the digest state is (count, sum r0, sum r1) mod 2^64, and the hash is
# sha256("curate-members-v1" || count || L0 || L1). A multiset hash: it depends
# on the content only (not on sids, order or the path of edits), so equal
# content gives an equal hash in any workspace, and a commit updates it from
# the rows it changes alone (subtract old rows, add new ones) instead of
# re-reading a million members. verify_hash() recomputes it from scratch.
_MASK = (1 << 64) - 1
_DIGEST_TAG = b"curate-members-v1"


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, vectorized (uint64 arithmetic wraps)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _key(domain: bytes, name: str | None) -> np.ndarray:
    raw = domain + (b"\x00" if name is None else b"\x01" + name.encode())
    return np.frombuffer(hashlib.sha256(raw).digest()[:16], dtype="<u8")


def _label_keys(class_ids: pa.ChunkedArray, names: dict[int, str]) -> np.ndarray:
    """(n, 2) uint64 keys of each row's label name (by class_id; NULL = unlabeled)."""
    top = max(names, default=0) + 1
    table = np.array([_key(b"label", names.get(i)) for i in range(top + 1)], dtype=np.uint64)
    table[top] = _key(b"label", None)
    idx = class_ids.combine_chunks().fill_null(top).to_numpy().astype(np.int64)
    return table[idx]


def _split_keys(splits: pa.ChunkedArray) -> np.ndarray:
    enc = splits.combine_chunks().dictionary_encode()
    values = enc.dictionary.to_pylist() + [None]
    table = np.array([_key(b"split", v) for v in values], dtype=np.uint64)
    return table[enc.indices.fill_null(len(values) - 1).to_numpy().astype(np.int64)]


def _digest_sums(rows: pa.Table, names: dict[int, str]) -> tuple[int, int, int]:
    """(count, L0, L1) of ``rows`` (columns d = unhex(sample_id[1:32]), class_id, split)."""
    n = rows.num_rows
    if n == 0:
        return 0, 0, 0
    d = rows.column("d").combine_chunks()
    offsets = np.frombuffer(d.buffers()[1], dtype=np.int32)[d.offset : d.offset + n + 1]
    if not (np.diff(offsets) == 16).all():
        raise ValueError("internal: sample_id is not 64 hex characters")
    words = np.frombuffer(d.buffers()[2], dtype="<u8", count=2 * n, offset=int(offsets[0]))
    words = words.reshape(n, 2)
    keys = _label_keys(rows.column("class_id"), names) ^ _split_keys(rows.column("split"))
    with np.errstate(over="ignore"):
        r0 = _mix(words[:, 0] ^ keys[:, 0])
        r1 = _mix(words[:, 1] ^ keys[:, 1])
        return n, int(r0.sum(dtype=np.uint64)), int(r1.sum(dtype=np.uint64))


def _hash(state: tuple[int, int, int]) -> str:
    n, l0, l1 = state
    payload = _DIGEST_TAG + b"".join(v.to_bytes(8, "little") for v in (n, l0, l1))
    return hashlib.sha256(payload).hexdigest()


def _state(stats: VersionStats) -> tuple[int, int, int]:
    n, l0, l1 = (int(x, 16) for x in stats.digest)
    return n, l0, l1


# Rows (with what stats and the digest need) of version ``?`` restricted to touched sids.
_DELTA_ROWS = """
    SELECT m.sid, unhex(left(s.sample_id, 32)) AS d, m.class_id, m.split,
           m.label_source, s.origin
    FROM version_members m
    JOIN samples s USING (sid)
    WHERE m.version_id = ? {restrict}
"""


def _delta_rows(cat: Catalog, version_id: int, touched: bool) -> pa.Table:
    restrict = "AND m.sid IN (SELECT sid FROM _touched)" if touched else ""
    return cat.arrow(_DELTA_ROWS.format(restrict=restrict), [version_id])


def _count_rows(rows: pa.Table, sign: int, acc: dict, names: dict[int, str]) -> None:
    """Add (sign=+1) or remove (-1) ``rows`` from the stats accumulators."""
    if rows.num_rows == 0:
        return
    import pyarrow.compute as pc

    split = pc.fill_null(rows.column("split"), _UNSPLIT)
    pairs = pa.table({"class_id": rows.column("class_id"), "split": split})
    for r in pairs.group_by(["class_id", "split"]).aggregate([([], "count_all")]).to_pylist():
        if r["class_id"] is None:
            acc["unlabeled"] += sign * r["count_all"]
            continue
        by = acc["classes"].setdefault(names[r["class_id"]], {})
        by[r["split"]] = by.get(r["split"], 0) + sign * r["count_all"]
    for key, column in (
        ("splits", split),
        ("origins", rows.column("origin")),
        ("label_sources", rows.column("label_source")),
    ):
        for v in pc.value_counts(column).to_pylist():
            acc[key][v["values"]] = acc[key].get(v["values"], 0) + sign * v["counts"]


def _full_counts(cat: Catalog, version_id: int, acc: dict, names: dict[int, str]) -> None:
    """Stats of all members, aggregated by DuckDB (first commit: no parent to start from)."""
    rows = cat.rows(
        """
        SELECT GROUPING(m.class_id, m.split), GROUPING(s.origin), m.class_id, m.split,
               s.origin, m.label_source, count(*)
        FROM version_members m JOIN samples s USING (sid)
        WHERE m.version_id = ?
        GROUP BY GROUPING SETS ((m.class_id, m.split), (s.origin), (m.label_source))
        """,
        [version_id],
    )
    for g1, g2, class_id, split, origin, label_source, n in rows:
        n = int(n)
        if g1 == 0:
            key = split if split is not None else _UNSPLIT
            acc["splits"][key] = acc["splits"].get(key, 0) + n
            if class_id is None:
                acc["unlabeled"] += n
            else:
                acc["classes"].setdefault(names[class_id], {})[key] = n
        elif g2 == 0:
            acc["origins"][origin] = n
        else:
            acc["label_sources"][label_source] = n


def _prune(d: dict) -> dict:
    out = {}
    for k in sorted(d):
        v = d[k]
        if isinstance(v, dict):
            v = _prune(v)
            if v:
                out[k] = v
        elif v:
            out[k] = v
    return out


class NothingToCommit(InvalidInput):
    title = "Nothing to commit"


def commit(
    cat: Catalog,
    message: str | None,
    *,
    allow_empty: bool = False,
    step: Callable[[str], None] = lambda name: None,
) -> int:
    """Snapshot ``working`` as a new version in one transaction; return its id.

    Inside the transaction: members are inserted, the hash and stats worked
    out, the version row added and every pending change stamped with the new
    id. A crash anywhere before DuckDB's COMMIT leaves the catalog as it was
    (the WAL holds no commit record); after it, the version is complete.
    ``step(name)`` is called between the stages (tests inject crashes there).

    Cost: one pass over the working state to write the snapshot; hash and
    stats follow from the parent's plus the touched rows (pending changes and
    samples ingested since the parent), so they cost O(changes).
    """
    with cat.transaction() as tx:
        head = tx.execute(
            f"SELECT {_VERSION_COLUMNS} FROM versions ORDER BY version_id DESC LIMIT 1"
        ).fetchall()
        parent = _info(head[0], {}) if head else None
        vid = (parent.version_id if parent else 0) + 1
        step("begin")
        tx.execute(
            f"INSERT INTO version_members "
            f"SELECT {vid}, sid, class_id, split, label_source FROM working ORDER BY sid"
        )
        step("members")
        acc: dict[str, Any] = {
            "classes": {},
            "splits": {},
            "origins": {},
            "label_sources": {},
            "unlabeled": 0,
        }
        names = dict(tx.execute("SELECT class_id, name FROM classes").fetchall())
        if parent is None:
            old = None
            new = cat.arrow(
                "SELECT unhex(left(s.sample_id, 32)) AS d, m.class_id, m.split "
                "FROM version_members m JOIN samples s USING (sid) WHERE m.version_id = ?",
                [vid],
            )
            _full_counts(cat, vid, acc, names)
            state = (0, 0, 0)
        else:
            tx.execute(
                "CREATE OR REPLACE TEMP TABLE _touched AS "
                "SELECT DISTINCT sid FROM changes WHERE version_id IS NULL "
                "UNION SELECT sid FROM assignments WHERE sid > ?",
                [parent.sid_watermark],
            )
            old = _delta_rows(cat, parent.version_id, touched=True)
            new = _delta_rows(cat, vid, touched=True)
            tx.execute("DROP TABLE _touched")
            state = _state(parent.stats)
            s = parent.stats
            acc.update(
                classes={k: dict(v) for k, v in s.classes.items()},
                splits=dict(s.splits),
                origins=dict(s.origins),
                label_sources=dict(s.label_sources),
                unlabeled=s.unlabeled,
            )
            _count_rows(old, -1, acc, names)
            _count_rows(new, +1, acc, names)
            o = _digest_sums(old, names)
            state = (state[0] - o[0], (state[1] - o[1]) & _MASK, (state[2] - o[2]) & _MASK)
        n_ = _digest_sums(new, names)
        state = (state[0] + n_[0], (state[1] + n_[1]) & _MASK, (state[2] + n_[2]) & _MASK)
        digest = _hash(state)
        step("hashed")
        if not allow_empty:
            if parent is None and state[0] == 0:
                raise NothingToCommit(
                    "nothing to commit: the workspace has no samples",
                    hint="bring images in with `curate ingest SOURCE`",
                )
            if parent is not None and digest == parent.hash:
                pending = tx.execute(
                    "SELECT count(*) FROM changes WHERE version_id IS NULL"
                ).fetchall()[0][0]
                hint = (
                    f"the {pending} pending change(s) cancel out; drop them with `curate reset`"
                    if pending
                    else "relabel, drop, restore, split or ingest first"
                )
                raise NothingToCommit(
                    f"nothing to commit: the working state equals v{parent.version_id}",
                    hint=hint,
                )
        old_sids = set() if old is None else set(old.column("sid").to_pylist())
        changes = tx.execute(
            "SELECT op, count(*) FROM changes WHERE version_id IS NULL GROUP BY op ORDER BY op"
        ).fetchall()
        # The class list this version's label indices refer to (ids are only appended).
        [(class_count,)] = tx.execute(
            "SELECT coalesce(max(class_id) + 1, 0) FROM classes"
        ).fetchall()
        stats = VersionStats(
            samples=state[0],
            classes=_prune(acc["classes"]),
            splits=_prune(acc["splits"]),
            origins=_prune(acc["origins"]),
            label_sources=_prune(acc["label_sources"]),
            unlabeled=acc["unlabeled"],
            changes={k: int(v) for k, v in changes},
            new_samples=state[0]
            if old is None
            else sum(1 for s in new.column("sid").to_pylist() if s not in old_sids),
            digest=[f"{x:016x}" for x in state],
            class_count=class_count,
        )
        step("stats")
        watermark = tx.execute("SELECT coalesce(max(sid), -1) FROM samples").fetchall()[0][0]
        tx.execute(
            "INSERT INTO versions VALUES (?, ?, ?, ?, now(), ?, ?)",
            [
                vid,
                digest,
                parent.version_id if parent else None,
                message,
                watermark,
                stats.model_dump_json(),
            ],
        )
        step("version")
        tx.execute("UPDATE changes SET version_id = ? WHERE version_id IS NULL", [vid])
        step("stamped")
    return vid


def verify_hash(cat: Catalog, version_id: int) -> bool:
    """Recompute a version's hash from all its members; True when it matches the stored one."""
    stored = cat.scalar("SELECT hash FROM versions WHERE version_id = ?", [version_id])
    return stored == content_hash(cat, version_id)


def content_hash(cat: Catalog, version_id: int | None) -> str:
    """The content hash of a version's members (None: of the working state), from scratch."""
    names = dict(cat.rows("SELECT class_id, name FROM classes"))
    if version_id is not None:
        return _hash(_digest_sums(_delta_rows(cat, version_id, touched=False), names))
    rows = cat.arrow(
        "SELECT unhex(left(s.sample_id, 32)) AS d, w.class_id, w.split "
        "FROM working w JOIN samples s USING (sid)"
    )
    return _hash(_digest_sums(rows, names))


# -- members -----------------------------------------------------------------------------
def members_sql(version_id: int | None) -> tuple[str, list[Any]]:
    """(SQL, params) selecting sid, class_id, split, label_source of a version (None: working)."""
    if version_id is None:
        return "SELECT sid, class_id, split, label_source FROM working", []
    return (
        "SELECT sid, class_id, split, label_source FROM version_members WHERE version_id = ?",
        [version_id],
    )


MEMBER_COLUMNS = """
    m.sid, s.sample_id, m.class_id, c.name AS label, m.split, m.label_source,
    s.origin, s.parents, s.recipe::VARCHAR AS recipe, src.source,
    s.width, s.height, s.channels, s.mode, s.format, s.pack, s.pack_offset, s.nbytes
"""


def members(
    cat: Catalog, version_id: int | None, *, split: str | None = None, order: str = "sample_id"
) -> pa.Table:
    """Every sample of a version with what exports need, ordered by (split, sample_id)."""
    sql, params = members_sql(version_id)
    where = ""
    if split is not None:
        where = "WHERE m.split IS NOT DISTINCT FROM ?"
        params = [*params, split]
    order_by = "m.split NULLS LAST, s.sample_id" if order == "sample_id" else "m.sid"
    return cat.arrow(
        f"""
        SELECT {MEMBER_COLUMNS}
        FROM ({sql}) m
        JOIN samples s USING (sid)
        LEFT JOIN classes c ON c.class_id = m.class_id
        LEFT JOIN (SELECT sid, min(uri) AS source FROM sources GROUP BY sid) src
            ON src.sid = m.sid
        {where}
        ORDER BY {order_by}
        """,
        params,
    )


# -- diff ----------------------------------------------------------------------------------
def _counts(cat: Catalog, sql: str, params: list[Any], column: str) -> dict[str, int]:
    if column == "class":
        rows = cat.rows(
            f"SELECT coalesce(c.name, '(unlabeled)'), count(*) FROM ({sql}) m "
            "LEFT JOIN classes c ON c.class_id = m.class_id GROUP BY ALL",
            params,
        )
    else:
        rows = cat.rows(
            f"SELECT coalesce(m.split, '{_UNSPLIT}'), count(*) FROM ({sql}) m GROUP BY ALL", params
        )
    return {k: int(v) for k, v in rows}


def _pair_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, ClassCounts]:
    return {
        k: ClassCounts(a=a.get(k, 0), b=b.get(k, 0), delta=b.get(k, 0) - a.get(k, 0))
        for k in sorted({*a, *b})
    }


def diff(cat: Catalog, a: int | None, b: int | None) -> VersionDiff:
    """Sample-level differences from ``a`` to ``b`` (None: the working state, EMPTY_ID: none)."""
    a_sql, a_params = members_sql(a)
    b_sql, b_params = members_sql(b)
    # Reasons: the latest change between the two states for each sample.
    lo, hi = (a, b) if (a or 0) <= (b if b is not None else 1 << 60) else (b, a)
    if hi is None:
        why_where = "(version_id IS NULL OR version_id > ?)"
        why_params: list[Any] = [lo or 0]
    else:
        why_where = "version_id > ? AND version_id <= ?"
        why_params = [lo or 0, hi]
    rows = cat.rows(
        f"""
        WITH va AS ({a_sql}), vb AS ({b_sql}),
        j AS (
            SELECT coalesce(va.sid, vb.sid) AS sid,
                   va.sid IS NOT NULL AS in_a, vb.sid IS NOT NULL AS in_b,
                   va.class_id AS a_class, vb.class_id AS b_class,
                   va.split AS a_split, vb.split AS b_split
            FROM va FULL OUTER JOIN vb ON va.sid = vb.sid
            WHERE va.sid IS NULL OR vb.sid IS NULL
               OR va.class_id IS DISTINCT FROM vb.class_id
               OR va.split IS DISTINCT FROM vb.split
        ),
        why AS (
            SELECT sid, label_source, reason, run_id FROM changes
            WHERE {why_where} AND sid IN (SELECT sid FROM j)
            QUALIFY row_number() OVER (PARTITION BY sid ORDER BY change_id DESC) = 1
        ),
        src AS (
            SELECT sid, min(uri) AS source FROM sources
            WHERE sid IN (SELECT sid FROM j) GROUP BY sid
        )
        SELECT j.in_a, j.in_b, s.sample_id, src.source, s.origin,
               ca.name, cb.name, j.a_split, j.b_split,
               w.label_source, w.reason, w.run_id
        FROM j
        JOIN samples s USING (sid)
        LEFT JOIN src ON src.sid = j.sid
        LEFT JOIN classes ca ON ca.class_id = j.a_class
        LEFT JOIN classes cb ON cb.class_id = j.b_class
        LEFT JOIN why w ON w.sid = j.sid
        ORDER BY s.sample_id
        """,
        [*a_params, *b_params, *why_params],
    )
    added, removed, relabeled, moved = [], [], [], []
    for in_a, in_b, sample_id, source, origin, la, lb, sa, sb, lsrc, reason, run_id in rows:
        if not in_a:
            added.append(
                DiffSample(sample_id=sample_id, source=source, label=lb, split=sb, origin=origin)
            )
        elif not in_b:
            removed.append(
                DiffSample(sample_id=sample_id, source=source, label=la, split=sa, origin=origin)
            )
        else:
            if la != lb:
                relabeled.append(
                    Relabel(
                        sample_id=sample_id,
                        source=source,
                        from_=la,
                        to=lb,
                        label_source=lsrc,
                        reason=reason,
                        run_id=run_id,
                    )
                )
            if sa != sb:
                moved.append(
                    Move(
                        sample_id=sample_id,
                        source=source,
                        from_split=sa,
                        to_split=sb,
                        reason=reason,
                    )
                )
    a_hash = cat.scalar("SELECT hash FROM versions WHERE version_id = ?", [a]) if a else None
    b_hash = cat.scalar("SELECT hash FROM versions WHERE version_id = ?", [b]) if b else None
    return VersionDiff(
        a=_side_name(a),
        b=_side_name(b),
        a_hash=a_hash,
        b_hash=b_hash,
        identical=not rows,
        summary={
            "added": len(added),
            "removed": len(removed),
            "relabeled": len(relabeled),
            "moved": len(moved),
        },
        added=added,
        removed=removed,
        relabeled=relabeled,
        moved=moved,
        classes=_pair_counts(
            _counts(cat, a_sql, a_params, "class"), _counts(cat, b_sql, b_params, "class")
        ),
        splits=_pair_counts(
            _counts(cat, a_sql, a_params, "split"), _counts(cat, b_sql, b_params, "split")
        ),
    )


# -- tags ------------------------------------------------------------------------------------
def list_tags(cat: Catalog) -> list[Tag]:
    return [
        Tag(name=n, version=f"v{v}", created_at=t)
        for n, v, t in cat.rows("SELECT name, version_id, created_at FROM tags ORDER BY name")
    ]


def set_tag(cat: Catalog, name: str, version_id: int, *, force: bool = False) -> Tag:
    if not _TAG_NAME.match(name):
        raise InvalidInput(
            f"bad tag name {name!r}: start with a letter; letters, digits, . _ - only"
        )
    if _VERSION_NUMBER.match(name) or name.upper() in ("HEAD", "LATEST", "WORKING"):
        raise InvalidInput(f"tag name {name!r} would shadow a version name")
    with cat.transaction() as tx:
        existing = tx.execute(
            "SELECT version_id, created_at FROM tags WHERE name = ?", [name]
        ).fetchall()
        if existing and existing[0][0] == version_id:
            # Re-tagging the version the tag already names changes nothing (with or
            # without force), so scripts can re-run; the tag keeps its created_at.
            return Tag(name=name, version=f"v{version_id}", created_at=existing[0][1])
        if existing and not force:
            raise InvalidInput(
                f"tag {name!r} already names v{existing[0][0]}",
                hint="pass --force to move it",
            )
        tx.execute("DELETE FROM tags WHERE name = ?", [name])
        tx.execute("INSERT INTO tags VALUES (?, ?, now())", [name, version_id])
        created = tx.execute("SELECT created_at FROM tags WHERE name = ?", [name]).fetchall()[0][0]
    return Tag(name=name, version=f"v{version_id}", created_at=created)


def delete_tag(cat: Catalog, name: str) -> None:
    with cat.transaction() as tx:
        if not tx.execute("SELECT count(*) FROM tags WHERE name = ?", [name]).fetchall()[0][0]:
            raise NotFound(f"no tag named {name!r}")
        tx.execute("DELETE FROM tags WHERE name = ?", [name])
