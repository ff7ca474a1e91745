"""Colour on JPEG pages: a small network that cleans and upsamples the chroma, guided by luminance.

Why: the SR network sees only Y (the paper's design), and Cb, Cr are upscaled with
the bicubic. On a clean page that is right (chroma holds little detail), but a
JPEG keeps its chroma at a quarter of the pixels (4:2:0) and quantises it hard,
so at q50 the bicubic carries the 8x8-block colour blotches into the output.
Hand-made filters (a guided filter of Cb, Cr on Y, at the page's or the chroma's
resolution) gained at most ~0.5 dB on Cb and Cr on the validation images; this
network, trained for it, does better (figures in the model card).

The design copies the SR network's, so the same exact tiling holds: unpadded 3x3
convolutions on the page's decoded (Y, Cb, Cr) plus a constant plane holding the
JPEG noise level, a pixel shuffle to ``scale`` x, and the output is a *correction*
added to the bicubic chroma the page path computes anyway (the whole page's tap
table, so strips and bands stay exact). Its halo is one pixel per layer; the
border is replicated as the engine does (:func:`mchmc.engine.window`).

It runs only on colour pages upscaled at a JPEG noise level (``--noise auto`` on
a JPEG, or ``--noise 0..3``): clean pages and gray pages keep today's bicubic
chroma byte for byte. It is independent of the SR model, so every model can use
the shipped one; a model may bring its own, ``chroma/<model stem>.pt`` beside its
file (:func:`chroma_file`), e.g. a deeper one for a tier whose speed can pay for
it (none ships one yet: docs/quality-tier.md, "Session 8").

Model file: ``{"format": "mchmc-chroma", "version": 1, "config": json, "state_dict"}``
read with ``torch.load(weights_only=True)`` after the same archive check as the
SR model files (:func:`mchmc.modelcheck.read_checked`).
"""
from __future__ import annotations

import copy
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mchmc.engine import Region, tiles, window
from mchmc.errors import ModelFileError
from mchmc.fsutil import atomic_write
from mchmc.modelcheck import read_checked

FORMAT, VERSION = "mchmc-chroma", 1
SHIPPED = Path(__file__).parent / "weights" / "chroma" / "chroma.pt"  # apart from the SR models (modelfile lists weights/*.pt)
LEVELS = 4  # JPEG noise levels 0..3 (mchmc.pages.noise); the level plane holds level / (LEVELS - 1)
MAX_CHANNELS, MAX_LAYERS = 128, 16  # a file asking for more is refused before anything is built


@dataclass(frozen=True)
class ChromaConfig:
    channels: int = 24
    layers: int = 5  # 3x3 unpadded convolutions: the halo is one LR pixel each
    scale: int = 2

    @property
    def halo(self) -> int:
        return self.layers

    @property
    def macs_per_lr_pixel(self) -> int:
        c, n, s2 = self.channels, self.layers, self.scale**2
        return 9 * (4 * c + (n - 2) * c * c + c * 2 * s2)

    def checked(self) -> ChromaConfig:
        if not (1 <= self.channels <= MAX_CHANNELS and 2 <= self.layers <= MAX_LAYERS and self.scale in (2,)):
            raise ValueError(f"chroma config out of range: {self}")
        return self


class ChromaNet(nn.Module):
    """(N, 4, h + 2*halo, w + 2*halo) -> (N, 2, s*h, s*w): the Cb, Cr corrections over the bicubic."""

    def __init__(self, config: ChromaConfig = ChromaConfig()):
        super().__init__()
        self.config = c = config.checked()
        widths = [4] + [c.channels] * (c.layers - 1)
        self.body = nn.ModuleList(nn.Conv2d(a, b, 3) for a, b in zip(widths, widths[1:]))
        self.out = nn.Conv2d(c.channels, 2 * c.scale**2, 3)
        self.shuffle = nn.PixelShuffle(c.scale)
        nn.init.zeros_(self.out.weight)  # starts as the bicubic: training only ever adds what helps
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.body:
            x = torch.relu(conv(x))
        return self.shuffle(self.out(x))


def inputs(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, level: int) -> np.ndarray:
    """The network's 4 input planes from [0, 1] Y, Cb, Cr (chroma centred on 0)."""
    lv = np.full_like(y, level / (LEVELS - 1), dtype=np.float32)
    return np.stack([y, cb - 0.5, cr - 0.5, lv]).astype(np.float32, copy=False)


class ChromaEngine:
    """Runs a :class:`ChromaNet` over a region of a page's planes, tile by tile, exactly (fp32).

    Weights and tiles are channels-last, as in the SR engine: oneDNN's convolutions with this few channels
    run 1.6x faster so (a 256 x 256 tile on one thread: 65 ms -> 36 ms), the same sums to ~1e-7.
    """

    def __init__(self, model: ChromaNet, level: int, tile: int = 256):
        if not 0 <= level < LEVELS:
            raise ValueError(f"chroma level must be 0..{LEVELS - 1}, not {level}")
        # a copy: a model still in training keeps its own layout (its resume stays bit for bit)
        self.model = copy.deepcopy(model).eval().to(memory_format=torch.channels_last)
        self.level, self.tile = level, tile
        self.config = model.config

    @torch.inference_mode()
    def run(self, ycc: np.ndarray, region: Region) -> tuple[np.ndarray, np.ndarray]:
        """``ycc``: (H, W, 3) [0, 1] planes holding the region and its halo (or the page border);
        returns the (s*h, s*w) Cb and Cr corrections of ``region``."""
        s, halo = self.config.scale, self.config.halo
        rh, rw = region.shape
        out = np.empty((2, s * rh, s * rw), np.float32)
        planes = inputs(ycc[..., 0], ycc[..., 1], ycc[..., 2], self.level)
        for t in tiles(region, self.tile):
            x = np.stack([window(p, t, halo) for p in planes])
            x = torch.from_numpy(np.ascontiguousarray(x, np.float32))[None].contiguous(memory_format=torch.channels_last)
            y = self.model(x)[0].numpy()
            oy, ox = s * (t.y0 - region.y0), s * (t.x0 - region.x0)
            out[:, oy : oy + y.shape[1], ox : ox + y.shape[2]] = y
        return out[0], out[1]


def save_chroma(model: ChromaNet, path: str | os.PathLike, provenance: dict | None = None) -> Path:
    payload = {"format": FORMAT, "version": VERSION, "config": json.dumps(asdict(model.config)),
               "provenance": json.dumps(provenance or {}, default=str),
               "state_dict": {k: v.detach().to("cpu", torch.float32).contiguous()
                              for k, v in model.state_dict().items()}}
    with atomic_write(Path(path)) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def chroma_file(model_file: str | os.PathLike) -> Path:
    """The chroma network the pages of ``model_file`` (a clean model's file; its noise levels and specialists
    share it) are given: the model's own, ``chroma/<stem>.pt`` beside it, else :data:`SHIPPED`."""
    model_file = Path(model_file)
    own = model_file.parent / "chroma" / f"{model_file.stem}.pt"
    return own if own.is_file() else SHIPPED


def load_chroma(path: str | os.PathLike = SHIPPED) -> ChromaNet:
    """A chroma model file, checked: no code runs, a wrong shape or size is refused in one line."""
    path = Path(path)
    payload = read_checked(path, kind="mchmc chroma model")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or payload.get("version") != VERSION:
        raise ModelFileError(path, f"not an mchmc chroma model (no '{FORMAT}' version {VERSION} header)")
    try:
        fields = json.loads(payload["config"])
        config = ChromaConfig(**{k: int(fields[k]) for k in ("channels", "layers", "scale")}).checked()
        model = ChromaNet(config)
        model.load_state_dict(payload["state_dict"], strict=True)
    except Exception as err:  # a config or tensors that do not fit: refused, named
        raise ModelFileError(path, f"bad chroma model: {str(err).splitlines()[0][:200]}") from None
    return model.eval()
