"""The HTML report of a small real run (issue 31), opened from disk in headless
Chromium (Debian's ``chromium``, driven by Playwright with the system browser;
``.ci/run`` installs it where missing). The run has loose pages, one named
``<img src=x onerror=alert(1)>.png``, a CBZ volume, a scanned PDF and a page
that fails. In the browser: filter by category, sort by confidence, open a
page's before / after and find both images loaded at their real sizes; the
hostile names are text and no script of theirs runs; no request leaves
``file://``. The screenshot it takes is the README's (``MCHMC_SCREENSHOT=1``
copies it to docs/report-screenshot.png)."""
from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pikepdf
import tifffile
import pytest
from PIL import Image

from conftest import ROOT
from mchmc.batch.records import read_jsonl
from pdfs import dct, flate, jpeg_bytes, save, scan_page
from test_containers import texture
from test_safety_cli import upscale

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ALERT = "<img src=x onerror=alert(1)>.png"
FLAG = "<svg onload=window.__pwned=1>.png"


def png(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def text_like(h: int, w: int, seed: int) -> np.ndarray:
    """Gray lines of dark "words" on white paper."""
    rng, page = np.random.default_rng(seed), np.full((h, w), 235, np.uint8)
    for top in range(6, h - 8, 9):
        x = 6
        while x < w - 10:
            n = int(rng.integers(4, 14))
            page[top : top + 5, x : min(x + n, w - 6)] = rng.integers(10, 60, (5, min(n, w - 6 - x)))
            x += n + 3
    return page


def make_src(root: Path) -> Path:
    src = root / "scans"
    for i, name in enumerate(["a/p1.png", "a/p2.png", "a/p3.png", "b/q1.png", ALERT, FLAG]):
        png(src / name, texture(48 + 8 * i, 64, seed=i) if i % 3 else np.stack([text_like(48 + 8 * i, 64, i)] * 3, -1))
    (src / "b" / "q2.jpg").write_bytes(jpeg_bytes(texture(40, 56, 9)))
    tifffile.imwrite(src / "b" / "q3.tif", texture(40, 50, 10), photometric="rgb")
    (src / "b" / "bad.png").write_bytes(b"this is not a PNG")
    with zipfile.ZipFile(src / "vol01.cbz", "w") as z:
        for i in range(3):
            buf = io.BytesIO()
            Image.fromarray(texture(36, 44, 20 + i)).save(buf, "PNG")
            z.writestr(f"{i + 1:03d}.png", buf.getvalue())
    pdf = pikepdf.new()
    scan_page(pdf, dct(pdf, jpeg_bytes(texture(40, 50, 30)), 50, 40))
    scan_page(pdf, flate(pdf, texture(32, 40, 31)[..., 1]))
    save(pdf, src / "scan.pdf")
    return src


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("html")
    src, dst = make_src(root), root / "out"
    res = upscale("srformc", src, dst)  # the shipped model: categories worth a screenshot
    assert res.returncode == 1, res.stdout + res.stderr  # bad.png failed, the rest is done
    records = {r.input[len(str(src)) + 1:]: r for r in read_jsonl(dst / "mchmc-upscale-report.jsonl")}
    return {"src": src, "dst": dst, "records": records, "page": dst / "mchmc-report.html", "res": res}


@pytest.fixture(scope="module")
def browser(world, tmp_path_factory):
    """The report open in Chromium, with every request, dialog and page error it met."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (what .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra)")
    seen = {"requests": [], "dialogs": [], "errors": []}
    with sync_api.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(tmp_path_factory.mktemp("profile")), headless=True,
                                                   executable_path=CHROMIUM, args=ARGS,
                                                   viewport={"width": 1200, "height": 900})
        ctx.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                  else route.abort())
        page = ctx.new_page()
        page.on("request", lambda r: seen["requests"].append(r.url))
        page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: seen["errors"].append(str(e)))
        page.goto(world["page"].as_uri())
        page.wait_for_selector("body[data-ready='1']")
        yield page, seen
        ctx.close()


def cells(page, column: int) -> list[str]:
    return page.eval_on_selector_all(f"#rows tr td:nth-child({column})", "tds => tds.map(td => td.textContent)")


def wait_until(page, expression: str, tries: int = 400) -> None:
    """Poll ``expression`` (page.wait_for_function evaluates a string, which the report's policy forbids)."""
    for _ in range(tries):
        if page.evaluate(expression):
            return
        page.wait_for_timeout(25)
    raise AssertionError(f"never true: {expression}")


def open_page(page, name: str) -> None:
    page.locator("#rows td.name button", has_text=name).first.click()
    wait_until(page, "Array.from(document.querySelectorAll('#viewer img')).every(i => i.complete)")


def test_the_run_wrote_its_page_beside_the_report_and_every_page_is_listed(world, browser):
    page, seen = browser
    assert "mchmc-report.html: open it in a browser" in world["res"].stdout
    pages = [n for n, r in world["records"].items() if r.kind != "container"]
    assert page.inner_text("#count").startswith(f"{len(pages)} of {len(pages)} pages")
    names = page.eval_on_selector_all("#rows td.name button", "bs => bs.map(b => b.textContent)")
    assert sorted(names) == sorted(pages) and {"vol01.cbz!/002.png", "scan.pdf!/page-002", "b/bad.png"} < set(names)
    assert seen["errors"] == []


def test_hostile_file_names_are_text_and_no_script_of_theirs_runs(browser):
    page, seen = browser
    assert page.locator("#rows td.name button", has_text=ALERT).count() == 1
    assert page.locator("#rows td.name button", has_text=FLAG).count() == 1
    assert page.locator("img[src=x], svg").count() == 0
    assert page.evaluate("window.__pwned") is None and seen["dialogs"] == []


def test_filter_by_category_then_sort_by_confidence(world, browser):
    page, _ = browser
    done = [r for r in world["records"].values() if r.kind != "container" and r.status == "ok"]
    category = max({r.category for r in done}, key=lambda c: sum(r.category == c for r in done))
    page.select_option("#f-category", category)
    assert set(cells(page, 3)) == {category}
    assert len(cells(page, 3)) == sum(r.category == category for r in done)
    page.click("#head button[data-sort=conf]")
    shown = [float(c.rstrip("%")) for c in cells(page, 4)]
    assert shown == sorted(shown) and len(shown) > 1
    page.click("#head button[data-sort=conf]")
    assert [float(c.rstrip("%")) for c in cells(page, 4)] == sorted(shown, reverse=True)
    page.click("#f-reset")
    wait_until(page, "document.querySelectorAll('#rows tr').length > 10")


def test_a_page_s_before_and_after_load_at_their_real_sizes(world, browser):
    page, _ = browser
    rec = world["records"]["a/p2.png"]
    open_page(page, "a/p2.png")
    sizes = page.eval_on_selector_all("#viewer img", "imgs => imgs.map(i => [i.alt, i.naturalWidth, i.naturalHeight,"
                                                      " i.getBoundingClientRect().width])")
    assert sizes == [["before", rec.width, rec.height, 2 * rec.width], ["after", 2 * rec.width, 2 * rec.height,
                                                                          2 * rec.width]], "the same region, 1:1"
    page.screenshot(path=str(world["dst"].parent / "viewer.png"))
    page.click("#v-close")


def test_a_tiff_page_which_the_browser_cannot_draw_shows_its_thumbnail_and_says_why(browser):
    page, _ = browser
    open_page(page, "b/q3.tif")
    wait_until(page, "Array.from(document.querySelectorAll('#viewer img')).filter(i => i.alt.endsWith('thumbnail')"
                     " && i.complete).length == 2")
    shown = page.eval_on_selector_all("#viewer img", "imgs => imgs.map(i => [i.alt, i.naturalWidth])")
    assert shown == [["before: its thumbnail", 100], ["after: its thumbnail", 100]]
    assert "cannot show this file" in page.inner_text("#v-before")
    page.click("#v-close")


def test_a_volume_s_page_shows_the_thumbnail_its_worker_made(browser):
    page, _ = browser
    open_page(page, "vol01.cbz!/002.png")
    (alt, w, h), = page.eval_on_selector_all("#viewer img", "imgs => imgs.map(i => [i.alt, i.naturalWidth, "
                                                             "i.naturalHeight])")
    assert alt == "thumbnail" and (w, h) == (88, 72), "the 2x page (88 x 72) is under 160 px: its own size"
    page.click("#v-close")


def test_the_failure_is_listed_first_with_its_reason_and_thumbnails_load_lazily(browser):
    page, _ = browser
    failures = page.locator("#review-body > div", has_text="Failures").inner_text()
    assert "b/bad.png" in failures and "bad.png:" in failures
    assert page.locator("#rows img[loading=lazy]").count() >= 10
    wait_until(page, "Array.from(document.querySelectorAll('#rows img')).slice(0, 3)"
               ".every(i => i.complete && i.naturalWidth > 0)")


def test_no_request_leaves_file_and_the_screenshot_is_taken(world, browser):
    page, seen = browser
    assert seen["requests"] and all(url.startswith("file://") for url in seen["requests"]), seen["requests"]
    shot = world["dst"].parent / "report.png"
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(shot), full_page=True, clip={"x": 0, "y": 0, "width": 1200, "height": 1500})
    small = Image.open(shot).convert("RGB").quantize(64)
    small.save(shot, optimize=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("MCHMC_SCREENSHOT"):
        shutil.copyfile(shot, ROOT / "docs" / "report-screenshot.png")
