"""The Ray actor pool, with a real local Ray (loopback) and a logical GPU count
declared at init so GPU placement is exercised on this CPU-only machine."""
import pytest

from mchmc.pool import CallFailed, Pool, PoolError, PoolSpec, check_resources, connect
from conftest import ROOT
from ray_workers import EchoWorker

TESTS = ROOT / "tests"


@pytest.fixture(scope="module")
def ray_session(tmp_path_factory):
    import os

    import ray

    # worker processes inherit the driver's environment: let them import ray_workers
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    resources = connect(num_cpus=2, num_gpus=2, temp_dir=str(tmp_path_factory.mktemp("ray")))
    yield resources
    ray.shutdown()


def test_local_ray_listens_on_loopback_only(ray_session):
    import ray

    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")


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


def test_a_worker_that_dies_mid_call_is_restarted_and_the_item_retried(ray_session, tmp_path):
    pool = Pool(EchoWorker, (str(tmp_path),), PoolSpec(cpus=1, per_actor=1))
    try:
        out = list(pool.map("work", ["a", "crash-once", "b"]))
    finally:
        pool.shutdown()
    assert [item for item, _ in out] == ["a", "crash-once", "b"]  # each reported once
    assert all(isinstance(r, dict) for _, r in out)
    assert (tmp_path / "crashed").exists(), "the worker really died once"


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
