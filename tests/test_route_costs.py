"""bench/route_costs.py: what each route costs per page, through the real CLI. The variants must be the tier
with its specialists as shipped, without any, and with one category's specialist serving every page; the
scores must be those of the pages the CLI wrote. Synthetic pages and the shipped quality tier; no ../shared
needed."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import route_costs as rc

from mchmc.modelfile import resolve_model


def _fake_tier(tmp_path: Path) -> dict[Path, dict[str, Path]]:
    """A tier's file names (contents are their names): clean + nature specialist, level 1 + both."""
    d = tmp_path / "tier"
    d.mkdir()
    names = ["q.pt", "q-for-nature.pt", "q-noise1.pt", "q-noise1-for-nature.pt", "q-noise1-for-manga.pt"]
    for n in names:
        (d / n).write_text(n)
    return {d / "q.pt": {"nature": d / "q-for-nature.pt"},
            d / "q-noise1.pt": {"nature": d / "q-noise1-for-nature.pt", "manga": d / "q-noise1-for-manga.pt"}}


def _folder(base: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(base.parent.iterdir()) if p.is_file()}


def test_each_variant_holds_the_levels_and_the_specialists_it_names(tmp_path):
    v = rc.variant_dirs(_fake_tier(tmp_path), tmp_path / "models")
    assert sorted(v) == ["all-manga", "all-nature", "none", "shipped"]
    assert _folder(v["shipped"]) == {"q-for-nature.pt": "q-for-nature.pt", "q-noise1-for-manga.pt": "q-noise1-for-manga.pt",
                                     "q-noise1-for-nature.pt": "q-noise1-for-nature.pt", "q-noise1.pt": "q-noise1.pt",
                                     "q.pt": "q.pt"}
    assert _folder(v["none"]) == {"q-noise1.pt": "q-noise1.pt", "q.pt": "q.pt"}
    manga = _folder(v["all-manga"])
    assert {n: c for n, c in manga.items() if "-for-" in n} == {
        f"q-noise1-for-{c}.pt": "q-noise1-for-manga.pt" for c in ("nature", "manga", "text")}, \
        "the manga specialist serves every category at level 1, and clean (no manga specialist) has none"
    nature = _folder(v["all-nature"])
    assert nature["q-for-manga.pt"] == "q-for-nature.pt" and nature["q-noise1-for-text.pt"] == "q-noise1-for-nature.pt"


def test_band_files_travel_with_their_category(tmp_path):
    """A band file (``q-noise1-for-manga-q45.pt``, release 10) serves its category's pages of q45 and above
    in ``shipped``; in ``all-manga`` it serves every category's, and ``none`` has none."""
    files = _fake_tier(tmp_path)
    level1 = next(f for f in files if f.name == "q-noise1.pt")
    level1.with_name("q-noise1-for-manga-q45.pt").write_text("band")
    v = rc.variant_dirs(files, tmp_path / "models")
    assert _folder(v["shipped"])["q-noise1-for-manga-q45.pt"] == "band"
    assert not any("-q45" in n for n in _folder(v["all-nature"])) and not any("-q45" in n for n in _folder(v["none"]))
    assert {n: c for n, c in _folder(v["all-manga"]).items() if "-q45" in n} == {
        f"q-noise1-for-{c}-q45.pt": "band" for c in ("nature", "manga", "text")}


def test_a_page_made_by_a_band_file_is_routed_to_its_category():
    assert rc.made_by("q-noise3-for-manga-q45") == ("manga", 45)
    assert rc.made_by("q-noise3-for-nature") == ("nature", None)
    assert rc.made_by("q-noise3") == ("-", None)


def test_a_tier_with_a_router_is_measured_with_it_and_routed_by_its_head(tmp_path):
    files = _fake_tier(tmp_path)
    level1 = next(f for f in files if f.name == "q-noise1.pt")
    rc.router_file(level1).parent.mkdir()
    rc.router_file(level1).write_text("router of q-noise1")
    v = rc.variant_dirs(files, tmp_path / "models")
    assert sorted(v) == ["all-manga", "all-nature", "head", "none", "shipped"]
    assert _folder(v["head"]) == _folder(v["shipped"]), "the same files: only the router differs"
    assert (v["shipped"].parent / "router" / "q-noise1.pt").read_text() == "router of q-noise1"
    assert not (v["head"].parent / "router").exists() and not (v["none"].parent / "router").exists()


def test_the_means_group_pages_by_quality_and_category():
    rows = [{"quality": 50, "category": "manga", "psnr": {"shipped": 30.0, "all-manga": 31.0}, "mix": 30.5},
            {"quality": 50, "category": "manga", "psnr": {"shipped": 32.0, "all-manga": 31.0}, "mix": 31.5},
            {"quality": 0, "category": "nature", "psnr": {"shipped": 28.0, "all-manga": 27.0}, "mix": 27.5}]
    m = rc.means(rows)
    assert m[(50, "manga")] == {"shipped": 31.0, "all-manga": 31.0, "mix": 31.0, "best route": 31.5}
    assert m[(0, "nature")]["best route"] == 28.0


@pytest.mark.skipif("srformc-quality" not in resolve_model("quality").stem, reason="quality tier not shipped")
def test_a_real_run_scores_the_pages_the_cli_wrote(tmp_path):
    rng = np.random.default_rng(0)
    for cat in ("manga", "nature"):
        (tmp_path / "hr" / cat).mkdir(parents=True)
        img = (rng.random((48, 64, 3)) * 40 + np.linspace(0, 200, 64)[None, :, None]).astype(np.uint8)
        Image.fromarray(img).save(tmp_path / "hr" / cat / "p.png")
    pages = rc.make_pages(tmp_path / "hr", [0, 50], tmp_path / "lr")
    assert sorted(p["file"] for p in pages) == ["manga-p-q0.png", "manga-p-q50.jpg", "nature-p-q0.png",
                                                 "nature-p-q50.jpg"]
    variants = rc.variant_dirs(rc.tier_files("quality"), tmp_path / "models")
    outs = {}
    for name in ("shipped", "none", "all-manga"):
        outs[name] = tmp_path / "sr" / name
        rc.upscale(variants[name], tmp_path / "lr", outs[name], 1)
    rows = rc.score(pages, outs)
    for r in rows:
        hr = rc.y_of(Path(r["hr"]))
        sr = rc.y_of(outs["none"] / f"{r['page']}.png")
        assert r["psnr"]["none"] == pytest.approx(10 * np.log10(255**2 / np.mean((sr - hr)[2:-2, 2:-2] ** 2)))
        assert abs(sum(r["probs"].values()) - 1) < 1e-3 and r["routed"] in (*r["probs"], "-")  # "-": no specialist
        if r["quality"] == 50 and r["routed"] == "manga":
            assert r["psnr"]["shipped"] == r["psnr"]["all-manga"], "routed to manga: the shipped page is the manga one (band included)"
