"""`curate synth` and `curate generators`: JSON contract, errors, help."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from curate.cli import cli

torch = pytest.importorskip("torch")


@pytest.fixture
def ws_dir(tmp_path):
    from curate.api import Workspace

    rng = np.random.default_rng(0)
    src = tmp_path / "data"
    for label, n in (("top", 12), ("left", 4)):
        (src / label).mkdir(parents=True)
        for i in range(n):
            img = rng.integers(0, 60, size=(8, 8), dtype=np.uint8)
            if label == "top":
                img[:3] = 230
            else:
                img[:, :3] = 230
            Image.fromarray(img).save(src / label / f"{i}.png")
    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest(src)
    torch.set_num_threads(1)
    return tmp_path / "ws"


def run(args, ws_dir=None):
    base = ["--workspace", str(ws_dir)] if ws_dir else []
    return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)


def test_synth_json_counts_add_up_and_follow_the_plan(ws_dir):
    result = run(
        [
            "synth",
            "--generator",
            "gan",
            "--fit-steps",
            "4",
            "--device",
            "cpu",
            "-p",
            "width=8",
            "-p",
            "latent_dim=8",
            "-p",
            "batch_size=16",
            "--no-progress",
            "--json",
        ],
        ws_dir,
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    # the plan: "left" needs 12 - 4 = 8
    assert [(c["class_name"], c["requested"]) for c in doc["classes"]] == [("left", 8)]
    assert doc["generated"] == 8 == doc["admitted"] + doc["rejected"]
    assert sum(doc["rejected_reasons"].values()) == doc["rejected"]
    assert len(doc["admitted_sids"]) == doc["admitted"]
    assert doc["fit"]["steps"] == 4 and len(doc["checkpoint"]) == 64


def test_synth_human_output_lists_classes_and_the_gate(ws_dir):
    result = run(
        [
            "synth",
            "-g",
            "gan",
            "--classes",
            "left",
            "--n",
            "3",
            "--fit-steps",
            "2",
            "--device",
            "cpu",
            "-p",
            "width=8",
            "--no-progress",
        ],
        ws_dir,
    )
    assert result.exit_code == 0, result.output
    assert "admitted" in result.stdout and "left" in result.stdout
    assert "near-duplicate distance" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["synth", "-g", "nope"], "no generator plugin named 'nope'"),
        (["synth", "-g", "gan", "-p", "width"], "expected KEY=VALUE"),
        (["synth", "-g", "gan", "-p", "wdth=3"], "gan.wdth: Extra inputs are not permitted"),
        (["synth", "-g", "gan", "--classes", "cat", "--n", "2"], "no class named 'cat'"),
        (["synth", "-g", "gan", "--device", "tpu", "--n", "1", "--classes", "left"], "device"),
    ],
)
def test_bad_input_is_one_line_and_nothing_is_added(ws_dir, args, message):
    result = run(args, ws_dir)
    assert result.exit_code != 0
    assert message in result.stderr
    assert "Traceback" not in result.output
    from curate.api import Workspace

    with Workspace.open(ws_dir) as ws:
        assert ws.status().origins == {"original": 16}


def test_generators_lists_flags_and_options_as_json():
    result = run(["generators", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert {"ddpm", "gan", "pipeline"} <= set(rows)
    assert rows["ddpm"]["supports_class_conditional"] is True
    assert rows["pipeline"]["needs_fit"] is False
    stages = {p["name"]: p["stage"] for p in rows["ddpm"]["params"]}
    assert stages["sampler"] == "sample" and stages["channels"] == "fit"


def test_synth_help_explains_the_gate():
    result = run(["synth", "--help"])
    assert result.exit_code == 0
    assert "quality gate" in result.output and "--ray-address" in result.output


def test_first_ctrl_c_asks_to_stop_and_the_second_aborts():
    import os
    import signal

    from curate.cli.render import cancel_on_interrupt

    with cancel_on_interrupt() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.is_set()  # the engine polls this between batches
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_unknown_class_is_not_found_exit_1_with_close_names(ws_dir):
    result = run(["synth", "-g", "gan", "--classes", "lefft", "--n", "2"], ws_dir)
    assert result.exit_code == 1
    assert "no class named 'lefft'" in result.stderr and "did you mean left?" in result.stderr
    assert "Traceback" not in result.output


def test_ctrl_c_during_the_fit_says_the_fit_stopped_once(ws_dir, monkeypatch):
    import contextlib
    import threading

    import curate.cli.synth as synth

    @contextlib.contextmanager
    def pressed():  # Ctrl-C was pressed before the first fitting step
        stop = threading.Event()
        stop.set()
        yield stop

    monkeypatch.setattr(synth, "cancel_on_interrupt", pressed)
    args = ["synth", "-g", "gan", "--classes", "left", "--n", "3", "--fit-steps", "50"]
    result = run([*args, "--device", "cpu", "-p", "width=8", "--no-progress"], ws_dir)
    assert result.exit_code == 130, result.output
    assert "gan on cpu (local): the fit was stopped before it finished" in result.stdout
    assert "no fitting needed" not in result.stdout and "checkpoint" not in result.stdout
    assert "admitted, 0 rejected" not in result.stdout  # no empty table
    assert result.stdout.lower().count("cancel") == 1
    assert "the next run fits again" in " ".join(result.stdout.split())  # rich wraps lines
