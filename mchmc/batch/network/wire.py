"""What a codec worker sends the network service, and what comes back.

A request is one strip of a page's Y plane (the rows :func:`mchmc.pages.upscale.upscale_band`
hands its engine: the strip plus the network's halo) and the region of it to compute.
Y is float32, but for most scanned pages it is a function of 8- or 16-bit integers:

- a gray (or 1-bit) page's Y is ``gray_to_y(to_unit(code))``, elementwise float32 arithmetic, so
  it equals ``LUT[code]`` for a 256- (or 65,536-) entry table computed with the same functions.
  Such a plane travels as its codes (1 or 2 bytes a pixel instead of 4) and is turned back into
  Y by a table look-up, on the host or on the device: a gather of the very float32 values, so
  exact everywhere (CPU, CUDA).
- a colour page's Y comes from a 3-term BLAS dot product per pixel whose rounding depends on the
  kernel; no table reproduces it, so it travels as float32 (exact, 4 bytes a pixel).

:func:`pack` proves the exact case before using it (the table applied to the recovered codes
must give back every value bit for bit), so a plane is never sent in a form that changes it.
The SR output comes back as float32: the codec worker quantises it together with the chroma,
and no smaller type holds it exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from mchmc import colour
from mchmc.engine import GapStats


@lru_cache(maxsize=2)
def lut(kind: str) -> np.ndarray:
    """Y of every code of a gray page of this depth ("u8" or "u16"), computed as the upscaler does."""
    dtype = np.uint8 if kind == "u8" else np.uint16
    return colour.gray_to_y(colour.to_unit(np.arange(np.iinfo(dtype).max + 1, dtype=dtype)))


def _codes(plane: np.ndarray, kind: str) -> np.ndarray | None:
    """The codes whose table values are ``plane`` exactly, or None when no such codes exist."""
    dtype = np.uint8 if kind == "u8" else np.uint16
    peak = np.float32(np.iinfo(dtype).max)
    scale = peak / np.float32(colour.Y_WHITE - colour.Y_BLACK)
    c = np.rint((plane - np.float32(colour.Y_BLACK)) * scale)
    np.clip(c, 0, peak, out=c)
    codes = c.astype(dtype)
    return codes if np.array_equal(lut(kind)[codes], plane) else None


@dataclass(frozen=True)
class Packed:
    """A Y plane as it travels: ``data`` is the float32 plane itself (kind "f32") or its codes."""

    data: np.ndarray
    kind: str  # "u8", "u16" or "f32"

    def plane(self) -> np.ndarray:
        """The float32 Y plane, bit for bit the one packed."""
        return self.data if self.kind == "f32" else lut(self.kind)[self.data]

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape


def pack(plane: np.ndarray) -> Packed:
    """The smallest exact form of a float32 Y plane (see the module docstring)."""
    plane = np.ascontiguousarray(plane, dtype=np.float32)
    # a few rows across the plane first: a colour page is turned down after them, not after the whole
    # plane (one row would not do: a colour scan's first rows are often a gray margin)
    probe = plane[:: max(1, len(plane) // 8)]
    for kind in ("u8", "u16"):
        if _codes(probe, kind) is not None:
            codes = _codes(plane, kind)
            if codes is not None:
                return Packed(codes, kind)
    return Packed(plane, "f32")


@dataclass(frozen=True)
class TileRequest:
    """Compute ``region`` (y0, y1, x0, x1) of a plane with model ``model`` (a name or path; None:
    the default): its SR output and/or its GAP sums."""

    model: str | None
    packed: Packed
    region: tuple[int, int, int, int]
    sr: bool = True
    gap: bool = False


@dataclass
class TileReply:
    sr: np.ndarray | None  # float32 (s*h, s*w) of the region
    gap: GapStats | None
    tiles: int  # engine tiles this request was cut into
    server: str  # which service (name@pid) computed it
