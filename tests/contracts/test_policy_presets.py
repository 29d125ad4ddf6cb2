"""Every policy preset registered in `curate.policies` (curate's own and any installed) keeps the contract."""

from __future__ import annotations

import numpy as np
import pytest

from curate.augment.policy import Policy, list_presets, load_preset, parse_policy_text

PRESETS = [p.name for p in list_presets()]


def test_curate_ships_its_presets_through_the_entry_point_group():
    assert {"light", "medium", "heavy", "randaugment", "trivialaugment"} <= set(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_contract(name):
    policy = load_preset(name)
    assert isinstance(policy, Policy)
    assert policy.name and policy.warnings == []
    # round trip through YAML keeps the policy and its hash
    again = parse_policy_text(policy.to_yaml())
    assert again == policy and again.hash == policy.hash
    # it applies to grayscale and RGB images of small and usual sizes, keeping dtype
    from curate.augment.build import check_on_image

    rng = np.random.default_rng(0)
    for shape in ((8, 8), (8, 8, 3), (64, 48, 3), (64, 48)):
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        assert check_on_image(policy, "default", image, f"{shape} image") == []
        out = policy.compile(seed=1)(image=image)["image"]
        assert out.dtype == np.uint8 and out.ndim == image.ndim
    # the online transform is reproducible for a seed and worker
    a, b = policy.as_transform(seed=3), policy.as_transform(seed=3)
    a.seed_worker(1, 2)
    b.seed_worker(1, 2)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert all(np.array_equal(a(image), b(image)) for _ in range(5))
