"""The facade's arguments: what a script passes by mistake is a one-line CurateError.

A str where a list of names goes is one name; an unknown split is a NotFound,
never an empty result; single-sample methods refuse several samples; a Path
names a sample and a Version names a version; a wrong type is an InvalidInput
naming the argument, never a TypeError or a DuckDB error from an engine.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from curate.api import Workspace
from curate.errors import Cancelled, InvalidInput, NotFound
from tests.conftest import write_png

# "12" next to "3": read letter by letter, "12" would name the classes "1" and "2"
CLASSES = ("12", "3")
PER_CLASS = 8


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """2 classes x 8 images, split train/val, committed as v1, scanned once."""
    root = tmp_path_factory.mktemp("api-args")
    seed = 0
    for cls in CLASSES:
        for i in range(PER_CLASS):
            write_png(root / "src" / cls / f"{cls}_{i}.png", seed, size=(8, 8))
            seed += 1
    with Workspace.init(root / "ws") as ws:
        ws.ingest(root / "src")
        ws.split("0.5,0.5", seed=0)
        ws.commit("v1")
        ws.scan(folds=2, seed=0)
        yield ws


# -- 1. a single str is one name -------------------------------------------------------------
def test_a_str_of_classes_is_one_class_name(ws):
    rows = ws.samples(classes="12")
    assert rows.num_rows == PER_CLASS
    assert set(rows.column("label").to_pylist()) == {"12"}
    assert ws.samples(classes=["12", "3"]).num_rows == 2 * PER_CLASS
    label = ws.findings("label", classes="12", only_issues=False)
    assert len(label) == PER_CLASS and {f.given_label for f in label} == {"12"}
    assert ws.findings("conflict", classes="12") == []
    # augment, which used to refuse a str (a pydantic list), follows the same rule
    report = ws.augment("medium", classes="12", target_per_class=10, dry_run=True)
    assert {c.name: c.needed for c in report.classes} == {"12": 6, "3": 0}


def test_a_str_of_origins_is_one_origin(ws):
    assert ws.samples(origins="original").num_rows == 2 * PER_CLASS
    with pytest.raises(InvalidInput, match="unknown origin 'bogus'"):
        ws.samples(origins=["bogus"])
    with pytest.raises(InvalidInput, match="classes must be a name or a list of names"):
        ws.samples(classes=12.0)


# -- 2. an unknown split is a NotFound, not an empty result ------------------------------------
@pytest.mark.parametrize(
    "call",
    [
        lambda ws: ws.samples(split="trian"),
        lambda ws: ws.version("v1").samples("trian"),
        lambda ws: ws.version("v1").to_pandas("trian"),
        lambda ws: ws.version("v1").to_torch("trian"),
        lambda ws: ws.balancing_plan(split="trian"),
        lambda ws: ws.balancing_plan(split="trian", target=10),
    ],
    ids=["samples", "version-samples", "to_pandas", "to_torch", "plan", "plan-target"],
)
def test_an_unknown_split_is_not_found_with_a_close_name(ws, call):
    with pytest.raises(NotFound, match="has no samples in split 'trian'") as err:
        call(ws)
    assert err.value.hint.startswith("splits: train, val")
    assert "did you mean 'train'?" in err.value.hint


def test_the_default_split_still_counts_an_unsplit_workspace(tmp_path):
    with Workspace.init(tmp_path / "ws") as ws:
        write_png(tmp_path / "src" / "a" / "0.png", 0)
        write_png(tmp_path / "src" / "b" / "0.png", 1)
        ws.ingest(tmp_path / "src")
        assert ws.balancing_plan().target == 1  # no split yet: every sample counts
        with pytest.raises(NotFound, match="has no samples in split 'val'") as err:
            ws.balancing_plan(split="val")
        assert err.value.hint.startswith("splits: none (2 samples have no split)")


# -- 3. one sample means one; a mapping names no samples ---------------------------------------
@pytest.mark.parametrize("method", ["lineage", "verify_replay", "replay"])
def test_single_sample_methods_refuse_several(ws, method):
    with pytest.raises(InvalidInput, match=f"{method} takes one sample, got 2"):
        getattr(ws, method)([0, 1])


def test_a_mapping_names_no_samples(ws):
    with pytest.raises(InvalidInput, match=r"cannot name a sample by \{0: 1\} \(dict\)"):
        ws.drop({0: 1})
    assert ws.changes() == []


# -- 4. a Path names a sample, a Version names a version --------------------------------------
def test_a_path_names_a_sample(ws):
    first = ws.samples()
    source, sid = first.column("source")[0].as_py(), first.column("sid")[0].as_py()
    assert ws.lineage(Path(source)).sid == sid
    assert ws.resolve_sample(Path(source)) == sid


def test_a_version_object_names_a_version(ws, tmp_path):
    v1 = ws.version("v1")
    assert ws.diff(v1, None).a == "v1"
    assert ws.version(v1).hash == v1.hash
    assert ws.export(v1, "parquet", tmp_path / "out").version == "v1"
    with pytest.raises(InvalidInput, match=r"version must be a version name \(str\), number"):
        ws.version(["v1"])
    with pytest.raises(InvalidInput, match="other must be a version name"):
        v1.diff(1.5)


# -- 5. a wrong type is an InvalidInput naming the argument -----------------------------------
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ws: ws.version("v1").to_torch(1), r"split must be a split name \(str\), not 1"),
        (lambda ws: ws.commit(5), "message must be a string, not 5"),
        (lambda ws: ws.tag(5, "v1"), "name must be a string, not 5"),
        (lambda ws: ws.split(seed="0", dry_run=True), "seed must be a whole number, not '0'"),
        (lambda ws: ws.split(5), "ratios must be ratios like"),
        (lambda ws: ws.split(dry_run="no"), "dry_run must be True or False"),
        (lambda ws: ws.accept(min_confidence="0.9"), "min_confidence must be a number, not '0.9'"),
        (lambda ws: ws.accept(limit=1.5), "limit must be a whole number"),
        (
            lambda ws: ws.export("v1", "webdataset", "/nonexistent/x", shard_samples="100"),
            "shard_samples must be a whole number, not '100'",
        ),
        (lambda ws: ws.export("v1", "parquet", 5), "out must be a folder path"),
        (lambda ws: ws.read_bytes("0"), "sid must be a whole number"),
    ],
    ids=[
        "to_torch",
        "commit",
        "tag",
        "seed",
        "ratios",
        "dry_run",
        "min_confidence",
        "limit",
        "shard_samples",
        "out",
        "read_bytes",
    ],
)
def test_a_wrong_type_is_invalid_input_naming_the_argument(ws, call, message):
    with pytest.raises(InvalidInput, match=message) as err:
        call(ws)
    assert "\n" not in str(err.value)


def test_init_refuses_a_path_that_is_no_path():
    with pytest.raises(InvalidInput, match=r"path must be a path \(str or pathlib.Path\)"):
        Workspace.init(5)


def test_synthesize_names_every_problem_with_its_fields(ws):
    with pytest.raises(InvalidInput) as err:
        ws.synthesize(generatr="gan")
    message = str(err.value)
    assert "generator: Field required" in message
    assert "unknown argument 'generatr' (did you mean 'generator'?)" in message
    assert "\n" not in message
    with pytest.raises(InvalidInput, match="request must be a SynthRequest"):
        ws.synthesize(5)


# -- 7. cancel messages say what was kept -----------------------------------------------------
def test_check_cancel_is_neutral_by_default_and_takes_a_message():
    from curate.core.progress import check_cancel

    with pytest.raises(Cancelled) as err:
        check_cancel(lambda: True)
    assert str(err.value) == "cancelled by request"
    with pytest.raises(Cancelled, match="^scan cancelled: no findings were recorded$"):
        check_cancel(lambda: True, "scan cancelled: no findings were recorded")
    check_cancel(lambda: False, "never said")


def test_a_cancelled_export_or_scan_says_nothing_was_kept(ws, tmp_path):
    runs = len(ws.scan_runs())
    with pytest.raises(Cancelled, match="export cancelled: nothing was written"):
        ws.export("v1", "webdataset", tmp_path / "c", cancel=lambda: True)
    assert not (tmp_path / "c").exists()
    with pytest.raises(Cancelled, match="scan cancelled: no findings were recorded"):
        ws.scan(folds=2, cancel=lambda: True)
    assert len(ws.scan_runs()) == runs


# -- 8. help() tells what each method returns -------------------------------------------------
def test_every_public_method_has_a_docstring():
    missing = [
        name
        for name, member in inspect.getmembers(Workspace)
        if not name.startswith("_") and not inspect.getdoc(member)
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("method", "words"),
    [
        ("init", ["Workspace"]),
        ("status", ["WorkspaceStatus"]),
        ("relabel", ["ChangeReport"]),
        ("drop", ["ChangeReport"]),
        ("split", ["SplitReport", '"0.8,0.1,0.1"', "a list"]),
        ("commit", ["CommitResult"]),
        ("diff", ["VersionDiff"]),
        ("export", ["ExportResult"]),
        ("ingest", ["IngestReport", "manifest", "label_column"]),
        ("augment", ["AugmentReport", "classes", "workers", "dry_run", "Cancelled", "kept"]),
    ],
)
def test_docstrings_name_what_the_method_returns(method, words):
    doc = inspect.getdoc(getattr(Workspace, method))
    assert doc and all(w in doc for w in words), (method, doc)
