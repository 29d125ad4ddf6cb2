"""The `pipeline` generator with tiny random pipelines the tests save to disk.

The images are noise (random weights); what is checked is the plumbing:
modes, lineage to the real images img2img started from, the content hash of
the pipeline folder, resizing to the dataset's shape, and the engine path.
"""

from __future__ import annotations

import numpy as np
import pytest

from curate.errors import InvalidInput, PluginError
from curate.plugins.generators import TrainingSet

pytest.importorskip("torch")
pytest.importorskip("transformers")

CLASSES = ("3", "7")


@pytest.fixture(scope="module")
def sd_dir(tmp_path_factory):
    from curate_generators.testing import build_tiny_pipeline

    return build_tiny_pipeline(tmp_path_factory.mktemp("sd") / "pipe", kind="sd")


@pytest.fixture(scope="module")
def dit_dir(tmp_path_factory):
    from curate_generators.testing import build_tiny_pipeline

    return build_tiny_pipeline(tmp_path_factory.mktemp("dit") / "pipe", kind="dit")


def data(channels: int = 1) -> TrainingSet:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 10, 12, channels), dtype=np.uint8)
    return TrainingSet(
        images=images,
        labels=np.array([0, 0, 0, 1, 1, 1]),
        class_names=CLASSES,
        sample_ids=tuple(f"{i:064x}" for i in range(6)),
    )


def make(path, **options):
    import torch
    from curate_generators.pipeline import PipelineGenerator, PipelineParams

    torch.set_num_threads(1)
    params = PipelineParams(path=str(path), num_inference_steps=2, batch_size=2, **options)
    return PipelineGenerator(params, device="cpu")


def test_img2img_starts_from_real_images_of_the_class_and_names_them(sd_dir):
    gen = make(sd_dir)
    gen.fit(data(), steps=0)
    assert gen.mode == "img2img"  # a text-to-image pipeline, converted
    batches = list(gen.sample("7", 3, seed=5))
    images = np.concatenate([b.images for b in batches])
    assert images.shape == (3, 10, 12, 1) and images.dtype == np.uint8
    parents = [p for b in batches for p in b.parents]
    class_7 = {f"{i:064x}" for i in (3, 4, 5)}
    assert len(parents) == 3 and all(len(p) == 1 and p[0] in class_7 for p in parents)


def test_text2img_and_rgb_datasets(sd_dir):
    gen = make(sd_dir, mode="text2img", prompt="a {class_name}", class_map={"3": "three"})
    gen.fit(data(channels=3), steps=0)
    (batch,) = list(gen.sample("3", 2, seed=0))
    assert batch.images.shape == (2, 10, 12, 3) and batch.parents is None


def test_class_label_pipelines_map_classes_to_label_ids(dit_dir):
    gen = make(dit_dir)
    gen.fit(data(), steps=0)
    assert gen.mode == "class"
    (batch,) = list(gen.sample("7", 2, seed=0))  # class "7" -> label id 7
    assert batch.images.shape == (2, 10, 12, 1)
    named = make(dit_dir, class_map={"3": "cat"})
    named.fit(data(), steps=0)
    with pytest.raises(InvalidInput, match="no label 'cat'"):
        next(iter(named.sample("3", 1, seed=0)))


def test_the_checkpoint_names_the_pipeline_by_content(sd_dir, tmp_path):
    import shutil

    gen = make(sd_dir)
    gen.fit(data(), steps=0)
    ckpt = gen.to_checkpoint()
    moved = shutil.copytree(sd_dir, tmp_path / "elsewhere")
    other = make(moved)
    other.fit(data(), steps=0)
    assert other.to_checkpoint().hash == ckpt.hash  # same weights, other folder
    (moved / "unet" / "config.json").write_text(
        (moved / "unet" / "config.json").read_text().replace("}", ', "x": 1}', 1)
    )
    from curate_generators.pipeline import PipelineGenerator

    with pytest.raises(PluginError, match="changed since"):
        PipelineGenerator.from_checkpoint(ckpt, make(moved).params, device="cpu")


def test_a_folder_without_a_pipeline_is_refused(tmp_path):
    gen = make(tmp_path)
    with pytest.raises(InvalidInput, match="not a diffusers pipeline folder"):
        gen.fit(data(), steps=0)


def test_the_engine_runs_a_pipeline_end_to_end(sd_dir, tmp_path):
    from PIL import Image

    from curate.api import Workspace

    rng = np.random.default_rng(1)
    src = tmp_path / "src"
    for label, n in (("3", 6), ("7", 2)):
        (src / label).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(
                src / label / f"{i}.png"
            )
    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest(src)
        params = {"path": str(sd_dir), "num_inference_steps": 2, "batch_size": 2}
        result = ws.synthesize(generator="pipeline", params=params, device="cpu")
        assert [c.class_name for c in result.classes] == ["7"]
        assert result.generated == 4 == result.admitted + result.rejected
        assert result.fit is not None and result.fit.steps == 0
        again = ws.synthesize(generator="pipeline", params=params, device="cpu")
        assert again.checkpoint == result.checkpoint
