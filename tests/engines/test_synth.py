"""Synthesis engine: gate reasons, admission with lineage, counts, checkpoints, cancel.

A test double generator (``PatternGenerator``) makes fresh pattern images on
demand and, when asked, copies of real train or val images, so each gate
check is exercised deterministically; the real generators run once with
tiny options to cover the whole path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import Field

from curate.api import Workspace
from curate.core.models import Origin
from curate.errors import InvalidInput, NotFound
from curate.plugins.generators import (
    FitReport,
    GeneratedBatch,
    Generator,
    GeneratorParams,
    TrainingSet,
    sample_stage,
)

torch = pytest.importorskip("torch")

CLASSES = ("top", "bottom", "left")


def pattern(label: int, rng: np.random.Generator, side: int = 8) -> np.ndarray:
    img = rng.integers(0, 60, size=(side, side), dtype=np.uint8)
    third = side // 3
    if label == 0:
        img[:third] = 230
    elif label == 1:
        img[-third:] = 230
    else:
        img[:, :third] = 230
    return img


def write_patterns(root: Path, counts: dict[str, int], *, seed: int, split: str | None = None):
    rng = np.random.default_rng(seed)
    for name, n in counts.items():
        folder = root / split / name if split else root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(pattern(CLASSES.index(name), rng)).save(folder / f"{seed}_{i}.png")


class PatternParams(GeneratorParams):
    copy_train: int = Field(0, ge=0, **sample_stage("first N images: copies of train images"))
    copy_heldout: int = Field(0, ge=0, **sample_stage("then N copies of val/test images"))
    noise: int = Field(
        0, ge=0, **sample_stage("then N images of pure noise (first sample() call only)")
    )
    batch: int = Field(4, ge=1, **sample_stage("batch size"))


class PatternGenerator(Generator):
    """Test double: new pattern images, plus copies and noise on request."""

    name = "pattern"
    Params = PatternParams
    heldout: np.ndarray | None = None  # set by the test that checks leakage

    def fit(self, data: TrainingSet, *, steps, seed=0, progress=None, cancel=None) -> FitReport:
        from curate.core.progress import check_cancel

        for _ in range(steps):
            check_cancel(cancel)
        self.class_names = data.class_names
        self.image_shape = data.shape
        self.train = data.images
        self.ids = data.sample_ids
        return FitReport(steps=steps, images_seen=0, seconds=0.0)

    def sample(self, class_name: str, n: int, *, seed: int) -> Iterator[GeneratedBatch]:
        label = CLASSES.index(self.class_names[self.class_index(class_name)])
        rng = np.random.default_rng(seed)
        p = self.params
        noise = p.noise if not getattr(self, "_sampled", False) else 0
        self._sampled = True
        made = []
        for i in range(n):
            if i < p.copy_train:
                made.append(self.train[i % len(self.train)])
            elif i < p.copy_train + p.copy_heldout:
                made.append(self.heldout[i % len(self.heldout)])
            elif i < p.copy_train + p.copy_heldout + noise:
                made.append(rng.integers(0, 256, size=(8, 8, 1), dtype=np.uint8))
            else:
                made.append(pattern(label, rng)[..., None])
        # lineage: pretend image i was made from training image i
        parents = [[self.ids[i % len(self.ids)]] for i in range(n)]
        for offset in range(0, n, p.batch):
            stop = offset + p.batch
            yield GeneratedBatch(np.stack(made[offset:stop]), seed, offset, parents[offset:stop])

    def state_tensors(self):
        return {"train": torch.from_numpy(self.train.copy())}

    def extra_config(self):
        return {"ids": list(self.ids)}

    def load_state(self, tensors, config):
        self.train = tensors["train"].numpy()
        self.ids = tuple(config["ids"])


@pytest.fixture
def use_pattern(monkeypatch):
    import curate.synthesize.engine as engine
    import curate.synthesize.runner as runner

    real = engine.load_generator_class

    def load(name):
        return PatternGenerator if name == "pattern" else real(name)

    monkeypatch.setattr(engine, "load_generator_class", load)
    monkeypatch.setattr(runner, "load_generator_class", load)
    torch.set_num_threads(1)
    return PatternGenerator


@pytest.fixture
def unsplit(tmp_path) -> Workspace:
    """No splits: 'left' is the rare class (4 vs 16)."""
    src = tmp_path / "data"
    write_patterns(src, {"top": 16, "bottom": 16, "left": 4}, seed=1)
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest(src)
    yield ws
    ws.close()


@pytest.fixture
def split_ws(tmp_path) -> Workspace:
    src = tmp_path / "data"
    write_patterns(src, {"top": 12, "bottom": 12, "left": 4}, seed=1, split="train")
    write_patterns(src, {"top": 3, "bottom": 3, "left": 3}, seed=2, split="val")
    write_patterns(src, {"top": 3, "bottom": 3, "left": 3}, seed=3, split="test")
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest(src)
    yield ws
    ws.close()


def test_counts_default_to_the_balancing_plan_and_add_up(unsplit, use_pattern):
    result = unsplit.synthesize(generator="pattern", fit_steps=1, params={"noise": 3})
    (left,) = result.classes
    assert (left.class_name, left.requested, left.generated) == ("left", 12, 12)
    assert result.generated == 12 == result.admitted + result.rejected
    # noise is never confidently a bar on the left: rejected by the classifier
    assert sum(left.reasons.values()) == left.rejected >= 3
    assert set(left.reasons) <= {"wrong-class", "low-confidence"}
    assert result.leakage_checked is False
    assert any("leakage check skipped" in n for n in result.notes)
    assert unsplit.status().classes["left"] == 4 + result.admitted


def test_admitted_samples_are_pending_synthetic_adds_with_lineage(unsplit, use_pattern):
    result = unsplit.synthesize(generator="pattern", classes=["left"], n=5, fit_steps=1)
    assert result.admitted == 5 and len(result.admitted_sids) == 5
    table = unsplit.samples(origins=[Origin.SYNTHETIC.value])
    assert sorted(table.column("sid").to_pylist()) == sorted(result.admitted_sids)
    assert set(table.column("label").to_pylist()) == {"left"}
    assert set(table.column("split").to_pylist()) == {"train"}
    recipes = [json.loads(r) for r in table.column("recipe").to_pylist()]
    assert {r["generator"] for r in recipes} == {"pattern"}
    assert {r["checkpoint"] for r in recipes} == {result.checkpoint}
    assert {r["class"] for r in recipes} == {"left"}
    assert sorted(r["index"] for r in recipes) == [0, 1, 2, 3, 4]
    assert all(r["params"]["batch"] == 4 for r in recipes)
    originals = set(unsplit.samples(origins=["original"]).column("sample_id").to_pylist())
    parents = table.column("parents").to_pylist()
    assert all(len(p) == 1 and p[0] in originals for p in parents)
    pending = unsplit.catalog().rows(
        "SELECT op, count(*) FROM changes WHERE version_id IS NULL GROUP BY op"
    )
    assert pending == [("add", 5)]
    # each admitted image decodes to what the generator made: 8x8 grayscale PNG
    img = Image.open(__import__("io").BytesIO(unsplit.read_bytes(result.admitted_sids[0])))
    assert (img.size, img.mode, img.format) == ((8, 8), "L", "PNG")


def test_copies_of_train_and_heldout_images_are_rejected(split_ws, use_pattern):
    held = split_ws.samples(split="val")
    use_pattern.heldout = split_ws.load_pixels(held)
    result = split_ws.synthesize(
        generator="pattern",
        classes=["left"],
        n=12,
        fit_steps=1,
        params={"copy_train": 3, "copy_heldout": 2},
        # the patterns differ only by faint noise: keep "near" to actual copies
        gate={"near_duplicate_distance": 0.02},
    )
    (left,) = result.classes
    assert left.reasons.get("memorised") == 3
    assert left.reasons.get("leakage") == 2
    assert result.leakage_checked is True
    assert left.admitted + left.rejected == 12
    assert left.admitted == 7  # fresh patterns pass


def test_identical_images_are_duplicates_and_a_rerun_adds_nothing(unsplit, use_pattern):
    first = unsplit.synthesize(generator="pattern", classes=["left"], n=4, fit_steps=1)
    assert first.admitted == 4
    assert not any(n.startswith("duplicates") for n in first.notes)
    again = unsplit.synthesize(generator="pattern", classes=["left"], n=4, fit_steps=1)
    assert again.admitted == 0 and again.classes[0].reasons == {"duplicate": 4}
    assert unsplit.status().origins.get("synthetic") == 4
    # they repeat the first run's samples: the seed explanation is the right one
    (note,) = [n for n in again.notes if n.startswith("duplicates")]
    assert "4 repeat samples an earlier run made" in note and "--seed" in note


def test_a_generator_repeating_itself_is_not_told_to_change_the_seed(
    unsplit, use_pattern, monkeypatch
):
    """A first synthesis whose images are near-identical to each other: mode collapse, not
    "the same checkpoint and --seed make the same images again" (no earlier run exists)."""
    import curate.synthesize.engine as engine
    import curate.synthesize.runner as runner

    class Collapsed(PatternGenerator):
        name = "collapsed"

        def sample(self, class_name, n, *, seed):
            for batch in super().sample(class_name, n, seed=seed):
                same = np.repeat(batch.images[:1], len(batch.images), axis=0)
                yield GeneratedBatch(same, batch.seed, batch.offset, batch.parents)

    for module in (engine, runner):
        monkeypatch.setattr(module, "load_generator_class", lambda name: Collapsed)
    result = unsplit.synthesize(generator="collapsed", classes=["left"], n=4, fit_steps=1)
    assert result.classes[0].reasons == {"duplicate": 3}
    (note,) = [n for n in result.notes if n.startswith("duplicates")]
    assert "near-identical" in note and "mode collapse" in note and "--seed" not in note


def test_fill_keeps_generating_until_n_pass(unsplit, use_pattern):
    result = unsplit.synthesize(
        generator="pattern",
        classes=["left"],
        n=4,
        fit_steps=1,
        fill=True,
        params={"noise": 4},
    )
    (left,) = result.classes
    assert left.admitted == 4
    assert left.generated == 8 and left.rejected == 4  # a second round replaced the noise


def test_cancel_keeps_the_batches_already_admitted(unsplit, use_pattern):
    calls = []

    def progress(done, total, message=""):
        calls.append((done, message))

    polls = {"n": 0}

    def cancel():
        polls["n"] += 1
        return any(m.startswith("generating") for _, m in calls)  # after the first batch

    result = unsplit.synthesize(
        generator="pattern",
        classes=["left"],
        n=12,
        fit_steps=1,
        progress=progress,
        cancel=cancel,
    )
    assert result.cancelled
    assert result.generated == 4  # one batch
    assert unsplit.status().origins.get("synthetic") == result.admitted > 0


def test_a_cached_checkpoint_is_reused_and_refit_fits_again(unsplit, use_pattern):
    first = unsplit.synthesize(generator="pattern", classes=["left"], n=1, fit_steps=2)
    assert not first.checkpoint_reused and first.fit.steps == 2
    second = unsplit.synthesize(generator="pattern", classes=["left"], n=1, fit_steps=2, seed=0)
    assert second.checkpoint_reused and second.fit is None
    assert second.checkpoint == first.checkpoint
    folder = unsplit.paths.cache / "generators" / first.checkpoint
    assert (folder / "weights.safetensors").exists()
    third = unsplit.synthesize(generator="pattern", classes=["left"], n=1, fit_steps=2, refit=True)
    assert not third.checkpoint_reused and third.checkpoint == first.checkpoint
    other = unsplit.synthesize(generator="pattern", classes=["left"], n=1, fit_steps=3)
    assert not other.checkpoint_reused


@pytest.mark.parametrize(
    ("fields", "error", "match"),
    [
        ({"generator": "nope"}, NotFound, "no generator plugin named 'nope'"),
        ({"generator": "pattern", "classes": ["cat"], "n": 2}, NotFound, "no class named 'cat'"),
        ({"generator": "pattern", "n": 2}, InvalidInput, "--n needs --classes"),
        ({"generator": "pattern", "params": {"bogus": 1}}, InvalidInput, "pattern.bogus"),
        ({"generator": "pattern", "n": 0, "classes": ["left"]}, InvalidInput, "n:"),
        (
            {"generator": "pattern", "classes": ["top"]},
            InvalidInput,
            "balancing plan needs no samples",
        ),
    ],
)
def test_bad_requests_fail_before_anything_is_written(unsplit, use_pattern, fields, error, match):
    with pytest.raises(error, match=match):
        unsplit.synthesize(**fields)
    assert unsplit.status().origins == {"original": 36}


def test_the_gan_runs_the_whole_path_on_cpu(unsplit):
    torch.set_num_threads(1)
    from curate_generators.testing import TINY_PARAMS

    result = unsplit.synthesize(
        generator="gan",
        classes=["left", "top"],
        n=6,
        fit_steps=5,
        device="cpu",
        params=TINY_PARAMS["gan"],
    )
    assert result.device == "cpu" and result.where == "local"
    assert result.generated == 12 == result.admitted + result.rejected
    assert [c.class_name for c in result.classes] == ["left", "top"]
    assert result.fit is not None and result.fit.steps == 5
    assert len(result.checkpoint) == 64
    assert unsplit.status().origins.get("synthetic", 0) == result.admitted


def test_the_plan_counts_admitted_samples_in_a_workspace_without_splits(unsplit, use_pattern):
    # admitted samples go to "train" while the originals have no split: both still count
    first = unsplit.synthesize(generator="pattern", classes=["left"], n=5, fit_steps=1)
    assert first.admitted == 5
    second = unsplit.synthesize(generator="pattern", fit_steps=1)
    assert [(c.class_name, c.requested) for c in second.classes] == [("left", 16 - 4 - 5)]


def add_heldout_only_class(ws: Workspace, root: Path, name: str = "eel") -> None:
    """A class whose only images are in val: nothing to learn it from."""
    rng = np.random.default_rng(9)
    folder = root / "val" / name
    folder.mkdir(parents=True)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, size=(8, 8), dtype=np.uint8)).save(folder / f"{i}.png")
    ws.ingest(root)


def test_a_class_the_plan_lists_without_training_images_is_skipped(split_ws, use_pattern, tmp_path):
    add_heldout_only_class(split_ws, tmp_path / "extra")
    result = split_ws.synthesize(generator="pattern", fit_steps=1)
    assert [(c.class_name, c.requested) for c in result.classes] == [("left", 8)]
    assert [n for n in result.notes if "eel" in n] == [
        "skipped 'eel': no training images to learn from (the balancing plan asks 12 more)"
    ]
    # named, it is an error: the user asked for something that cannot be made
    with pytest.raises(InvalidInput, match="class 'eel' has no training images"):
        split_ws.synthesize(generator="pattern", classes=["eel"], n=2, fit_steps=1)


def test_a_plan_of_only_unlearnable_classes_is_an_error(split_ws, use_pattern, tmp_path):
    write_patterns(tmp_path / "more", {"left": 8}, seed=9, split="train")
    split_ws.ingest(tmp_path / "more")  # left is no longer short
    add_heldout_only_class(split_ws, tmp_path / "extra")
    with pytest.raises(InvalidInput, match=r"\('eel'\) have no training images"):
        split_ws.synthesize(generator="pattern", fit_steps=1)
    assert split_ws.status().origins == {"original": 56}


def test_an_unknown_class_is_not_found_with_close_names(unsplit, use_pattern):
    with pytest.raises(NotFound, match="no class named 'lefft'") as err:
        unsplit.synthesize(generator="pattern", classes=["lefft"], n=2)
    assert err.value.hint == "did you mean left?"
    with pytest.raises(NotFound) as err:
        unsplit.synthesize(generator="pattern", classes=["55"], n=2)
    assert err.value.hint == "classes: bottom, left, top"


def test_a_cancel_during_the_fit_says_the_fit_was_stopped(unsplit, use_pattern):
    result = unsplit.synthesize(
        generator="pattern", classes=["left"], n=4, fit_steps=5, cancel=lambda: True
    )
    assert result.cancelled and result.fit_cancelled
    assert (result.checkpoint, result.fit, result.classes, result.generated) == (None, None, [], 0)
    assert [n for n in result.notes if "cancel" in n] == [
        "cancelled while fitting pattern: a stopped fit is not kept, the next run "
        "fits again from the start"
    ]
    assert not (unsplit.paths.cache / "generators" / "fits").exists()  # nothing was kept
    assert unsplit.status().origins == {"original": 36}
