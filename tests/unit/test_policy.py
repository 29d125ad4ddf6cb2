"""Policy documents: the short form, round trips, identity, validation with field paths, presets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curate.augment.policy import (
    Policy,
    PolicyInvalid,
    list_presets,
    load_policy,
    parse_policy_text,
    validate_policy_text,
)
from curate.errors import CurateError, NotFound

SHORT_FORM = """\
name: light
seed: 1
pipeline:
  - {transform: Rotate, limit: 10, p: 1.0}
  - {transform: RandomBrightnessContrast, p: 0.5}
"""


def _errors(text: str) -> list[str]:
    return [str(i) for i in validate_policy_text(text) if i.level == "error"]


def test_short_form_is_a_contract(tmp_path):
    path = tmp_path / "light.yaml"
    path.write_text(SHORT_FORM)
    policy = load_policy(path)
    assert policy.name == "light" and policy.seed == 1
    assert [s.transform for s in policy.pipeline] == ["Rotate", "RandomBrightnessContrast"]
    assert policy.pipeline[0].params == {"limit": 10, "p": 1.0}
    compose = policy.compile()
    assert [type(t).__name__ for t in compose.transforms] == [
        "Rotate",
        "RandomBrightnessContrast",
    ]
    assert compose.transforms[0].limit == (-10, 10)


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_round_trip_is_identical(tmp_path, fmt):
    policy = Policy(
        name="mix",
        description="a bit of everything",
        seed=5,
        pipeline=[
            {"transform": "Affine", "rotate": (-5, 5), "p": 0.7},
            {
                "transform": "OneOf",
                "p": 0.3,
                "transforms": [{"transform": "Blur", "blur_limit": 3}, {"transform": "GaussNoise"}],
            },
        ],
        classes={"rare": {"pipeline": [{"transform": "HorizontalFlip", "p": 1.0}]}},
    )
    path = policy.save(tmp_path / f"p.{fmt}")
    again = load_policy(path)
    assert again == policy
    assert again.hash == policy.hash
    assert again.to_yaml() == policy.to_yaml()


def test_digit_class_names_may_be_unquoted(tmp_path):
    """`classes: {5: ...}` is how a digits user writes it: the int key is the class "5"
    (was "classes[5].[key]: Input should be a valid string")."""
    unquoted = parse_policy_text(
        SHORT_FORM + "classes:\n  5:\n    pipeline:\n      - {transform: HorizontalFlip, p: 1.0}\n"
    )
    quoted = parse_policy_text(
        SHORT_FORM
        + "classes:\n  '5':\n    pipeline:\n      - {transform: HorizontalFlip, p: 1.0}\n"
    )
    assert list(unquoted.classes) == ["5"] and unquoted.pipeline_for("5")[0] == "class:5"
    assert unquoted == quoted and unquoted.hash == quoted.hash
    again = load_policy(unquoted.save(tmp_path / "p.yaml"))  # round trip: YAML quotes '5'
    assert again == unquoted and again.hash == unquoted.hash
    assert again.to_yaml() == unquoted.to_yaml()
    # the pinned hash of a policy without overrides is unchanged
    assert parse_policy_text(SHORT_FORM).hash == (
        "e0ca00161a5fe0194a88a93a92be16456e51eabeb36fb60ee24b28a1bfa55398"
    )


def test_yaml_keeps_the_short_form():
    text = parse_policy_text(SHORT_FORM).to_yaml()
    assert "- {transform: Rotate, limit: 10, p: 1.0}" in text
    assert parse_policy_text(text) == parse_policy_text(SHORT_FORM)


def test_hash_is_content_not_name():
    a = parse_policy_text(SHORT_FORM)
    renamed = parse_policy_text(SHORT_FORM.replace("name: light", "name: other"))
    reseeded = parse_policy_text(SHORT_FORM.replace("seed: 1", "seed: 2"))
    changed = parse_policy_text(SHORT_FORM.replace("limit: 10", "limit: 11"))
    assert a.hash == renamed.hash
    assert len({a.hash, reseeded.hash, changed.hash}) == 3
    # stable across processes and releases (recipes in existing workspaces name it): pinned
    assert a.hash == "e0ca00161a5fe0194a88a93a92be16456e51eabeb36fb60ee24b28a1bfa55398"
    assert len(a.hash) == 64 and a.short_hash == a.hash[:12]


def test_albumentations_serialized_form_is_accepted():
    from curate.augment.build import albumentations

    A = albumentations()
    compose = A.Compose(
        [A.Rotate(limit=15, p=1.0), A.OneOf([A.Blur(p=1.0), A.MedianBlur(p=1.0)], p=0.5)]
    )
    serialized = A.to_dict(compose)
    as_document = Policy.from_data(serialized)
    as_pipeline = Policy.from_data({"name": "x", "seed": 3, "pipeline": serialized})
    assert [s.transform for s in as_document.pipeline] == ["Rotate", "OneOf"]
    assert as_pipeline.pipeline == as_document.pipeline
    # It compiles to the same pipeline: same seed, same pixels.
    image = np.random.default_rng(0).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    ours = as_pipeline.compile(seed=9)(image=image)["image"]
    theirs = A.from_dict(serialized)
    theirs.set_random_seed(9)
    assert np.array_equal(ours, theirs(image=image)["image"])
    # and back out in albumentations' form
    assert A.from_dict(as_pipeline.to_albumentations()) is not None


def test_policy_with_boxes_in_albumentations_form_is_refused():
    from curate.augment.build import albumentations

    A = albumentations()
    serialized = A.to_dict(
        A.Compose([A.HorizontalFlip()], bbox_params=A.BboxParams(format="pascal_voc"))
    )
    assert _errors(json.dumps({"name": "x", "pipeline": serialized})) == [
        "pipeline: albumentations form: bbox_params is set, but policies are image-only"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: [x\n", "invalid YAML at line 2, column 1"),
        ("- a\n", "a policy is a mapping, got list"),
        ("name: x\npipeline: []\n", "pipeline: List should have at least 1 item"),
        (
            "name: x\nseed: one\npipeline: [{transform: Blur}]\n",
            "seed: Input should be a valid integer",
        ),
        (
            "name: x\nsed: 1\npipeline: [{transform: Blur}]\n",
            "sed: unknown field; did you mean 'seed'?",
        ),
        (
            "schema_version: 2\nname: x\npipeline: [{transform: Blur}]\n",
            "schema_version: unsupported schema_version 2",
        ),
        ("name: x\npipeline: [5]\n", "pipeline[0]: a step is a mapping"),
        ("name: x\npipeline: [{limit: 3}]\n", "pipeline[0]: a step needs a 'transform' key"),
        (
            "name: x\npipeline: [{transform: Blur}, {transform: GaussNoise, p: 1.5}]\n",
            "pipeline[1].p: Input should be less than or equal to 1",
        ),
        (
            "name: x\npipeline: [{transform: Blur, blur_limit: abc}]\n",
            "pipeline[0].blur_limit: Input should be a valid tuple",
        ),
        (
            "name: x\npipeline: [{transform: Rotate, limt: 10}]\n",
            "pipeline[0].limt: Rotate has no parameter 'limt'; did you mean 'limit'?",
        ),
        (
            "name: x\npipeline: [{transform: RandomBrightnesContrast}]\n",
            "pipeline[0].transform: unknown transform 'RandomBrightnesContrast'; "
            "did you mean RandomBrightnessContrast",
        ),
        (
            "name: x\npipeline: [{transform: gaussianblur}]\n",
            "did you mean GaussianBlur",
        ),
        (
            "name: x\npipeline: [{transform: MaskDropout}]\n",
            "pipeline[0].transform: MaskDropout needs masks, but policies augment image-only data",
        ),
        (
            "name: x\npipeline: [{transform: BBoxSafeRandomCrop}]\n",
            "pipeline[0].transform: BBoxSafeRandomCrop needs bounding boxes",
        ),
        (
            # warns "Neither valid mask nor bboxes provided" and returns its input
            "name: x\npipeline: [{transform: ConstrainedCoarseDropout}]\n",
            "pipeline[0].transform: ConstrainedCoarseDropout needs bounding boxes or masks",
        ),
        (
            "name: x\npipeline:\n  - {transform: OneOf, transforms: [{transform: Blur}, "
            "{transform: ConstrainedCoarseDropout}]}\n",
            "pipeline[0].transforms[1].transform: ConstrainedCoarseDropout needs",
        ),
        (
            # raises "Can not find mask for CropNonEmptyMaskIfExists"
            "name: x\npipeline: [{transform: CropNonEmptyMaskIfExists, height: 8, width: 8}]\n",
            "pipeline[0].transform: CropNonEmptyMaskIfExists needs masks",
        ),
        (
            "name: x\npipeline: [{transform: Rotate, limit: 30, fill: .nan, p: 1.0}]\n",
            "pipeline[0].fill: NaN and infinity are not allowed",
        ),
        (
            "name: x\npipeline: [{transform: Affine, translate_percent: {x: [0, .inf]}}]\n",
            "pipeline[0].translate_percent.x[1]: NaN and infinity are not allowed",
        ),
        (
            "name: x\npipeline: [{transform: Blur, p: .nan}]\n",
            "pipeline[0].p: NaN and infinity are not allowed",
        ),
        (
            "name: x\npipeline: [{transform: CoarseDropout3D}]\n",
            "pipeline[0].transform: CoarseDropout3D works on 3D volumes",
        ),
        (
            "name: x\npipeline:\n  - {transform: OneOf, transforms: [{transform: Blur}, {transform: Rotat}]}\n",
            "pipeline[0].transforms[1].transform: unknown transform 'Rotat'; did you mean Rotate",
        ),
        (
            "name: x\npipeline: [{transform: SomeOf, n: 1}]\n",
            "pipeline[0].transforms: SomeOf needs a non-empty list",
        ),
        (
            "name: x\npipeline: [{transform: Blur}]\nclasses: {'3': {pipeline: [{transform: Lambda}]}}\n",
            "classes.3.pipeline[0].transform: Lambda runs Python functions, which a policy "
            "document cannot hold",
        ),
        (
            "name: x\npipeline: [{transform: Compose, transforms: [{transform: Blur}]}]\n",
            "pipeline[0].transform: Compose is the policy itself",
        ),
        (
            # `pipeline:` then a step without its dash is a mapping, not albumentations' form
            "name: x\npipeline:\n  transform: Rotate\n",
            "pipeline: a list of steps, each starting with '- '",
        ),
        (
            "name: x\npipeline:\n  - {transform: Rotate, p: 0.2, limit: 10, p: 1.0}\n",
            "invalid YAML at line 3, column 44: duplicate key 'p'",
        ),
        ("name: x\nname: y\npipeline: [{transform: Blur}]\n", "duplicate key 'name'"),
        (
            "name: x\npipeline:\n  - {transform: Rotate, params: {limit: 5}, limit: 6}\n",
            "pipeline[0]: 'limit' given both in 'params' and beside it; keep one",
        ),
    ],
)
def test_bad_documents_name_the_field(text, expected):
    errors = _errors(text)
    assert errors, f"no error for {text!r}"
    assert any(e.startswith(expected) or expected in e for e in errors), errors


def test_every_error_is_reported_at_once():
    text = """\
name: x
pipeline:
  - {transform: Rotate, limt: 10}
  - 5
  - {transform: Blurr}
  - {transform: Blur, blur_limit: [7, 3]}
"""
    issues = validate_policy_text(text)
    paths = {(i.path, i.level) for i in issues}
    assert ("pipeline[0].limt", "error") in paths
    assert ("pipeline[1]", "error") in paths
    assert ("pipeline[2].transform", "error") in paths
    # albumentations adjusted (7, 3) and warned: a warning, with its path
    assert ("pipeline[3]", "warning") in paths


def test_errors_are_curate_errors_with_one_line():
    with pytest.raises(PolicyInvalid) as info:
        parse_policy_text("name: x\npipeline: [{transform: Rotat}, {transform: Blurr}]\n")
    assert isinstance(info.value, CurateError)
    assert "\n" not in info.value.message
    assert info.value.message.startswith("pipeline[0].transform: unknown transform 'Rotat'")
    assert "(and 1 more)" in info.value.message
    # Python construction raises the same error type (not a raw pydantic error)
    with pytest.raises(PolicyInvalid, match=r"pipeline\[0\]\.p: Input should be greater"):
        Policy(name="x", pipeline=[{"transform": "Blur", "p": -1}])


def test_a_valid_policy_has_no_issues():
    assert validate_policy_text(SHORT_FORM) == []


def test_a_json_nan_is_refused_before_it_becomes_null():
    """json.loads reads NaN; the policy's own JSON would write null, which does not load."""
    text = '{"name": "x", "pipeline": [{"transform": "Rotate", "fill": [0, NaN, 0]}]}'
    with pytest.raises(PolicyInvalid, match=r"^pipeline\[0\]\.fill\[1\]: NaN and infinity"):
        parse_policy_text(text, format="json")


def test_a_transform_warning_of_missing_data_is_an_error():
    """Any transform that warns it got no mask/boxes/keypoints, not only the known ones."""
    import warnings

    from curate.augment.build import albumentations

    A = albumentations()

    class KeypointsOnly(A.ImageOnlyTransform):
        def apply(self, img, **params):
            warnings.warn("No keypoints provided, nothing to do", UserWarning, stacklevel=2)
            return img

    name = f"{KeypointsOnly.__module__}.KeypointsOnly"
    errors = _errors(f"name: x\npipeline: [{{transform: {name}}}]\n")
    assert errors == [
        f"pipeline[0].transform: {name} needs keypoints, but policies augment image-only data"
    ]


@pytest.mark.parametrize("step", ["{transform: ToFloat}", "{transform: Normalize, p: 0.5}"])
def test_float_output_is_a_warning_not_an_error(step):
    """Online, a policy may end in Normalize; materializing refuses it (see try_steps)."""
    issues = validate_policy_text(f"name: x\npipeline: [{{transform: Blur}}, {step}]\n")
    assert [(i.path, i.level) for i in issues] == [("pipeline[1]", "warning")]
    assert "returns float32 images" in issues[0].message


def test_materializing_refuses_steps_that_do_not_return_uint8():
    from curate.augment.build import check_on_image

    policy = parse_policy_text(
        "name: x\npipeline:\n"
        "  - {transform: Rotate, limit: 10, p: 1.0}\n"
        "  - {transform: ToFloat}\n"
        "  - {transform: OneOf, transforms: [{transform: Blur}, {transform: Normalize}]}\n"
    )
    image = np.random.default_rng(0).integers(0, 256, (8, 8), dtype=np.uint8)
    issues = check_on_image(policy, "default", image, "8x8 images")
    assert [str(i) for i in issues] == [
        "pipeline[1]: ToFloat returns float32 images; materialized samples must be uint8 "
        "(normalize in your training code)",
        "pipeline[2].transforms[1]: Normalize returns float32 images; materialized samples "
        "must be uint8 (normalize in your training code)",
    ]


def test_a_step_that_changes_the_channel_count_is_a_warning():
    """Grey parents made RGB would turn their whole split RGB when it loads."""
    from curate.augment.build import try_steps

    policy = parse_policy_text(
        "name: x\npipeline:\n  - {transform: ToRGB, p: 1.0}\n"
        "  - {transform: ToGray, num_output_channels: 1, p: 1.0}\n"
    )
    grey = np.zeros((8, 8), np.uint8)
    issues, changes = try_steps(policy, "default", grey, "class '5' grayscale 8x8 images")
    assert issues == []
    assert changes == [
        "pipeline[0] (ToRGB) makes class '5' grayscale 8x8 images RGB: augmented samples will "
        "be stored as RGB, not grayscale like their parents; a split with any RGB sample "
        "loads all its images as RGB"
    ]
    rgb = np.zeros((8, 8, 3), np.uint8)
    _, changes = try_steps(policy, "default", rgb, "RGB 8x8 images")
    assert changes == [
        # albumentations' own warning, said once by the run (its workers stay quiet)
        "pipeline[0] (ToRGB) on RGB 8x8 images: The image is already an RGB.",
        "pipeline[1] (ToGray) makes RGB 8x8 images grayscale: augmented samples will be "
        "stored as grayscale, not RGB like their parents",
    ]


def test_duplicate_keys_are_refused_but_yaml_merges_still_override(tmp_path):
    path = tmp_path / "dup.json"
    path.write_text('{"name": "x", "pipeline": [{"transform": "Blur", "p": 0.1, "p": 1.0}]}')
    with pytest.raises(PolicyInvalid, match="invalid JSON: duplicate key 'p'"):
        load_policy(path)
    merged = parse_policy_text(
        "name: x\npipeline:\n  - &blur {transform: Blur, p: 0.5}\n  - {<<: *blur, p: 1.0}\n"
    )
    assert merged.pipeline[1].params == {"p": 1.0}


def test_albumentations_replay_compose_form_is_accepted(tmp_path):
    from curate.augment.build import albumentations

    A = albumentations()
    path = tmp_path / "replay.json"
    A.save(A.ReplayCompose([A.HorizontalFlip(p=0.5)]), str(path))
    policy = load_policy(path)
    assert [s.transform for s in policy.pipeline] == ["HorizontalFlip"]


def test_a_folder_is_not_a_policy_file(tmp_path):
    folder = tmp_path / "light.yaml"
    folder.mkdir()
    with pytest.raises(CurateError, match="is a folder, not a YAML/JSON file"):
        load_policy(folder)


def test_missing_file_and_unknown_preset(tmp_path):
    with pytest.raises(NotFound, match="no policy file"):
        load_policy(tmp_path / "nope.yaml")
    with pytest.raises(NotFound, match="no policy file or preset named 'ligth'") as info:
        load_policy("ligth")
    assert "did you mean light" in (info.value.hint or "")


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("!!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(PolicyInvalid, match="invalid YAML"):
        load_policy(path)


PRESETS = ["heavy", "light", "medium", "randaugment", "trivialaugment"]


def test_presets_are_registered_through_entry_points():
    from curate.plugins.registry import list_plugins

    names = [p.name for p in list_plugins("curate.policies")]
    assert set(PRESETS) <= set(names)
    assert [p.name for p in list_presets()] == names


def test_third_party_presets_use_the_same_mechanism(monkeypatch):
    """A preset is any entry point naming a callable that returns a Policy, mapping or YAML."""
    from importlib.metadata import EntryPoint

    import curate.plugins.registry as registry

    fake = EntryPoint(
        name="mine", value="tests.unit.test_policy:third_party_preset", group="curate.policies"
    )
    real = registry._entry_points

    monkeypatch.setattr(
        registry,
        "_entry_points",
        lambda group: real(group) + ([fake] if group == "curate.policies" else []),
    )
    policy = load_policy("mine")
    assert policy.name == "mine" and policy.pipeline[0].transform == "VerticalFlip"


def third_party_preset() -> str:
    return "name: mine\npipeline: [{transform: VerticalFlip, p: 1.0}]\n"


def test_public_names_do_not_import_albumentations():
    import subprocess
    import sys

    code = (
        "import sys, curate\n"
        "curate.Policy, curate.load_policy\n"
        "import curate.augment\n"
        "curate.augment.validate_policy_text, curate.augment.preview_grid\n"
        "print(sorted(m for m in ('albumentations', 'torch', 'cv2') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_policy_is_picklable_and_hashable():
    import pickle

    policy = parse_policy_text(SHORT_FORM)
    policy(np.zeros((8, 8), np.uint8))  # builds the online pipeline
    policy.set_epoch(3)
    again = pickle.loads(pickle.dumps(policy))
    assert again == policy and hash(again) == hash(policy)
    # the epoch travels (spawned DataLoader workers), the compiled pipeline does not
    assert again._online.epoch == 3 and again._online.policy is again
    assert again._online._composes == {}
