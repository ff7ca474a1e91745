"""The split pipeline's pieces in this process (no Ray): the wire format is exact, a codec
worker whose network runs in a service writes the same bytes as one that runs it itself, and
the stacked (CUDA-style) batches equal the engine to float tolerance."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from mchmc import colour
from mchmc.batch.network.proxy import LocalLink
from mchmc.batch.network.service import NetworkService, NetworkSpec, run_batch
from mchmc.batch.options import BatchOptions
from mchmc.batch.plan import Job
from mchmc.batch.network.wire import TileRequest, pack
from mchmc.batch.worker.pageworker import PageWorker
from mchmc.engine import Engine, Region
from mchmc.model import build_model
from mchmc.modelfile import save_model
from pages import smooth_rgb


def rgb(h, w, seed):
    noise = np.random.default_rng(seed).normal(0, 20, (h, w, 3))
    return np.clip(smooth_rgb(h, w, seed) * 255 + noise, 0, 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("mch-mc")
    model.reset_parameters(0.05)
    return str(save_model(model, tmp_path_factory.mktemp("net") / "tiny.pt"))


def test_gray_planes_travel_as_their_codes_and_colour_planes_as_float32_bit_for_bit():
    g8 = rgb(20, 30, 1)[..., 0]
    g16 = (g8.astype(np.uint16) * 257 + 3)
    y8 = colour.gray_to_y(colour.to_unit(g8))
    y16 = colour.gray_to_y(colour.to_unit(g16))
    yrgb = colour.rgb_to_ycbcr(colour.to_unit(rgb(20, 30, 2)))[..., 0]
    ybit = colour.gray_to_y(colour.to_unit(g8 > 128))
    margin = rgb(20, 30, 2)
    margin[:4] = 255  # a colour scan whose top rows are a white margin
    ymargin = colour.rgb_to_ycbcr(colour.to_unit(margin))[..., 0]
    for plane, kind in ((y8, "u8"), (y16, "u16"), (yrgb, "f32"), (ybit, "u8"), (ymargin, "f32")):
        packed = pack(plane)
        assert packed.kind == kind
        assert packed.plane().dtype == np.float32 and np.array_equal(packed.plane(), plane)
    assert pack(y8).data.nbytes * 4 == y8.nbytes


def test_a_worker_with_a_network_service_writes_the_same_bytes_and_the_service_ran_every_tile(model_file, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(rgb(70, 90, 3)).save(src / "colour.png")
    Image.fromarray(rgb(64, 48, 4)[..., 1]).save(src / "gray.png")
    options = BatchOptions(model=model_file, tile=32, split_pixels=0, noise="none")
    service = NetworkService(options, NetworkSpec(linger=0.0))
    split = PageWorker(options, LocalLink(service), name="cpu0")
    plain = PageWorker(options, name="ref")
    for name in ("colour.png", "gray.png"):
        a = split.process(Job(src / name, tmp_path / "split" / name))
        b = plain.process(Job(src / name, tmp_path / "plain" / name))
        assert a.status == b.status == "ok", (a.error, b.error)
        assert (tmp_path / "split" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes()
        assert a.probs == b.probs and a.category == b.category
        assert " via net0@" in a.worker
    stats = service.stats()
    # 70x90 in 32-px tiles: 3 x 3; 64x48: 2 x 2 (one strip each: the pages are small)
    assert stats["tiles"] == 9 + 4 and stats["requests"] == 2
    assert stats["u8"] == 1 and stats["f32"] == 1  # the gray page went as 8-bit codes


def test_stacked_batches_equal_the_engine_to_float_tolerance(model_file):
    from mchmc.modelfile import load_model

    engine = Engine(load_model(model_file).model, tile=24, precision="fp32")
    planes = [colour.gray_to_y(colour.to_unit(rgb(50, 61, 5)[..., 0])),
              colour.rgb_to_ycbcr(colour.to_unit(rgb(40, 40, 6)))[..., 0],
              colour.gray_to_y(colour.to_unit(rgb(30, 70, 7)[..., 2].astype(np.uint16) * 257))]
    regions = [Region(5, 45, 0, 61), Region(0, 40, 0, 40), Region(3, 20, 10, 70)]
    requests = [TileRequest(None, pack(p), (r.y0, r.y1, r.x0, r.x1), sr=True, gap=True)
                for p, r in zip(planes, regions)]
    requests.append(TileRequest(None, pack(planes[0]), (0, 50, 0, 61), sr=False, gap=True))
    stacked = run_batch(engine, requests, stack=True, max_tiles=5, server="t")
    for req, plane, got in zip(requests, planes + planes[:1], stacked):
        want = engine.run(plane, Region(*req.region), sr=req.sr, gap=True)
        if req.sr:
            assert np.abs(got.sr - want.sr).max() < 1e-5
        assert got.gap.count == want.gap.count
        np.testing.assert_allclose(got.gap.total, want.gap.total, rtol=1e-5, atol=1e-6)


def test_requests_from_several_workers_are_batched_and_the_queue_is_bounded_by_the_workers(model_file):
    options = BatchOptions(model=model_file, tile=16, noise="none")
    service = NetworkService(options, NetworkSpec(linger=1.0, batch_tiles=1000))
    plane = colour.gray_to_y(colour.to_unit(rgb(32, 32, 8)[..., 0]))
    results = [None] * 4

    def send(i):
        results[i] = service.infer(TileRequest(None, pack(plane), (0, 32, 0, 32), sr=True, gap=False))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = service.stats()
    assert stats["requests"] == 4 and stats["tiles"] == 16
    assert stats["batches"] < 4 and stats["max_batch"] >= 2  # the linger gathered requests into one batch
    assert stats["max_waiting"] <= 4  # one request per worker at most
    assert all(np.array_equal(r.sr, results[0].sr) for r in results)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_cuda_service_matches_the_cpu_path_within_the_engines_tolerance(model_file, precision):
    """The tolerance stated for CUDA: the engine's own (tests/test_engine.py::test_cuda_matches_cpu),
    1e-4 of full range in fp32, 2e-3 (half an 8-bit step) in bf16; GAP sums to 1e-3 relative."""
    from mchmc.modelfile import load_model

    options = BatchOptions(model=model_file, tile=32, precision=precision, noise="none")
    service = NetworkService(options, NetworkSpec(device="cuda", linger=0.0))
    assert service.stack and service.staging.pinned
    cpu = Engine(load_model(model_file).model, tile=32, precision="fp32")
    for plane in (colour.gray_to_y(colour.to_unit(rgb(70, 90, 9)[..., 0])),
                  colour.rgb_to_ycbcr(colour.to_unit(rgb(70, 90, 9)))[..., 0]):
        got = service.infer(TileRequest(model_file, pack(plane), (0, 70, 0, 90), sr=True, gap=True))
        want = cpu.run(plane, gap=True)
        assert np.abs(got.sr - want.sr).max() < (1e-4 if precision == "fp32" else 2e-3)
        np.testing.assert_allclose(got.gap.total, want.gap.total, rtol=1e-3, atol=1e-4)


def test_noise_variants_and_two_passes_run_in_the_service_with_the_same_bytes(tmp_path):
    fam = tmp_path / "fam"
    fam.mkdir()
    for seed, name in ((1, "m.pt"), (2, "m-noise1.pt")):
        torch.manual_seed(seed)
        model = build_model("mch-mc")
        model.reset_parameters(0.05)
        save_model(model, fam / name)
    Image.fromarray(rgb(30, 26, 11)).save(tmp_path / "page.png")
    for tag, kw in (("noise1", {"noise": "1"}), ("scale4", {"scale": 4, "noise": "none"})):
        options = BatchOptions(model=str(fam / "m.pt"), tile=16, split_pixels=0, **kw)
        service = NetworkService(options, NetworkSpec(linger=0.0))
        a = PageWorker(options, LocalLink(service), name="cpu0").process(Job(tmp_path / "page.png", tmp_path / tag / "a.png"))
        b = PageWorker(options, name="ref").process(Job(tmp_path / "page.png", tmp_path / tag / "b.png"))
        assert a.status == b.status == "ok", (a.error, b.error)
        assert (tmp_path / tag / "a.png").read_bytes() == (tmp_path / tag / "b.png").read_bytes()
        assert a.probs == b.probs and service.stats()["requests"] >= (2 if tag == "scale4" else 1)
        if tag == "noise1":  # the variant was loaded by the service, on its first request
            assert set(service.engines) == {str(fam / "m.pt"), str(fam / "m-noise1.pt")}
