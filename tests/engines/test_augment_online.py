"""Online augmentation: a policy inside DataLoader workers, reproducible per seed and worker count."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from curate.augment.policy import Policy

POLICY = {
    "name": "online",
    "seed": 3,
    "pipeline": [
        {"transform": "Affine", "rotate": [-20, 20], "translate_percent": [-0.1, 0.1], "p": 1.0},
        {"transform": "RandomBrightnessContrast", "p": 0.8},
    ],
}


class ImagesDataset(Dataset):
    """Follows the dataset contract of `version.to_torch`: seed_worker once per process."""

    def __init__(self, images: np.ndarray, transform) -> None:
        self.images = images
        self.transform = transform
        self._seeded = False

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        if not self._seeded:
            info = torch.utils.data.get_worker_info()
            worker = (0, 1) if info is None else (info.id, info.num_workers)
            self.transform.seed_worker(*worker)
            self._seeded = True
        return torch.from_numpy(np.ascontiguousarray(self.transform(self.images[index])))


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (16, 24, 24, 3), dtype=np.uint8)


def _epoch(images, transform, workers: int) -> np.ndarray:
    loader = DataLoader(ImagesDataset(images, transform), batch_size=4, num_workers=workers)
    return torch.cat(list(loader)).numpy()


def test_dataloader_workers_are_reproducible(images):
    policy = Policy(**POLICY)
    first = _epoch(images, policy, workers=2)
    second = _epoch(images, Policy(**POLICY), workers=2)
    assert first.shape == images.shape
    assert np.array_equal(first, second)
    assert not np.array_equal(first, images)
    # Workers draw different streams: batch 0 (worker 0) and batch 1 (worker 1)
    # of identical inputs differ.
    same = np.repeat(images[:1], 8, axis=0)
    out = _epoch(same, Policy(**POLICY), workers=2)
    assert not np.array_equal(out[:4], out[4:8])


def test_seed_and_worker_count_change_the_stream(images):
    two = _epoch(images, Policy(**POLICY), workers=2)
    other_seed = _epoch(images, Policy(**{**POLICY, "seed": 4}), workers=2)
    main_process = _epoch(images, Policy(**POLICY), workers=0)
    assert not np.array_equal(two, other_seed)
    assert not np.array_equal(two, main_process)
    assert np.array_equal(main_process, _epoch(images, Policy(**POLICY), workers=0))


def test_set_epoch_gives_new_but_reproducible_augmentations(images):
    policy = Policy(**POLICY)
    epoch0 = _epoch(images, policy, workers=2)
    policy.set_epoch(1)
    epoch1 = _epoch(images, policy, workers=2)
    assert not np.array_equal(epoch0, epoch1)
    replay = Policy(**POLICY)
    replay.set_epoch(1)
    assert np.array_equal(epoch1, _epoch(images, replay, workers=2))


def test_as_transform_with_its_own_seed_and_class_pipeline():
    policy = Policy(
        **{**POLICY, "classes": {"flip": {"pipeline": [{"transform": "HorizontalFlip", "p": 1.0}]}}}
    )
    image = np.arange(5 * 7, dtype=np.uint8).reshape(5, 7)
    flip = policy.as_transform(class_name="flip")
    flip.seed_worker(0, 1)
    assert np.array_equal(flip(image), image[:, ::-1])
    a, b = policy.as_transform(seed=10), policy.as_transform(seed=10)
    a.seed_worker(1, 2)
    b.seed_worker(1, 2)
    assert np.array_equal(a(image), b(image))
    with pytest.raises(Exception, match="uint8"):
        a(image.astype(np.float32))


def test_through_version_to_torch(tmp_path):
    """The real consumer: a committed version's train split with the policy as transform."""
    from curate.api import Workspace
    from tests.engines.test_augment import make_folder

    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest(make_folder(tmp_path / "data", channels=3, size=16))
        ws.commit("v1")
        policy = Policy(**POLICY)
        dataset = ws.version("HEAD").to_torch("train", transform=policy)

        def run() -> list[np.ndarray]:
            loader = DataLoader(dataset, batch_size=3, num_workers=2, collate_fn=list)
            return [np.asarray(img) for batch in loader for img, _ in batch]

        first, second = run(), run()
        assert len(first) == len(dataset) == 18
        assert all(x.shape == (16, 16, 3) and x.dtype == np.uint8 for x in first)
        assert all(np.array_equal(x, y) for x, y in zip(first, second, strict=True))
        raw = [dataset.image(i) for i in range(len(dataset))]
        assert any(not np.array_equal(x, r) for x, r in zip(first, raw, strict=True))


def _version_epoch(dataset, policy, epoch: int, context: str) -> np.ndarray:
    loader = DataLoader(dataset, batch_size=6, num_workers=2, multiprocessing_context=context)
    policy.set_epoch(epoch)
    return torch.cat([images for images, _ in loader]).numpy()


def test_set_epoch_reaches_spawned_workers(tmp_path):
    """Spawn (the default on macOS and Windows) pickles the policy into each worker: the
    epoch must travel with it (each worker used to start at epoch 0). One spawned epoch
    only: starting spawned workers costs seconds."""
    from curate.api import Workspace
    from tests.engines.test_augment import make_folder

    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest(make_folder(tmp_path / "data", size=10))
        ws.commit("v1")
        policy = Policy(**POLICY)
        dataset = ws.version("HEAD").to_torch("train", transform=policy)
        forked = [_version_epoch(dataset, policy, epoch, "fork") for epoch in (0, 1)]
        spawned = _version_epoch(dataset, policy, 1, "spawn")
    assert not np.array_equal(forked[0], forked[1])
    assert np.array_equal(spawned, forked[1])


def test_a_normalizing_policy_is_for_online_use_only(tmp_path):
    """Float output is what a model wants online; stored samples are 8-bit images, so
    run and preview refuse it before writing (they used to store black or wrapped pixels)."""
    from curate.api import Workspace
    from curate.augment.policy import PolicyInvalid
    from tests.engines.test_augment import make_folder

    policy = Policy(
        name="normalized",
        pipeline=[
            {"transform": "Rotate", "limit": 10, "p": 1.0},
            {"transform": "Normalize", "mean": 0.5, "std": 0.25, "p": 1.0},
        ],
    )
    assert [(i.path, i.level) for i in policy.warnings] == [("pipeline[1]", "warning")]
    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest(make_folder(tmp_path / "data", size=10))
        ws.commit("v1")
        dataset = ws.version("HEAD").to_torch("train", transform=policy)
        image, _ = dataset[0]
        assert image.dtype == np.float32 and image.shape == (10, 10, 1) and image.min() < 0
        refused = r"pipeline\[1\]: Normalize returns float32 images; materialized samples"
        with pytest.raises(PolicyInvalid, match=refused):
            ws.augment(policy, target_per_class=12, workers=1)
        with pytest.raises(PolicyInvalid, match=refused):
            ws.augment_preview(policy, n=2)
        assert ws.samples(origins=["augmented"]).num_rows == 0


OVERRIDE = {
    "name": "override",
    "pipeline": [{"transform": "InvertImg", "p": 1.0}],
    "classes": {"b": {"pipeline": [{"transform": "VerticalFlip", "p": 1.0}]}},
}


def test_a_policy_called_directly_takes_the_class():
    policy = Policy(**OVERRIDE)
    image = np.arange(5 * 7, dtype=np.uint8).reshape(5, 7)
    assert np.array_equal(policy(image), 255 - image)  # no class: the default pipeline
    assert np.array_equal(policy(image, class_name="b"), image[::-1])
    assert np.array_equal(policy(image, class_name="a"), 255 - image)  # no override
    pinned = policy.as_transform(class_name="b")
    assert not pinned.supports_class_name and policy.as_transform().supports_class_name
    assert np.array_equal(pinned(image, class_name="b"), image[::-1])
    with pytest.raises(Exception, match="pinned to class 'b'"):
        pinned(image, class_name="a")


def test_to_torch_applies_each_class_its_pipeline(tmp_path):
    """A class with an override gets it online, as when materializing (the dataset used
    to call the policy without the class, so every class got the default pipeline)."""
    from curate.api import Workspace
    from tests.engines.test_augment import make_folder

    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest(make_folder(tmp_path / "data", size=10))
        ws.commit("v1")
        dataset = ws.version("v1").to_torch("train", transform=Policy(**OVERRIDE))
        loader = DataLoader(dataset, batch_size=4, num_workers=2, collate_fn=list)
        items = [item for batch in loader for item in batch]
        seen = set()
        for index, (image, label) in enumerate(items):
            raw, name = dataset.image(index), dataset.classes[label]
            expected = raw[::-1] if name == "b" else 255 - raw
            assert np.array_equal(image, expected), name
            seen.add(name)
        assert seen == {"a", "b", "c"}
        # A plain callable still gets the image alone.
        plain = ws.version("v1").to_torch("train", transform=lambda image: image.shape)
        assert plain[0] == ((10, 10, 1), 0)


def test_class_pipelines_online_are_reproducible_per_seed_and_workers(tmp_path):
    """The docs example's pattern: a random default and a random override for one class,
    in a DataLoader with two workers; same seed and worker count, same batches."""
    from curate.api import Workspace
    from tests.engines.test_augment import make_folder

    doc = {
        **POLICY,
        "classes": {
            "b": {"pipeline": [{"transform": "Affine", "rotate": [-20, 20], "shear": [-8, 8]}]}
        },
    }
    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest(make_folder(tmp_path / "data", size=12))
        ws.commit("v1")
        version = ws.version("v1")
        policy = Policy(**doc)
        dataset = version.to_torch("train", transform=policy)

        def run(dataset) -> list[np.ndarray]:
            loader = DataLoader(dataset, batch_size=4, num_workers=2, collate_fn=list)
            return [np.asarray(image) for batch in loader for image, _ in batch]

        first = run(dataset)
        again = run(version.to_torch("train", transform=Policy(**doc)))
        assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))
        raw = [dataset.image(i) for i in range(len(dataset))]
        assert any(not np.array_equal(x, r) for x, r in zip(first, raw, strict=True))
        # The override's pixels differ from what the default pipeline would give.
        default_only = run(version.to_torch("train", transform=Policy(**POLICY)))
        labels = [dataset.classes[label] for label in dataset.labels]
        b_items = [i for i, name in enumerate(labels) if name == "b"]
        other = [i for i, name in enumerate(labels) if name != "b"]
        assert b_items and other
        assert all(not np.array_equal(first[i], default_only[i]) for i in b_items)
        # set_epoch still moves every stream, and an epoch replays.
        policy.set_epoch(1)
        epoch1 = run(dataset)
        assert any(not np.array_equal(x, y) for x, y in zip(first, epoch1, strict=True))
        replay = Policy(**doc)
        replay.set_epoch(1)
        epoch1_again = run(version.to_torch("train", transform=replay))
        assert all(np.array_equal(x, y) for x, y in zip(epoch1, epoch1_again, strict=True))
