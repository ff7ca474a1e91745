"""A 12000 x 9000 RGB page through read -> upscale -> write: peak RSS and seconds per stage.

    .venv/bin/python bench/bigpage.py                       # fp32, PNG in and out
    .venv/bin/python bench/bigpage.py --precision bf16 --out-format tiff
    .venv/bin/python bench/bigpage.py --width 3000 --height 2000   # a quick look

The synthetic input (smooth colour fields plus fine texture, so PNG has work to
do) is written by a child process to --workdir (default /tmp) with PNG
compress_level 1, so its memory never counts here. The model is a randomly
initialised MCH-MC (same cost as a trained one). Peak RSS is the kernel's
VmHWM, reset before each stage through /proc/self/clear_refs where the kernel
allows it (else the running maximum is shown); the total row shows the largest.
The issue's target: peak under 4 GiB for this page.
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def make_input(path: Path, width: int, height: int) -> None:
    from PIL import Image

    yy = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    xx = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    rng = np.random.default_rng(0)
    out = np.empty((height, width, 3), np.uint8)
    for c, (fy, fx) in enumerate([(3.0, 2.0), (1.5, 4.0), (5.0, 1.0)]):
        field = 0.5 + 0.3 * np.sin(2 * np.pi * fy * yy + c) * np.cos(2 * np.pi * fx * xx)
        for r0 in range(0, height, 1000):  # texture in strips: bounded memory
            tex = rng.normal(0, 0.04, (min(1000, height - r0), width)).astype(np.float32)
            out[r0 : r0 + 1000, :, c] = np.clip((field[r0 : r0 + 1000] + tex) * 255, 0, 255).astype(np.uint8)
    Image.fromarray(out).save(path, compress_level=1)


def hwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def main() -> None:
    # Over 60 lines on purpose: the benchmark's stages in the order they run and print.
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=12000)
    ap.add_argument("--height", type=int, default=9000)
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--out-format", default="png", choices=("png", "tiff", "jpeg"))
    ap.add_argument("--png-level", type=int, default=1)
    ap.add_argument("--workdir", default="/tmp")
    ap.add_argument("--keep", action="store_true", help="keep the input and output files")
    ap.add_argument("--make-input", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.make_input:
        make_input(Path(args.make_input), args.width, args.height)
        return

    import torch
    from rich.console import Console
    from rich.table import Table

    from mchmc.engine import Engine
    from mchmc.model import build_model
    from mchmc.pages import read_page, upscale_page, write_pages

    con = Console()
    work = Path(args.workdir)
    src = work / f"mchmc-bigpage-{args.width}x{args.height}.png"
    dest = work / f"mchmc-bigpage-{args.width}x{args.height}-2x.{args.out_format}"
    t = time.perf_counter()
    if not src.exists():
        subprocess.run([sys.executable, __file__, "--make-input", str(src), "--width", str(args.width),
                        "--height", str(args.height)], check=True)
    con.print(f"input {src} ({src.stat().st_size / 2**20:.0f} MiB, made/found in {time.perf_counter() - t:.1f} s); "
              f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.precision}, tile {args.tile}")

    torch.manual_seed(0)
    model = build_model("mch-mc")
    model.reset_parameters(0.05)
    engine = Engine(model, tile=args.tile, precision=args.precision)
    engine.run(np.zeros((32, 32), np.float32))  # warm-up outside the timings
    base = hwm_mib()
    rows, resettable = [], reset_hwm()

    def stage(name: str, fn):
        reset_hwm()
        t0 = time.perf_counter()
        result = fn()
        rows.append((name, time.perf_counter() - t0, hwm_mib()))
        return result

    page = stage("read", lambda: read_page(src))
    up = stage("upscale", lambda: upscale_page(page, engine))
    stage("write", lambda: write_pages([up], dest, args.out_format, png_level=args.png_level))
    lr_mp = args.width * args.height / 1e6
    table = Table("stage", "seconds", "peak RSS (MiB)" if resettable else "running peak RSS (MiB)", "rate")
    for name, sec, peak in rows:
        rate = f"{lr_mp / sec:.2f} LR MP/s" if name != "write" else f"{4 * lr_mp / sec:.1f} HR MP/s"
        table.add_row(name, f"{sec:.1f}", f"{peak:,.0f}", rate)
    total = sum(r[1] for r in rows)
    table.add_row("total", f"{total:.1f}", f"{max(r[2] for r in rows):,.0f}", f"{lr_mp / total:.2f} LR MP/s")
    con.print(table)
    con.print(f"after model load {base:,.0f} MiB; output {dest.name}: {up.meta.width}x{up.meta.height} {up.meta.mode}, "
              f"{dest.stat().st_size / 2**20:.0f} MiB; category {up.category} (random weights)")
    if not args.keep:
        dest.unlink()


if __name__ == "__main__":
    main()
