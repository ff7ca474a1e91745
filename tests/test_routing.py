"""The category chooses the reconstruction (issue 27, :mod:`mchmc.routing`): a model ``m.pt`` with a
specialist ``m-for-<category>.pt`` beside it upscales a page its head names <category> with the
specialist's reconstruction; the page's category and probabilities stay the head's; a page of a category
without a specialist, and a model without any, are upscaled exactly as before.

The specialists here are the shipped SRforMC with conv3's bias shifted, so which file made a page can be
read off its pixels, and their heads are the model's own (a page run through a specialist file directly
must give the same bytes as the routed run)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch
from pages import smooth_rgb
from PIL import Image

from mchmc.batch.bands import BandCall, FinishCall
from mchmc.batch.options import BatchOptions
from mchmc.batch.plan import Job
from mchmc.batch.worker.pageworker import PageWorker
from mchmc.engine import Engine
from mchmc.model import build_model
from mchmc.modelconfig import CATEGORIES
from mchmc.modelfile import load_model, noise_variants, save_model, specialist_files
from mchmc.pages import read_page
from mchmc.routing import page_route


def shifted(shift: float):
    model = load_model("srformc").model
    with torch.no_grad():
        model.conv3.bias += shift
    return model


def page_file(path: Path, h: int = 40, w: int = 56, gray: bool = False, quality: int | None = None) -> Path:
    rgb = (smooth_rgb(h, w, 3) * 255).round().astype(np.uint8)
    img = Image.fromarray(rgb[..., 1] if gray else rgb)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **({"quality": quality} if quality else {}))
    return path


def named(page: Path) -> str:
    """The category the shipped model's head names for the page: the one its specialist is for."""
    return page_route(Engine(load_model("srformc").model, tile=64), read_page(page))[0]


def family(folder: Path, specialists: dict[str, float], stem: str = "m") -> Path:
    """``m.pt`` (the shipped SRforMC) and ``m-for-<category>.pt`` per ``specialists`` (category -> shift)."""
    folder.mkdir(parents=True, exist_ok=True)
    save_model(load_model("srformc").model, folder / f"{stem}.pt")
    for category, shift in specialists.items():
        save_model(shifted(shift), folder / f"{stem}-for-{category}.pt")
    return folder / f"{stem}.pt"


def upscaled(model: Path, page: Path, out: Path, **options):
    record = PageWorker(BatchOptions(model=str(model), format="png", **options)).process(Job(page, out))
    assert record.status == "ok", record.error
    return record, np.asarray(Image.open(out))


def test_specialists_are_found_beside_the_model_and_are_not_noise_variants(tmp_path):
    for name in ("m.pt", "m-for-nature.pt", "m-noise1.pt", "m-noise1-for-manga.pt", "m-for-photos.pt"):
        save_model(load_model("srformc").model, tmp_path / name)
    assert specialist_files(tmp_path / "m.pt", CATEGORIES) == {"nature": tmp_path / "m-for-nature.pt"}
    assert specialist_files(tmp_path / "m-noise1.pt", CATEGORIES) == {"manga": tmp_path / "m-noise1-for-manga.pt"}
    assert noise_variants(tmp_path / "m.pt") == {1: tmp_path / "m-noise1.pt"}


def test_a_page_is_upscaled_by_the_specialist_of_the_category_its_head_names(tmp_path):
    page = page_file(tmp_path / "src" / "p.png")
    category = named(page)
    other = next(c for c in CATEGORIES if c != category)
    model = family(tmp_path / "fam", {category: 3 / 64, other: 5 / 64})
    routed, got = upscaled(model, page, tmp_path / "routed.png")
    direct, want = upscaled(model.with_name(f"m-for-{category}.pt"), page, tmp_path / "direct.png")
    plain, before = upscaled(family(tmp_path / "plain", {}), page, tmp_path / "plain.png")
    assert np.array_equal(got, want) and not np.array_equal(got, before)
    assert routed.model == f"m-for-{category}.pt" and plain.model == "m.pt"
    assert routed.category == plain.category == category and routed.probs == plain.probs == direct.probs


def test_a_page_of_a_category_without_a_specialist_is_upscaled_as_before(tmp_path):
    page = page_file(tmp_path / "src" / "p.png")
    category = named(page)
    model = family(tmp_path / "fam", {c: 3 / 64 for c in CATEGORIES if c != category})
    routed, got = upscaled(model, page, tmp_path / "routed.png")
    plain, before = upscaled(family(tmp_path / "plain", {}), page, tmp_path / "plain.png")
    assert np.array_equal(got, before) and routed.model == "m.pt" and routed.probs == plain.probs


def test_a_jpeg_page_gets_its_noise_levels_specialist(tmp_path):
    """A gray JPEG at q75 (level 1; gray, so no chroma network): ``m-noise1-for-<category>.pt`` upscales it."""
    page = page_file(tmp_path / "src" / "p.jpg", gray=True, quality=75)
    category = page_route(Engine(shifted(1 / 64), tile=64), read_page(page))[0]
    fam = family(tmp_path / "fam", {})
    save_model(shifted(1 / 64), fam.with_name("m-noise1.pt"))
    save_model(shifted(7 / 64), fam.with_name(f"m-noise1-for-{category}.pt"))
    routed, got = upscaled(fam, page, tmp_path / "routed.png")
    assert routed.noise == "1" and routed.model == f"m-noise1-for-{category}.pt"
    _, want = upscaled(fam.with_name(f"m-noise1-for-{category}.pt"), page, tmp_path / "direct.png", noise="none")
    assert np.array_equal(got, want)


def test_scale_4_runs_both_passes_with_the_specialist(tmp_path):
    page = page_file(tmp_path / "src" / "p.png", 24, 32)
    category = named(page)
    model = family(tmp_path / "fam", {category: 3 / 64})
    _, got = upscaled(model, page, tmp_path / "routed.png", scale=4)
    _, want = upscaled(model.with_name(f"m-for-{category}.pt"), page, tmp_path / "direct.png", scale=4)
    assert got.shape[:2] == (96, 128) and np.array_equal(got, want)


def test_bands_of_a_big_page_route_alike_and_stitch_to_the_whole_pages_bytes(tmp_path):
    """A page above the head's view size (mchmc.pages.category.VIEW_PIXELS) cut into two bands, each on
    its own worker: each band routes on the same view, and the stitched file is the one-piece run's."""
    page = page_file(tmp_path / "src" / "big.png", 240, 200)
    category = named(page)
    model = family(tmp_path / "fam", {category: 3 / 64})
    whole, want = upscaled(model, page, tmp_path / "whole.png")
    job = Job(page, tmp_path / "banded.png")
    bands = [PageWorker(BatchOptions(model=str(model), format="png")).band(BandCall(job, r0, r1, 2))
             for r0, r1 in ((0, 120), (120, 240))]
    assert not any(b.error for b in bands)
    finisher = PageWorker(BatchOptions(model=str(model), format="png"))
    record = finisher.finish(FinishCall(job, bands[0].meta, tuple(b.band for b in bands), 0.0, "w0,w1"))
    assert record.status == "ok", record.error
    assert np.array_equal(np.asarray(Image.open(job.dst)), want)
    assert record.model == whole.model == f"m-for-{category}.pt" and record.probs == whole.probs


def deeper(shift: float):
    """The shipped SRforMC grown by a tail layer (halo 5 -> 6): an identity layer whose 3x3 taps are then
    perturbed, so the extra row of halo does change its pixels; conv3's bias shifted."""
    from mchmc.train.widen import deepen

    model = deepen(load_model("srformc").model, 1)
    with torch.no_grad():
        noise = torch.randn(model.tail[0].weight.shape, generator=torch.Generator().manual_seed(0))
        model.tail[0].weight += 0.05 * noise
        model.conv3.bias += shift
    return model


def test_a_deeper_specialist_gets_the_rows_its_halo_needs_whole_and_in_bands(tmp_path):
    """A specialist one tail layer deeper than its model: the page's strips and bands read its larger halo,
    so the routed page equals the specialist run on its own, and the banded page the whole one."""
    page = page_file(tmp_path / "src" / "big.png", 240, 200)
    category = named(page)
    model = family(tmp_path / "fam", {})
    save_model(deeper(3 / 64), model.with_name(f"m-for-{category}.pt"))
    routed, got = upscaled(model, page, tmp_path / "routed.png", tile=32)
    _, want = upscaled(model.with_name(f"m-for-{category}.pt"), page, tmp_path / "direct.png", tile=32)
    assert routed.model == f"m-for-{category}.pt" and np.array_equal(got, want)
    job = Job(page, tmp_path / "banded.png")
    bands = [PageWorker(BatchOptions(model=str(model), format="png", tile=32)).band(BandCall(job, r0, r1, 3))
             for r0, r1 in ((0, 70), (70, 150), (150, 240))]
    assert not any(b.error for b in bands)
    record = PageWorker(BatchOptions(model=str(model), format="png")).finish(
        FinishCall(job, bands[0].meta, tuple(b.band for b in bands), 0.0, "w0,w1,w2"))
    assert record.status == "ok", record.error
    assert np.array_equal(np.asarray(Image.open(job.dst)), want)


def test_a_specialist_of_another_scale_fails_its_pages_in_one_line_and_the_run_goes_on(tmp_path):
    page = page_file(tmp_path / "src" / "p.png")
    category = named(page)
    model = family(tmp_path / "fam", {})
    torch.manual_seed(0)
    save_model(build_model("mch-mc", scale=3), model.with_name(f"m-for-{category}.pt"))
    worker = PageWorker(BatchOptions(model=str(model), format="png"))
    record = worker.process(Job(page, tmp_path / "out.png"))
    assert record.status == "error" and "\n" not in record.error
    assert f"m-for-{category}.pt: a specialist must upscale by its model's 2x, not 3x" in record.error
    assert not (tmp_path / "out.png").exists()
    shutil.copy(page, tmp_path / "src" / "q.png")
    assert worker.process(Job(tmp_path / "src" / "q.png", tmp_path / "q.png")).status == "error"  # every such page


def test_through_a_network_service_the_specialist_runs_there_with_the_same_bytes(tmp_path):
    """``--gpus``: the network runs in a service; the routed page's tiles are the specialist's, served
    by the service (which loads it on its first request), and the file is the in-process run's."""
    from mchmc.batch.network.proxy import LocalLink
    from mchmc.batch.network.service import NetworkService, NetworkSpec

    page = page_file(tmp_path / "src" / "p.png")
    category = named(page)
    model = family(tmp_path / "fam", {category: 3 / 64})
    options = BatchOptions(model=str(model), format="png")
    service = NetworkService(options, NetworkSpec(linger=0.0))
    served = PageWorker(options, LocalLink(service), name="cpu0").process(Job(page, tmp_path / "a.png"))
    local = PageWorker(options, name="ref").process(Job(page, tmp_path / "b.png"))
    assert served.status == local.status == "ok", (served.error, local.error)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert served.model == local.model == f"m-for-{category}.pt" and served.probs == local.probs
    assert str(model.with_name(f"m-for-{category}.pt")) in service.engines
