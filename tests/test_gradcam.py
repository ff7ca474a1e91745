"""Grad-CAM on F2: right size, the mass sits where the evidence is and moves with it,
it equals Grad-CAM (offset restored) computed by brute force with autograd through the whole
network, and on the shipped model the top-1 category's map is the bright one; titles with
characters the default font lacks (CJK file names) draw no boxes."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from mchmc.engine import Engine
from mchmc.experiment.gradcam import evidence, grad_cam
from mchmc.model import build_model

sys.path.insert(0, str(Path(__file__).parent))
from evidence import evidence_model, half_page  # noqa: E402


def share_left(heat: np.ndarray) -> float:
    return float(heat[:, : heat.shape[1] // 2].sum() / heat.sum())


def test_heat_maps_have_the_page_size_and_one_map_per_category():
    page = half_page(64, 128)
    cam = grad_cam(evidence_model(), page)
    assert cam.categories == ("nature", "manga", "text")
    assert cam.maps.shape == (3, 64, 128) and cam.maps.dtype == np.float32
    assert (cam.maps >= 0).all() and (cam.maps <= 1).all()
    odd = grad_cam(evidence_model(), half_page(37, 90)[:, :83], tile=16)
    assert odd.maps.shape == (3, 37, 83)


def test_mass_sits_on_the_evidence_and_moves_with_it():
    model = evidence_model()
    left_text = grad_cam(model, half_page(text_left=True))
    assert share_left(left_text.map("text")) > 0.95  # text evidence: the glyph half
    assert share_left(left_text.map("nature")) < 0.05  # photo evidence: the other half
    right_text = grad_cam(model, half_page(text_left=False))
    assert share_left(right_text.map("text")) < 0.05
    assert share_left(right_text.map("nature")) > 0.95
    # the page-level guess follows the evidence too
    text_only = half_page()[:, :64]
    assert grad_cam(model, np.hstack([text_only, text_only])).predicted == "text"
    photo_only = half_page()[:, 64:]
    assert grad_cam(model, np.hstack([photo_only, photo_only])).predicted == "nature"


def test_probabilities_are_the_engines():
    model, page = evidence_model(), half_page()
    cam = grad_cam(model, page, tile=20)
    eng = Engine(build_model("mch-mc"), tile=None)
    eng.model.load_state_dict(model.state_dict())
    np.testing.assert_allclose(cam.probs, eng.probabilities(eng.gap_stats(page)), atol=1e-6)
    assert cam.probs.sum() == pytest.approx(1.0)


def test_equals_brute_force_grad_cam_through_the_whole_network():
    """Autograd from the class logit back to F2 of the unpadded image (the pooled region):
    alpha = mean gradient per channel; the local logit Z sum alpha F2 + (y - Z alpha . p) averages
    to the page's logit y; map = evidence(local logits); ours must match inside."""
    torch.manual_seed(0)
    model = build_model("mch-mc")
    model.reset_parameters(0.3)
    for mod in model.modules():
        if isinstance(mod, torch.nn.Conv2d | torch.nn.Linear):
            torch.nn.init.normal_(mod.bias, 0.0, 0.05)
    model.eval()
    plane = np.random.default_rng(5).random((23, 31)).astype(np.float32)
    cam = grad_cam(model, plane, tile=7)
    r = model.config.feature_halo
    x = torch.from_numpy(plane)[None, None].double()
    model.double()
    local = []
    for d in range(3):
        f2 = model.features(x).detach().requires_grad_(True)  # (1, 32, 23-2r, 31-2r): the pooled positions
        logit = model.classify(f2.mean(dim=(2, 3)))[0, d]
        (grad,) = torch.autograd.grad(logit, f2)
        alpha = grad.mean(dim=(2, 3))[0]
        np.testing.assert_allclose(cam.weights[d], alpha.numpy(), rtol=1e-4, atol=1e-9)
        z = f2.shape[2] * f2.shape[3]
        pooled = f2[0].detach().mean(dim=(1, 2))
        local.append(z * torch.einsum("k,khw->hw", alpha, f2[0].detach()) + (logit.detach() - z * alpha @ pooled))
        assert float(local[-1].mean()) == pytest.approx(logit.item(), abs=1e-9)  # the maps add up to the logit
        assert logit.item() == pytest.approx(cam.logits[d], abs=1e-4)
    np.testing.assert_allclose(cam.maps[:, r:-r, r:-r], evidence(torch.stack(local)).numpy(), atol=2e-5)


def test_evidence_is_the_excess_over_chance_on_one_scale():
    assert not evidence(np.zeros((3, 4, 4))).any(), "no preference for any category: dark everywhere"
    e = evidence(np.array([[50.0, 0.0, np.log(2.0)], [0.0, 0.0, 0.0], [-50.0, 0.0, 0.0]])).numpy()
    np.testing.assert_allclose(e[:, 0], [1.0, 0.0, 0.0], atol=1e-9)  # all the evidence for category 0
    np.testing.assert_allclose(e[:, 2], [0.25, 0.0, 0.0], atol=1e-9)  # P = 1/2 -> (1/2 - 1/3) * 3/2
    rng = np.random.default_rng(0)
    e = evidence(rng.normal(0, 5, (3, 50, 50))).numpy()
    assert ((e > 0.5).sum(axis=0) <= 1).all(), "at most one category is more than half bright at a pixel"
    with pytest.raises(ValueError, match="no classifier"):
        grad_cam(build_model("mch"), half_page())


SAMPLES = Path(__file__).parents[1] / "samples"


def sample_plane(name: str) -> np.ndarray:
    from mchmc import colour
    from mchmc.pages import read_page

    return colour.luminance(read_page(SAMPLES / name).pixels)


@pytest.mark.parametrize("page, category", [("manga-page.png", "manga"), ("text-page.png", "text"),
                                            ("landscape.jpg", "nature")])
def test_the_top1_category_is_the_bright_map_on_the_shipped_model(page, category):
    """The bug: the top-1's map was nearly blank (nature at 85%: all zeros) and a 0% category's
    filled the page, as plain Grad-CAM drops the head's large offsets and each map was stretched
    to its own maximum. On one shared scale the top-1 now outshines every unlikely category."""
    from mchmc.modelfile import load_model

    cam = grad_cam(load_model("srformc", expect_arch="mch-mc").model, sample_plane(page))
    assert cam.predicted == category and cam.probs.max() > 0.8
    top = cam.map(category)
    assert top.mean() > 0.3 and (top > 0.5).mean() > 0.3, "the top-1 map is not blank"
    for c, p in zip(cam.categories, cam.probs):
        if p < 0.05:
            other = cam.map(c)
            assert top.mean() > 1.2 * other.mean(), (c, p, top.mean(), other.mean())
            assert (top > 0.5).mean() > (other > 0.5).mean(), (c, p)
    lowest = cam.map(cam.categories[int(np.argmin(cam.probs))])
    assert np.percentile(lowest, 50) <= np.percentile(top, 50), "the ~0% category is not brighter"


def render_warnings(fn, caplog) -> list[str]:
    """Warnings and log records about glyphs while ``fn`` runs."""
    with warnings.catch_warnings(record=True) as caught, caplog.at_level("WARNING"):
        warnings.simplefilter("always")
        fn()
    return [str(w.message) for w in caught if "glyph" in str(w.message).lower() or "font" in str(w.message).lower()] \
        + [r.getMessage() for r in caplog.records if "font" in r.getMessage().lower()]


def test_titles_with_cjk_or_rare_characters_draw_no_boxes(tmp_path, caplog):
    from PIL import Image

    from mchmc.experiment.figures import _coverage, drawable, explain_figure

    cam = grad_cam(evidence_model(), half_page(48, 96))
    page = np.zeros((48, 96, 3), np.uint8)
    name = "\u24b6 第1話_p003.png"  # circled A: not in DejaVu Sans, in matplotlib's own STIX fonts
    out = tmp_path / "heat.png"
    assert render_warnings(lambda: explain_figure(page, cam, out, title=name), caplog) == []
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width > 300
    text, families = drawable(name)
    assert families and "STIXGeneral" in families and text.startswith("\u24b6 ")
    cjk_font = any(0x7B2C in _coverage(f) for f in families[1:])
    assert text == (name if cjk_font else "\u24b6 ?1?_p003.png"), "a CJK font where installed, else '?'"
    assert drawable("plain_name.png") == ("plain_name.png", None)
    assert drawable("tab\there.png")[0] == "tab?here.png"


def test_window_maps_are_the_heads_answer_on_a_patch_window_banded_or_whole(monkeypatch):
    """window_cam: at each pixel, the head on the F2 mean of the (odd) training-patch window centred
    there, truncated at the border; computed in row bands it equals the whole page."""
    import torch.nn.functional as F

    from mchmc.experiment import gradcam as gc

    torch.manual_seed(0)
    model = build_model("mch-mc").eval()
    model.reset_parameters(0.05)
    plane = np.random.default_rng(0).random((37, 41), dtype=np.float32)
    whole = gc.window_cam(model, plane)
    monkeypatch.setattr(gc, "BAND_PIXELS", 41 * 5)  # bands of 5 rows
    banded = gc.window_cam(model, plane)
    assert np.allclose(whole.maps, banded.maps, atol=1e-6)
    f2 = gc._f2_band(model, plane, 0, 37, model.config.feature_halo)
    y, x = 20, 3  # a window truncated by the left border: columns 0..14
    mean = f2[:, y - 11 : y + 12, 0 : x + 12].mean((1, 2))
    with torch.no_grad():
        want = gc.evidence(model.classify(mean[None])[0][:, None, None])[:, 0, 0].numpy()
    assert np.allclose(whole.maps[:, y, x], want, atol=1e-5)
    pooled = F.avg_pool2d(f2[None], 23, 1, 11, count_include_pad=False)  # the same everywhere
    assert pooled.shape[-2:] == (37, 41)
    assert np.allclose(whole.probs, gc.grad_cam(model, plane).probs)


@pytest.mark.parametrize("page, category", [("manga-page.png", "manga"), ("text-page.png", "text"),
                                            ("landscape.jpg", "nature")])
def test_window_maps_show_the_top1_brightest_on_the_shipped_model(page, category):
    from mchmc.experiment.gradcam import window_cam
    from mchmc.modelfile import load_model

    cam = window_cam(load_model("srformc", expect_arch="mch-mc").model, sample_plane(page))
    assert cam.predicted == category
    top = cam.map(category)
    assert top.mean() > 0.3 and (top > 0.5).mean() > 0.3
    for c, p in zip(cam.categories, cam.probs):
        if c != category:
            assert top.mean() > 1.2 * cam.map(c).mean(), (c, p)


def explained_probs(output: str) -> dict[str, float]:
    """The probabilities ``mchmc explain`` prints (its table: category, probability in %)."""
    import re

    rows = re.findall(r"(nature|manga|text)(?: \(top-1\))?\s*\W\s*([\d.]+)%", output)
    return {c: float(p) / 100 for c, p in rows}


@pytest.mark.slow
def test_explain_and_classify_agree_on_jpeg_pages(tmp_path):
    """``explain`` uses the model ``classify`` would (``--noise auto``: a JPEG's noise-level variant),
    so it reports classify's category with classify's probabilities (to 0.5%: classify may compute
    in bf16). On barbara at q85 the clean model said nature 72% where classify says manga 50.2%."""
    import subprocess

    from PIL import Image
    from typer.testing import CliRunner

    from mchmc.batch.records import read_jsonl
    from mchmc.cli.app import app

    src = tmp_path / "pages"
    src.mkdir()
    Image.open(SAMPLES / "manga-page.png").convert("RGB").save(src / "manga_q85.jpg", quality=85)
    from conftest import SHARED

    barbara = SHARED / "datasets" / "set14" / "barbara.png"
    if barbara.exists():  # ../shared is optional
        Image.open(barbara).convert("RGB").save(src / "barbara_q85.jpg", quality=85)
    report = tmp_path / "classify.jsonl"
    res = subprocess.run([sys.executable, "-m", "mchmc.cli.app", "classify", str(src), "--report", str(report),
                          "--cpus", "1"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    for rec in read_jsonl(report):
        assert rec.noise != "none", rec.noise  # a JPEG's own level: the case the clean model got wrong
        shown = CliRunner().invoke(app, ["explain", rec.input, "--out", str(tmp_path / "map.png")],
                                   terminal_width=160)
        assert shown.exit_code == 0, shown.output
        assert f"{rec.category} (top-1)" in shown.output, (rec.input, rec.category, shown.output)
        probs = explained_probs(shown.output)
        assert list(probs) == ["nature", "manga", "text"]
        assert probs == pytest.approx(rec.probs, abs=0.005), (rec.input, probs, rec.probs)  # D17: by name


def test_explain_takes_noise_as_classify_does(tmp_path):
    """``--noise`` as upscale and classify read it: a level picks that variant for every page,
    an unknown one is a usage error in one line, before any work."""
    from typer.testing import CliRunner

    from mchmc.cli.app import app

    page, out = str(SAMPLES / "text-page.png"), str(tmp_path / "map.png")
    res = CliRunner().invoke(app, ["explain", page, "--out", out, "--noise", "2"], terminal_width=200)
    assert res.exit_code == 0 and "(srformc-noise2.pt; noise --noise 2)" in " ".join(res.output.split()), res.output
    res = CliRunner().invoke(app, ["explain", page, "--out", out, "--noise", "7"], terminal_width=200)
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "--noise must be one of" in res.output, res.output


@pytest.mark.parametrize("link", ["same", "symbolic", "hard"])
def test_explain_never_writes_its_map_over_the_page_it_explains(tmp_path, link):
    """``--out`` naming the page itself (or a link to it) is a usage error in one line, before any
    work: the heat map (a PNG) must never replace the page being explained (issue 28, A1)."""
    import os
    import shutil

    from typer.testing import CliRunner

    from mchmc.cli.app import app

    page = tmp_path / "page.png"
    shutil.copy(SAMPLES / "text-page.png", page)
    before = page.read_bytes()
    out = page if link == "same" else tmp_path / "map.png"
    if link == "symbolic":
        out.symlink_to(page)
    elif link == "hard":
        os.link(page, out)
    res = CliRunner().invoke(app, ["explain", str(page), "--out", str(out)], terminal_width=200)
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "the page it explains" in res.output, res.output
    assert page.read_bytes() == before
