"""A moderate, clean flatbed scan of a rendered page (the "scanned" half of the rendered pages)."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter


def simulate_scan(img: Image.Image, rng: np.random.Generator, gray: bool) -> tuple[Image.Image, dict]:
    """A moderate, clean flatbed scan of a white page with black ink: slight rotation, blur, paper tint,
    ink that is not quite black, uneven illumination and mild sensor noise."""
    angle = float(rng.uniform(0.3, 1.5) * rng.choice([-1.0, 1.0]))
    blur = float(rng.uniform(0.4, 0.9))
    img = img.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=(255, 255, 255))
    img = img.filter(ImageFilter.GaussianBlur(blur))
    coverage = np.asarray(img, np.float32) / 255.0  # 1 = bare paper, 0 = full ink

    base = float(rng.uniform(0.90, 0.97))
    yellow = float(rng.uniform(0.0, 0.06))
    paper = np.array([base, base - yellow * 0.3, base - yellow], np.float32)
    ink = float(rng.uniform(0.06, 0.16))
    page = ink + (paper - ink) * coverage

    h, w = coverage.shape[:2]
    theta = float(rng.uniform(0, 2 * np.pi))
    strength = float(rng.uniform(0.03, 0.09))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = (xx / w - 0.5) * np.cos(theta) + (yy / h - 0.5) * np.sin(theta)  # -0.7 .. 0.7
    light = 1.0 - strength * (ramp - ramp.min()) / (ramp.max() - ramp.min())
    page = page * light[..., None]

    if gray:
        page = page @ np.array([0.299, 0.587, 0.114], np.float32)
    sigma = float(rng.uniform(1.0, 4.0))
    out = page * 255.0 + rng.normal(0.0, sigma, page.shape).astype(np.float32)
    out_img = Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "L" if gray else "RGB")
    return out_img, {"scan": {"angle_deg": round(angle, 3), "blur_radius": round(blur, 3),
                              "paper": [round(float(v), 3) for v in paper], "ink": round(ink, 3),
                              "illumination_drop": round(strength, 3), "illumination_angle_deg":
                              round(float(np.degrees(theta)), 1), "noise_sigma": round(sigma, 2)}}
