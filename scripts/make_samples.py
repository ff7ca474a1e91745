"""Make the sample pages the quick start upscales (all drawn here, no dataset images).

    .venv/bin/python scripts/make_samples.py   # rewrites samples/

A text page, a manga-style page (panels, line art, screentone, speech bubbles),
a photo-like landscape, and a grayscale page: small, deterministic, public.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

OUT = Path(__file__).resolve().parents[1] / "samples"
WORDS = ("archive page scan resolution network pixel luminance category manga nature text volume chapter "
         "library museum paper ink print letter record history collection catalogue folio index").split()


def font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def text_page(rng: np.random.Generator, w=420, h=300) -> Image.Image:
    im = Image.new("RGB", (w, h), (250, 249, 244))
    d = ImageDraw.Draw(im)
    d.text((20, 14), "Chapter 3. The Archive", fill=(20, 20, 20), font=font(22))
    y = 50
    while y < h - 24:
        line = " ".join(rng.choice(WORDS, size=8))
        d.text((20, y), line[:52], fill=(30, 30, 35), font=font(14))
        y += 19
    return im


def manga_page(rng: np.random.Generator, w=360, h=480) -> Image.Image:
    """Panels with tone gradients, speed lines, figures with solid black hair, hatching and
    speech bubbles, softened like a scan (the classifier calls it manga at 0.99)."""
    im = Image.new("L", (w, h), 245)
    d = ImageDraw.Draw(im)
    panels = [(8, 8, w - 8, 180), (8, 188, w // 2 - 4, h - 8), (w // 2 + 4, 188, w - 8, h - 8)]
    yy, xx = np.mgrid[0:h, 0:w]
    for i, (x0, y0, x1, y1) in enumerate(panels):
        # tone gradient: dot radius grows down the panel
        g = (yy - y0) / max(1, y1 - y0)
        period = 5
        dist = np.hypot((yy % period) - period / 2, (xx % period) - period / 2)
        tone = dist < (0.3 + 1.6 * g) * (i != 2)
        panel = Image.fromarray(np.where(tone, 70, 245).astype(np.uint8)[y0:y1, x0:x1])
        if i == 0:  # speed lines, kept inside the panel
            dp, pw, ph = ImageDraw.Draw(panel), x1 - x0, y1 - y0
            for a in np.linspace(0, 2 * np.pi, 70, endpoint=False):
                r0 = rng.uniform(40, 70)
                dp.line((pw / 2 + r0 * np.cos(a), ph / 2 + r0 * np.sin(a), pw / 2 + 400 * np.cos(a),
                         ph / 2 + 400 * np.sin(a)), fill=20, width=1)
        im.paste(panel, (x0, y0))
        # a figure: head, black hair mass with hatching, body strokes
        cx, cy = rng.integers(x0 + 50, x1 - 50), rng.integers(y0 + 60, max(y0 + 61, y1 - 60))
        r = int(rng.integers(26, 40))
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=250, outline=0, width=3)
        d.pieslice((cx - r - 6, cy - r - 8, cx + r + 6, cy + r), 180, 360, fill=10)
        for k in range(14):
            x = cx - r + k * (2 * r) / 14
            d.line((x, cy - 2, x + 6, cy + r // 2), fill=10, width=2)
        d.ellipse((cx - r // 2, cy, cx - r // 2 + 9, cy + 12), fill=0)
        d.ellipse((cx + r // 2 - 9, cy, cx + r // 2, cy + 12), fill=0)
        d.line((cx - 10, cy + r // 2 + 6, cx + 10, cy + r // 2 + 4), fill=0, width=2)
        d.polygon([(cx - r, cy + r), (cx + r, cy + r), (cx + r + 20, y1), (cx - r - 20, y1)], fill=250, outline=0)
        for k in range(10):  # cross-hatching on the body
            x = cx - r + k * 8
            d.line((x, cy + r + 10, x + 18, cy + r + 40), fill=30, width=1)
        d.rectangle((x0, y0, x1, y1), outline=0, width=4)
        bx, by = x0 + 10, y0 + 10
        d.ellipse((bx, by, bx + 110, by + 50), fill=255, outline=0, width=2)
        d.text((bx + 16, by + 17), " ".join(rng.choice(WORDS, size=2)).upper()[:11], fill=0, font=font(12))
    return im.filter(ImageFilter.GaussianBlur(0.5)).convert("RGB")


def landscape(rng: np.random.Generator, w=400, h=280) -> Image.Image:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    sky = np.stack([110 + 80 * yy / h, 160 + 60 * yy / h, 235 - 20 * yy / h], axis=2)
    img = sky.copy()
    for k, (base, amp, col) in enumerate([(0.45, 0.18, (95, 105, 120)), (0.6, 0.12, (60, 95, 55)), (0.78, 0.06, (45, 75, 35))]):
        ridge = np.zeros(w, np.float32)
        for octave in range(1, 7):  # sum of random sinusoids: a ridge line
            ridge += amp / octave * np.sin(xx[0] / w * np.pi * 2 ** octave * rng.uniform(0.5, 1.5) + rng.uniform(0, 6))
        top = (base + ridge) * h
        mask = yy > top[None, :]
        shade = np.clip(1.0 - (yy - top[None, :]) / h, 0.6, 1.0)[..., None]
        img = np.where(mask[..., None], np.array(col, np.float32) * shade, img)
    noise = rng.normal(0, 9, (h, w, 1)).astype(np.float32)
    img = np.clip(img + noise * (yy[..., None] > 0.45 * h), 0, 255).astype(np.uint8)
    return Image.fromarray(img).filter(ImageFilter.GaussianBlur(0.6))


def main() -> None:
    OUT.mkdir(exist_ok=True)
    rng = np.random.default_rng(2026)
    text_page(rng).save(OUT / "text-page.png", optimize=True)
    manga_page(rng).convert("L").save(OUT / "manga-page-gray.png", optimize=True)
    landscape(rng).save(OUT / "landscape.jpg", quality=92, dpi=(300, 300))
    manga_page(rng).save(OUT / "manga-page.png", optimize=True)
    for p in sorted(OUT.iterdir()):
        print(f"{p.name}: {p.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
