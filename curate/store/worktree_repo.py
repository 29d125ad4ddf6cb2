"""Reads behind working changes and splits: sample lookup, live state, findings.

Writes go through :func:`curate.store.changes_repo.record_changes`; this
module only reads (plus :func:`reset`, which deletes pending changes).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pyarrow as pa

from curate.core.versions import Change
from curate.errors import InvalidInput, NotFound
from curate.store.catalog import Catalog

_HEX = re.compile(r"^[0-9a-fA-F]{4,64}$")
MIN_PREFIX = 4


# -- samples -----------------------------------------------------------------------------
def resolve_sample(cat: Catalog, ref: str) -> int:
    """sid of the sample named by a sid, a sample_id, a unique sample_id prefix or a
    source path.

    A number is a sid (what ``curate issues`` shows) when such a sample exists,
    and ``sid:N`` says so explicitly. Digits are hex too: a number that is a
    sid and also starts another sample's id is refused, never guessed. A hex
    string that matches no sample_id is tried as a path.
    """
    text = str(ref).strip()
    if not text:
        raise InvalidInput("empty sample reference")
    explicit = re.fullmatch(r"sid:\s*(\d{1,18})", text, flags=re.IGNORECASE)
    if explicit:
        rows = cat.rows("SELECT sid FROM samples WHERE sid = ?", [int(explicit[1])])
        if not rows:
            raise NotFound(f"no sample has sid {explicit[1]}")
        return int(rows[0][0])
    by_sid = None
    if text.isdigit() and len(text) <= 18:
        rows = cat.rows("SELECT sid FROM samples WHERE sid = ?", [int(text)])
        by_sid = int(rows[0][0]) if rows else None
    if _HEX.match(text):
        rows = cat.rows(
            "SELECT sid, sample_id FROM samples WHERE starts_with(sample_id, ?) "
            "ORDER BY sample_id LIMIT 6",
            [text.lower()],
        )
        others = [r for r in rows if int(r[0]) != by_sid]
        if by_sid is not None and others:
            raise InvalidInput(
                f"{text!r} is ambiguous: sid {by_sid}, and the start of sample id "
                f"{others[0][1][:12]}",
                hint=f"write sid:{text} for the sid, or more characters of the sample id",
            )
        if len(rows) == 1:
            return int(rows[0][0])
        if len(rows) > 1:
            shown = ", ".join(r[1][:12] for r in rows[:5])
            raise InvalidInput(
                f"sample prefix {text!r} is ambiguous: matches {shown}"
                + (", ..." if len(rows) > 5 else ""),
                hint="use more characters of the sample id",
            )
    if by_sid is not None:
        return by_sid
    candidates = sorted({text, os.path.normpath(text), os.path.abspath(text)})
    rows = cat.rows(
        "SELECT DISTINCT sid FROM sources WHERE list_contains(?, uri) ORDER BY sid", [candidates]
    )
    if not rows:
        # A path relative to some folder above the one ingested: match the tail.
        tail = "/" + text.lstrip("./")
        rows = cat.rows(
            "SELECT DISTINCT sid FROM sources WHERE ends_with(uri, ?) ORDER BY sid LIMIT 6",
            [tail],
        )
    if len(rows) == 1:
        return int(rows[0][0])
    if len(rows) > 1:
        ids = cat.rows(
            "SELECT sample_id FROM samples WHERE list_contains(?, sid) ORDER BY sample_id",
            [[r[0] for r in rows]],
        )
        raise InvalidInput(
            f"path {text!r} matches {len(rows)} samples ({', '.join(i[0][:12] for i in ids)})",
            hint="name the sample by its id instead",
        )
    hint = (
        f"a sample id prefix needs at least {MIN_PREFIX} hex characters"
        if re.fullmatch(r"[0-9a-fA-F]{1,3}", text)
        else "name a sample by its sid, its id, a unique id prefix or its source path"
    )
    raise NotFound(f"no sample matches {text!r}", hint=hint)


def sample_summary(cat: Catalog, sids: list[int]) -> dict[int, dict[str, Any]]:
    """sample_id, source, origin and working state (live, label, split) of each sid."""
    if not sids:
        return {}
    # unnest + join, not list_contains: a 10k-long list would be scanned per row.
    rows = cat.rows(
        """
        WITH probe AS (SELECT DISTINCT unnest(?::BIGINT[]) AS sid),
        s AS (SELECT * FROM samples SEMI JOIN probe USING (sid))
        SELECT s.sid, s.sample_id, src.source, s.origin,
               w.sid IS NOT NULL AS live, w.class_id, c.name, w.split
        FROM s
        LEFT JOIN (SELECT * FROM working SEMI JOIN probe USING (sid)) w ON w.sid = s.sid
        LEFT JOIN classes c ON c.class_id = w.class_id
        LEFT JOIN (SELECT sid, min(uri) AS source FROM sources SEMI JOIN probe USING (sid)
                   GROUP BY sid) src ON src.sid = s.sid
        """,
        [list(sids)],
    )
    return {
        int(r[0]): {
            "sample_id": r[1],
            "source": r[2],
            "origin": r[3],
            "live": bool(r[4]),
            "class_id": r[5],
            "label": r[6],
            "split": r[7],
        }
        for r in rows
    }


def augmented_children(cat: Catalog, parents: list[str]) -> list[dict[str, Any]]:
    """Augmented samples made from ``parents`` (sample_ids), with their working state.

    Each: parent (sample_id), sid, sample_id, live, class_id, and
    dropped_with: the parent a pending or committed drop of it followed
    (its newest change's ``details.parent``), so restoring that parent
    brings back what was dropped with it and nothing else.
    """
    if not parents:
        return []
    rows = cat.rows(
        """
        WITH probe AS (SELECT DISTINCT unnest(?::VARCHAR[]) AS parent),
        kids AS (
            SELECT k.sid, k.sample_id, k.parent FROM (
                SELECT sid, sample_id, unnest(parents) AS parent FROM samples
                WHERE origin = 'augmented'
            ) k SEMI JOIN probe USING (parent)
        ),
        last_change AS (
            -- arg_max_null: the newest change's parent even when it has none
            SELECT sid, arg_max(op, change_id) AS op,
                   arg_max_null(details->>'parent', change_id) AS parent
            FROM changes WHERE sid IN (SELECT sid FROM kids) GROUP BY sid
        )
        SELECT k.parent, k.sid, k.sample_id, w.sid IS NOT NULL, w.class_id,
               CASE WHEN lc.op = 'drop' THEN lc.parent END
        FROM kids k
        LEFT JOIN (SELECT * FROM working WHERE sid IN (SELECT sid FROM kids)) w USING (sid)
        LEFT JOIN last_change lc USING (sid)
        ORDER BY k.parent, k.sid
        """,
        [list(parents)],
    )
    return [
        {
            "parent": r[0],
            "sid": int(r[1]),
            "sample_id": r[2],
            "live": bool(r[3]),
            "class_id": r[4],
            "dropped_with": r[5],
        }
        for r in rows
    ]


def last_known(cat: Catalog, sids: list[int]) -> dict[int, tuple[int | None, str | None]]:
    """(class_id, split) a non-live sample had last.

    Label and split each come from the newest of: a change that set it (an
    add, a restore, a relabel for the label, a move for the split), pending
    or committed after the newest version holding the sample; that version's
    membership; the ingest assignment. (A sample split and dropped before the
    same commit was never a member with its split: the committed move has it.)
    """
    if not sids:
        return {}
    pending = 2**62  # a pending change is newer than any version
    rows = cat.rows(
        f"""
        WITH probe AS (SELECT DISTINCT unnest(?::BIGINT[]) AS sid),
        from_versions AS (
            SELECT m.sid, arg_max(m.class_id, m.version_id) AS class_id,
                   arg_max(m.split, m.version_id) AS split, max(m.version_id) AS v
            FROM version_members m SEMI JOIN probe USING (sid) GROUP BY m.sid
        ),
        from_changes AS (
            SELECT sid,
                   arg_max(class_id, change_id)
                       FILTER (WHERE op IN ('add', 'restore', 'relabel')) AS class_id,
                   arg_max(coalesce(version_id, {pending}), change_id)
                       FILTER (WHERE op IN ('add', 'restore', 'relabel')) AS class_v,
                   arg_max(split, change_id)
                       FILTER (WHERE op IN ('add', 'restore', 'move')) AS split,
                   arg_max(coalesce(version_id, {pending}), change_id)
                       FILTER (WHERE op IN ('add', 'restore', 'move')) AS split_v
            FROM changes SEMI JOIN probe USING (sid)
            GROUP BY sid
        ),
        from_ingest AS (
            SELECT sid, first(class_id) AS class_id, first(split) AS split
            FROM assignments SEMI JOIN probe USING (sid) GROUP BY sid
        )
        SELECT p.sid,
               CASE WHEN fc.class_v > coalesce(fv.v, -1) THEN fc.class_id
                    ELSE coalesce(fv.class_id, fi.class_id) END,
               CASE WHEN fc.split_v > coalesce(fv.v, -1) THEN fc.split
                    ELSE coalesce(fv.split, fi.split) END
        FROM probe p
        LEFT JOIN from_versions fv USING (sid)
        LEFT JOIN from_changes fc USING (sid)
        LEFT JOIN from_ingest fi USING (sid)
        """,
        [list(sids)],
    )
    return {int(s): (c, sp) for s, c, sp in rows}


# -- pending changes -----------------------------------------------------------------------
def pending_count(cat: Catalog) -> int:
    return int(cat.scalar("SELECT count(*) FROM changes WHERE version_id IS NULL"))


def list_changes(cat: Catalog, *, version_id: int | None = None) -> list[Change]:
    """Pending changes (or those a version took in), oldest first, with the label before
    and the sample's origin and parents."""
    where = "ch.version_id IS NULL" if version_id is None else "ch.version_id = ?"
    params: list[Any] = [] if version_id is None else [version_id]
    # "Before" = the parent state: the head version's member, else the ingest assignment.
    base_version = (
        "(SELECT max(version_id) FROM versions)"
        if version_id is None
        else "(SELECT parent_id FROM versions WHERE version_id = ?)"
    )
    if version_id is not None:
        params = [version_id, *params]
    rows = cat.rows(
        f"""
        WITH base_v AS (SELECT {base_version} AS v),
        sel AS (SELECT ch.* FROM changes ch WHERE {where}),
        before AS (
            SELECT m.sid, m.class_id FROM version_members m, base_v
            WHERE m.version_id = base_v.v AND m.sid IN (SELECT sid FROM sel)
        ),
        given AS (
            SELECT sid, first(class_id) AS class_id FROM assignments
            WHERE sid IN (SELECT sid FROM sel) GROUP BY sid
        )
        SELECT ch.change_id, ch.created_at, ch.op, s.sample_id, src.source,
               cb.name, c.name, ch.split, ch.label_source, ch.reason, ch.run_id,
               ch.details::VARCHAR, ch.version_id, s.origin, s.parents
        FROM sel ch
        JOIN samples s USING (sid)
        LEFT JOIN classes c ON c.class_id = ch.class_id
        LEFT JOIN before b ON b.sid = ch.sid
        LEFT JOIN given g ON g.sid = ch.sid
        LEFT JOIN classes cb ON cb.class_id = coalesce(b.class_id, g.class_id)
        LEFT JOIN (SELECT sid, min(uri) AS source FROM sources
                   WHERE sid IN (SELECT sid FROM sel) GROUP BY sid) src ON src.sid = ch.sid
        ORDER BY ch.change_id
        """,
        params,
    )
    return [
        Change(
            change_id=r[0],
            created_at=r[1],
            op=r[2],
            sample_id=r[3],
            source=r[4],
            origin=r[13],
            parents=list(r[14] or []),
            from_label=r[5] if r[2] not in ("add", "restore") else None,
            label=r[6],
            split=r[7],
            label_source=r[8],
            reason=r[9],
            run_id=r[10],
            details=json.loads(r[11]) if r[11] else None,
            version=None if r[12] is None else f"v{r[12]}",
        )
        for r in rows
    ]


def pending_sids(
    cat: Catalog, *, op: str | None = None, label_source: str | None = None
) -> set[int]:
    where, params = ["version_id IS NULL"], []
    if op is not None:
        where.append("op = ?")
        params.append(op)
    if label_source is not None:
        where.append("label_source = ?")
        params.append(label_source)
    return {
        int(r[0])
        for r in cat.rows(f"SELECT DISTINCT sid FROM changes WHERE {' AND '.join(where)}", params)
    }


def settle(cat: Catalog, sids: list[int]) -> int:
    """Forget the pending edits of ``sids`` that undo each other; return how many.

    For each sample, the pending edits after the earliest point at which it
    was already in its present state (in or out, label, split) change
    nothing, so they go: dropping then restoring a sample, or relabeling it
    and back, leaves no pending change, as undoing in the TUI should, and
    edits made before (a relabel, then a drop and its undo) stay. The state
    before any pending edit is the newest version's (or the ingest's); the
    edits apply in order as the ``working`` view applies them. A pending
    ``add`` (an augmented or synthesized sample) is never removed.
    """
    if not sids:
        return 0
    probe = "(SELECT DISTINCT unnest(?::BIGINT[]) AS sid)"
    with cat.transaction() as tx:
        pending = tx.execute(
            f"""
            SELECT change_id, sid, op, class_id, split FROM changes
            WHERE version_id IS NULL AND sid IN {probe} ORDER BY change_id
            """,
            [list(sids)],
        ).fetchall()
        if not pending:
            return 0
        # The same base the `working` view starts from, for these samples only.
        base = tx.execute(
            f"""
            WITH head AS (SELECT version_id, sid_watermark FROM versions
                          ORDER BY version_id DESC LIMIT 1)
            SELECT sid, first(class_id), first(split) FROM (
                SELECT m.sid, m.class_id, m.split
                FROM version_members m JOIN head USING (version_id)
                WHERE m.sid IN {probe}
                UNION ALL
                SELECT a.sid, a.class_id, a.split FROM assignments a
                WHERE a.sid IN {probe}
                  AND a.sid > coalesce((SELECT sid_watermark FROM head), -1)
            ) GROUP BY sid
            """,
            [list(sids), list(sids)],
        ).fetchall()
        state = {int(sid): (True, c, sp) for sid, c, sp in base}
        edits: dict[int, list[tuple[int, str, Any, Any]]] = {}
        for change_id, sid, op, class_id, split in pending:
            edits.setdefault(int(sid), []).append((int(change_id), op, class_id, split))
        forget: list[int] = []
        for sid, seq in edits.items():
            states = [state.get(sid, (False, None, None))]
            floor = 0  # never before an add
            for i, (_, op, class_id, split) in enumerate(seq, start=1):
                live, c, sp = states[-1]
                if op == "add":
                    floor = i
                    states.append((True, class_id, split))
                elif op == "relabel":
                    states.append((live, class_id, sp))
                elif op == "drop":
                    states.append((False, c, sp))
                elif op == "restore":
                    states.append((True, class_id, split))
                elif op == "move":
                    states.append((live, c, split))
                else:  # an op this function does not know: leave the sample alone
                    break
            else:
                now = states[-1]
                since = next(j for j in range(floor, len(states)) if _same_state(states[j], now))
                forget += [change_id for change_id, *_ in seq[since:]]
        if not forget:
            return 0
        tx.execute(f"DELETE FROM changes WHERE change_id IN {probe}", [forget])
    return len(forget)


def _same_state(a: tuple, b: tuple) -> bool:
    """Equal as the working state sees them: a sample that is out has no label or split."""
    return a == b if a[0] and b[0] else a[0] == b[0]


def reset(cat: Catalog, sids: list[int] | None = None) -> tuple[int, int, list[int]]:
    """Delete pending changes: all, or those of ``sids`` and those that only followed them.

    A change an augmented sample got by following its parent (its
    ``details.parent`` names one of ``sids``) goes with the parent's, so a
    parent and its copies come back together; the copy's own changes (no
    parent, or another one) stay. Returns (changes deleted, of them those
    that followed a parent, the other samples whose changes were deleted).
    """
    followed = "details->>'parent' IS NOT NULL"
    with cat.transaction() as tx:
        if sids is None:
            n, k = tx.execute(
                f"SELECT count(*), count(*) FILTER (WHERE {followed}) FROM changes "
                "WHERE version_id IS NULL"
            ).fetchall()[0]
            tx.execute("DELETE FROM changes WHERE version_id IS NULL")
            return int(n), int(k), []
        gone = tx.execute(
            f"""
            WITH probe AS (SELECT DISTINCT unnest(?::BIGINT[]) AS sid),
            named AS (SELECT sample_id FROM samples SEMI JOIN probe USING (sid))
            SELECT change_id, sid, {followed}, sid IN (SELECT sid FROM probe) FROM changes
            WHERE version_id IS NULL
              AND (sid IN (SELECT sid FROM probe)
                   OR details->>'parent' IN (SELECT sample_id FROM named))
            """,
            [list(sids)],
        ).fetchall()
        if gone:
            tx.execute(
                "DELETE FROM changes WHERE change_id IN (SELECT unnest(?::BIGINT[]))",
                [[r[0] for r in gone]],
            )
    others = sorted({int(r[1]) for r in gone if not r[3]})
    return len(gone), sum(1 for r in gone if r[2]), others


# -- findings (written by scans) -------------------------------------------------------------
def latest_run_with(cat: Catalog, kinds: list[str]) -> int | None:
    value = cat.scalar(
        "SELECT max(run_id) FROM findings WHERE list_contains(?, kind) "
        "AND run_id IN (SELECT run_id FROM scan_runs WHERE status = 'done')",
        [kinds],
    )
    return None if value is None else int(value)


def run_is_done(cat: Catalog, run_id: int) -> bool:
    """Whether scan run ``run_id`` exists and finished (a failed or running one has no say)."""
    return bool(
        cat.scalar("SELECT count(*) FROM scan_runs WHERE run_id = ? AND status = 'done'", [run_id])
    )


def label_suggestions(cat: Catalog, run_id: int) -> pa.Table:
    """Label findings of ``run_id`` that carry a suggested class, most suspicious first,
    with the sample's working state."""
    return cat.arrow(
        """
        SELECT f.sid, f.score, f.suggested_class_id, f.details::VARCHAR AS details,
               w.sid IS NOT NULL AS live, w.class_id AS current_class_id,
               s.sample_id, cs.name AS suggested, cc.name AS current
        FROM findings f
        JOIN samples s USING (sid)
        LEFT JOIN working w ON w.sid = f.sid
        LEFT JOIN classes cs ON cs.class_id = f.suggested_class_id
        LEFT JOIN classes cc ON cc.class_id = w.class_id
        WHERE f.run_id = ? AND f.kind = 'label' AND f.is_issue
          AND f.suggested_class_id IS NOT NULL
        ORDER BY f.score NULLS LAST, s.sample_id
        """,
        [run_id],
    )


DUPLICATE_KINDS = ["duplicate", "near_duplicate"]


def duplicate_groups(cat: Catalog) -> list[list[int]]:
    """Groups of live sids from the latest scan that found each duplicate kind.

    Scans write ``details = {"group": n}`` on every member of a group; groups
    are numbered per (run, kind).
    """
    rows = cat.rows(
        """
        WITH latest AS (
            SELECT kind, max(run_id) AS run_id FROM findings
            WHERE list_contains(?, kind) GROUP BY kind
        )
        SELECT f.kind, CAST(f.details->>'group' AS BIGINT) AS grp, list(DISTINCT f.sid ORDER BY f.sid)
        FROM findings f JOIN latest USING (kind, run_id)
        WHERE f.details->>'group' IS NOT NULL AND f.sid IN (SELECT sid FROM working)
        GROUP BY ALL
        ORDER BY 1, 2
        """,
        [DUPLICATE_KINDS],
    )
    return [list(map(int, r[2])) for r in rows if len(r[2]) > 1]


def split_inputs(cat: Catalog) -> pa.Table:
    """Live samples with what a split needs: class, split, origin, parents' sids."""
    return cat.arrow(
        """
        WITH w AS (SELECT w.sid, w.class_id, w.split, s.sample_id, s.origin, s.parents
                   FROM working w JOIN samples s USING (sid)),
        par AS (
            SELECT w.sid, list(p.sid ORDER BY p.sid) AS parent_sids
            FROM (SELECT sid, unnest(parents) AS parent_id FROM w
                  WHERE parents IS NOT NULL) w
            JOIN samples p ON p.sample_id = w.parent_id
            GROUP BY w.sid
        )
        SELECT w.sid, w.sample_id, w.class_id, w.split, w.origin, par.parent_sids
        FROM w LEFT JOIN par USING (sid)
        ORDER BY w.sid
        """
    )
