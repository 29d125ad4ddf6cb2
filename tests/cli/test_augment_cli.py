"""`curate augment ...`: the short-form contract, --json, --workspace, bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from curate.cli import cli
from tests.engines.test_augment import make_folder

SHORT_FORM = """\
name: light
seed: 1
pipeline:
  - {transform: Rotate, limit: 10, p: 1.0}
  - {transform: RandomBrightnessContrast, p: 0.5}
"""


def curate(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "curate", *args], cwd=cwd, capture_output=True, text=True
    )


@pytest.fixture
def ws_dir(tmp_path: Path) -> Path:
    from curate.api import Workspace

    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest(make_folder(tmp_path / "data"))
    return tmp_path / "ws"


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "light.yaml"
    path.write_text(SHORT_FORM)
    return path


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_short_form_contract_end_to_end(ws_dir, policy_file, tmp_path):
    """The issue's contract, as a user runs it: a real process, from inside and with -w."""
    grid = tmp_path / "grid.png"
    r = curate("augment", "preview", "--policy", str(policy_file), "--out", str(grid), cwd=ws_dir)
    assert r.returncode == 0, r.stderr
    with Image.open(grid) as img:
        assert img.width > 100 and img.height > 50
    r = curate(
        "augment",
        "run",
        "--policy",
        str(policy_file),
        "--balance",
        "--workspace",
        str(ws_dir),
        "--json",
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)  # one JSON document on stdout
    assert report["added"] == 18 and report["counts_from"] == "train"
    assert {c["name"]: c["added"] for c in report["classes"]} == {"a": 0, "b": 8, "c": 10}


def test_albumentations_warnings_are_said_once_not_raw(ws_dir, tmp_path):
    """ToGray on grey parents: albumentations warns "already gray" on every image. A run says
    it once as its own warning line; neither run nor preview prints raw Python warnings."""
    policy = tmp_path / "grey.yaml"
    policy.write_text("name: grey\npipeline:\n  - {transform: ToGray, p: 1.0}\n")
    grid = tmp_path / "grid.png"
    r = curate("augment", "preview", "--policy", str(policy), "--out", str(grid), cwd=ws_dir)
    assert r.returncode == 0 and "Warning" not in r.stderr, r.stderr
    r = curate("augment", "run", "--policy", str(policy), "--workers", "2", cwd=ws_dir)
    assert r.returncode == 0, r.stderr
    assert "Warning" not in r.stderr and "site-packages" not in r.stderr, r.stderr
    said = [line for line in r.stderr.splitlines() if "already gray" in line]
    assert said == [
        "warning: pipeline[0] (ToGray) on class 'b' grayscale 12x12 images: "
        "The image is already gray."
    ]


def test_run_table_replay_and_idempotence(ws_dir, policy_file):
    r = invoke(
        "-w", str(ws_dir), "augment", "run", "--policy", str(policy_file), "--target-per-class", "6"
    )
    assert r.exit_code == 0, r.output
    assert "Added 6 augmented samples" in r.stdout
    r = invoke(
        "augment",
        "run",
        "-w",
        str(ws_dir),
        "--policy",
        str(policy_file),
        "--target-per-class",
        "6",
        "--json",
    )
    assert json.loads(r.stdout)["added"] == 0
    # The text form says there was nothing to do (not "0 images/s").
    r = invoke(
        "-w", str(ws_dir), "augment", "run", "--policy", str(policy_file), "--target-per-class", "6"
    )
    assert r.exit_code == 0, r.output
    assert "Nothing to generate: every class already has its target." in r.stdout
    assert "Added" not in r.stdout
    from curate.api import Workspace

    with Workspace.open(ws_dir) as ws:
        row = ws.samples(origins=["augmented"]).slice(0, 1).to_pylist()[0]
    sid, sample_id = row["sid"], row["sample_id"]
    r = invoke("augment", "replay", str(sid), "-w", str(ws_dir), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["identical"] is True
    # Named like every other command's SAMPLE: a full id or a unique prefix.
    for ref in (sample_id, sample_id[:10]):
        r = invoke("augment", "replay", ref, "-w", str(ws_dir), "--json")
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["sid"] == sid


def test_replay_exit_codes_tell_a_difference_from_a_lookup(ws_dir, policy_file, monkeypatch):
    """3: the rebuilt bytes differ; 1: no such sample (a script must tell them apart)."""
    r = invoke("augment", "run", "-w", str(ws_dir), "--policy", str(policy_file), "--copies", "1")
    assert r.exit_code == 0, r.output
    from curate.api import Workspace

    with Workspace.open(ws_dir) as ws:
        sid = ws.samples(origins=["augmented"]).column("sid")[0].as_py()
    r = CliRunner().invoke(cli, ["augment", "replay", "sid:999999", "-w", str(ws_dir)])
    assert r.exit_code == 1 and "error:" in r.output
    # What an albumentations or Pillow upgrade does to a replay: other bytes.
    import curate.augment.engine as engine

    real = engine.replay_recipe
    monkeypatch.setattr(engine, "replay_recipe", lambda *a: real(*a) + b"\0")
    r = invoke("augment", "replay", str(sid), "-w", str(ws_dir), "--json")
    assert r.exit_code == 3 and json.loads(r.stdout)["identical"] is False


def test_dry_run_stores_nothing(ws_dir):
    before = json.loads(invoke("-w", str(ws_dir), "status", "--json").stdout)
    r = invoke("augment", "run", "-w", str(ws_dir), "--policy", "light", "--dry-run", "--json")
    report = json.loads(r.stdout)
    assert report["dry_run"] and report["needed"] == 18 and report["added"] == 0
    r = invoke("augment", "run", "-w", str(ws_dir), "--policy", "light", "--dry-run")
    assert r.exit_code == 0, r.output
    assert "needed" in r.stdout and "duplicates" not in r.stdout  # nothing was made
    assert "Dry run: 18 samples would be generated; nothing stored." in r.stdout
    after = json.loads(invoke("-w", str(ws_dir), "status", "--json").stdout)
    assert after["origins"] == before["origins"] and "augmented" not in after["origins"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "ligth"], "no policy file or preset named 'ligth'"),
        (["--policy", "missing.yaml"], "no policy file missing.yaml"),
        (["--policy", "light", "--target-per-class", "1"], "target_per_class: 1 is below"),
        (["--policy", "light", "--class", "zz"], "no class named 'zz'"),
        (
            ["--policy", "BAD"],
            "pipeline[0].transform: unknown transform 'Rotat'; did you mean Rotate",
        ),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(ws_dir, tmp_path, args, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\npipeline: [{transform: Rotat}]\n")
    args = [str(bad) if a == "BAD" else a for a in args]
    before = json.loads(invoke("-w", str(ws_dir), "status", "--json").stdout)
    r = invoke("-w", str(ws_dir), "augment", "run", *args)
    assert r.exit_code != 0
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], r.stderr
    assert "Traceback" not in r.output
    after = json.loads(invoke("-w", str(ws_dir), "status", "--json").stdout)
    assert {k: after[k] for k in ("samples", "origins", "classes")} == {
        k: before[k] for k in ("samples", "origins", "classes")
    }


def test_validate_lists_every_issue(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\npipeline:\n  - {transform: Blur, p: 2}\n  - {transform: Rotate, limt: 3}\n"
    )
    r = invoke("augment", "validate", str(bad), "--json")
    assert r.exit_code == 2
    issues = json.loads(r.stdout)["issues"]
    assert [i["path"] for i in issues] == ["pipeline[0].p", "pipeline[1].limt"]
    r = invoke("augment", "validate", str(bad))
    assert "error: pipeline[0].p: Input should be less than or equal to 1" in r.stderr
    good = tmp_path / "good.yaml"
    good.write_text(SHORT_FORM)
    r = invoke("augment", "validate", str(good), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["valid"] is True


def test_presets_and_show(tmp_path):
    r = invoke("augment", "presets", "--json")
    names = [p["name"] for p in json.loads(r.stdout)]
    assert {"light", "medium", "heavy", "randaugment", "trivialaugment"} <= set(names)
    r = invoke("augment", "show", "light")
    copy = tmp_path / "mine.yaml"
    copy.write_text(r.stdout)  # a preset printed as YAML is a valid policy file
    from curate.augment.policy import load_policy

    assert load_policy(copy) == load_policy("light")
    r = invoke("augment", "show", "light", "--format", "albumentations")
    assert json.loads(r.stdout)["transform"]["__class_fullname__"] == "Compose"


def test_augment_help_is_light():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from curate.cli import cli\n"
        "r = CliRunner().invoke(cli, ['augment', 'run', '--help'])\n"
        "assert r.exit_code == 0 and 'balancing' in r.output.lower() or 'balance' in r.output\n"
        "print(sorted(m for m in ('albumentations', 'torch', 'cv2') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_ctrl_c_keeps_finished_samples_and_a_rerun_completes(tmp_path):
    """A real Ctrl-C (SIGINT to the process group) in the middle of a 2-worker run."""
    import os
    import signal
    import time

    from curate.api import Workspace
    from tests.conftest import SAMPLE_DIGITS

    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest(SAMPLE_DIGITS)
    packs = tmp_path / "ws" / ".curate" / "objects" / "packs"
    ingested = set(packs.glob("*.pack"))
    args = ["augment", "run", "-w", str(tmp_path / "ws"), "--policy", "heavy"]
    # Enough work (8 x 1437) that the run is still busy after its first group of
    # samples (2048) is stored, however loaded the machine is.
    args += ["--no-balance", "--copies", "8", "--workers", "2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "curate", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    deadline = time.monotonic() + 180
    while not set(packs.glob("*.pack")) - ingested and time.monotonic() < deadline:
        time.sleep(0.05)  # Ctrl-C once finished work is being stored, not at a fixed time
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    # The first Ctrl-C stops the run after the batch in hand and says what it kept.
    assert "stopping after the current batch" in stderr
    said = re.search(
        r"cancelled: the (\d+) augmented samples made before the stop are kept", stderr
    )
    assert said is not None, stderr
    assert "Traceback" not in stderr

    total = 8 * 1437
    with Workspace.open(tmp_path / "ws") as ws:
        kept = ws.samples(origins=["augmented"])
        assert 0 < kept.num_rows < total
        assert kept.num_rows == int(said.group(1))
        for sid in kept.column("sid").to_pylist()[:: max(1, kept.num_rows // 5)]:
            assert ws.verify_replay(sid).identical
    r = invoke("augment", "run", *args[2:], "--json")
    report = json.loads(r.stdout)
    assert report["added"] == total - kept.num_rows  # duplicates drawn are replaced
    with Workspace.open(tmp_path / "ws") as ws:
        assert ws.samples(origins=["augmented"]).num_rows == total


def test_preview_writes_the_format_its_extension_names(ws_dir, tmp_path):
    for name, fmt in (("grid.jpg", "JPEG"), ("grid.webp", "WEBP"), ("grid", "PNG")):
        out = tmp_path / name
        r = invoke(
            "-w", str(ws_dir), "augment", "preview", "-p", "light", "-n", "2", "-o", str(out)
        )
        assert r.exit_code == 0, r.output
        with Image.open(out) as img:
            assert img.format == fmt
    text = tmp_path / "grid.txt"
    r = invoke("-w", str(ws_dir), "augment", "preview", "-p", "light", "-o", str(text))
    assert r.exit_code != 0
    assert r.stderr.splitlines()[0].startswith("error: cannot write an image as '.txt'")
    assert not text.exists()


def test_augmenting_before_splitting_warns_and_split_says_why(tmp_path, policy_file):
    """Augmenting an unsplit workspace pins the parents to train: both commands say so."""
    from curate.api import Workspace

    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest(make_folder(tmp_path / "data", splits=False))
    w = str(tmp_path / "ws")
    r = curate("-w", w, "augment", "run", "--policy", str(policy_file), "--balance", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["warnings"] == [r.stderr.split("warning: ", 1)[1].strip()]
    assert "split first" in r.stderr
    r = curate("-w", w, "split", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "got no sample outside train" in r.stderr
    # A split made first: no warning from either.
    with Workspace.init(tmp_path / "ws2") as ws:
        ws.ingest(make_folder(tmp_path / "data2", splits=False))
        ws.split()
        ws.commit("split")
    w = str(tmp_path / "ws2")
    r = curate("-w", w, "augment", "run", "--policy", str(policy_file), "--balance")
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr


def test_run_flags_that_exclude_each_other_are_named_as_flags(ws_dir, policy_file):
    r = curate(
        "-w",
        str(ws_dir),
        "augment",
        "run",
        "-p",
        str(policy_file),
        "--copies",
        "1",
        "--target-per-class",
        "9",
    )
    assert r.returncode == 2
    assert "error: --copies and --target-per-class exclude each other" in r.stderr
    r = curate("-w", str(ws_dir), "augment", "run", "-p", str(policy_file), "--no-balance")
    assert r.returncode == 2 and "--copies N" in r.stderr


def test_workspace_option_after_the_group_name(ws_dir, policy_file):
    """README: -w goes before or after a command's name, the group's included."""
    r = invoke("augment", "-w", str(ws_dir), "run", "-p", str(policy_file), "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["dry_run"] is True
