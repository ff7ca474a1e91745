"""The router (issue 27, session 11): beside a level's file, ``router/<stem>.pt`` picks the specialist that
upscales each page from the head's features plus the page's colour and edges; the report's category stays
the head's. Its file is read like every model file (no code runs, every bad file one line); it is fitted
for real on training pages, through the CLI and as a Prefect flow, with cross-validation grouped by image."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mchmc.batch.bands import BandCall, FinishCall
from mchmc.batch.options import BatchOptions
from mchmc.batch.plan import Job
from mchmc.batch.worker.pageworker import PageWorker
from mchmc.engine import Engine
from mchmc.errors import ModelFileError
from mchmc.model import build_model
from mchmc.modelconfig import CATEGORIES
from mchmc.modelfile import load_model, save_model
from mchmc.pages import read_page
from mchmc.router import (
    STATISTICS,
    Router,
    file_sha256,
    load_router,
    page_statistics,
    route_inputs,
    router_file,
    save_router,
)
from mchmc.train.config import load_config
from mchmc.train.router import RouterFit, cross_validate, fit_linear, page_rows

sys.path.insert(0, str(Path(__file__).parent))
from test_data import synth_dataset
from test_routing import family, named, page_file, upscaled

N2 = load_model("srformc").config.channels[1]


def always(category: str, model_file: Path, n2: int = N2) -> Router:
    """A router that names ``category`` for every page, fitted (as it says) on ``model_file``."""
    n, k = n2 + len(STATISTICS), len(CATEGORIES)
    bias = np.where(np.array(CATEGORIES) == category, 10.0, 0.0)
    return Router(CATEGORIES, np.zeros(n), np.ones(n), np.zeros((k, n)), bias, file_sha256(model_file))


def test_the_router_chooses_the_specialist_and_the_report_keeps_the_heads_category(tmp_path):
    page = page_file(tmp_path / "src" / "p.png")
    head_says = named(page)
    other = next(c for c in CATEGORIES if c != head_says)
    model = family(tmp_path / "fam", {head_says: 3 / 64, other: 5 / 64})
    plain, by_head = upscaled(model, page, tmp_path / "head.png")
    save_router(always(other, model), router_file(model))
    routed, got = upscaled(model, page, tmp_path / "routed.png")
    _, want = upscaled(model.with_name(f"m-for-{other}.pt"), page, tmp_path / "direct.png")
    assert plain.model == f"m-for-{head_says}.pt" and routed.model == f"m-for-{other}.pt"
    assert np.array_equal(got, want) and not np.array_equal(got, by_head)
    assert routed.category == plain.category == head_says and routed.probs == plain.probs


def test_bands_of_a_big_page_take_the_routers_choice_and_stitch_to_the_whole_pages_bytes(tmp_path):
    page = page_file(tmp_path / "src" / "big.png", 240, 200)
    other = next(c for c in CATEGORIES if c != named(page))
    model = family(tmp_path / "fam", {other: 3 / 64})
    save_router(always(other, model), router_file(model))
    whole, want = upscaled(model, page, tmp_path / "whole.png")
    job = Job(page, tmp_path / "banded.png")
    bands = [PageWorker(BatchOptions(model=str(model), format="png")).band(BandCall(job, r0, r1, 2))
             for r0, r1 in ((0, 120), (120, 240))]
    assert not any(b.error for b in bands) and {b.band.routed for b in bands} == {other}
    record = PageWorker(BatchOptions(model=str(model), format="png")).finish(
        FinishCall(job, bands[0].meta, tuple(b.band for b in bands), 0.0, "w0,w1"))
    assert record.status == "ok", record.error
    assert np.array_equal(np.asarray(Image.open(job.dst)), want)
    assert record.model == whole.model == f"m-for-{other}.pt"


def test_a_router_fitted_on_another_model_fails_its_pages_in_one_line_and_writes_nothing(tmp_path):
    page = page_file(tmp_path / "src" / "p.png")
    model = family(tmp_path / "fam", {"manga": 3 / 64})
    save_router(always("manga", model.with_name("m-for-manga.pt")), router_file(model))
    record = PageWorker(BatchOptions(model=str(model), format="png")).process(Job(page, tmp_path / "out.png"))
    assert record.status == "error" and "\n" not in record.error
    assert "router was fitted on another model file than m.pt" in record.error and "router/m.pt" in record.error
    assert not (tmp_path / "out.png").exists()


def _payload(router: Router) -> dict:
    t = lambda a: torch.from_numpy(np.asarray(a, np.float64))
    return {"format": "mchmc-router", "version": 1, "categories": json.dumps(list(router.categories)),
            "statistics": json.dumps(list(STATISTICS)), "model_sha256": router.model_sha256, "provenance": "{}",
            "mean": t(router.mean), "scale": t(router.scale), "weight": t(router.weight), "bias": t(router.bias)}


class Evil:
    def __reduce__(self):
        return (print, ("ran code",))


BAD = {
    "empty": lambda p, r: p.write_bytes(b""),
    "random bytes": lambda p, r: p.write_bytes(np.random.default_rng(1).bytes(4096)),
    "truncated": lambda p, r: (save_router(r, p), p.write_bytes(p.read_bytes()[:300])),
    "pickled code": lambda p, r: torch.save({"format": "mchmc-router", "x": Evil()}, p),
    "no header": lambda p, r: torch.save({"mean": torch.zeros(3)}, p),
    "missing tensor": lambda p, r: torch.save({k: v for k, v in _payload(r).items() if k != "bias"}, p),
    "not a tensor": lambda p, r: torch.save({**_payload(r), "weight": "w"}, p),
    "bad json": lambda p, r: torch.save({**_payload(r), "categories": "[nature"}, p),
    "wrong shape": lambda p, r: torch.save({**_payload(r), "weight": torch.zeros(2, 5, dtype=torch.float64)}, p),
    "not finite": lambda p, r: torch.save({**_payload(r), "bias": torch.tensor([float("nan"), 0.0, 0.0])}, p),
    "zero scale": lambda p, r: torch.save({**_payload(r), "scale": torch.zeros(len(r.mean), dtype=torch.float64)}, p),
    "other statistics": lambda p, r: torch.save({**_payload(r), "statistics": json.dumps(["a"] * len(STATISTICS))}, p),
    "other categories": lambda p, r: torch.save({**_payload(r), "categories": json.dumps(["cats", "dogs", "birds"])}, p),
    "other F2 width": lambda p, r: save_router(always("manga", p.parent.parent / "m.pt", N2 + 1), p),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_every_bad_router_file_is_refused_in_one_line_naming_it(tmp_path, case, capsys):
    model = save_model(load_model("srformc").model, tmp_path / "m.pt")
    path = tmp_path / "router" / "m.pt"
    path.parent.mkdir()
    BAD[case](path, always("manga", model))
    with pytest.raises(ModelFileError) as err:
        load_router(path, model, CATEGORIES, N2)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert "ran code" not in capsys.readouterr().out


def test_a_good_router_file_reads_back_as_written(tmp_path):
    model = save_model(load_model("srformc").model, tmp_path / "m.pt")
    router = always("text", model)
    back = load_router(save_router(router, router_file(model)), model, CATEGORIES, N2)
    assert back.categories == CATEGORIES and back.model_sha256 == router.model_sha256
    assert all(np.array_equal(getattr(back, k), getattr(router, k)) for k in ("mean", "scale", "weight", "bias"))
    assert back.category(np.zeros(back.features)) == "text"


def test_page_statistics_see_colour_and_edges_in_any_pixel_layout():
    rng = np.random.default_rng(0)
    gray = (rng.random((40, 50)) * 255).astype(np.uint8)
    y = gray.astype(np.float32) / 255
    as_gray = page_statistics(gray, y)
    assert np.allclose(as_gray, page_statistics(np.repeat(gray[..., None], 3, 2), y), atol=1e-6)  # R = G = B: gray
    assert np.allclose(as_gray, page_statistics(gray.astype(np.uint16) * 257, y))  # 16 bits: the same page
    rgba = np.dstack([gray, gray, gray, np.zeros_like(gray)])
    assert np.allclose(as_gray, page_statistics(rgba, y), atol=1e-6)  # alpha is not colour
    named_stats = dict(zip(STATISTICS, as_gray))
    assert named_stats["gray_share"] == 1 and named_stats["chroma_mean"] == 0
    red = np.zeros((40, 50, 3), np.uint8)
    red[..., 0] = 200
    assert dict(zip(STATISTICS, page_statistics(red, y)))["saturated_share"] == 1
    flat = page_statistics(np.full((1, 1), 7, np.uint8), np.zeros((1, 1), np.float32))  # a one-pixel page
    assert np.isfinite(flat).all() and len(flat) == len(STATISTICS)


def test_route_inputs_read_the_heads_statistics_as_the_page_pass_does():
    from mchmc.pages.category import page_category_stats

    engine = Engine(load_model("srformc").model, tile=64)
    for shape in ((40, 56), (240, 200)):  # whole, and through the head's view
        page = (np.random.default_rng(2).random((*shape, 3)) * 255).astype(np.uint8)
        features, stats = route_inputs(engine, page)
        want = page_category_stats(engine, page)
        assert np.array_equal(stats.total, want.total) and stats.count == want.count
        assert np.array_equal(features[:N2], want.total / want.count) and len(features) == N2 + len(STATISTICS)


def test_the_fit_separates_categories_and_cross_validation_never_splits_an_image():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, (3, 8))
    y = rng.integers(0, 3, 90)
    x = centres[y] + rng.normal(0, 1, (90, 8))
    params = fit_linear(x, y, 3, 1e-3)
    z = ((x - params[0]) / params[1]) @ params[2].T + params[3]
    assert (z.argmax(1) == y).mean() > 0.95
    # labels without signal, each image drawn three times alike: held out by image, they stay at chance;
    # split across folds, the same copies would be learned by heart
    noise, labels = rng.normal(0, 1, (40, 30)), rng.integers(0, 3, 40)
    x3, y3 = np.repeat(noise, 3, 0), np.repeat(labels, 3)
    fit = RouterFit(strengths=(1e-6,))
    _, by_image = cross_validate(x3, y3, np.repeat(np.arange(40), 3), 3, 1e-6, fit)
    _, by_row = cross_validate(x3, y3, np.arange(120), 3, 1e-6, fit)
    assert (by_image.argmax(1) == y3).mean() < 0.6
    assert (by_row.argmax(1) == y3).mean() > 0.9


def test_a_noise_levels_pages_are_drawn_degraded_several_times_per_image(tmp_path):
    from mchmc.train.data import ImageRef

    root = synth_dataset(tmp_path / "imgs", n=2)
    refs = [ImageRef("manga", p) for p in sorted((root / "manga").glob("*.png"))]
    engine = Engine(load_model("srformc").model, tile=64)
    x, y, groups, heads = page_rows(engine, refs, (3, 0), 2, {}, CATEGORIES, log=lambda m: None)
    assert len(x) == 2 * len(refs) and set(y) == {CATEGORIES.index("manga")} and heads.shape == (len(x), 3)
    assert list(groups) == [g for r in refs for g in [f"manga/{r.path.name}"] * 2]
    assert not np.array_equal(x[0], x[1])  # two draws of the level's JPEG steps
    clean, *_ = page_rows(engine, refs, None, 2, {}, CATEGORIES, log=lambda m: None)
    assert len(clean) == len(refs)  # a clean model's page is one page


@pytest.mark.slow
@pytest.mark.parametrize("prefect", [False, True])
def test_train_router_runs_for_real_and_the_tier_then_routes_by_it(tmp_path, prefect):
    from mchmc.cli.app import app
    from typer.testing import CliRunner

    root = synth_dataset(tmp_path / "imgs", n=6)
    for c, folder in load_config("smoke").data.folders.items():  # the folder names the config expects
        (root / c).rename(root / folder)
    torch.manual_seed(0)
    model = save_model(build_model("mch-mc"), tmp_path / "tier" / "m.pt", {"config": "smoke"})
    save_model(build_model("mch-mc"), model.with_name("m-for-manga.pt"))
    args = ["train-router", str(model), "--data-root", str(root), *([] if prefect else ["--no-prefect"])]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "router fitted on" in res.output and "cross-validated top-1" in res.output
    router = load_router(router_file(model), model, CATEGORIES, load_model(model).config.channels[1])
    prov = router.provenance
    assert prov["config"] == "smoke" and prov["strength"] in RouterFit().strengths
    assert set(prov["cv_top1"]) == set(CATEGORIES) and prov["train_images"] + prov["val_images"] <= 6 * 3
    page = read_page(next((root / load_config("smoke").data.folders["manga"]).glob("*.png")))
    features, _ = route_inputs(Engine(load_model(model).model, tile=64), page)
    record, _ = upscaled(model, page.meta.path, tmp_path / "out.png")
    assert record.model == ("m-for-manga.pt" if router.category(features) == "manga" else "m.pt")


def test_a_model_without_specialists_is_refused_in_one_line(tmp_path):
    from mchmc.cli.app import app
    from typer.testing import CliRunner

    res = CliRunner().invoke(app, ["train-router", "srformc", "--no-prefect"])
    assert res.exit_code == 2 and "no level of this model has specialists" in res.output


def test_pages_are_drawn_at_every_size_the_fit_asks_and_the_lr_page_keeps_its_draws(tmp_path):
    """RouterFit.sizes: each image also as a bigger page (the HR image resized by 1 / f, f < 2: a scan), so
    a router is fitted on the sizes it will read; the LR page's rows are the ones a one-size fit draws
    (release 6's routers were fitted on the LR page alone)."""
    from mchmc.train.data import ImageRef

    root = synth_dataset(tmp_path / "imgs", n=2)
    refs = [ImageRef("text", p) for p in sorted((root / "text").glob("*.png"))]
    engine = Engine(load_model("srformc").model, tile=64)
    one, *_ = page_rows(engine, refs, (1, 0), 2, {}, CATEGORIES, log=lambda m: None)
    x, y, groups, _ = page_rows(engine, refs, (1, 0), 2, {}, CATEGORIES, log=lambda m: None, sizes=(2.0, 1.0, 0.5))
    assert len(x) == 3 * len(one) and set(y) == {CATEGORIES.index("text")}
    assert list(groups) == [g for r in refs for g in [f"text/{r.path.name}"] * 6], "an image's pages stay one group"
    assert np.array_equal(x[0::6], one[0::2]) and np.array_equal(x[1::6], one[1::2]), "the LR page: same draws"
    assert not np.allclose(x[0], x[4]), "a 4x page is another page"
    assert RouterFit().sizes == (2.0, 1.0, 0.5), "the shipped routers' sizes: 1x, 2x and 4x"
