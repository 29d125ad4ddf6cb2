"""Extractor plugins: the contract for every registered one, the CNN and the
pretrained backbone (a tiny random model saved by the test), the classifier
API and the kNN graph."""

from __future__ import annotations

import numpy as np
import pytest

from curate.errors import InvalidInput
from curate.plugins.extractor import Extractor, ExtractRequest
from curate.plugins.registry import list_plugins, load_plugin

torch = pytest.importorskip("torch")

NAMES = [p.name for p in list_plugins("curate.extractors")]


def bars(n_per_class: int = 12, seed: int = 0, side: int = 12):
    """Three classes told apart by where a bright bar is."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label in range(3):
        for _ in range(n_per_class):
            img = rng.integers(0, 60, size=(side, side), dtype=np.uint8)
            third = side // 3
            if label == 0:
                img[:third] = 230
            elif label == 1:
                img[-third:] = 230
            else:
                img[:, :third] = 230
            images.append(img[..., None])
            labels.append(label)
    return np.stack(images), np.asarray(labels)


@pytest.fixture(scope="module")
def vit_dir(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("vit")
    cfg = transformers.ViTConfig(
        image_size=16,
        patch_size=8,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    torch.manual_seed(0)
    transformers.ViTModel(cfg).save_pretrained(folder)
    assert (folder / "model.safetensors").is_file()
    return folder


TINY = {"cnn": {"epochs": 2, "width": 8}}


def _params(name, vit_dir):
    if name == "backbone":
        return {"path": str(vit_dir)}
    return TINY.get(name, {})


def test_the_built_ins_are_registered():
    assert {"pixels", "patches", "ensemble", "cnn", "backbone"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_params_are_declared_once(name):
    cls = load_plugin("curate.extractors", name)
    assert issubclass(cls, Extractor)
    assert cls.Params.model_config.get("extra") == "forbid"
    for field_name, field in cls.Params.model_fields.items():
        assert field.description, f"{name}.{field_name} has no description"


@pytest.mark.parametrize("name", NAMES)
def test_every_extractor_runs_out_of_sample_and_fits(name, vit_dir):
    cls = load_plugin("curate.extractors", name)
    ext = cls(cls.Params(**_params(name, vit_dir)))
    images, labels = bars()
    labels_with_unlabeled = labels.copy()
    labels_with_unlabeled[:2] = -1
    out = ext.run(
        ExtractRequest(
            images=images,
            labels=labels_with_unlabeled,
            n_classes=3,
            folds=3,
            device="cpu",
            seed=0,
            common_size=(12, 12),
        )
    )
    n = len(labels)
    assert out.embeddings.shape[0] == n and out.embeddings.dtype == np.float32
    assert np.isfinite(out.embeddings).all()
    assert out.pred_probs.shape == (n, 3)
    np.testing.assert_allclose(out.pred_probs.sum(1), 1.0, atol=1e-3)
    clf = ext.fit(images, labels, n_classes=3, device="cpu", seed=0)
    proba = clf.predict_proba(images[:5])
    assert proba.shape == (5, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-3)
    assert clf.embed(images[:5]).shape[0] == 5


@pytest.mark.parametrize("name", ["pixels", "patches", "ensemble"])
def test_feature_extractors_learn_the_bars(name):
    cls = load_plugin("curate.extractors", name)
    images, labels = bars(n_per_class=15)
    out = cls().run(
        ExtractRequest(images=images, labels=labels, n_classes=3, folds=3, device="cpu", seed=0)
    )
    assert (out.pred_probs.argmax(1) == labels).mean() >= 0.95


def test_train_classifier_api_resizes_and_converts():
    from curate.scan.classifier import train_classifier

    images, labels = bars(n_per_class=15)
    clf = train_classifier(images, labels, device="cpu", seed=0)
    test_images, test_labels = bars(n_per_class=5, seed=1)
    assert (clf.predict(test_images) == test_labels).mean() >= 0.9
    # RGB at another size: converted to gray and resized.
    big_rgb = np.repeat(np.kron(test_images, np.ones((1, 2, 2, 1), np.uint8)), 3, axis=3)
    assert (clf.predict(big_rgb) == test_labels).mean() >= 0.9
    with pytest.raises(InvalidInput):
        train_classifier(images.astype(np.float32), labels)
    with pytest.raises(InvalidInput):
        train_classifier(images, labels[:-1])


def test_backbone_scan_from_a_local_folder(vit_dir, tmp_path):
    from PIL import Image

    from curate.api import Workspace

    images, labels = bars(n_per_class=6)
    for i, (img, lab) in enumerate(zip(images, labels, strict=True)):
        p = tmp_path / "d" / f"c{lab}" / f"{i}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img[..., 0]).save(p)
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest(tmp_path / "d")
    result = ws.scan("backbone", params={"path": str(vit_dir)}, folds=3)
    assert result.extractor == "backbone"
    assert result.config["extractor"]["library"] == "transformers"
    assert result.config["input_size"] == [16, 16]  # from the model's config
    assert len(ws.findings("label", only_issues=False)) == len(labels)
    ws.close()


def test_knn_graph_backends_agree_and_never_need_n_by_n():
    from curate.scan.knn import knn_graph, to_csr

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(20, 16))
    x = (centers[rng.integers(0, 20, 2000)] + 0.05 * rng.normal(size=(2000, 16))).astype(np.float32)
    x[7] = x[3]  # an exact duplicate must still find its twin, not itself
    # Blocks far smaller than N: the exact path only ever holds 128 x 256 distances.
    d_exact, i_exact = knn_graph(x, 5, backend="exact", query_block=128, db_block=256)
    d_flat, i_flat = knn_graph(x, 5, backend="flat")
    np.testing.assert_allclose(d_exact, d_flat, atol=1e-3)
    assert (i_exact[:, 0] == i_flat[:, 0]).mean() > 0.99
    assert i_exact[3, 0] == 7 and i_exact[7, 0] == 3
    assert not (i_exact == np.arange(2000)[:, None]).any()
    assert (np.diff(d_exact, axis=1) >= -1e-6).all()
    d_ivf, i_ivf = knn_graph(x, 5, backend="faiss")
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(i_ivf, i_flat, strict=True)])
    assert recall > 0.9
    graph = to_csr(d_flat, i_flat)
    assert graph.shape == (2000, 2000) and graph.nnz == 2000 * 5
