"""``--engine ray`` gives what the local engine gives, on a local 2-CPU Ray instance.

One Ray instance serves the whole session (starting one costs ~10-15 s on a
busy 2-core machine, and each worker's first task imports torch or
albumentations once). Skipped when ray is not installed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from curate.errors import InvalidInput, MissingDependency
from tests.conftest import SAMPLE_DIGITS

ray = pytest.importorskip("ray", reason="the Ray engine needs ray (pip install 'curate[ray]')")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="session")
def local_ray():
    """A private local Ray instance with 2 CPUs, started once; every ``engine="ray"``
    in the session joins it."""
    from curate.engines.ray import connect

    connect("local", num_cpus=2)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def digits_subset(tmp_path_factory) -> Path:
    """300 of the sample digits (30 per class), as an image folder."""
    root = tmp_path_factory.mktemp("digits300")
    for class_dir in sorted(SAMPLE_DIGITS.iterdir()):
        for png in sorted(class_dir.glob("*.png"))[:30]:
            (root / class_dir.name).mkdir(exist_ok=True)
            shutil.copy(png, root / class_dir.name / png.name)
    return root


def _workspace(path: Path, source: Path):
    from curate.api import Workspace

    ws = Workspace.init(path)
    ws.ingest(source)
    return ws


def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# -- the seam -------------------------------------------------------------------------------------
def _tag_batches(batch: pa.Table, scale: int) -> pa.Table:
    x = batch.column("x").to_numpy()
    return pa.table({"y": x * scale, "batch_rows": np.full(len(x), batch.num_rows)})


def _fail_on_seven(batch: pa.Table, _context) -> pa.Table:
    if 7 in batch.column("x").to_pylist():
        raise InvalidInput("row 7 is bad")
    return batch


def _weighted(item: int, weights: np.ndarray) -> float:
    return float(item * weights.sum())


def test_a_private_instance_keeps_rays_token_auth_warning_off_the_screen(monkeypatch):
    """Ray warns on every new local instance that it turned token auth on; a private
    instance ends with the command, so curate mutes that one logger while starting it
    (a cluster's warnings stay). Checked on the logger Ray warns through, without
    starting a second instance."""
    import logging

    from curate.engines import ray as ray_engine

    auth_log = logging.getLogger(ray_engine._RAY_AUTH_LOGGER)
    warns: list[tuple[str, bool]] = []

    def fake_init(address=None, **kwargs):
        warns.append((address, auth_log.isEnabledFor(logging.WARNING)))

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", fake_init)
    monkeypatch.setattr(ray_engine, "probe_address", lambda address: None)  # no head:6379 here
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    ray_engine.connect("local")
    ray_engine.connect("head:6379")
    assert warns == [("local", False), ("head:6379", True)]
    assert auth_log.isEnabledFor(logging.WARNING)  # as it was, after the start


def test_ray_engine_keeps_batches_order_and_errors(local_ray, tmp_path):
    from curate.engines import open_engine

    engine = open_engine("ray", packs_dir=tmp_path)
    assert engine.name == "ray" and engine.parallelism == 2
    table = pa.table({"x": np.arange(5000)})
    out = pa.concat_tables(engine.map_batches(_tag_batches, table, batch_rows=700, context=3))
    assert out.column("y").to_pylist() == list(range(0, 15000, 3))
    # the function saw exactly the local engine's batches: 7 x 700, then 100
    assert sorted(set(out.column("batch_rows").to_pylist())) == [100, 700]
    assert list(engine.map(_weighted, [2, 0, 1], context=np.ones(4))) == [8.0, 0.0, 4.0]
    with pytest.raises(InvalidInput, match="row 7 is bad"):  # a CurateError comes back as itself
        list(engine.map_batches(_fail_on_seven, table, batch_rows=1000))
    assert list(engine.map_batches(_tag_batches, table.slice(0, 0), batch_rows=10)) == []


# -- scan ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("streaming", [False, True], ids=["in-memory", "streaming"])
def test_scan_finds_the_same_on_ray(local_ray, tmp_path, digits_subset, streaming, monkeypatch):
    import curate.scan.batches

    # several batches per stage (decode, feature maps), as a large dataset has
    monkeypatch.setattr(curate.scan.batches, "ENGINE_BATCH_ROWS", 128)
    findings, results = {}, {}
    for name in ("local", "ray"):
        with _workspace(tmp_path / name, digits_subset) as ws:
            results[name] = ws.scan(seed=0, folds=3, streaming=streaming, engine=name)
            findings[name] = ws.catalog().rows(
                "SELECT sid, kind, score, is_issue, suggested_class_id, details "
                "FROM findings ORDER BY sid, kind"
            )
    local, remote = results["local"], results["ray"]
    assert remote.config["engine"]["engine"] == "ray" and "engine" not in local.config
    assert remote.warnings == local.warnings == []  # the ensemble ran on the engine
    assert remote.issues == local.issues and local.issues["label"] > 0
    assert len(findings["ray"]) == 3 * 300  # label, outlier and quality rows per sample
    assert findings["ray"] == findings["local"]  # every score and detail, to the bit


def test_a_cuda_scan_on_ray_is_refused(local_ray, tmp_path, image_folder):
    with (
        _workspace(tmp_path / "ws", image_folder) as ws,
        pytest.raises(InvalidInput, match="runs the scan's feature maps on CPU workers"),
    ):
        ws.scan(device="cuda", engine="ray")


def test_a_cuda_scan_on_ray_is_refused_before_ray_starts(tmp_path, image_folder, monkeypatch):
    """Was refused only after ~11 s of starting Ray."""
    import curate.engines.ray

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray was started")

    monkeypatch.setattr(curate.engines.ray, "RayEngine", no_ray)
    for engine in ("ray", None):
        monkeypatch.setenv("CURATE_ENGINE", "ray")  # engine=None: from the environment
        with (
            _workspace(tmp_path / f"ws{engine}", image_folder) as ws,
            pytest.raises(InvalidInput, match="runs the scan's feature maps on CPU workers"),
        ):
            ws.scan(device="cuda", engine=engine)


def test_read_only_fold_results_reach_torch_writable(monkeypatch):
    """Ray returns zero-copy read-only arrays: torch warned "NumPy array is not writable"."""
    import torch

    from curate.scan import features
    from curate.scan.features import LogRegHead, cross_val_heads

    class ReadOnlyEngine:  # what Ray's object store hands back
        def map(self, fn, tasks, *, context):
            for task in tasks:
                part = fn(task, context)
                for p in part:
                    p.flags.writeable = False
                yield part

    real = torch.from_numpy

    def strict(array):
        assert array.flags.writeable, "a read-only array reached torch.from_numpy"
        return real(array)

    monkeypatch.setattr(features.torch, "from_numpy", strict)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(40, 4)).astype(np.float32))
    labels = np.repeat([0, 1], 20)
    probs = cross_val_heads(
        [x],
        [lambda: LogRegHead(max_iter=5)],
        labels,
        n_classes=2,
        folds=2,
        seed=0,
        engine=ReadOnlyEngine(),
    )
    assert probs.shape == (40, 2)


# -- augment ----------------------------------------------------------------------------------------
def test_augment_makes_the_same_samples_on_ray(local_ray, tmp_path, digits_subset):
    made = {}
    for name in ("local", "ray"):
        with _workspace(tmp_path / name, digits_subset) as ws:
            report = ws.augment("heavy", balance=False, copies=1, workers=2, engine=name)
            assert report.added == 300
            rows = ws.catalog().rows(
                "SELECT sample_id, parents, recipe, pack, pack_offset, nbytes FROM samples "
                "WHERE origin = 'augmented' ORDER BY sample_id"
            )
            made[name] = [
                (sid, parents, json.loads(recipe), ws.objects.read(pack, off, n))
                for sid, parents, recipe, pack, off, n in rows
            ]
            if name == "ray":
                assert report.workers == 2
                assert ws.verify_replay(rows[0][0]).identical
    assert len(made["ray"]) == 300
    assert made["ray"] == made["local"]  # same ids, lineage, recipes and bytes


# -- export ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["parquet", "webdataset", "imagefolder"])
def test_export_writes_the_same_files_on_ray(local_ray, tmp_path, digits_subset, fmt):
    with _workspace(tmp_path / "ws", digits_subset) as ws:
        ws.split(seed=0)
        ws.commit("v1")
        local = ws.export("v1", fmt, tmp_path / "local", engine="local")
        remote = ws.export("v1", fmt, tmp_path / "ray", engine="ray")
    assert remote.samples == local.samples == 300
    assert _files(tmp_path / "ray") == _files(tmp_path / "local")


def test_export_cli_engine_ray(local_ray, tmp_path, digits_subset):
    from click.testing import CliRunner

    from curate.cli import cli

    with _workspace(tmp_path / "ws", digits_subset) as ws:
        ws.commit("v1")
    runner = CliRunner()
    base = ["-w", str(tmp_path / "ws"), "export", "v1", "--format", "webdataset", "--json"]
    r = runner.invoke(cli, [*base, "--out", str(tmp_path / "a"), "--engine", "ray"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["samples"] == 300
    r = runner.invoke(cli, [*base, "--out", str(tmp_path / "b")])
    assert r.exit_code == 0, r.output
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


# -- synthesis: the generator actor --------------------------------------------------------------------
def test_generator_actor_asking_for_a_gpu_the_cluster_lacks_fails_fast(local_ray, tmp_path):
    from curate.synthesize.remote import RayRunner

    started = time.perf_counter()
    with pytest.raises(MissingDependency, match=r"asks for 1 GPU\(s\) but the Ray cluster has 0"):
        RayRunner("gan", {}, "cpu", address=None, num_gpus=1)
    assert time.perf_counter() - started < 10


@pytest.mark.gpu
def test_synth_engine_ray_hosts_the_generator_on_a_gpu(local_ray, tmp_path, digits_subset):
    """On a machine with a GPU: the actor holds num_gpus=1 and the generator runs on CUDA."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available() or ray.cluster_resources().get("GPU", 0) < 1:
        pytest.skip("needs a CUDA GPU visible to Ray")
    from curate_generators.testing import TINY_PARAMS

    with _workspace(tmp_path / "ws", digits_subset) as ws:
        result = ws.synthesize(
            generator="ddpm",
            classes=["5"],
            n=8,
            fit_steps=20,
            params=TINY_PARAMS["ddpm"],
            engine="ray",
        )
    assert result.where == "ray" and result.device.startswith("cuda")
    assert result.generated == 8
