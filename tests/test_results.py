"""From per-image scores to Tables 7-10: averaging conventions (checked against the paper's own
numbers), mean ± std over folds, SRforMC - SRforAll, and Table 10's split by classification."""
from __future__ import annotations

import math

import pytest

from mchmc.experiment import paper
from mchmc.experiment.evaluate import ImageScore
from mchmc.experiment.tables import markdown, table7_rows, table10_rows
from mchmc.experiment.results import Stat, gain, table7, table7_cells, table8, table9, table10


def score(method, fold, cat, name, psnr, ssim=0.9, predicted="", seconds=0.5, lr_pixels=1000):
    return ImageScore(method, fold, cat, name, psnr, ssim, psnr + 0.1, ssim, seconds, lr_pixels, predicted,
                      (1.0, 0.0, 0.0) if predicted else ())


def test_the_paper_averages_table7_over_images_and_table9_over_categories():
    n = paper.TEST_IMAGES

    def weighted(method, k):
        return sum(paper.TABLE7[method][c][k] * n[c] for c in paper.CATEGORIES) / sum(n.values())

    for method, row in paper.TABLE7.items():
        assert weighted(method, 1) == pytest.approx(row["average"][1], abs=0.0001), method  # SSIM: all five
        if method != "SRforMC":
            assert weighted(method, 0) == pytest.approx(row["average"][0], abs=0.006), method
    # the one exception, in the paper itself: SRforMC's 31.29 is 0.02 dB above its own categories' mean
    assert weighted("SRforMC", 0) == pytest.approx(31.27, abs=0.001)
    plain3 = sum(paper.TABLE7["SRforMC"][c][0] for c in paper.CATEGORIES) / 3
    assert plain3 == pytest.approx(31.11, abs=0.01)  # and no plain mean over categories gives 31.29 either
    plain = sum(paper.TABLE9_TOP1[c] for c in paper.CATEGORIES) / 3
    assert plain == pytest.approx(paper.TABLE9_TOP1["average"], abs=0.05)
    assert paper.table7_gain("average") == (0.22, 0.0025)  # the paper's headline


def test_stat_is_mean_and_sample_std_over_folds():
    s = Stat.of([30.0, 31.0, 32.0])
    assert (s.mean, s.std, s.n) == (31.0, 1.0, 3)
    assert s.text(2) == "31.00 ± 1.00" and Stat.of([0.5, 0.7]).text(2, signed=True) == "+0.60 ± 0.14"
    one = Stat.of([30.0])
    assert one.n == 1 and math.isnan(one.std) and one.text(2) == "30.00"
    assert Stat.of([]).text() == "-"


def test_table7_average_is_over_the_folds_images_then_over_folds():
    s = [score("SRforAll", 1, "nature", "a", 30), score("SRforAll", 1, "manga", "b", 36),
         score("SRforAll", 1, "manga", "c", 38),
         score("SRforAll", 2, "nature", "d", 32), score("SRforAll", 2, "manga", "e", 34)]
    t = table7(s)["SRforAll"]
    assert t["nature"][0].mean == 31.0 and t["manga"][0].mean == 35.5  # fold means 37 and 34
    assert t["average"][0].mean == pytest.approx((104 / 3 + 33) / 2)  # fold 1: (30+36+38)/3 over images
    assert t["average"][0].std == pytest.approx(abs(104 / 3 - 33) / math.sqrt(2))
    assert table7_cells(s) == {"SRforAll": {1: (pytest.approx(104 / 3), 0.9), 2: (33.0, 0.9)}}
    rows = table7_rows(s)
    assert rows[0]["method"] == "SRforAll" and rows[1]["method"] == "SRforAll (paper)"
    assert rows[1]["average"] == "31.07 / 0.9364" and rows[0]["nature"].startswith("**31.00 ± 1.41")
    assert "| method | nature | manga | average |" in markdown(rows)


def three_folds():
    """SRforMC vs SRforAll on 2 folds; predicted categories set per image."""
    s = []
    for f, items in {1: [("nature", "n1", 30.0, 30.5, "nature"), ("manga", "m1", 36.0, 36.1, "nature"),
                         ("text", "t1", 25.0, 25.6, "text")],
                     2: [("nature", "n2", 31.0, 30.8, "manga"), ("text", "t2", 24.0, 24.4, "text")]}.items():
        for cat, name, p_all, p_mc, pred in items:
            s.append(score("SRforAll", f, cat, name, p_all, 0.90))
            s.append(score("SRforMC", f, cat, name, p_mc, 0.91, pred))
    return s


def test_table10_splits_the_gain_by_the_classification_of_each_image():
    t = table10(three_folds())
    # correct: n1 +0.5, t1 +0.6, t2 +0.4 ; wrong: m1 +0.1, n2 -0.2
    assert t["true"].images == 3 and t["true"].psnr == pytest.approx(0.5)
    assert t["false"].images == 2 and t["false"].psnr == pytest.approx(-0.05)
    assert t["true"].ssim == pytest.approx(0.01) and t["false"].ssim == pytest.approx(0.01)
    assert t["true"].psnr_folds.mean == pytest.approx((0.55 + 0.4) / 2)  # per fold: (0.5+0.6)/2, 0.4
    assert t["false"].psnr_folds.mean == pytest.approx((0.1 - 0.2) / 2)
    # an image SRforAll was not scored on is left out; so are images without a classification
    extra = three_folds() + [score("SRforMC", 2, "manga", "m9", 40, 0.9, "manga")]
    assert table10(extra)["true"].images == 3
    rows = table10_rows(three_folds())
    assert rows[-1] == {"SRforMC − SRforAll": "paper", "True (correctly classified)": "+0.20 / +0.0027",
                        "False (misclassified)": "+0.14 / +0.0017"}
    assert rows[0]["True (correctly classified)"].startswith("+0.50 / +0.0100 (3 images")


def test_gain_per_category_and_accuracy_per_category():
    s = three_folds()
    g = gain(s)
    assert g["nature"][0].mean == pytest.approx((0.5 - 0.2) / 2) and g["manga"][0].n == 1
    assert g["average"][0].mean == pytest.approx(((0.5 + 0.1 + 0.6) / 3 + (-0.2 + 0.4) / 2) / 2)
    acc = table9(s)
    assert acc["nature"].mean == 50.0 and acc["text"].mean == 100.0 and acc["manga"].mean == 0.0
    assert acc["average"].mean == pytest.approx(((100 + 0 + 100) / 3 + (0 + 100) / 2) / 2)  # over categories


def test_table8_groups_mch_methods_against_mch_mc():
    s = [score("SRforAll", 1, "nature", "a", 30, seconds=0.2, lr_pixels=100_000),
         score("SRforNature", 1, "nature", "a", 30, seconds=0.4, lr_pixels=100_000),
         score("SRforMC", 1, "nature", "a", 30, "nature", seconds=0.3, lr_pixels=100_000),
         score("Bicubic", 1, "nature", "a", 28, seconds=0.1, lr_pixels=100_000)]
    t = table8(s)
    assert set(t) == {"MCH", "MCH-MC", "Bicubic"}
    assert t["MCH"]["average"].mean == pytest.approx(0.3) and t["MCH-MC"]["nature"].mean == pytest.approx(0.3)
    assert t["MCH"]["ms_per_lr_mp"].mean == pytest.approx(1e3 * 0.6 / 0.2)


def test_the_paper_patch_shares_follow_table5_weights():
    s = paper.patch_shares()
    assert sum(s.values()) == pytest.approx(1)
    # alpha is inversely proportional to the patch count: manga has 1/0.089 = 11.2x the text patches
    assert s["manga"] / s["text"] == pytest.approx(1 / 0.089)
    assert paper.patches_per_image(512, 512, 60, 5) == 91 * 91
    assert paper.patches_per_image(50, 512, 60, 5) == 0


def test_differences_table_names_budget_data_and_patch_shares():
    from mchmc.train.config import load_config
    from mchmc.experiment.tables import differences_rows

    cfg = load_config("cpu")
    sizes = {"nature": 240 * 160, "manga": 413 * 585, "text": 256 * 256}  # LR pixels
    scores = [ImageScore("Bicubic", 1, c, f"{c}{i}.png", 30, 0.9, 30, 0.9, lr_pixels=px)
              for c, px in sizes.items() for i in range(10)]
    rows, share = differences_rows(cfg, scores)
    by = {r[""]: r for r in rows}
    assert by["back-propagations, SRforMC"]["ours"] == "5,000 + 40,000"
    assert by["back-propagations, MCH methods"]["ours"] == "40,000"
    assert "512 x 512" in by["text images"]["ours"] and by["text images"]["ours"].startswith("10,")
    ours = {c: share[c][0] for c in share}
    want = {"nature": 85 * 53 * 10, "manga": 77 * 112, "text": 91 * 91}  # stride 5 / 10 / 5 on 60 px patches
    want["manga"] *= 10
    want["text"] *= 10
    # sizes enter as square roots of the pixel count, so the shares are close, not exact
    for c in ours:
        assert ours[c] == pytest.approx(want[c] / sum(want.values()), abs=0.01)
    assert share["text"][1] == pytest.approx(paper.patch_shares()["text"])
