"""The Ray actor pool, with a real local Ray (loopback) and a logical GPU count
declared at init so GPU placement is exercised on this CPU-only machine. The
private local Ray's token authentication is in test_pool_private.py."""
import os
import time
from pathlib import Path

import pytest
from conftest import ROOT
from ray_workers import EchoWorker

from mchmc.batch.pool.pool import CallFailed, Pool, PoolError, PoolSpec, check_resources
from mchmc.batch.pool.ray_local import connect

TESTS = ROOT / "tests"


@pytest.fixture(scope="module")
def ray_session(tmp_path_factory):
    import ray

    # worker processes inherit the driver's environment: let them import ray_workers
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    resources = connect(num_cpus=2, num_gpus=2, temp_dir=str(tmp_path_factory.mktemp("ray")))
    yield resources
    ray.shutdown()


def test_local_ray_listens_on_loopback_only(ray_session):
    import ray

    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")


def test_a_private_ray_starts_lean_and_leaves_ray_as_it_found_it(ray_session):
    """Issue 16: a private cluster's size is fixed and nobody browses it, so its autoscaler monitor is
    stopped once Ray is up (it cost a second of every shutdown) and no dashboard / API server is
    started (half a second of every start, and one HTTP listener); Ray's own functions are back
    after ray.init, and the node is alive and serves the pool."""
    import ray
    from ray._private import services

    from mchmc.batch.pool.ray_local import stop_autoscaler_monitor

    node = ray._private.worker._global_node
    monitors = node.all_processes.get("monitor", [])
    assert monitors and all(m.process.poll() is not None for m in monitors)
    assert stop_autoscaler_monitor() is False  # nothing left to stop
    assert "dashboard" not in node.all_processes
    assert services.get_node.__module__ == services.start_api_server.__module__ == "ray._private.services"
    assert services.get_node.__name__ == "get_node" and services.start_api_server.__name__ == "start_api_server"
    assert [n["Alive"] for n in ray.nodes()] == [True]


def test_every_item_once_with_bounded_items_in_flight(ray_session):
    pulled = []

    def items():
        for i in range(12):
            pulled.append(i)
            yield i

    pool = Pool(EchoWorker, (), PoolSpec(cpus=2, per_actor=2))
    try:
        seen = []
        for item, result in pool.map("work", items()):
            if not seen:
                assert len(pulled) <= 2 * 2, "no more than per_actor x actors pulled before the first result"
            seen.append(item)
            assert result["item"] == item
        assert sorted(seen) == list(range(12))
    finally:
        pool.shutdown()


def test_gpu_workers_get_one_gpu_each(ray_session):
    pool = Pool(EchoWorker, (), PoolSpec(cpus=0, gpus=2, per_actor=1))
    try:
        results = [r for _, r in pool.map("work", range(6))]
    finally:
        pool.shutdown()
    assert {r["device"] for r in results} == {"cuda"}
    assert sorted({tuple(r["gpus"]) for r in results}) == [("0",), ("1",)]


def test_a_worker_that_dies_mid_call_is_restarted_and_its_call_reported_not_retried(ray_session, tmp_path):
    """Ray restarts the dead process; the call comes back as died=True for the caller
    to retry or record (a page that kills every worker must not be retried forever)."""
    pool = Pool(EchoWorker, (str(tmp_path),), PoolSpec(cpus=1, per_actor=1))
    try:
        out = list(pool.map("work", ["a", "crash-once", "b", "crash-once"]))
    finally:
        pool.shutdown()
    assert [item for item, _ in out] == ["a", "crash-once", "b", "crash-once"]  # each reported once
    assert isinstance(out[1][1], CallFailed) and out[1][1].died
    assert out[3][1]["item"] == "crash-once", "the retried call ran on the restarted worker"
    assert out[0][1]["pid"] != out[2][1]["pid"], "a fresh process after the crash"
    assert (tmp_path / "crashed").exists(), "the worker really died once"


def test_solo_items_run_alone_and_abandon_ends_the_map(ray_session):
    pool = Pool(EchoWorker, (), PoolSpec(cpus=1, per_actor=2))
    try:
        out = list(pool.map("work", ["a", "solo", "b"], solo=lambda x: x == "solo"))
        assert [i for i, _ in out] == ["a", "solo", "b"]
        assert list(pool.map("work", ["a", "b"], abandon=lambda: True)) == []
    finally:
        pool.shutdown()


def test_a_call_that_raises_becomes_a_failure_not_a_crash(ray_session):
    pool = Pool(EchoWorker, (), PoolSpec(cpus=1))
    try:
        out = dict(pool.map("work", ["raise", "ok"]))
    finally:
        pool.shutdown()
    assert isinstance(out["raise"], CallFailed) and "bad item" in out["raise"].reason
    assert out["ok"]["item"] == "ok"


def test_too_many_gpus_fails_before_any_work(ray_session):
    with pytest.raises(PoolError, match="--gpus 3 requested but Ray sees 2 GPU"):
        Pool(EchoWorker, (), PoolSpec(cpus=0, gpus=3))


@pytest.mark.parametrize("spec,resources,message", [
    (PoolSpec(cpus=1, gpus=2), {"CPU": 16.0}, "--gpus 2 requested but Ray sees 0 GPU"),
    (PoolSpec(cpus=4), {"CPU": 2.0}, "need 4 CPU"),
    (PoolSpec(cpus=0, gpus=0), {"CPU": 2.0}, "no workers"),
])
def test_resource_checks(spec, resources, message):
    with pytest.raises(PoolError, match=message):
        check_resources(spec, resources)



def _alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def _tiny_model(root: Path) -> str:
    import torch

    from mchmc.model import build_model
    from mchmc.modelfile import save_model

    torch.manual_seed(0)
    model = build_model("mch-mc")
    model.reset_parameters(0.05)
    return str(save_model(model, root / "tiny.pt"))


def test_a_big_pages_bands_reach_the_driver_as_references_and_a_lost_band_fails_the_stitch(ray_session, tmp_path):
    """Issue 28, C10: a page split into bands used to bring every band's upscaled pixels back to
    the driver (2.26 GB for an 81 MP page) only to send them on to the stitching actor. The band
    calls now hand the driver references (and the small GAP sums); the stitch fetches the pixels
    and writes the same bytes as one worker doing the whole page. A band whose actor died before
    the stitch cannot be fetched: the page fails with that reason, one line, never silently."""
    import pickle

    import numpy as np
    import ray
    from PIL import Image

    from mchmc.batch.bands import FinishCall, band_plan
    from mchmc.batch.options import BatchOptions
    from mchmc.batch.plan import Job
    from mchmc.batch.worker.pageworker import PageWorker

    rng = np.random.default_rng(5)
    src = tmp_path / "big.png"
    Image.fromarray(rng.integers(0, 256, (260, 300, 3), dtype=np.uint8)).save(src)
    model = _tiny_model(tmp_path)
    whole = PageWorker(BatchOptions(model=model, tile=64, split_pixels=0), name="ref").process(
        Job(src, tmp_path / "ref.png"))
    assert whole.status == "ok", whole.error
    options = BatchOptions(model=model, tile=64, split_pixels=50_000)
    job = Job(src, tmp_path / "out.png")
    calls = band_plan(job, options, 2)
    assert len(calls) == 2

    def bands(pool):
        results = sorted((r for _, r in pool.map("band", calls)), key=lambda r: r.band.r0)
        assert not any(r.error for r in results), [r.error for r in results]
        return results

    pool = Pool(PageWorker, (options,), PoolSpec(cpus=2))
    try:
        results = bands(pool)
        for r in results:
            assert isinstance(r.band.pixels, ray.ObjectRef), type(r.band.pixels)
            assert len(pickle.dumps(r)) < 16_000, "no pixels: a band's are 600 x 260 x 3 = 468,000 bytes"
        finish = FinishCall(job, results[0].meta, tuple(r.band for r in results), 0.0, "both")
        [(_, record)] = pool.map("finish", [finish])
        assert record.status == "ok", record.error
        assert job.dst.read_bytes() == (tmp_path / "ref.png").read_bytes()
        assert record.category == whole.category and record.probs == whole.probs
        job.dst.unlink()
        orphans = bands(pool)
        pids = {int(r.worker.split("@")[1].split()[0]) for r in orphans}
    finally:
        pool.shutdown()  # the bands' owners die with their actors
    while any(_alive(pid) for pid in pids):  # ray.kill returns before the process is gone
        time.sleep(0.05)
    pool = Pool(PageWorker, (options,), PoolSpec(cpus=1))
    try:
        finish = FinishCall(job, orphans[0].meta, tuple(r.band for r in orphans), 0.0, "both")
        [(_, record)] = pool.map("finish", [finish])
    finally:
        pool.shutdown()
    assert record.status == "error" and not job.dst.exists()
    assert "band of this page was lost" in record.error and "\n" not in record.error, record.error


def test_a_stitch_whose_band_was_lost_computes_the_bands_again(tmp_path, monkeypatch):
    """Issue 28, C10: a band's pixels live with the actor that made it until the stitch; if that
    actor died meanwhile the stitch fails (the test above), and the driver then computes the
    page's bands again, as it reruns a dead worker's page: the page comes out, the same bytes."""
    import numpy as np
    from PIL import Image

    import mchmc.batch.worker.pageworker as worker_module
    from mchmc.batch.bands import LOST
    from mchmc.batch.driver.loop import run
    from mchmc.batch.driver.prepare import prepare
    from mchmc.batch.options import BatchOptions
    from mchmc.batch.plan import Job
    from mchmc.batch.pool.pool import InlinePool
    from mchmc.batch.worker.pageworker import PageWorker
    from mchmc.errors import FileError

    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (260, 300, 3), dtype=np.uint8)).save(src / "big.png")
    model = _tiny_model(tmp_path)
    whole = PageWorker(BatchOptions(model=model, tile=64, split_pixels=0), name="ref").process(
        Job(src / "big.png", tmp_path / "ref.png"))
    assert whole.status == "ok", whole.error
    stitches, real = [], worker_module.resolve

    def loses_the_first(job, bands):
        stitches.append(len(bands))
        if len(stitches) == 1:
            raise FileError(job.src, f"{LOST}: the worker that made it died (OwnerDiedError)")
        return real(job, bands)

    monkeypatch.setattr(worker_module, "resolve", loses_the_first)

    def two_names(opts):  # two "actors", so the page is split into bands
        pool = InlinePool(PageWorker, (opts,))
        pool.names = ["inline0", "inline1"]
        return pool

    dst = tmp_path / "out"
    outcome = run(prepare(str(src), str(dst), BatchOptions(model=model, tile=64, split_pixels=50_000)), two_names)
    assert outcome.summary.by_status.get("ok") == 1, outcome.summary
    assert stitches == [2, 2], "stitched twice: the bands were computed again after the loss"
    assert (dst / "big.png").read_bytes() == (tmp_path / "ref.png").read_bytes()
