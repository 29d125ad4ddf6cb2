"""The generator in a Ray actor (the GPU-host path), on a local Ray instance.

Starting Ray and a worker that imports torch takes about a minute on a
2-core machine, so this runs only when asked: ``CURATE_TEST_RAY=1 pytest
tests/engines/test_synth_remote.py``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("CURATE_TEST_RAY") != "1",
        reason="starts a Ray instance (about a minute); set CURATE_TEST_RAY=1",
    ),
]
ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_a_ray_actor_fits_and_samples_like_the_local_runner(tmp_path, local_ray):
    import torch
    from curate_generators.testing import TINY_PARAMS

    from curate.api import Workspace

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    src = tmp_path / "data"
    for label, n in (("top", 10), ("left", 4)):
        (src / label).mkdir(parents=True)
        for i in range(n):
            img = rng.integers(0, 60, size=(8, 8), dtype=np.uint8)
            img[:3] = 230 if label == "top" else img[:3]
            if label == "left":
                img[:, :3] = 230
            Image.fromarray(img).save(src / label / f"{i}.png")
    ask = {
        "generator": "gan",
        "classes": ["left"],
        "n": 5,
        "fit_steps": 3,
        "device": "cpu",
        "params": TINY_PARAMS["gan"],
    }
    with Workspace.init(tmp_path / "remote") as ws:
        ws.ingest(src)
        remote = ws.synthesize(**ask, ray_address="local", remote_gpus=0)
        assert remote.where == "ray" and remote.device == "cpu"
        assert remote.generated == 5 == remote.admitted + remote.rejected
        # the checkpoint came back as bytes and is stored here, by content
        assert (ws.paths.cache / "generators" / remote.checkpoint / "config.json").exists()
    with Workspace.init(tmp_path / "local") as ws:
        ws.ingest(src)
        local = ws.synthesize(**ask)
    # same seed, same data, same CPU maths: the same checkpoint and the same verdicts
    assert local.checkpoint == remote.checkpoint
    assert local.classes[0].reasons == remote.classes[0].reasons
