"""Hand-built models whose behaviour is known exactly, and a page half text, half photo.

- :func:`evidence_model`: an MCH-MC whose F2 channel 0 measures sharp dark/light
  edges (text evidence) and channel 1 mid-tones (photo evidence); its head maps
  channel 0 to "text" and channel 1 to "nature". Grad-CAM of "text" is then the
  edge-density map, of "nature" the mid-tone map: the evidence is unambiguous.
- :func:`nearest_model`: conv1 -> conv2 -> conv3 pass the centre pixel through and
  every sub-pixel copies it, so SR is exactly nearest-neighbour 2x of the input.
- :func:`half_page`: 64 x 128 Y plane, random black glyph strokes on white in one
  half and a smooth mid-gray bicubic texture in the other.
"""
from __future__ import annotations

import numpy as np
import torch

from mchmc.model import build_model
from mchmc.resize import imresize

WHITE, BLACK = 235 / 255, 16 / 255


def evidence_model():
    m = build_model("mch-mc")
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
        lap = torch.zeros(5, 5)
        lap[1:4, 1:4] = -1 / 8
        lap[2, 2] = 1.0  # the centre minus the mean of its 8 neighbours
        m.conv1.weight[0, 0], m.conv1.bias[0] = lap, -0.1  # dark-on-light edge
        m.conv1.weight[1, 0], m.conv1.bias[1] = -lap, -0.1  # light-on-dark edge
        m.conv1.weight[2, 0, 2, 2], m.conv1.bias[2] = 1.0, -0.2  # ReLU(y - 0.2)
        m.conv1.weight[3, 0, 2, 2], m.conv1.bias[3] = 1.0, -0.8  # ReLU(y - 0.8)
        m.conv2.weight[0, 0] = m.conv2.weight[0, 1] = 1 / 25  # edge density over 5x5
        m.conv2.weight[1, 2, 2, 2], m.conv2.weight[1, 3, 2, 2] = 1.0, -8.0  # mid-tone: 0 on paper white and ink
        m.head[0].weight[0, 0] = m.head[0].weight[1, 1] = 1.0  # hidden = (p0, p1)
        m.head[2].weight[2, 0] = 20.0  # text <- edges
        m.head[2].weight[0, 1] = 20.0  # nature <- mid-tones
    return m.eval()


def nearest_model(arch: str = "mch"):
    m = build_model(arch)
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
        m.conv1.weight[0, 0, 2, 2] = 1.0
        m.conv2.weight[0, 0, 2, 2] = 1.0
        m.conv3.weight[:, 0, 1, 1] = 1.0
    return m.eval()


def half_page(h: int = 64, w: int = 128, seed: int = 0, text_left: bool = True) -> np.ndarray:
    rng = np.random.default_rng(seed)
    text = np.full((h, w // 2), WHITE, np.float32)
    for r in range(4, h - 8, 10):
        for c in range(4, w // 2 - 6, 6):
            glyph = rng.random((7, 5)) < 0.45
            text[r : r + 7, c : c + 5][glyph] = BLACK
    base = rng.random((h // 16 + 2, w // 32 + 2))
    photo = imresize(base, output_shape=(h + 32, w // 2 + 32))[16 : 16 + h, 16 : 16 + w // 2]
    photo = (0.35 + 0.3 * (photo - photo.min()) / (photo.max() - photo.min())).astype(np.float32)
    return np.hstack([text, photo] if text_left else [photo, text])
