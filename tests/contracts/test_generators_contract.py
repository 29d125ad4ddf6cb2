"""Every registered generator honours the plugin contract (curate's own and any installed).

Built-ins run with tiny options (``curate_generators.testing.TINY_PARAMS``);
a third-party generator runs with its defaults and two fit steps.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import BaseModel, ValidationError

from curate.errors import Cancelled, InvalidInput
from curate.plugins.generators import (
    Checkpoint,
    GeneratedBatch,
    Generator,
    TrainingSet,
    fit_params,
    load_generator_class,
    option_stage,
)
from curate.plugins.registry import list_plugins, parse_params

torch = pytest.importorskip("torch")

NAMES = [p.name for p in list_plugins("curate.generators")]
CLASSES = ("bar-top", "bar-bottom", "bar-left")


def pattern_images(n_per_class: int = 8, seed: int = 0, side: int = 8) -> TrainingSet:
    """Three classes told apart by where a bright bar is; noise makes every image unique."""
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
    return TrainingSet(
        images=np.stack(images),
        labels=np.asarray(labels),
        class_names=CLASSES,
        sample_ids=tuple(f"{i:064x}" for i in range(len(images))),
    )


def test_the_built_in_generators_are_registered():
    assert {"ddpm", "gan", "pipeline"} <= set(NAMES)


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory):
    pytest.importorskip("transformers")
    from curate_generators.testing import build_tiny_pipeline

    return build_tiny_pipeline(tmp_path_factory.mktemp("pipe") / "sd")


def make(name: str, request) -> tuple[Generator, int]:
    from curate_generators.testing import TINY_PARAMS

    cls = load_generator_class(name)
    if name == "pipeline":
        values = {"path": str(request.getfixturevalue("tiny_pipeline")), "batch_size": 3}
        values["num_inference_steps"] = 2
    else:
        values = dict(TINY_PARAMS.get(name, {}))
    params = parse_params(cls.Params, values, where=name)
    steps = 3 if cls.needs_fit else 0
    return cls(params, device="cpu"), steps


@pytest.mark.parametrize("name", NAMES)
def test_params_forbid_unknown_options_and_describe_every_field(name):
    cls = load_generator_class(name)
    assert issubclass(cls.Params, BaseModel)
    assert cls.Params.model_config.get("extra") == "forbid"
    for field_name, info in cls.Params.model_fields.items():
        assert info.description, f"{name}.{field_name} has no description"
        assert option_stage(cls.Params, field_name) in ("fit", "sample", "runtime")
    with pytest.raises(ValidationError) as err:
        cls.Params.model_validate({"no_such_option": 1})
    assert {"extra_forbidden"} <= {e["type"] for e in err.value.errors()}
    caps = cls.capabilities()
    assert set(caps) == {
        "supports_class_conditional",
        "needs_fit",
        "needs_gpu",
        "deterministic_with_seed",
    }
    assert all(isinstance(v, bool) for v in caps.values())
    assert cls.describe()["name"] == name == cls.name


@pytest.mark.parametrize("name", NAMES)
def test_fit_sample_checkpoint_round_trip(name, request, tmp_path):
    torch.set_num_threads(1)
    gen, steps = make(name, request)
    if gen.needs_gpu:
        pytest.skip("needs a GPU")
    data = pattern_images()
    report = gen.fit(data, steps=steps, seed=0)
    assert report.steps == steps

    batches = list(gen.sample("bar-bottom", 7, seed=11))
    assert all(isinstance(b, GeneratedBatch) for b in batches)
    images = np.concatenate([b.images for b in batches])
    assert images.shape == (7, 8, 8, 1) and images.dtype == np.uint8
    assert [b.offset for b in batches] == sorted(b.offset for b in batches)
    assert sum(len(b.images) for b in batches) == 7

    if gen.deterministic_with_seed:
        again = np.concatenate([b.images for b in gen.sample("bar-bottom", 7, seed=11)])
        other = np.concatenate([b.images for b in gen.sample("bar-bottom", 7, seed=12)])
        assert np.array_equal(images, again)
        assert not np.array_equal(images, other)

    ckpt = gen.to_checkpoint()
    assert ckpt.hash == gen.to_checkpoint().hash  # content-addressed: stable
    assert ckpt.config["classes"] == list(CLASSES)
    assert ckpt.config["params"] == fit_params(gen.params)
    from safetensors.torch import load

    assert isinstance(load(ckpt.weights), dict) if ckpt.weights else True
    folder = ckpt.save(tmp_path / "ckpts")
    assert folder.name == ckpt.hash
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "weights.safetensors"]
    loaded = Checkpoint.load(folder)
    assert loaded.hash == ckpt.hash

    cls = type(gen)
    gen2 = cls.from_checkpoint(loaded, gen.params, device="cpu")
    if gen2.needs_fit:
        replay = np.concatenate([b.images for b in gen2.sample("bar-bottom", 7, seed=11)])
        if gen.deterministic_with_seed:
            assert np.array_equal(images, replay)
    with pytest.raises(InvalidInput, match="not fitted on class"):
        next(iter(gen.sample("no-such-class", 1, seed=0)))
    gen.close()
    gen2.close()


@pytest.mark.parametrize("name", NAMES)
def test_fit_stops_when_cancelled(name, request):
    gen, steps = make(name, request)
    with pytest.raises(Cancelled):
        gen.fit(pattern_images(), steps=max(steps, 50), seed=0, cancel=lambda: True)
    gen.close()


def test_a_corrupt_checkpoint_folder_is_refused(tmp_path):
    from curate.errors import PluginError

    ckpt = Checkpoint({"format": "curate.generator-checkpoint/1", "generator": "x"}, b"")
    folder = ckpt.save(tmp_path)
    (folder / "weights.safetensors").write_bytes(b"tampered")
    with pytest.raises(PluginError, match="hash mismatch"):
        Checkpoint.load(folder)
