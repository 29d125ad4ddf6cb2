"""The documented SQL views (docs/sql.md), queried with a plain DuckDB client."""

from __future__ import annotations

import json

import duckdb

from tests.engines.test_versions import make_ws


def test_views_answer_questions_in_one_query(tmp_path):
    ws = make_ws(tmp_path, per_class=5)
    ws.split("0.6,0.4", seed=0)
    ws.commit("v1")
    ws.tag("baseline", "v1")
    t = ws.samples()
    a, b = t.column("sample_id").to_pylist()[:2]
    label_a = t.column("label")[0].as_py()
    target = "eel" if label_a != "eel" else "dog"
    ws.relabel(a, target, reason="the fins")
    ws.drop(b, reason="blurry")
    ws.commit("v2")
    ws.relabel(
        t.column("sample_id")[3].as_py(),
        "cat" if t.column("label")[3].as_py() != "cat" else "dog",
        reason="pending one",
    )
    with ws.writing() as cat:
        cat.cursor().execute(
            "INSERT INTO findings VALUES (1, ?, 'label', 0.1, true, 0, ?)",
            [t.column("sid")[4].as_py(), json.dumps({})],
        )
    api_diff = ws.diff("v1", "v2")
    catalog = ws.paths.catalog
    ws.close()

    con = duckdb.connect(str(catalog), read_only=True)
    # "Which labels changed between v1 and v2, and why?" - one query.
    rows = con.execute(
        "SELECT sample_id, from_label, to_label, reason, label_source FROM label_changes "
        "WHERE version = 'v2'"
    ).fetchall()
    assert rows == [(a, label_a, target, "the fins", "human")]
    log = con.execute(
        "SELECT version, parent, tags, samples, message FROM version_log ORDER BY version_id"
    ).fetchall()
    assert log == [("v1", None, ["baseline"], 15, "v1"), ("v2", "v1", [], 14, "v2")]
    # Time travel: v1 still has the dropped sample with its old label.
    assert con.execute(
        "SELECT label FROM version_samples WHERE version = 'v1' AND sample_id = ?", [b]
    ).fetchall() == [(t.column("label")[1].as_py(),)]
    assert con.execute(
        "SELECT count(*) FROM version_samples WHERE version_id = version_number('baseline')"
    ).fetchall() == [(15,)]
    diff = con.execute(
        "SELECT change, sample_id, from_label, to_label, reason FROM version_diff('v1', 'v2') "
        "ORDER BY sample_id"
    ).fetchall()
    assert {(c, s) for c, s, *_ in diff} == {("relabeled", a), ("removed", b)}
    assert len(diff) == api_diff.summary["relabeled"] + api_diff.summary["removed"]
    assert con.execute("SELECT op, reason FROM pending_changes").fetchall() == [
        ("relabel", "pending one")
    ]
    assert con.execute("SELECT count(*) FROM working_samples").fetchall() == [(14,)]
    assert con.execute(
        "SELECT count(*), count(version) FROM change_log WHERE op IN ('relabel', 'drop')"
    ).fetchall() == [(3, 2)]
    # Findings join the named views on sid.
    assert con.execute(
        "SELECT w.sample_id FROM findings f JOIN working_samples w USING (sid) "
        "WHERE f.kind = 'label'"
    ).fetchall() == [(t.column("sample_id")[4].as_py(),)]
    con.close()
