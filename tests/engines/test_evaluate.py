"""`Workspace.evaluate`: the fixed classifier, the held-out protocol and the gap closed."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from curate.errors import InvalidInput, NotFound

CLASSES = ("a", "b", "c")
# Tiny and fast: 30 epochs of a 64-unit MLP on 72 8x8 images, one seed.
SMALL = {"epochs": 30, "seeds": 1, "hidden": 64}


def build_noisy_folder(root: Path, *, per_class: int = 40, flip: float = 0.25, seed: int = 7):
    """3 classes of 8x8 images (a class pattern under heavy noise); ~25% of the labels
    given wrong. Writes ``root/images/<given>/<true><i>.png`` and ``root/truth.csv``."""
    rng = np.random.default_rng(seed)
    protos = rng.uniform(0, 1, size=(len(CLASSES), 8, 8))
    rows = []
    for ci, true in enumerate(CLASSES):
        for i in range(per_class):
            img = 0.35 * protos[ci] + 0.65 * rng.uniform(0, 1, size=(8, 8))
            given = true
            if rng.uniform() < flip:
                given = CLASSES[(ci + 1 + int(rng.integers(0, 2))) % 3]
            rel = f"images/{given}/{true}{i:03d}.png"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.uint8(img * 255), mode="L").save(root / rel)
            rows.append({"path": rel, "given_label": given, "true_label": true})
    with open(root / "truth.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "given_label", "true_label"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


def make_raw_and_fixed(tmp_path: Path):
    """v1: the given labels, split train/test; v2: every flipped label set to the truth."""
    from curate.api import Workspace

    data = tmp_path / "data"
    rows = build_noisy_folder(data)
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest(data / "images")
    ws.split("0.6,0.4", names=["train", "test"], seed=0)
    ws.commit("raw")
    for r in rows:
        if r["given_label"] != r["true_label"]:
            ws.relabel(str((data / r["path"]).absolute()), r["true_label"], reason="truth")
    ws.commit("fixed")
    return ws, data, rows


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    """One workspace for the module (tests only add versions and tags; they name v1/v2)."""
    ws, data, rows = make_raw_and_fixed(tmp_path_factory.mktemp("noisy"))
    yield ws, data, rows
    ws.close()


def scores(result):
    """What an evaluation measured, without timings and the labels' file name."""
    return [a.model_dump(exclude={"seconds", "labels"}) for a in result.arms]


def test_perfect_fixes_close_the_whole_gap(noisy):
    ws, data, rows = noisy
    result = ws.evaluate("v2", against="v1", truth=data / "truth.csv", classifier=SMALL)
    base, cand, orac = (result.arm(r) for r in ("baseline", "candidate", "oracle"))
    assert [a.role for a in result.arms] == ["baseline", "candidate", "oracle"]
    # v2's train labels ARE the clean labels: same data, same seed -> the oracle's numbers.
    assert cand.accuracy == orac.accuracy and cand.macro_f1 == orac.macro_f1
    assert orac.accuracy > base.accuracy  # label noise costs this classifier
    assert result.gap_closed_accuracy == 1.0
    # every flipped train label is one the oracle took from the truth file
    n_test = result.test_samples
    assert n_test + base.train_samples == len(rows)
    flipped_in_train = orac.relabeled_from_truth
    assert 0 < flipped_in_train < sum(r["given_label"] != r["true_label"] for r in rows)
    assert flipped_in_train + result.truth_relabels == sum(
        r["given_label"] != r["true_label"] for r in rows
    )
    assert sum(result.test_by_class.values()) == n_test
    assert set(cand.per_class_recall) == set(CLASSES)
    assert result.image_size == (8, 8) and result.image_mode == "L"
    assert result.warnings == []


def test_deterministic_and_independent_of_arms(noisy):
    ws, data, _ = noisy
    one = ws.evaluate("v2", against="v1", truth=data / "truth.csv", classifier=SMALL)
    two = ws.evaluate("v2", truth=data / "truth.csv", classifier=SMALL, oracle=False)
    assert two.baseline is None and [a.role for a in two.arms] == ["candidate"]
    # the same held-out set (v1/test == v2/test here) and the same training -> same numbers
    assert two.arm("candidate").runs == one.arm("candidate").runs
    again = ws.evaluate("v2", against="v1", truth=data / "truth.csv", classifier=SMALL)
    assert scores(again) == scores(one)
    assert two.gap_closed_accuracy is None


def test_seeds_are_averaged(noisy):
    ws, data, _ = noisy
    result = ws.evaluate(
        "v1", truth=data / "truth.csv", classifier={**SMALL, "seeds": 3}, oracle=False
    )
    runs = result.arm("candidate").runs
    assert [r.seed for r in runs] == [0, 1, 2]
    assert result.arm("candidate").accuracy == pytest.approx(
        np.mean([r.accuracy for r in runs]), abs=1e-6
    )


def test_truth_matched_by_suffix_and_by_sample_id(noisy, tmp_path):
    ws, data, rows = noisy
    # the same truth from another folder: paths no longer resolve, their tails match
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "truth.csv").write_text((data / "truth.csv").read_text())
    by_suffix = ws.evaluate("v2", against="v1", truth=elsewhere / "truth.csv", classifier=SMALL)
    by_path = ws.evaluate("v2", against="v1", truth=data / "truth.csv", classifier=SMALL)
    assert scores(by_suffix) == scores(by_path) and by_suffix.excluded == {}
    # by sample_id (the sha256 of the file bytes), a parquet file
    import hashlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = [hashlib.sha256((data / r["path"]).read_bytes()).hexdigest() for r in rows]
    pq.write_table(
        pa.table({"sample_id": ids, "label": [r["true_label"] for r in rows]}),
        tmp_path / "truth.parquet",
    )
    by_id = ws.evaluate("v2", against="v1", truth=tmp_path / "truth.parquet", classifier=SMALL)
    assert scores(by_id) == scores(by_path)


def test_without_truth_the_candidate_labels_score(noisy):
    ws, _, _ = noisy
    result = ws.evaluate("v2", against="v1", classifier=SMALL)
    assert [a.role for a in result.arms] == ["baseline", "candidate"]
    assert "v2" in result.test_labels and result.warnings
    assert result.gap_closed_accuracy is None


def test_leaking_samples_leave_the_held_out_set(noisy):
    ws, data, _ = noisy
    # a later version re-splits with another seed: some v1 test images now train
    ws.split("0.6,0.4", names=["train", "test"], seed=1, resplit=True)
    leaky = ws.commit("re-split").version.name
    v1_test = set(ws.version("v1").samples("test").column("sample_id").to_pylist())
    now_train = set(ws.version(leaky).samples("train").column("sample_id").to_pylist())
    leaked = len(v1_test & now_train)
    assert leaked > 0
    result = ws.evaluate(leaky, against="v1", truth=data / "truth.csv", classifier=SMALL)
    assert result.excluded == {"also used for training (leak)": leaked}
    assert result.test_samples == len(v1_test) - leaked
    assert any("leak" in w for w in result.warnings)


def test_bad_requests_are_one_line_errors(noisy, tmp_path):
    ws, data, _ = noisy
    with pytest.raises(NotFound, match="no samples in split 'val'"):
        ws.evaluate("v2", eval_split="val", classifier=SMALL)
    with pytest.raises(NotFound):
        ws.evaluate("v9", classifier=SMALL)
    with pytest.raises(InvalidInput, match="does not exist"):
        ws.evaluate("v2", truth=tmp_path / "missing.csv", classifier=SMALL)
    bad = tmp_path / "bad.csv"
    bad.write_text("file,klass\nx.png,a\n")
    with pytest.raises(InvalidInput, match="no true_label or label column"):
        ws.evaluate("v2", truth=bad, classifier=SMALL)
    with pytest.raises(InvalidInput, match="epochs"):
        ws.evaluate("v2", classifier={"epochs": 0})
    ws.tag("same", "v2")
    with pytest.raises(InvalidInput, match="same content"):
        ws.evaluate("v2", against="same", classifier=SMALL)


def test_cancel_stops_between_epochs(noisy):
    from curate.errors import Cancelled

    ws, data, _ = noisy
    calls = []

    def progress(done, total, message=""):
        calls.append(done)

    with pytest.raises(Cancelled):
        ws.evaluate(
            "v2",
            truth=data / "truth.csv",
            classifier=SMALL,
            progress=progress,
            cancel=lambda: len(calls) > 3,
        )
    assert 3 < len(calls) < 10


def test_a_version_without_splits_says_how_many_samples_have_none(tmp_path):
    from curate.api import Workspace
    from tests.engines.test_versions import make_folder

    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest(make_folder(tmp_path / "src", 4))
        ws.commit("no splits")
        with pytest.raises(NotFound, match="has no samples in split 'test'") as err:
            ws.evaluate("HEAD", classifier=SMALL)
        assert err.value.hint.startswith("splits: none (12 samples have no split)")


def make_small(tmp_path: Path):
    """30 images split 24 train / 6 test: fewer training samples than one batch (64)."""
    from curate.api import Workspace

    build_noisy_folder(tmp_path / "data", per_class=10)
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest(tmp_path / "data" / "images")
    ws.split("0.8,0.2", names=["train", "test"], seed=0)
    ws.commit("small")
    return ws


TINY = {"epochs": 2, "seeds": 1, "hidden": 8}


def test_a_batch_larger_than_the_training_split_warns_nothing(tmp_path):
    import warnings

    ws = make_small(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = ws.evaluate("v1", classifier=TINY)
    ws.close()
    assert result.arm("candidate").train_samples == 24
    assert [str(w.message) for w in caught] == []
    assert not any("scikit-learn" in w for w in result.warnings)


def test_what_scikit_learn_warns_becomes_one_note(tmp_path, monkeypatch):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    import curate.evaluate.classifier as classifier

    class Warns(classifier.MLPClassifier):
        def partial_fit(self, *args, **kwargs):
            warnings.warn("did not converge\nsecond line", ConvergenceWarning, stacklevel=1)
            return super().partial_fit(*args, **kwargs)

    monkeypatch.setattr(classifier, "MLPClassifier", Warns)
    ws = make_small(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = ws.evaluate("v1", classifier=TINY)
    ws.close()
    assert [str(w.message) for w in caught] == []
    notes = [w for w in result.warnings if "scikit-learn" in w]
    assert notes == [
        "scikit-learn warned while training the classifier (2x): "
        "ConvergenceWarning: did not converge"
    ]
