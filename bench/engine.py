"""Engine throughput against the machine's own matmul ceiling, in one run.

    .venv/bin/python bench/engine.py                 # 1024x1024 plane, default tiles
    .venv/bin/python bench/engine.py --size 2048 --tiles 128,256,512 --repeat 5

Prints the fp32 / bf16 matmul GFLOP/s of this machine (the ceiling), then for
whole-image and tiled runs in fp32 and bf16: LR MP/s, effective GFLOP/s
(model FLOP per LR pixel x LR pixels / s, halo overhead not counted as work)
and the fraction of the ceiling of the same precision. Best of --repeat runs.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from mchmc.engine import Engine
from mchmc.model import build_model


def matmul_gflops(dtype: torch.dtype, n: int = 2048, repeat: int = 5) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def engine_mps(engine: Engine, plane: np.ndarray, repeat: int) -> float:
    out = np.empty((2 * plane.shape[0], 2 * plane.shape[1]), np.float32)
    engine.run(plane[:64, :64])  # warm-up (oneDNN primitive creation)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        engine.run(plane, out=out)
        best = min(best, time.perf_counter() - t)
    return plane.size / best / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1024, help="LR plane side in px")
    ap.add_argument("--tiles", default="128,256,384,512", help="tile sizes to try (comma-separated)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    torch.manual_seed(0)
    model = build_model("mch")
    model.reset_parameters(0.05)
    plane = np.random.default_rng(0).random((args.size, args.size), dtype=np.float32)
    flop = model.config.flops_per_lr_pixel
    from mchmc.precision import native_bf16

    native = native_bf16(args.device)
    ceiling = {"fp32": matmul_gflops(torch.float32), "bf16": matmul_gflops(torch.bfloat16)}
    if not native:  # emulated bf16 has no ceiling of its own worth comparing to: the fp32 one bounds it
        ceiling["bf16"] = ceiling["fp32"]

    con = Console()
    con.print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
              f"plane {args.size}x{args.size}, {flop:,} FLOP / LR px")
    con.print(f"matmul ceiling: fp32 {ceiling['fp32']:.1f} GFLOP/s, bf16 "
              + (f"{ceiling['bf16']:.1f} GFLOP/s (native)" if native else
                 "not native on this device (emulated, slower than fp32; its rows use the fp32 ceiling; "
                 "--precision auto picks fp32 here)"))
    table = Table("precision", "tiles", "LR MP/s", "GFLOP/s", "of ceiling", "vs fp32 whole")
    base = None
    for precision in ("fp32", "bf16"):
        for tile in [None] + [int(t) for t in args.tiles.split(",")]:
            mps = engine_mps(Engine(model, tile=tile, device=args.device, precision=precision), plane, args.repeat)
            base = base or mps
            gf = mps * flop / 1e3
            table.add_row(precision, "whole" if tile is None else str(tile), f"{mps:.2f}", f"{gf:.1f}",
                          f"{gf / ceiling[precision]:.0%}", f"{mps / base:.2f}x")
    con.print(table)


if __name__ == "__main__":
    main()
