"""The scan engine end to end on small generated datasets.

One module-scoped workspace (240 sklearn digits of 4 classes, 12 labels
flipped, plus planted duplicates and bad images) is scanned once; most tests
read its findings. Bad-input tests build their own tiny workspaces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from curate.api import Workspace
from curate.errors import Cancelled, InvalidInput, NotFound

N_PER_CLASS = 60
CLASSES = (0, 1, 2, 3)
N_FLIPPED = 12


def _digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x.reshape(-1, 8, 8) * 255 / 16).round().astype(np.uint8), y


def _save(path: Path, arr: np.ndarray, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kwargs)
    return path


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """(workspace, truth) where truth maps file name -> dict of what was planted."""
    root = tmp_path_factory.mktemp("scan")
    images, y = _digits()
    rng = np.random.default_rng(0)
    picked = np.concatenate([np.flatnonzero(y == c)[:N_PER_CLASS] for c in CLASSES])
    flipped = set(rng.choice(picked, N_FLIPPED, replace=False).tolist())
    truth = {}
    for i in picked:
        label = int(y[i])
        if i in flipped:
            label = int(rng.choice([c for c in CLASSES if c != y[i]]))
        name = f"d{i:04d}.png"
        _save(root / "data" / str(label) / name, images[i])
        truth[name] = {"true": int(y[i]), "given": label, "flipped": i in flipped}
    # Same pixels, different bytes: an exact duplicate the byte hash cannot see.
    base = images[picked[0]]
    _save(root / "data" / str(y[picked[0]]) / "dup_exact.png", base, compress_level=0)
    # A near duplicate: the same digit with a little noise.
    noisy = np.clip(base.astype(int) + rng.integers(-3, 4, base.shape), 0, 255).astype(np.uint8)
    _save(root / "data" / str(y[picked[0]]) / "dup_near.png", noisy)
    # The same file twice (same bytes): stored once, reported with both paths.
    twin = root / "data" / str(y[picked[1]]) / f"d{picked[1]:04d}.png"
    (twin.parent / "twin_copy.png").write_bytes(twin.read_bytes())
    # Bad images: black, and a strip with an odd aspect ratio.
    _save(root / "data" / "0" / "black.png", np.zeros((8, 8), np.uint8))
    _save(root / "data" / "1" / "strip.png", rng.integers(0, 255, (8, 64), dtype=np.uint8))
    ws = Workspace.init(root / "ws")
    ws.ingest(root / "data")
    result = ws.scan(seed=0)
    yield ws, truth, result, picked[0]
    ws.close()


def _by_name(findings):
    return {Path(f.source).name: f for f in findings}


def test_scan_flags_most_flipped_labels_and_suggests_the_true_class(scanned):
    ws, truth, result, _ = scanned
    label = _by_name(ws.findings("label"))
    flagged = {n for n in label if n in truth}
    flipped = {n for n, t in truth.items() if t["flipped"]}
    hits = flagged & flipped
    assert len(hits) >= 0.8 * len(flipped), (len(hits), len(flipped))
    assert len(hits) >= 0.7 * len(flagged), (len(hits), len(flagged))
    right = [n for n in hits if label[n].suggested_label == str(truth[n]["true"])]
    assert len(right) >= 0.8 * len(hits)
    assert result.issues["label"] == len(label)


def test_label_findings_carry_evidence_and_rank_lowest_score_first(scanned):
    ws, truth, _, _ = scanned
    found = ws.findings("label", only_issues=False)
    scores = [f.score for f in found]
    assert scores == sorted(scores)
    top = found[0]
    assert top.is_issue and top.given_label != top.suggested_label
    assert top.sample_id and len(top.sample_id) == 64 and Path(top.source).exists()
    d = top.details
    assert d["p_given"] <= d["p_suggested"]
    assert d["neighbours"] and {"sid", "label", "distance"} <= set(d["neighbours"][0])
    # Every labeled sample has a label row (kept for ranking), only some are issues.
    assert len(found) == ws.status().samples
    assert sum(f.is_issue for f in found) == len(ws.findings("label"))


def test_duplicates_have_groups_and_duplicate_groups_merges_them(scanned):
    ws, _, result, first = scanned
    sid_of = {
        Path(s).name: sid
        for sid, s in zip(
            ws.samples().column("sid").to_pylist(),
            ws.samples().column("source").to_pylist(),
            strict=True,
        )
    }
    original = sid_of[f"d{first:04d}.png"]
    exact = ws.findings("duplicate")
    pixel_twins = [f for f in exact if f.details["group_size"] == 2]
    assert {f.sid for f in pixel_twins} == {original, sid_of["dup_exact.png"]}
    assert len({f.details["group"] for f in pixel_twins}) == 1
    assert all(f.score == 0.0 for f in exact)
    same_file = [f for f in exact if f.details["group_size"] == 1]
    assert len(same_file) == 1
    names = {Path(p).name for p in same_file[0].details["files"]}
    original_name = Path(same_file[0].source).name
    assert names == {original_name, "twin_copy.png"} and original_name.startswith("d")
    assert same_file[0].sid not in {s for g in ws.duplicate_groups() for s in g}
    near = ws.findings("near_duplicate")
    near_sids = {f.sid for f in near}
    assert {original, sid_of["dup_exact.png"], sid_of["dup_near.png"]} <= near_sids
    assert all(isinstance(f.details["group"], int) for f in near)
    groups = ws.duplicate_groups()
    mine = [g for g in groups if original in g]
    assert len(mine) == 1 and {sid_of["dup_exact.png"], sid_of["dup_near.png"]} <= set(mine[0])
    flat = [s for g in groups for s in g]
    assert len(flat) == len(set(flat)), "groups must be disjoint"
    assert result.duplicate_groups == len(groups)


def test_quality_flags_dark_and_odd_images(scanned):
    ws, _, _, _ = scanned
    quality = _by_name(ws.findings("quality"))
    assert {"dark", "low_information"} <= set(quality["black.png"].details["checks"])
    assert "odd_aspect" in quality["strip.png"].details["checks"]
    assert not any(n.startswith("d") for n in quality), "ordinary digits are not bad images"


def test_outlier_rows_for_every_sample(scanned):
    ws, _, _, _ = scanned
    rows = ws.findings("outlier", only_issues=False)
    assert len(rows) == ws.status().samples
    assert all(0.0 <= f.score <= 1.0 for f in rows)


def test_scan_result_summarises_imbalance_and_runs_are_recorded(scanned):
    ws, _, result, _ = scanned
    plan = ws.balancing_plan()
    assert result.imbalance == plan
    assert {c.name for c in result.classes} == {str(c) for c in CLASSES}
    assert all(c.needed == plan.needed(c.name) for c in result.classes)
    run = ws.scan_runs()[-1]
    assert run.run_id == result.run_id and run.status == "done" and run.seed == 0
    assert run.config["extractor"]["name"] == "ensemble"
    assert set(run.timing) >= {"decode", "extract", "knn", "cleanlab"}
    # Findings are plain SQL rows too.
    n = ws.catalog().scalar(
        "SELECT count(*) FROM findings WHERE run_id = ? AND kind = 'label' AND is_issue",
        [result.run_id],
    )
    assert n == result.issues["label"]


def test_findings_filters_and_bad_arguments(scanned):
    ws, _, _, _ = scanned
    only = ws.findings("label", classes=["2"], only_issues=False)
    assert only and all(f.given_label == "2" for f in only)
    assert len(ws.findings("label", limit=3)) == 3
    table = ws.findings("label", as_arrow=True)
    assert {"sid", "sample_id", "source", "given_label", "suggested_label", "score"} <= set(
        table.column_names
    )
    with pytest.raises(InvalidInput):
        ws.findings("typo")
    with pytest.raises(NotFound):
        ws.findings("label", classes=["nope"])
    with pytest.raises(NotFound):
        ws.findings("label", run_id=999)


def test_same_seed_same_findings(scanned):
    ws, _, result, _ = scanned
    again = ws.scan(seed=0)
    q = (
        "SELECT sid, kind, score, is_issue, suggested_class_id, details::VARCHAR FROM findings "
        "WHERE run_id = ? ORDER BY kind, sid"
    )
    a = ws.catalog().rows(q, [result.run_id])
    b = ws.catalog().rows(q, [again.run_id])
    assert a == b


@pytest.mark.parametrize("streaming", [False, True], ids=["in-memory", "streaming"])
def test_one_or_two_local_workers_find_the_same(scanned, streaming, monkeypatch):
    import curate.scan.batches

    # several batches per stage (decode, feature maps), as a large dataset has
    monkeypatch.setattr(curate.scan.batches, "ENGINE_BATCH_ROWS", 64)
    from curate.engines.local import LocalEngine

    pools = []
    get_pool = LocalEngine._get_pool
    monkeypatch.setattr(LocalEngine, "_get_pool", lambda self: pools.append(1) or get_pool(self))
    ws = scanned[0]
    runs = [ws.scan(seed=0, folds=3, streaming=streaming, workers=w) for w in (1, 2)]
    assert pools  # the second scan ran in worker processes
    q = (
        "SELECT sid, kind, score, is_issue, suggested_class_id, details::VARCHAR FROM findings "
        "WHERE run_id = ? ORDER BY kind, sid"
    )
    one, two = (ws.catalog().rows(q, [r.run_id]) for r in runs)
    assert runs[0].issues == runs[1].issues and runs[0].issues["label"] > 0
    assert len(one) > 0 and one == two  # every score and detail, to the bit
    assert runs[0].config == runs[1].config  # where it ran is not part of the result


def test_classifier_from_the_workspace(scanned):
    ws, truth, _, _ = scanned
    clf = ws.classifier()
    assert clf.class_names == [str(c) for c in CLASSES]
    images, y = _digits()
    pick = np.flatnonzero(np.isin(y, CLASSES))[-80:]  # not among the scanned ones
    proba = clf.predict_proba(images[pick])
    assert proba.shape == (80, 4)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-4)
    assert (proba.argmax(1) == y[pick]).mean() >= 0.9
    assert clf.embed(images[pick]).shape[0] == 80


def test_cancel_leaves_no_run(tmp_path):
    images, y = _digits()
    for i in range(20):
        _save(tmp_path / "d" / str(y[i] % 2) / f"{i}.png", images[i])
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest(tmp_path / "d")
    with pytest.raises(Cancelled):
        ws.scan(cancel=lambda: True)
    assert ws.scan_runs() == []
    assert ws.catalog().scalar("SELECT count(*) FROM findings") == 0
    ws.close()


def test_findings_wide_view_has_cleanlab_columns(scanned):
    ws, _, result, _ = scanned
    rows = ws.catalog().rows(
        "SELECT count(*), count(*) FILTER (WHERE is_label_issue), "
        "count(*) FILTER (WHERE is_near_duplicate_issue), count(DISTINCT sid) "
        "FROM findings_wide WHERE run_id = ?",
        [result.run_id],
    )
    total, label_issues, near, distinct = rows[0]
    assert total == distinct == result.samples
    assert label_issues == result.issues["label"]
    assert near == result.issues["near_duplicate"]


def test_scores_equal_but_for_float_noise_rank_by_sid(tmp_path: Path):
    """A BLAS or library upgrade moves a score's last digits; the ranking must not move.

    Two samples whose scores differ at the 1e-8 relative level (what the
    same scan gave under two releases of its dependencies) rank by sid.
    """
    import pyarrow as pa

    from curate.store import findings_repo

    images, _ = _digits()
    for i in range(3):
        _save(tmp_path / "data" / "a" / f"{i}.png", images[i])
    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest(tmp_path / "data")
        sids = sorted(ws.samples().column("sid").to_pylist())
        noisy = [0.0009900989455844124, 0.0009900989762442853, 0.25]  # lowest on the last sid
        table = pa.table(
            {
                "sid": sids[::-1],
                "kind": ["label"] * 3,
                "score": noisy,
                "is_issue": [True] * 3,
                "suggested_class_id": pa.array([None] * 3, pa.int32()),
                "details": ["{}"] * 3,
            }
        )
        with ws.writing() as cat:
            findings_repo.record_run(
                cat,
                extractor="test",
                config={},
                seed=0,
                timing={},
                started_at=0.0,
                findings=table,
            )
        found = ws.findings("label")
    assert [f.score for f in found] == [0.000990099, 0.000990099, 0.25]
    assert [f.sid for f in found] == [sids[1], sids[2], sids[0]]
