"""Band specialists (issue 27, session 13; :func:`mchmc.modelfile.band_files`): beside a level's category
specialist ``m-noise1-for-manga.pt`` a file ``m-noise1-for-manga-q70.pt`` upscales that category's pages whose
JPEG tables say q70 or above, the highest band at or below the page's quality winning. A level's one network is
best at the qualities its training mix weighs most (level 3 spans q20-54), so the top of a level can have its own.
Pages below every band, pages that are not JPEGs and models without band files are upscaled exactly as before;
the report names the file that made the page."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from test_routing import family, page_file, shifted, upscaled

from mchmc.batch.options import BatchOptions
from mchmc.batch.worker.engines import PageEngines
from mchmc.engine import Engine
from mchmc.modelconfig import CATEGORIES
from mchmc.modelfile import band_files, load_model, save_model, specialist_for
from mchmc.pages import read_page
from mchmc.routing import page_route
from mchmc.tierchoice import TierFacts
from mchmc.tiers import TIERS


def test_band_files_are_found_highest_first_and_only_by_their_exact_name(tmp_path):
    model = load_model("srformc").model
    good = ("m-noise3-for-manga-q45.pt", "m-noise3-for-manga-q20.pt", "m-noise3-for-manga-q100.pt",
            "m-noise3-for-nature-q50.pt")
    decoys = ("m-noise3-for-manga-q045.pt", "m-noise3-for-manga-q0.pt", "m-noise3-for-manga-q101.pt",
              "m-noise3-for-manga-qx.pt", "m-noise3-for-manga-q.pt", "m-noise3-for-manga-q45.pt.bak",
              "m-noise3-for-photos-q45.pt", "m-for-manga-q45.pt", "m-noise3-for-manga-q-5.pt")
    for name in (*good, *decoys):
        save_model(model, tmp_path / name)
    (tmp_path / "m-noise3-for-manga-q60.pt").mkdir()  # a folder is not a model file
    found = band_files(tmp_path / "m-noise3.pt", CATEGORIES)
    assert found == {"manga": ((100, tmp_path / "m-noise3-for-manga-q100.pt"), (45, tmp_path / "m-noise3-for-manga-q45.pt"),
                               (20, tmp_path / "m-noise3-for-manga-q20.pt")),
                     "nature": ((50, tmp_path / "m-noise3-for-nature-q50.pt"),)}
    assert band_files(tmp_path / "m.pt", CATEGORIES) == {"manga": ((45, tmp_path / "m-for-manga-q45.pt"),)}
    assert band_files(tmp_path / "other.pt", CATEGORIES) == {}


def test_the_highest_band_at_or_below_the_pages_quality_wins():
    plain, q45, q20 = Path("plain.pt"), Path("q45.pt"), Path("q20.pt")
    bands = ((45, q45), (20, q20))
    assert [specialist_for(plain, bands, q) for q in (54, 45, 44, 20, 19, None)] == [q45, q45, q20, q20, plain, plain]
    assert specialist_for(None, bands, 10) is None, "below every band and no plain specialist: the level's model"
    assert specialist_for(plain, (), 50) == plain


def test_a_jpeg_page_above_a_band_gets_the_bands_file_and_below_it_the_plain_specialist(tmp_path):
    """A gray JPEG at q75 goes to level 1 (gray, so no chroma network). With bands at q70 and q90 it is the q70
    file's page, byte for byte as that file makes it; with the bands moved above its quality, the plain
    specialist's; a PNG of the same pixels ignores the bands."""
    page = page_file(tmp_path / "src" / "p.jpg", gray=True, quality=75)
    meta_q = read_page(page).meta.jpeg_quality
    assert 70 <= meta_q < 90
    category = page_route(Engine(shifted(1 / 64), tile=64), read_page(page))[0]
    fam = family(tmp_path / "fam", {})
    save_model(shifted(1 / 64), fam.with_name("m-noise1.pt"))
    save_model(shifted(7 / 64), fam.with_name(f"m-noise1-for-{category}.pt"))
    save_model(shifted(-5 / 64), fam.with_name(f"m-noise1-for-{category}-q70.pt"))
    save_model(shifted(9 / 64), fam.with_name(f"m-noise1-for-{category}-q90.pt"))
    routed, got = upscaled(fam, page, tmp_path / "routed.png")
    assert routed.noise == "1" and routed.model == f"m-noise1-for-{category}-q70.pt"
    _, want = upscaled(fam.with_name(f"m-noise1-for-{category}-q70.pt"), page, tmp_path / "direct.png", noise="none")
    assert np.array_equal(got, want)

    fam.with_name(f"m-noise1-for-{category}-q70.pt").rename(fam.with_name(f"m-noise1-for-{category}-q{meta_q + 1}.pt"))
    below, got = upscaled(fam, page, tmp_path / "below.png")
    assert below.model == f"m-noise1-for-{category}.pt"
    _, want = upscaled(fam.with_name(f"m-noise1-for-{category}.pt"), page, tmp_path / "plain.png", noise="none")
    assert np.array_equal(got, want)
    assert routed.category == below.category and routed.probs == below.probs, "the category stays the head's"


def test_a_level_with_band_files_only_routes_to_them(tmp_path):
    page = page_file(tmp_path / "src" / "p.jpg", gray=True, quality=75)
    category = page_route(Engine(shifted(1 / 64), tile=64), read_page(page))[0]
    fam = family(tmp_path / "fam", {})
    save_model(shifted(1 / 64), fam.with_name("m-noise1.pt"))
    save_model(shifted(-5 / 64), fam.with_name(f"m-noise1-for-{category}-q50.pt"))
    routed, _ = upscaled(fam, page, tmp_path / "routed.png")
    assert routed.model == f"m-noise1-for-{category}-q50.pt"
    assert PageEngines(BatchOptions(model=str(fam), classify_only=True)).bands == {}, \
        "--classify-only loads no specialist"


def test_mchmc_info_names_the_bands():
    facts = TierFacts(TIERS["quality"], Path("q.pt"), "mch-mc-quality", 1, {}, {},
                      {None: {"nature": Path("a")}, 3: {"nature": Path("b"), "manga": Path("c")}}, frozenset({3}),
                      {3: {"manga": ((45, Path("d")),)}})
    assert facts.specialist_words == "clean: nature; 3: nature, manga, manga q45+ (router)"
