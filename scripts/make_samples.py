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
    im = Image.new("L", (w, h), 255)
    d = ImageDraw.Draw(im)
    panels = [(8, 8, w - 8, 180), (8, 188, w // 2 - 4, h - 8), (w // 2 + 4, 188, w - 8, h - 8)]
    yy, xx = np.mgrid[0:h, 0:w]
    tone = ((yy % 6 < 2) & (xx % 6 < 2)).astype(np.uint8)  # screentone dots
    tone_img = Image.fromarray(np.where(tone, 120, 255).astype(np.uint8))
    for i, (x0, y0, x1, y1) in enumerate(panels):
        if i == 1:
            im.paste(tone_img.crop((x0, y0, x1, y1)), (x0, y0))
        d.rectangle((x0, y0, x1, y1), outline=0, width=3)
        for _ in range(6):  # strokes of line art
            cx, cy = rng.integers(x0 + 20, x1 - 20), rng.integers(y0 + 20, y1 - 20)
            r = int(rng.integers(8, 30))
            d.ellipse((cx - r, cy - r, cx + r, cy + r), outline=0, width=2)
            d.line((cx, cy, cx + rng.integers(-40, 40), cy + rng.integers(-40, 40)), fill=0, width=2)
        bx, by = x0 + 14, y0 + 14
        d.ellipse((bx, by, bx + 120, by + 54), fill=255, outline=0, width=2)
        d.text((bx + 18, by + 18), " ".join(rng.choice(WORDS, size=2)).upper()[:12], fill=0, font=font(13))
    return im.convert("RGB")


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
