"""The CLI contract of issue 2: init / ingest / status, --json, --workspace, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, SAMPLE_DIGITS, write_png


def curate(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "curate", *args], cwd=cwd, capture_output=True, text=True
    )


def test_init_ingest_status_json_from_inside_the_workspace(tmp_path):
    assert curate("init", str(tmp_path / "ws")).returncode == 0
    r = curate("ingest", str(SAMPLE_DIGITS), "--json", cwd=tmp_path / "ws")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["added_samples"] == 1437
    r = curate("status", "--json", cwd=tmp_path / "ws" / ".curate")  # found from below, too
    assert r.returncode == 0, r.stderr
    status = json.loads(r.stdout)
    assert status["samples"] == 1437
    assert status["quarantined"] == 0
    assert status["classes"]["5"] == 45
    assert sum(status["classes"].values()) == 1437


def test_workspace_option_and_quarantine_listing(tmp_path):
    src = tmp_path / "src"
    write_png(src / "a" / "ok.png", 1)
    (src / "a" / "bad.png").write_bytes(b"\x89PNG garbage")
    curate("init", str(tmp_path / "ws"))
    r = curate("--workspace", str(tmp_path / "ws"), "ingest", str(src))
    assert r.returncode == 0, r.stderr
    assert "1 quarantined" in r.stdout and "bad.png" in r.stdout
    status = json.loads(curate("-w", str(tmp_path / "ws"), "status", "--json").stdout)
    assert status["quarantined"] == 1
    assert status["quarantine"][0]["source"].endswith("bad.png")


def test_ingest_of_nothing_but_bad_inputs_fails(tmp_path):
    """All quarantined, nothing stored: the report, then an error and exit code 1."""
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "a" / "readme.txt").write_text("not an image")
    curate("init", str(tmp_path / "ws"))
    r = curate("-w", str(tmp_path / "ws"), "ingest", str(src))
    assert r.returncode == 1
    assert "readme.txt: not an image" in r.stdout
    assert "error: nothing ingested: all 1 inputs were quarantined" in r.stderr
    r = curate("-w", str(tmp_path / "ws"), "ingest", str(src), "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["quarantined"][0]["source"].endswith(".txt")
    # a source whose images are all known already is not a failure
    write_png(src / "b" / "0.png", 0)
    assert curate("-w", str(tmp_path / "ws"), "ingest", str(src)).returncode == 0
    assert curate("-w", str(tmp_path / "ws"), "ingest", str(src)).returncode == 0


def test_workspace_option_after_the_command_name(tmp_path):
    """The README: every command takes --workspace DIR, after its name too."""
    src = tmp_path / "src"
    write_png(src / "a" / "0.png", 0)
    write_png(src / "b" / "1.png", 1)
    curate("init", str(tmp_path / "ws"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = curate("ingest", str(src), "--workspace", str(tmp_path / "ws"), cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    r = curate("status", "-w", str(tmp_path / "ws"), "--json", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["samples"] == 2
    # After the name it wins over the group's option (the nearer one).
    r = curate("-w", str(tmp_path / "nowhere"), "status", "-w", str(tmp_path / "ws"), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["samples"] == 2
    assert "--workspace" in curate("scan", "--help").stdout
    # demo makes its folder (--out) and ignores -w; init's -w names the folder to create
    assert "--workspace" not in curate("demo", "--help").stdout
    assert "--workspace" in curate("init", "--help").stdout


def test_every_command_takes_the_workspace_option_after_its_name(tmp_path):
    """Was "No such option '-w'" for tui, extractors, generators, augment show/validate/presets.
    Commands with no use for a workspace accept it and ignore it, as before their name."""
    from click.testing import CliRunner

    from curate.api import Workspace
    from curate.cli import COMMANDS, cli

    ws = tmp_path / "ws"
    Workspace.init(ws).close()
    runner = CliRunner()
    for name in COMMANDS:
        r = runner.invoke(cli, [name, "-w", str(ws), "--help"])
        assert r.exit_code == 0 and "No such option" not in r.output, (name, r.output)
    for sub in ("presets", "validate", "show", "preview", "run", "replay"):
        r = runner.invoke(cli, ["augment", sub, "-w", str(ws), "--help"])
        assert r.exit_code == 0, (sub, r.output)
    for argv in (
        ["extractors", "-w", str(ws)],
        ["generators", "-w", str(ws)],
        ["augment", "show", "light", "-w", str(ws)],
        ["augment", "presets", "-w", str(ws)],
    ):
        r = runner.invoke(cli, argv)
        assert r.exit_code == 0, (argv, r.output)
    # tui: WORKSPACE defaults to --workspace, after the name too (checked before any UI)
    r = runner.invoke(cli, ["tui", "-w", str(tmp_path / "nowhere")])
    assert r.exit_code == 1 and "nowhere is not a curate workspace" in r.stderr
    # init: -w names the folder to create, before or after the name
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert curate("init", "-w", str(tmp_path / "a"), cwd=elsewhere).returncode == 0
    assert curate("-w", str(tmp_path / "b"), "init", cwd=elsewhere).returncode == 0
    assert (tmp_path / "a" / ".curate").is_dir() and (tmp_path / "b" / ".curate").is_dir()
    assert list(elsewhere.iterdir()) == []


def test_user_errors_are_one_line_without_traceback(tmp_path):
    cases = [
        curate("status", cwd=tmp_path),  # not in a workspace
        curate("init", str(tmp_path / "ws")) and curate("init", str(tmp_path / "ws")),  # exists
        curate("-w", str(tmp_path / "ws"), "ingest", str(tmp_path / "missing")),
        curate("-w", str(tmp_path / "nowhere"), "status"),
    ]
    for r in cases:
        assert r.returncode != 0
        assert "Traceback" not in r.stderr
        lines = [line for line in r.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1, r.stderr


def test_with_json_an_error_is_one_json_object_on_stderr(tmp_path):
    """A script that asked for JSON can parse the error too; stdout stays empty."""
    cases = [
        (curate("status", "--json", cwd=tmp_path), "WorkspaceNotFound", 1),
        (curate("scan", "--bogus", "--json", cwd=tmp_path), "UsageError", 2),
    ]
    for r, kind, code in cases:
        assert r.returncode == code and r.stdout == ""
        [line] = r.stderr.splitlines()
        doc = json.loads(line)
        assert doc["kind"] == kind and doc["exit_code"] == code and doc["error"]
        assert doc["hint"]


def test_curate_debug_shows_the_traceback_of_an_error(tmp_path):
    env = {**os.environ, "CURATE_DEBUG": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "curate", "status"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 1
    assert "Traceback" in r.stderr and "WorkspaceNotFound" in r.stderr
    assert r.stderr.splitlines()[-2].startswith("error: ")  # and the usual line after it


def test_json_goes_to_stdout_and_progress_to_stderr(tmp_path):
    curate("init", str(tmp_path / "ws"))
    r = curate("-w", str(tmp_path / "ws"), "ingest", str(SAMPLE_DIGITS), "--json")
    json.loads(r.stdout)  # the whole stdout is one JSON document
    assert "ingesting" in r.stderr


def test_ci_runs_exactly_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert f"```bash\n{ci}\n```" in readme
    first_screen = "\n".join(readme.splitlines()[:30])
    assert ci in first_screen
    assert "curate demo" in first_screen


def test_tui_refuses_without_a_terminal(tmp_path):
    """`curate tui WS </dev/null` never exited and spun a core; now one line and exit 2.
    CliRunner's stdin and stdout are not terminals."""
    from click.testing import CliRunner

    from curate.api import Workspace
    from curate.cli import cli

    ws = tmp_path / "ws"
    Workspace.init(ws).close()
    r = CliRunner().invoke(cli, ["tui", str(ws)])
    assert r.exit_code == 2, r.output
    assert r.stderr.strip() == "error: curate tui needs an interactive terminal"
