"""The engine seam without Ray: settings, the local engine, the pack reader."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from curate.engines import EngineSettings, open_engine
from curate.engines.local import LocalEngine
from curate.engines.packs import PackReader, close_all
from curate.errors import InvalidInput, NotFound


def _rows_and_size(batch: pa.Table, scale: int) -> pa.Table:
    x = batch.column("x").to_numpy()
    return pa.table({"y": x * scale, "batch_rows": np.full(len(x), batch.num_rows)})


def _square(item: int, offset: int) -> int:
    return item * item + offset


def _fail_on_seven(batch: pa.Table, _context) -> pa.Table:
    if 7 in batch.column("x").to_pylist():
        raise InvalidInput("row 7 is bad")
    return batch


def test_settings_come_from_the_environment_and_flags_win(monkeypatch):
    monkeypatch.setenv("CURATE_ENGINE", "RAY")
    monkeypatch.setenv("CURATE_RAY_ADDRESS", "auto")
    monkeypatch.setenv("CURATE_RAY_CPUS", "3")
    s = EngineSettings.from_env()
    assert (s.engine, s.ray_address, s.ray_cpus) == ("ray", "auto", 3)
    assert EngineSettings.from_env(engine="local").engine == "local"
    monkeypatch.setenv("CURATE_ENGINE", "spark")
    with pytest.raises(InvalidInput, match="CURATE_ENGINE: unknown engine 'spark'"):
        EngineSettings.from_env()
    monkeypatch.delenv("CURATE_ENGINE")
    monkeypatch.setenv("CURATE_RAY_CPUS", "many")
    with pytest.raises(InvalidInput, match="whole number"):
        EngineSettings.from_env()


def test_default_is_local(monkeypatch, tmp_path):
    monkeypatch.delenv("CURATE_ENGINE", raising=False)
    engine = open_engine(None, packs_dir=tmp_path)
    assert isinstance(engine, LocalEngine) and engine.parallelism == 1
    assert engine.reader.url == tmp_path.absolute().as_uri()


@pytest.mark.parametrize("workers", [1, 2])
def test_local_engine_keeps_batches_and_order(tmp_path, workers):
    table = pa.table({"x": np.arange(1000)})
    with LocalEngine(PackReader(tmp_path.as_uri()), workers=workers) as engine:
        out = pa.concat_tables(engine.map_batches(_rows_and_size, table, batch_rows=300, context=2))
        assert out.column("y").to_pylist() == list(range(0, 2000, 2))
        assert sorted(set(out.column("batch_rows").to_pylist())) == [100, 300]
        assert list(engine.map(_square, [3, 1, 2], context=10)) == [19, 11, 14]
        with pytest.raises(InvalidInput, match="row 7 is bad"):
            list(engine.map_batches(_fail_on_seven, table, batch_rows=5))


def test_pack_reader_reads_what_the_object_store_wrote(tmp_path):
    from curate.store.objects import ObjectStore

    store = ObjectStore(tmp_path / "objects")
    store.create()
    blobs = [b"alpha", b"", b"gamma" * 100]
    locations = store.write_pack(blobs)
    reader = PackReader(store.packs_dir.as_uri())
    assert reader.read_many((loc.pack, loc.offset, loc.length) for loc in locations) == blobs
    # a plain path works too (fsspec's local filesystem)
    last = locations[2]
    assert PackReader(str(store.packs_dir)).read(last.pack, last.offset, last.length) == blobs[2]


def test_pack_reader_reads_packs_from_any_fsspec_filesystem(tmp_path):
    """Object storage or a shared mount: here fsspec's in-memory filesystem."""
    import fsspec

    from curate.store.objects import ObjectStore

    store = ObjectStore(tmp_path / "objects")
    store.create()
    blobs = [b"first", b"second" * 50, b"third"]
    locations = store.write_pack(blobs)
    memory = fsspec.filesystem("memory")
    pack = locations[0].pack
    memory.pipe(f"/curate-test-{tmp_path.name}/packs/{pack}", (store.packs_dir / pack).read_bytes())
    reader = PackReader(f"memory://curate-test-{tmp_path.name}/packs")
    got = reader.read_many([(loc.pack, loc.offset, loc.length) for loc in reversed(locations)])
    assert got == blobs[::-1]


def test_a_workspace_reads_its_packs_from_objects_url(tmp_path, image_folder):
    """CURATE_OBJECTS_URL: workers read a copy of the packs elsewhere (same files out)."""
    import shutil

    from curate.api import Workspace
    from curate.engines import EngineSettings

    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest(image_folder)
        ws.commit("v1")
        mirror = shutil.copytree(ws.objects.packs_dir, tmp_path / "mirror")
        moved = EngineSettings(objects_url=mirror.as_uri())
        ws.export("v1", "webdataset", tmp_path / "a", engine=moved)
        ws.export("v1", "webdataset", tmp_path / "b")
        shutil.rmtree(mirror)
        close_all()  # this process keeps packs it read open (they never change)
        with pytest.raises(NotFound, match="is not under"):
            ws.export("v1", "webdataset", tmp_path / "c", engine=moved)
    assert (tmp_path / "a" / "unsplit-000000.tar").read_bytes() == (
        tmp_path / "b" / "unsplit-000000.tar"
    ).read_bytes()
    assert not (tmp_path / "c").exists()  # all or nothing


def test_pack_reader_says_where_it_looked(tmp_path):
    with pytest.raises(NotFound, match="pack-missing.pack is not under"):
        PackReader(tmp_path.as_uri()).read("pack-missing.pack", 0, 1)


def test_ray_engine_without_ray_is_one_line_with_the_install_hint(tmp_path):
    code = (
        "import sys\n"
        "sys.modules['ray'] = None  # as if ray were not installed\n"
        "from curate.engines import open_engine\n"
        "from curate.errors import MissingDependency\n"
        "try:\n"
        f"    open_engine('ray', packs_dir={str(tmp_path)!r})\n"
        "except MissingDependency as exc:\n"
        "    print(exc.message, '|', exc.hint)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    message, hint = out.stdout.strip().split(" | ")
    assert message.startswith("the Ray engine needs ray")
    assert hint == 'pip install "curate[ray]"'


def test_cli_engine_flag_without_ray_fails_cleanly(tmp_path, image_folder):
    code = (
        "import sys\n"
        "sys.modules['ray'] = None\n"
        "from curate.cli import main\n"
        "sys.argv = ['curate', '-w', sys.argv[1], 'augment', 'run', '--policy', 'light',\n"
        "            '--copies', '1', '--no-balance', '--engine', 'ray']\n"
        "main()\n"
    )
    from curate.api import Workspace

    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest(image_folder)
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "ws")], capture_output=True, text=True
    )
    assert out.returncode == 1
    assert "error: the Ray engine needs ray" in out.stderr
    assert "Traceback" not in out.stderr
