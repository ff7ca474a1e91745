"""The split pipeline through real Ray with the CPU stand-in of the GPU path
(``--network-device cpu``): CPU codec workers send their Y strips to a network service actor.

Outputs equal the single-worker path byte for byte (a page split into bands included); every
page's network ran in the service (its record names it); requests from several workers are
batched and queue at most one per worker; a service killed mid-request is restarted by Ray and
its requests are resent, so the run completes with the same bytes."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT
from PIL import Image
from test_upscale_cli import GOOD, SPLIT, make_archive, mchmc, outputs, texture

from faults import KILL_NETWORK as FAULT_ENV
from mchmc.batch.network.service import NetworkSpec
from mchmc.batch.options import BatchOptions
from mchmc.batch.plan import Job
from mchmc.batch.pool.netpool import SplitPool, SplitSpec
from mchmc.batch.pool.pool import PoolSpec
from mchmc.batch.records import read_jsonl
from mchmc.batch.worker.pageworker import PageWorker

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    import torch

    from mchmc.model import build_model
    from mchmc.modelfile import save_model

    root = tmp_path_factory.mktemp("split")
    src = make_archive(root)
    torch.manual_seed(0)
    model = build_model("mch-mc")
    model.reset_parameters(0.05)
    model_path = str(save_model(model, root / "tiny.pt"))
    ref = root / "ref"
    worker = PageWorker(BatchOptions(model=model_path, tile=64, split_pixels=0), name="ref")
    for rel in GOOD:
        assert worker.process(Job(src / rel, ref / rel)).status == "ok"
    return {"root": root, "src": src, "model": model_path, "ref": ref}


def stand_in_run(world, dst: Path, **env) -> subprocess.CompletedProcess:
    return mchmc("upscale", str(world["src"]), "--out", str(dst), "--model", world["model"], "--cpus", "2",
                 "--tile", "64", "--split-pixels", str(SPLIT), "--network-device", "cpu",
                 env=dict(os.environ, PREFECT_LOGGING_LEVEL="WARNING", **env), cwd=world["root"])


def test_the_stand_in_gives_the_single_worker_bytes_with_every_network_run_in_the_service(world):
    dst = world["root"] / "out"
    res = stand_in_run(world, dst)
    assert res.returncode == 1, res.stderr  # bad.png fails alone
    startup = next(ln for ln in res.stdout.splitlines() if ln.startswith("start-up"))
    assert "workers: cpu0, cpu1; network: net0@" in startup, startup  # the services are named too
    got, want = outputs(dst), outputs(world["ref"])
    assert {k: got[k] for k in want} == want
    records = {Path(r.input).relative_to(world["src"]).as_posix(): r
               for r in read_jsonl(dst / "mchmc-upscale-report.jsonl")}
    for rel in GOOD:
        assert records[rel].status == "ok"
        assert " via net0@" in records[rel].worker, records[rel].worker
    big = records["big.png"].worker  # split in two bands, one per codec worker, both via the service
    assert "cpu0@" in big and "cpu1@" in big and big.count("via net0@") == 2


def test_the_whole_command_completes_with_the_same_bytes_when_the_network_service_is_killed(world):
    marker, dst = world["root"] / "killed", world["root"] / "out-killed"
    res = stand_in_run(world, dst, **{FAULT_ENV: str(marker)})
    assert marker.exists()  # the service died on its second request (and Ray restarted it)
    assert res.returncode == 1, res.stderr  # bad.png fails alone
    got, want = outputs(dst), outputs(world["ref"])
    assert {k: got[k] for k in want} == want


@pytest.fixture(scope="module")
def ray_session(tmp_path_factory):
    import ray

    from mchmc.batch.pool.ray_local import connect

    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))
    marker = tmp_path_factory.mktemp("fault") / "network-killed"
    marker.write_text("")  # disarmed: a test arms the fault by removing it
    os.environ[FAULT_ENV] = str(marker)
    connect(num_cpus=3, temp_dir=str(tmp_path_factory.mktemp("ray")))
    yield marker
    ray.shutdown()
    os.environ.pop(FAULT_ENV, None)


def small_pages(root: Path, n: int) -> list[Job]:
    (root / "in").mkdir(exist_ok=True)
    jobs = []
    for i in range(n):
        px = texture(32, 32, seed=10 + i)
        Image.fromarray(px[..., 1] if i % 2 else px).save(root / "in" / f"p{i}.png")  # odd pages gray
        jobs.append(Job(root / "in" / f"p{i}.png", root / "out" / f"p{i}.png"))
    return jobs


def run_split(jobs, model: str, net: NetworkSpec):
    options = BatchOptions(model=model, tile=16, noise="none")
    pool = SplitPool(options, PoolSpec(cpus=2), SplitSpec(1, net))
    try:
        first = pool.wait_ready() and pool.service_names[0]  # the service's tag (name@pid) at start
        records = [rec for _, rec in pool.map("process", jobs)]
        return records, dict(pool.stats()[0], first=first)
    finally:
        pool.shutdown()


def reference(jobs, model: str, root: Path) -> dict[str, bytes]:
    worker = PageWorker(BatchOptions(model=model, tile=16, noise="none"), name="ref")
    for job in jobs:
        worker.process(Job(job.src, root / "ref" / job.src.name))
    return {job.src.name: (root / "ref" / job.src.name).read_bytes() for job in jobs}


def test_requests_from_two_workers_are_batched_and_queue_at_most_one_per_worker(ray_session, world, tmp_path):
    jobs = small_pages(tmp_path, 4)
    # 32x32 pages in 16-px tiles: 4 tiles a request, so a batch closes when both workers' requests are in
    records, stats = run_split(jobs, world["model"], NetworkSpec(device="cpu", linger=3.0, batch_tiles=8))
    assert [r.status for r in records] == ["ok"] * 4
    assert stats["requests"] == 4 and stats["tiles"] == 16
    assert stats["max_batch"] == 2 and stats["batches"] < 4
    assert stats["max_waiting"] <= 2
    assert stats["u8"] == 2 and stats["f32"] == 2  # gray pages as 8-bit codes
    want = reference(jobs, world["model"], tmp_path)
    assert {j.src.name: j.dst.read_bytes() for j in jobs} == want


def test_a_killed_network_service_is_restarted_and_its_requests_resent(ray_session, world, tmp_path):
    jobs = small_pages(tmp_path, 6)
    ray_session.unlink()  # armed: the service dies on its second request, once
    records, stats = run_split(jobs, world["model"], NetworkSpec(device="cpu", linger=0.0))
    assert ray_session.exists()  # it did die
    assert [r.status for r in records] == ["ok"] * 6
    assert stats["tag"] != stats["first"]  # a fresh process serves after the restart
    assert all(" via net0@" in r.worker for r in records) and stats["requests"] >= 1
    want = reference(jobs, world["model"], tmp_path)
    assert {j.src.name: j.dst.read_bytes() for j in jobs} == want


def test_more_gpu_services_than_ray_sees_fail_before_any_work(ray_session, world):
    from mchmc.batch.pool.pool import PoolError

    with pytest.raises(PoolError, match="2 GPU network service"):
        SplitPool(BatchOptions(model=world["model"]), PoolSpec(cpus=1), SplitSpec(2, NetworkSpec(device="cuda")))


def test_a_hung_network_service_is_restarted_and_its_requests_resent(ray_session, world, tmp_path):
    """A stopped service process (SIGSTOP: alive, never answering) is found by the reply timeout
    and a liveness check that gets no answer either, killed and restarted as a dead one is: every
    page is served by the restarted service, with the single-worker bytes."""
    import signal

    jobs = small_pages(tmp_path, 4)
    options = BatchOptions(model=world["model"], tile=16, noise="none")
    pool = SplitPool(options, PoolSpec(cpus=2), SplitSpec(1, NetworkSpec(device="cpu", reply_timeout=2.0)))
    hung = None
    try:
        first = pool.wait_ready() and pool.service_names[0]
        hung = int(first.split("@")[1])
        os.kill(hung, signal.SIGSTOP)
        records = [rec for _, rec in pool.map("process", jobs)]
        restarted = pool.stats()[0]["tag"]
    finally:
        pool.shutdown()
        if hung and Path(f"/proc/{hung}").exists():
            os.kill(hung, signal.SIGKILL)  # never leave a stopped process behind, even when this fails
    assert [r.status for r in records] == ["ok"] * 4, [r.error for r in records]
    assert restarted != first
    for r in records:  # each page completed after the restart: the hung process never answered
        assert r.worker.split(" via ")[1].split(",") == [restarted], r.worker
    assert {j.src.name: j.dst.read_bytes() for j in jobs} == reference(jobs, world["model"], tmp_path)
