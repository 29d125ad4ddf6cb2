"""CUDA-only checks of the built-in generators' GPU paths (skipped without a GPU).

CI has no GPU; these run on the device machine (`python -m pytest
tests/unit/test_generators_cuda.py`). The CPU paths are covered by the
generator contract tests.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _data():
    from curate.plugins.generators import TrainingSet

    rng = np.random.default_rng(0)
    return TrainingSet(
        images=rng.integers(0, 256, size=(64, 32, 32, 1), dtype=np.uint8),
        labels=rng.integers(0, 4, size=64),
        class_names=tuple("abcd"),
    )


def test_compiled_gan_sampling_hands_over_each_batchs_own_images():
    """The compiled sampler's output buffer is reused by the next replay, and
    batch i is copied to the host while batch i+1 runs: each batch must be
    exactly what the compiled graph makes from that batch's noise, copied at
    once (not the next batch's images)."""
    from curate_generators import _torch as T
    from curate_generators.gan import GANGenerator, GANParams

    from curate.plugins.generators import derive_seed

    fitted = GANGenerator(GANParams(width=8, batch_size=32), device="cuda")
    fitted.fit(_data(), steps=2, seed=0)
    bs = 1024
    params = GANParams(width=8, batch_size=32, sample_batch_size=bs, compile=True)
    sampler = GANGenerator.from_checkpoint(fitted.to_checkpoint(), params, device="cuda")
    batches = list(sampler.sample("b", 3 * bs - 100, seed=5))
    assert [b.offset for b in batches] == [0, bs, 2 * bs]
    assert [len(b.images) for b in batches] == [bs, bs, bs - 100]
    for i in range(2):
        assert not np.array_equal(batches[i].images[:100], batches[i + 1].images[:100])
    dev = torch.device("cuda")
    with torch.no_grad():
        for b in batches:
            gen = T.torch_generator(dev, derive_seed("gan-sample", 5, b.offset))
            z = torch.randn(bs, params.latent_dim, device=dev, generator=gen)
            y = torch.full((bs,), 1, device=dev, dtype=torch.long)
            alone = sampler._compiled(z, y)[: len(b.images)].cpu().numpy()
            assert np.array_equal(alone, b.images), b.offset


def test_compiled_gan_training_matches_eager_at_the_start():
    """The compiled training step (one D pass on real+fake, frozen D for G's
    step) computes the same losses as the eager one for its first steps."""
    from curate_generators.gan import GANGenerator, GANParams

    losses = {}
    for compiled in (False, True):
        gan = GANGenerator(GANParams(width=8, batch_size=64, compile=compiled), device="cuda")
        losses[compiled] = gan.fit(_data(), steps=3, seed=0).final_loss
    assert losses[True] == pytest.approx(losses[False], rel=0.05)
