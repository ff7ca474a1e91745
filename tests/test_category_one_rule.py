"""One rule for what the category head reads (issue 30): the K-fold experiment's category for a test
image equals ``mchmc classify``'s on the same page (the LR image the model is fed) with the same model,
also above ``VIEW_PIXELS``, where the head reads the page's view; and every reader of the head
(upscale, classify, explain, the experiment, validation) takes its plane from
:func:`mchmc.pages.category.head_plane` and its top category from :func:`mchmc.modelconfig.top_category`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import shared_path
from mchmc.batch.options import BatchOptions
from mchmc.batch.plan import Job
from mchmc.batch.worker.pageworker import PageWorker
from mchmc.engine import Engine
from mchmc.experiment.evaluate import evaluate_model
from mchmc.modelfile import load_model
from mchmc.resize import imresize
from mchmc.train.data import ImageRef, even_crop, load_rgb

ROOT = Path(__file__).resolve().parents[1]
VIEW = 40_000  # mchmc.pages.category.VIEW_PIXELS at the time of writing: the pages below must be above it


@pytest.fixture(scope="module")
def model():
    return load_model("srformc").model


def _classify(tmp_path: Path, page: Path):
    """``mchmc classify``'s record of one page: the worker the CLI runs, on the shipped model, fp32."""
    worker = PageWorker(BatchOptions(model="srformc", noise="none", precision="fp32", tile=256,
                                     classify_only=True), name="t")
    rec = worker.process(Job(page, tmp_path / "unused" / page.name))
    assert rec.status == "ok", rec.error
    return rec


def _same_category(model, tmp_path: Path, hr_path: Path, category: str):
    """The experiment scores ``hr_path`` (its LR: the MATLAB-bicubic half of the uint8 image); classify
    reads that LR image saved as a page. Same category, same probabilities."""
    lr = imresize(even_crop(load_rgb(hr_path), 2), 0.5)
    assert lr.shape[0] * lr.shape[1] > VIEW, "the page must be above the view's size"
    page = tmp_path / "lr.png"
    Image.fromarray(lr).save(page)
    [score] = evaluate_model(model, [ImageRef(category, hr_path)], "SRforMC", 1, tile=256, precision="fp32")
    rec = _classify(tmp_path, page)
    assert score.predicted == rec.category
    assert score.probs == tuple(rec.probs[c] for c in model.config.categories)
    return score


@pytest.mark.parametrize("sample, factor", [("manga-page.png", 1), ("text-page.png", 2)])
def test_the_experiments_category_equals_classifys_on_a_big_page(model, tmp_path, sample, factor):
    """manga-page.png: LR 180 x 240 (43,200 px, just above the threshold); text-page.png at 2x: LR 420 x 300."""
    px = load_rgb(ROOT / "samples" / sample)
    hr = tmp_path / "hr" / sample
    hr.parent.mkdir()
    Image.fromarray(px if factor == 1 else imresize(px, float(factor))).save(hr)
    _same_category(model, tmp_path, hr, sample.split("-")[0])


def test_the_experiments_category_equals_classifys_on_a_manga109_page(model, tmp_path):
    folder = shared_path("datasets", "manga_manga109")
    pages = sorted(folder.glob("*.png"))
    if not pages:
        pytest.skip("no Manga109 pages under ../shared/datasets")
    score = _same_category(model, tmp_path, pages[0], "manga")  # LR 413 x 585
    assert score.lr_pixels > VIEW


# ---------------------------------------------------------------- every reader goes through the one rule

def _y(px: np.ndarray) -> np.ndarray:
    from mchmc.colour import luminance

    return luminance(px)


@pytest.fixture
def decoy(monkeypatch):
    """Every page is read through its 'view' (the threshold lowered to 1,000 LR px), and the one function
    that says what the head reads answers with a decoy: the Y of a text page's crop. A reader that
    follows the rule reports the decoy's category for any page; one with its own rule, the page's."""
    import mchmc.pages.category as category

    text = _y(load_rgb(ROOT / "samples" / "text-page.png")[60:160, 60:200])
    calls = []

    def head_plane(image, view_pixels=None):
        calls.append(getattr(image, "shape", None) or image.pixels.shape)
        return text

    monkeypatch.setattr(category, "VIEW_PIXELS", 1_000)
    monkeypatch.setattr(category, "head_plane", head_plane)
    return text, calls


def test_every_reader_of_the_head_reads_what_the_one_rule_says(decoy, tmp_path):
    from cli.experiment import _page_planes
    from mchmc.experiment.evaluate import TestImage, score_image
    from mchmc.experiment.gradcam import grad_cam
    from mchmc.modelconfig import top_category
    from mchmc.pages import read_page, upscale_page
    from mchmc.train.validate import Validator

    text, calls = decoy
    engine = Engine(load_model("srformc").model, tile=256)
    cats = list(engine.config.categories)
    expected = engine.category_probs(engine.gap_stats(text))
    nature = load_rgb(ROOT / "samples" / "landscape.jpg")[:80, :120]  # 9,600 px: whole under the real rule
    own = engine.category_probs(engine.gap_stats(_y(nature)))
    assert top_category(expected) == "text" != top_category(own), "the decoy must be told from the page"
    src = tmp_path / "landscape.png"
    Image.fromarray(nature).save(src)
    page = read_page(src)

    assert upscale_page(page, engine).probs == expected  # upscale
    rec = _classify(tmp_path, src)  # classify
    assert rec.category == "text" and rec.probs == {c: round(expected[c], 6) for c in cats}
    y, shown, _ = _page_planes(str(src))  # explain: the plane Grad-CAM explains, shown at its size
    assert y is text and shown.shape[:2] == text.shape
    cam = grad_cam(engine.model, y, tile=256)
    assert cam.predicted == "text" and np.allclose(cam.probs, [expected[c] for c in cats], atol=1e-6)
    lr = _y(nature)  # the experiment's per-image score
    score = score_image(engine, TestImage("nature", "landscape", _y(imresize(nature, 2.0)), lr), "SRforMC", 1)
    assert score.predicted == "text" and score.probs == tuple(round(expected[c], 6) for c in cats)
    for label in ("nature", "text"):  # validation: right exactly when the label is the decoy's category
        hr = tmp_path / label / "landscape.png"
        hr.parent.mkdir()
        Image.fromarray(imresize(nature, 2.0)).save(hr)
        [(_, _, correct)] = list(Validator([ImageRef(label, hr)], 1, 0, 2).outputs(engine.model))
        assert correct == (label == "text")
    assert len(calls) >= 6
