"""Bad inputs give a clear message or a degraded scan with notes, never a traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from curate.api import Workspace
from curate.errors import InvalidInput, NotFound


def _noise(seed: int, shape=(12, 12), mode: str = "L") -> np.ndarray:
    rng = np.random.default_rng(seed)
    full = shape if mode == "L" else (*shape, len(mode))
    return rng.integers(0, 256, full, dtype=np.uint8)


def _ws(tmp_path: Path, files: dict[str, Image.Image]) -> Workspace:
    for rel, img in files.items():
        p = tmp_path / "data" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        img.save(p)
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest(tmp_path / "data")
    return ws


def test_empty_workspace_is_a_clear_error(workspace):
    with pytest.raises(InvalidInput, match="no samples"):
        workspace.scan()


def test_findings_before_any_scan(workspace):
    with pytest.raises(NotFound, match="no scan"):
        workspace.findings("label")
    assert workspace.duplicate_groups() == []


def test_one_class_only_skips_labels_and_scans_the_rest(tmp_path):
    ws = _ws(tmp_path, {f"a/{i}.png": Image.fromarray(_noise(i)) for i in range(8)})
    result = ws.scan()
    assert any("one class" in w for w in result.warnings)
    assert result.issues["label"] == 0
    assert ws.findings("label", only_issues=False) == []
    assert len(ws.findings("quality", only_issues=False)) == 8
    ws.close()


def test_class_with_a_single_sample_and_fewer_samples_than_folds(tmp_path):
    files = {f"a/{i}.png": Image.fromarray(_noise(i)) for i in range(2)}
    files["b/0.png"] = Image.fromarray(_noise(99))
    ws = _ws(tmp_path, files)
    result = ws.scan(folds=5)
    assert any("3 labeled samples for 5 folds" in w for w in result.warnings)
    assert any("single sample" in w and "'b'" in w for w in result.warnings)
    assert result.config["folds"] == 3
    assert len(ws.findings("label", only_issues=False)) == 3
    # Its class is never in its training fold: ranked, never flagged (nor accepted).
    [b] = [f for f in ws.findings("label", only_issues=False) if f.given_label == "b"]
    assert not b.is_issue
    ws.close()


def test_identical_files_leave_one_sample_and_scan(tmp_path):
    """Identical bytes are stored once: one sample (n=1) was a traceback in the kNN step."""
    data = tmp_path / "data"
    for cls in ("a", "b"):
        (data / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((10, 10), 77, np.uint8)).save(data / cls / f"{i}.png")
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest(data)
    assert ws.status().samples == 1
    result = ws.scan()
    assert result.samples == 1
    ws.close()


def test_all_identical_images_form_one_duplicate_group(tmp_path):
    same = np.full((10, 10), 77, np.uint8)
    files = {}
    for i in range(6):  # same pixels, different bytes (compression level)
        files[f"{'ab'[i % 2]}/{i}.png"] = Image.fromarray(same)
    for rel, img in files.items():
        p = tmp_path / "data" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        img.save(p, compress_level=int(rel.split("/")[1][0]) % 10)
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest(tmp_path / "data")
    n = ws.status().samples
    assert n >= 2, "the fixture needs distinct files with the same pixels"
    result = ws.scan()
    groups = ws.duplicate_groups()
    assert len(groups) == 1 and len(groups[0]) == n
    assert any("look the same" in w for w in result.warnings)
    assert result.issues["quality"] == n  # blank images have no information
    ws.close()


def test_mixed_sizes_and_modes(tmp_path):
    files = {
        "a/gray.png": Image.fromarray(_noise(1, (12, 12))),
        "a/rgb.png": Image.fromarray(_noise(2, (20, 16), "RGB")),
        "a/rgba.png": Image.fromarray(_noise(3, (12, 30), "RGBA")),
        "b/palette.png": Image.fromarray(_noise(4, (16, 16), "RGB")).convert("P"),
        "b/gray.jpg": Image.fromarray(_noise(5, (40, 40))),
        "b/big.png": Image.fromarray(_noise(6, (64, 48), "RGB")),
    }
    ws = _ws(tmp_path, files)
    result = ws.scan(folds=2)
    assert result.samples == 6
    assert any("different sizes" in w for w in result.warnings)
    assert result.config["mode"] == "RGB"
    assert len(ws.findings("quality", only_issues=False)) == 6
    ws.close()


def test_unlabeled_samples_get_no_label_rows(tmp_path):
    import csv

    (tmp_path / "m").mkdir()
    rows = []
    for i in range(10):
        Image.fromarray(_noise(i)).save(tmp_path / "m" / f"{i}.png")
        rows.append({"path": f"{i}.png", "label": "" if i < 2 else "ab"[i % 2]})
    with open(tmp_path / "m" / "labels.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["path", "label"])
        w.writeheader()
        w.writerows(rows)
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest(tmp_path / "m" / "labels.csv", format="manifest")
    result = ws.scan(folds=2)
    labeled = ws.status().samples - ws.status().unlabeled
    assert result.labeled == labeled
    assert len(ws.findings("label", only_issues=False)) == labeled
    ws.close()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"extractor": "nope"}, NotFound, "no extractor plugin named 'nope'"),
        ({"params": {"bogus": 1}}, InvalidInput, "bogus"),
        ({"extractor": "patches", "params": {"n_centroids": 0}}, InvalidInput, "n_centroids"),
        ({"folds": 1}, InvalidInput, "folds"),
        ({"device": "tpu"}, InvalidInput, "device"),
        (
            {"extractor": "backbone", "params": {"path": "/does/not/exist"}},
            InvalidInput,
            "config.json",
        ),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, kwargs, error, match):
    ws = _ws(tmp_path, {f"{'ab'[i % 2]}/{i}.png": Image.fromarray(_noise(i)) for i in range(6)})
    with pytest.raises(error, match=match):
        ws.scan(**kwargs)
    assert ws.scan_runs() == []
    ws.close()


def test_cuda_without_a_gpu_is_a_clear_error(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    ws = _ws(tmp_path, {f"{'ab'[i % 2]}/{i}.png": Image.fromarray(_noise(i)) for i in range(6)})
    with pytest.raises(InvalidInput, match="CUDA"):
        ws.scan(device="cuda")
    ws.close()


def test_a_model_no_better_than_the_largest_class_flags_no_label(tmp_path):
    """Two images per class, left out one at a time: every held-out image's class is the
    smaller one in training, so the model names the other class; cleanlab flagged all 4."""
    rng = np.random.default_rng(0)

    def img(low: int) -> Image.Image:
        return Image.fromarray((rng.random((32, 32)) * 60 + low).astype(np.uint8))

    files = {f"a/{i}.png": img(0) for i in range(2)} | {f"b/{i}.png": img(80) for i in range(2)}
    ws = _ws(tmp_path, files)
    result = ws.scan()
    assert result.issues["label"] == 0
    assert any("no better than naming the largest class" in w for w in result.warnings)
    assert len(ws.findings("label", only_issues=False)) == 4  # still ranked
    ws.close()
