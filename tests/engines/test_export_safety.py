"""Exports never write outside --out, never replace what they must not, and never
export damaged bytes: unsafe names, HF split names, nested workspaces, a racing
export, temporary folders of killed exports, an --overwrite killed or interrupted
mid-way, a damaged object store."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import cli
from curate.errors import CurateError, InvalidInput
from curate.outputs import check_replaceable
from curate.store import samples_repo
from curate.versions.split import apply_split
from tests.engines.test_versions import make_ws

FORMATS = ["imagefolder", "webdataset", "parquet", "hf"]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _force_split_names(ws, names: list[str]) -> None:
    """Splits as a workspace made before split names were checked could hold."""
    with ws.writing() as cat:
        apply_split(cat, ratios=[0.5] * len(names), names=names, seed=0, resplit=True)
    ws.commit("split")


def test_export_refuses_split_names_that_are_not_one_path_component(tmp_path):
    ws = make_ws(tmp_path, per_class=4)
    _force_split_names(ws, ["train", "../../ESC"])
    before = _tree(tmp_path)
    for fmt in FORMATS:
        with pytest.raises(InvalidInput, match=r"split name '\.\./\.\./ESC' cannot be used"):
            ws.export("HEAD", fmt, tmp_path / "sub" / "out")
    assert _tree(tmp_path) == before  # nothing written, inside --out or outside it
    ws.close()


def test_imagefolder_export_refuses_a_class_name_that_is_a_path(tmp_path):
    ws = make_ws(tmp_path, per_class=4)
    escaped = str(tmp_path / "ESCAPED")
    with ws.writing() as cat:  # as relabel --new-class could make it before the fix
        samples_repo.get_or_create_classes(cat, [escaped])
    ws.relabel(ws.samples().column("sample_id")[0].as_py(), escaped)
    ws.split("0.5,0.5")
    ws.commit("bad class")
    with pytest.raises(InvalidInput, match="class name .*ESCAPED' cannot be used"):
        ws.export("HEAD", "imagefolder", tmp_path / "if")
    assert not (tmp_path / "ESCAPED").exists() and not (tmp_path / "if").exists()
    # Other formats keep class names in metadata only: they export.
    assert ws.export("HEAD", "parquet", tmp_path / "pq").samples == 12
    ws.close()


def test_hf_export_refuses_a_split_name_datasets_rejects_before_writing(tmp_path):
    ws = make_ws(tmp_path, per_class=4)
    _force_split_names(ws, ["train", "hold-out"])
    with pytest.raises(InvalidInput, match="split 'hold-out' is not a valid Hugging Face") as err:
        ws.export("HEAD", "hf", tmp_path / "hf")
    assert "letters, digits and underscores" in str(err.value)
    assert "--names" in err.value.hint
    assert not (tmp_path / "hf").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".hf")] == []
    with pytest.raises(InvalidInput, match="hold-out"):
        ws.version("HEAD").to_hf()
    # Only HF has the rule: the other formats take the name.
    assert ws.export("HEAD", "parquet", tmp_path / "pq").splits.keys() == {"train", "hold-out"}
    ws.close()


def test_overwrite_refuses_a_folder_with_a_workspace_nested_anywhere_below(tmp_path):
    ws = make_ws(tmp_path, per_class=2)
    ws.commit("v1")
    holder = tmp_path / "holder"
    (holder / "a" / "b" / "other_ws" / ".curate").mkdir(parents=True)
    (holder / "curate-manifest.json").write_text("{}")  # as if an earlier export
    (holder / "a" / "b" / "other_ws" / ".curate" / "catalog.duckdb").write_text("precious")
    with pytest.raises(InvalidInput, match="holds a curate workspace at .*other_ws"):
        check_replaceable(holder)
    with pytest.raises(InvalidInput, match="holds a curate workspace"):
        ws.export("HEAD", "parquet", holder, overwrite=True)
    assert (holder / "a" / "b" / "other_ws" / ".curate" / "catalog.duckdb").exists()
    ws.close()


def test_no_export_goes_inside_a_workspace_s_curate_folder(tmp_path):
    """Not beside the catalog and the packs, new folder or not, through a link or not."""
    ws = make_ws(tmp_path, per_class=2)
    ws.commit("v1")
    inside = ws.root / ".curate" / "exports" / "pq"
    with pytest.raises(InvalidInput, match=r"inside a workspace's \.curate folder"):
        ws.export("HEAD", "parquet", inside)
    link = tmp_path / "link"
    link.symlink_to(ws.root / ".curate")
    with pytest.raises(InvalidInput, match=r"inside a workspace's \.curate folder"):
        ws.export("HEAD", "parquet", link / "pq")
    assert not (ws.root / ".curate" / "exports").exists()
    assert not [p for p in (ws.root / ".curate").iterdir() if "curate-tmp" in p.name]
    ws.close()


def test_overwrite_replaces_only_an_empty_folder_or_an_earlier_export(tmp_path):
    """--overwrite of the user's own folder (here the images the workspace was ingested
    from) is refused, not deleted; an empty folder or an earlier export is replaced."""
    ws = make_ws(tmp_path, per_class=2)
    ws.commit("v1")
    ws.close()
    source = tmp_path / "ws-src"
    before = _tree(source)
    args = ["-w", str(ws.root), "export", "v1", "--format", "parquet", "--overwrite", "--out"]
    refused = CliRunner().invoke(cli, [*args, str(source)])
    assert refused.exit_code == 2, refused.output
    error, hint = refused.stderr.strip().splitlines()
    assert error == (
        f"error: refusing to replace {source}: it is not empty and not an earlier curate "
        "export (no curate-manifest.json in it)"
    )
    assert hint.startswith("hint: choose a new or empty folder")
    assert _tree(source) == before
    out = tmp_path / "empty"
    out.mkdir()
    for what in ("an empty folder", "an earlier export"):
        done = CliRunner().invoke(cli, [*args, str(out)])
        assert done.exit_code == 0, (what, done.output)
        assert (out / "curate-manifest.json").is_file() and not (out / "stale.txt").exists()
        (out / "stale.txt").write_text("from before")
    check_replaceable(out)  # an earlier export
    with pytest.raises(InvalidInput, match="not an earlier curate export"):
        check_replaceable(source)


def test_an_out_that_is_a_link_to_a_folder_is_written_into_the_folder(tmp_path):
    """The export lands in the link's target, the link stays, and no stray link is left."""
    ws = make_ws(tmp_path, per_class=2)
    ws.commit("v1")
    ws.close()
    target, link = tmp_path / "target", tmp_path / "outs" / "link"
    target.mkdir()
    link.parent.mkdir()
    link.symlink_to(target)
    args = ["-w", str(ws.root), "export", "v1", "--format", "parquet", "--out", str(link)]
    for extra in ([], ["--overwrite"]):
        done = CliRunner().invoke(cli, [*args, *extra, "--json"])
        assert done.exit_code == 0, done.output
        assert json.loads(done.stdout)["out"] == str(target.resolve())
        assert (target / "curate-manifest.json").is_file()
        assert link.is_symlink() and os.readlink(link) == str(target)
        assert sorted(p.name for p in link.parent.iterdir()) == ["link"]  # no stray link
    # The Python API, which the CLI's resolving does not reach, never replaces the link.
    ws = type(ws).open(ws.root)
    try:
        ws.export("v1", "parquet", link, overwrite=True)
    except InvalidInput as err:
        assert "is a symbolic link" in str(err) and str(target) in err.hint
    assert link.is_symlink() and (target / "curate-manifest.json").is_file()
    assert sorted(p.name for p in link.parent.iterdir()) == ["link"]
    ws.close()


def test_an_out_that_appears_during_the_export_is_not_replaced(tmp_path):
    ws = make_ws(tmp_path, per_class=4)
    ws.commit("v1")
    out = tmp_path / "X"

    def another_export_wins(done, total, message):
        if not out.exists():
            out.mkdir()
            (out / "theirs.txt").write_text("the other export")

    with pytest.raises(InvalidInput, match="appeared while exporting") as err:
        ws.export("HEAD", "parquet", out, progress=another_export_wins)
    assert "--overwrite" in err.value.hint
    assert _tree(out) == {"theirs.txt"}
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".X")) == []
    # An empty folder that appears meanwhile is fine to fill (it could be given at the start).
    out2 = tmp_path / "Y"
    ws.export("HEAD", "parquet", out2, progress=lambda *a: out2.mkdir(exist_ok=True))
    assert (out2 / "curate-manifest.json").exists()
    ws.close()


def _dead_pid() -> int:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    return dead.pid


def test_temporary_folders_of_dead_exports_are_removed_and_live_ones_kept(tmp_path):
    ws = make_ws(tmp_path, per_class=2)
    ws.split("0.5,0.5")  # no warning about unsplit samples
    ws.commit("v1")
    dead = _dead_pid()
    live = os.getppid()
    left = {
        f".out.curate-tmp-{dead}": True,  # removed
        f".out.curate-tmp-{live}": False,  # another export at work
        f".out.curate-old-{live}": False,  # the earlier export it set aside (out is missing)
        f".out.curate-tmp-{dead}x": False,  # not curate's pattern
        f".other.curate-tmp-{dead}": False,  # another --out's
        f".other.curate-old-{dead}": False,
    }
    for name in left:
        (tmp_path / name).mkdir()
        (tmp_path / name / "half.parquet").write_text("half")
    result = ws.export("HEAD", "parquet", tmp_path / "out")
    for name, removed in left.items():
        assert (tmp_path / name).exists() is not removed, name
    assert result.warnings == [
        f"removed .out.curate-tmp-{dead}: unfinished work of an export to {tmp_path / 'out'} "
        f"that was stopped (process {dead})"
    ]
    ws.close()


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _beside(out: Path) -> list[str]:
    """What exports to ``out`` have left beside it (their temporary and set-aside folders)."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def _complete_export(out: Path) -> str:
    """The format of the export in ``out``, after checking that every file it lists is there."""
    manifest = json.loads((out / "curate-manifest.json").read_text())
    for entry in manifest["files"]:
        assert (out / entry["path"]).stat().st_size == entry["bytes"], entry
    assert len(manifest["files"]) + 1 == sum(1 for p in out.rglob("*") if p.is_file())
    return manifest["format"]


def test_of_several_earlier_exports_left_set_aside_the_newest_is_put_back(tmp_path):
    ws = make_ws(tmp_path, per_class=2)
    ws.commit("v1")
    out = tmp_path / "out"
    older, newer = _dead_pid(), _dead_pid()
    for pid, mtime in ((older, 1_000_000_000), (newer, 1_100_000_000)):
        aside = tmp_path / f".out.curate-old-{pid}"
        aside.mkdir()
        (aside / "curate-manifest.json").write_text(str(pid))
        os.utime(aside, (mtime, mtime))
    with pytest.raises(InvalidInput, match=rf"not empty \(put back .* \(process {newer}\)"):
        ws.export("v1", "parquet", out)
    assert (out / "curate-manifest.json").read_text() == str(newer) and _beside(out) == []
    ws.close()


# Run as a separate process: `--overwrite` of OUT with a webdataset export, killed
# (SIGKILL: no cleanup of any kind) right after the earlier export was set aside, or
# while the earlier export was being deleted, after deleting its manifest.
KILLED_OVERWRITE = """
import os, shutil, signal, sys
from curate.api import Workspace

ws_root, out, when = sys.argv[1:]
replace, rmtree = os.replace, shutil.rmtree

def kill():
    os.kill(os.getpid(), signal.SIGKILL)

def replace_then_die(src, dst, **kwargs):
    replace(src, dst, **kwargs)
    if when == "set aside" and ".curate-old-" in str(dst):
        kill()

def rmtree_dies(path, *args, **kwargs):
    manifest = os.path.join(path, "curate-manifest.json")
    if when == "deleting" and os.path.isfile(manifest):
        os.remove(manifest)
        kill()
    rmtree(path, *args, **kwargs)

os.replace, shutil.rmtree = replace_then_die, rmtree_dies
Workspace.open(ws_root).export("v1", "webdataset", out, overwrite=True)
"""


@pytest.mark.parametrize("when", ["set aside", "deleting"])
def test_an_overwrite_killed_mid_way_is_undone_or_finished_by_the_next_export(tmp_path, when):
    """Killed after the earlier export was set aside (OUT missing): the next export puts
    it back, intact. Killed while deleting the earlier export (the new one in place): the
    next export removes what is left. Either way with a one-line note, and nothing is
    left beside OUT."""
    ws = make_ws(tmp_path, per_class=2)
    ws.split("0.5,0.5")  # no warning about unsplit samples
    ws.commit("v1")
    out = tmp_path / "out"
    ws.export("v1", "parquet", out)
    earlier = _digests(out)
    ws.close()
    child = subprocess.Popen([sys.executable, "-c", KILLED_OVERWRITE, str(ws.root), str(out), when])
    assert child.wait(timeout=120) == -signal.SIGKILL
    assert out.exists() is (when == "deleting")
    assert _beside(out)  # what the kill left
    args = ["-w", str(ws.root), "export", "v1", "--format", "parquet", "--out", str(out)]
    if when == "set aside":  # without --overwrite: refused, with what was done said
        refused = CliRunner().invoke(cli, args)
        assert refused.exit_code == 2, refused.output
        error, hint = refused.stderr.strip().splitlines()
        assert error == (
            f"error: {out} is not empty (put back the earlier export {out}, which an export "
            f"stopped while replacing it (process {child.pid}) had left as "
            f".out.curate-old-{child.pid})"
        )
        assert hint.startswith("hint: pass --overwrite")
        assert _digests(out) == earlier and _beside(out) == []
    done = CliRunner().invoke(cli, [*args, "--overwrite"])
    assert done.exit_code == 0, done.output
    if when == "deleting":
        assert [line for line in done.stderr.splitlines() if line.startswith("warning")] == [
            f"warning: removed .out.curate-tmp-{child.pid}: unfinished work of an export to "
            f"{out} that was stopped (process {child.pid})"
        ]
    assert _beside(out) == [] and _complete_export(out) == "parquet"


@pytest.mark.parametrize(
    "interrupted",
    ["after setting it aside", "and the new export cannot take its place", "while deleting it"],
)
def test_ctrl_c_while_replacing_an_earlier_export_leaves_one_complete_export(
    tmp_path, monkeypatch, interrupted
):
    """A Ctrl-C (or a failure) while the exports are swapped puts the earlier one back,
    intact; one while the earlier export is deleted, once the new one is in place, lets
    the deletion finish (the export is done). Never OUT missing, never a folder beside it."""
    ws = make_ws(tmp_path, per_class=2)
    ws.commit("v1")
    out = tmp_path / "out"
    ws.export("v1", "parquet", out)
    earlier = _digests(out)
    replace, rmtree = os.replace, shutil.rmtree

    def replace_interrupted(src, dst, **kwargs):
        failing = interrupted == "and the new export cannot take its place"
        if failing and Path(dst) == out and ".curate-tmp-" in str(src):
            raise OSError(28, "No space left on device")
        replace(src, dst, **kwargs)
        if interrupted != "while deleting it" and ".curate-old-" in str(dst):
            signal.raise_signal(signal.SIGINT)  # Ctrl-C

    def rmtree_interrupted(path, *args, **kwargs):
        manifest = Path(path) / "curate-manifest.json"
        if interrupted == "while deleting it" and manifest.is_file():
            manifest.unlink()
            signal.raise_signal(signal.SIGINT)
        rmtree(path, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace_interrupted)
    monkeypatch.setattr(shutil, "rmtree", rmtree_interrupted)
    try:
        result, raised = ws.export("v1", "webdataset", out, overwrite=True), None
    except BaseException as exc:  # a KeyboardInterrupt must fail this test, not stop pytest
        result, raised = None, exc
    monkeypatch.undo()
    assert _beside(out) == []
    if interrupted == "while deleting it":
        assert raised is None
        assert result.warnings == ["Ctrl-C came once the export was in place: it was finished"]
        assert _complete_export(out) == "webdataset"
    else:
        stopped = KeyboardInterrupt if interrupted == "after setting it aside" else InvalidInput
        assert type(raised) is stopped, repr(raised)
        assert _digests(out) == earlier
    ws.close()


def _damage_first_pack(ws) -> None:
    pack = sorted((Path(ws.objects.root) / "packs").glob("*.pack"))[0]
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pack.write_bytes(bytes(data))
    ws.objects.close()  # drop cached maps of the old file


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_of_a_damaged_object_store_fails_and_writes_nothing(tmp_path, fmt):
    ws = make_ws(tmp_path, per_class=4)
    ws.split("0.5,0.5")
    ws.commit("v1")
    _damage_first_pack(ws)
    with pytest.raises(CurateError, match=r"sample [0-9a-f]{12}: .*object store is damaged"):
        ws.export("HEAD", fmt, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if "curate-tmp" in p.name] == []
    ws.close()
