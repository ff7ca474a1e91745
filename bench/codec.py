"""The codec ceiling: what one CPU core does per second on everything of a page but the network.

    .venv/bin/python bench/codec.py                      # 3 RGB pages of 1240x1754 (A4 at 150 dpi), PNG and JPEG
    .venv/bin/python bench/codec.py --pages 2 --size 1654x2339 --gray --repeat 2

Why: with a GPU running the network (issue 18), a CPU core still reads,
decodes, converts colour, upscales chroma and alpha, merges, quantises,
encodes and writes every page. That work bounds what a GPU can buy per core:
N codec cores give at most about N times this figure, however fast the GPU.

How, honestly: :func:`mchmc.pages.upscale.upscale_page` does the colour split,
the chroma upscale, the merge and the quantisation around one call of its
engine per strip; those pieces do not run without an engine. So the codec row
runs the real path (``read_page`` -> ``upscale_page`` -> ``write_pages``, same
format out as in, the CLI's default) with :class:`IdentityNet` in place of the
network: it returns a correctly sized Y plane (each LR pixel repeated 2x2) and
no category. Its own cost (one pass writing the 2x plane) is measured alone
and shown; it is included in the codec figure, which is therefore a slightly
low estimate of the ceiling. The network's category pooling (GAP) is the
network side's work and is not in the codec row. Beside it, in the same run,
one process with one torch thread: the full upscale through the shipped model
(:class:`mchmc.engine.Engine`, classify on, what ``mchmc upscale`` does per
page) in fp32, and in bf16 where this CPU computes it natively. ``ratio`` =
codec over full: how many times faster one core would turn pages out if the
network cost it nothing.

Stage rows time the library's own pieces alone on whole pages: read
(``read_page``), colour (``colour.to_unit`` + ``page_ycc``), chroma (the
upscaler's MATLAB-bicubic ``_RowResizer`` on Cb and Cr), the stand-in, and
encode + write (``write_pages``, fsync and rename included); ``merge + rest``
is the identity path's time less the pieces inside ``upscale_page``.

:func:`codec_ceiling` is the importable form (``bench/gpu.py`` uses it): page
files in, a JSON-ready dict out.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP",
           ".bmp": "BMP"}


@dataclass(frozen=True)
class IdentityNet:
    """The stand-in for the network: the :class:`~mchmc.engine.Engine` calls the upscaler makes, answered
    with each LR pixel of the region repeated ``scale`` x ``scale`` (correct size, no arithmetic worth the
    name) and no GAP statistics. The real model's config, so the strips, halo and output size are the real
    ones."""

    config: object  # mchmc.modelconfig.MCHConfig

    def run(self, plane: np.ndarray, region=None, sr: bool = True, gap: bool = False, out: np.ndarray | None = None):
        from mchmc.engine import EngineResult, Region

        if gap:
            raise ValueError("the identity stand-in pools nothing: run the upscaler with classify=False")
        region = region or Region(0, plane.shape[0], 0, plane.shape[1])
        s, (h, w) = self.config.scale, region.shape
        out = np.empty((s * h, s * w), np.float32) if out is None else out
        view = out.reshape(h, s, w, s)  # one pass over the 2x plane, written in place
        if not np.shares_memory(view, out):
            raise ValueError("out must be a contiguous (s*h, s*w) array")
        view[...] = plane[region.y0 : region.y1, region.x0 : region.x1][:, None, :, None]
        return EngineResult(out)

    def category_probs(self, stats) -> None:
        return None


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), platform.machine())
    except OSError:
        return platform.machine()


def page_format(path: Path) -> str:
    return FORMATS.get(path.suffix.lower(), "PNG")


def make_pages(folder: Path, count: int, width: int, height: int, gray: bool = False,
               jpeg_quality: int = 90) -> list[Path]:
    """``count`` pages cut from the project's samples (as ``bench/archive.py`` cuts them), each written
    as PNG and as JPEG (q ``jpeg_quality``): a clean master and a scan."""
    sys.path.insert(0, str(ROOT / "bench"))
    from PIL import Image

    from archive import make_pages as cut

    pngs = cut(folder / "cut", count, width, height, None)
    out = []
    for p in pngs:
        with Image.open(p) as im:
            im = im.convert("L") if gray else im.convert("RGB")
            out.append(folder / f"{p.stem}.png")
            im.save(out[-1], compress_level=6)
            out.append(folder / f"{p.stem}.jpg")
            im.save(out[-1], quality=jpeg_quality)
    shutil.rmtree(folder / "cut")
    return out


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    t = time.perf_counter()
    res = fn()
    return time.perf_counter() - t, res


def _pass(paths: Sequence[Path], engine, out: Path, classify: bool) -> float:
    """Seconds for read -> upscale_page -> write_pages of every page (same format out)."""
    from mchmc.pages import read_page, write_pages
    from mchmc.pages.upscale import upscale_page

    t = time.perf_counter()
    for p in paths:
        up = upscale_page(read_page(p), engine, classify=classify)
        write_pages([up], out / p.name)
    return time.perf_counter() - t


def _stages(paths: Sequence[Path], scale: int, standin: IdentityNet, out: Path) -> dict[str, float]:
    """Seconds per stage, each piece alone on whole pages (the library's own functions)."""
    from mchmc import colour
    from mchmc.pages import read_page, write_pages
    from mchmc.pages.upscale import _RowResizer, upscale_page

    sec = dict.fromkeys(("read", "colour", "chroma", "stand-in", "upscale_page", "encode + write"), 0.0)
    for p in paths:
        dt, page = _timed(lambda: read_page(p))
        sec["read"] += dt
        px = page.pixels
        dt, lr = _timed(lambda: colour.to_unit(px))
        dt2, ycc = _timed(lambda: colour.page_ycc(lr))  # the upscaler's own Y (and Cb, Cr)
        y = np.ascontiguousarray(ycc[..., 0])
        if not page.meta.gray:
            h, w = px.shape[:2]
            resizer = _RowResizer(h, w, scale)
            sec["chroma"] += _timed(lambda: (resizer(ycc[..., 1], 0, 0, h), resizer(ycc[..., 2], 0, 0, h)))[0]
        sec["colour"] += dt + dt2
        sec["stand-in"] += _timed(lambda: standin.run(y))[0]
        dt, up = _timed(lambda: upscale_page(page, standin, classify=False))
        sec["upscale_page"] += dt
        sec["encode + write"] += _timed(lambda: write_pages([up], out / p.name))[0]
    sec["merge + rest"] = max(0.0, sec["upscale_page"] - sec["colour"] - sec["chroma"] - sec["stand-in"])
    return sec


def codec_ceiling(pages: Sequence[str | os.PathLike], *, model: str | None = None,
                  precisions: Sequence[str] = ("fp32", "bf16"), threads: int = 1, repeat: int = 1,
                  work: str | os.PathLike | None = None, full: bool = True) -> dict:
    """Per-core LR MP/s of each input format's pages (written back in the same format) with the network
    replaced by :class:`IdentityNet` (``codec``), and with the real network (``full``, per precision; bf16
    only where native on this CPU), in this process with ``threads`` torch threads, best of ``repeat``.

    Returns ``{"formats": {fmt: {"pages", "lr_mp", "codec_mp_s", "full_mp_s": {precision: MP/s},
    "ratio": {precision: codec / full}, "stages_s_per_mp": {stage: s per LR MP}}}, "threads", "cpu",
    "cores", "torch", "model", "network": what stood in for it}``. Outputs go to ``work`` (a temporary
    folder by default, removed)."""
    import torch

    from mchmc.engine import Engine
    from mchmc.modelfile import load_model
    from mchmc.pages import page_sizes
    from mchmc.precision import native_bf16

    paths = [Path(p) for p in pages]
    if not paths:
        raise ValueError("no pages")
    groups: dict[str, list[Path]] = {}
    for p in paths:
        groups.setdefault(page_format(p), []).append(p)
    net = load_model(model).model
    standin = IdentityNet(net.config)
    runnable = [p for p in precisions if p == "fp32" or native_bf16()]
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    tmp = Path(work) if work else Path(tempfile.mkdtemp(prefix="mchmc-codec-"))
    out = tmp / "out"
    out.mkdir(parents=True, exist_ok=True)
    result: dict = {"threads": threads, "cores": os.cpu_count(), "cpu": cpu_name(),
                    "torch": torch.__version__, "model": model or "srformc (shipped)",
                    "network": "IdentityNet: each LR pixel repeated 2x2, no GAP (its cost included and shown)",
                    "skipped": [p for p in precisions if p not in runnable], "formats": {}}
    try:
        engines = {p: Engine(net, tile=256, precision=p) for p in runnable} if full else {}
        for e in engines.values():
            e.run(np.zeros((64, 64), np.float32))  # oneDNN primitive creation, outside the timing
        for fmt, group in groups.items():
            mp = sum(w * h for p in group for w, h in page_sizes(p)[:1]) / 1e6  # headers only
            _pass(group[:1], standin, out, False)  # warm-up: imports, codec tables
            best = {"codec": float("inf"), **{p: float("inf") for p in engines}}
            for _ in range(repeat):  # alternating, best of each
                best["codec"] = min(best["codec"], _pass(group, standin, out, False))
                for p, e in engines.items():
                    best[p] = min(best[p], _pass(group, e, out, True))
            stages = _stages(group, net.config.scale, standin, out)
            codec = mp / best["codec"]
            fulls = {p: mp / best[p] for p in engines}
            result["formats"][fmt] = {
                "pages": len(group), "lr_mp": mp, "codec_mp_s": codec, "full_mp_s": fulls,
                "ratio": {p: codec / v for p, v in fulls.items()},
                "stages_s_per_mp": {k: v / mp for k, v in stages.items()}}
    finally:
        torch.set_num_threads(old_threads)
        if not work:
            shutil.rmtree(tmp, ignore_errors=True)
    return result


def print_tables(res: dict, size: str) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    con.print(f"{res['cpu']}, {res['cores']} cores, torch {res['torch']}, {res['threads']} torch thread(s), one "
              f"process; pages {size}; model {res['model']}; network stand-in: {res['network']}"
              + (f"; not native here, skipped: {', '.join(res['skipped'])}" if res["skipped"] else ""))
    precisions = sorted({p for f in res["formats"].values() for p in f["full_mp_s"]}, key=("fp32", "bf16").index)
    t = Table("in = out", "pages", "LR MP", "codec", *[f"full {p}" for p in precisions],
              *[f"ratio {p}" for p in precisions],
              title="LR MP/s per core: codec = read + colour + chroma + merge + encode + write, no network")
    for fmt, f in res["formats"].items():
        t.add_row(fmt, str(f["pages"]), f"{f['lr_mp']:.1f}", f"{f['codec_mp_s']:.2f}",
                  *[f"{f['full_mp_s'][p]:.2f}" for p in precisions], *[f"{f['ratio'][p]:.1f}x" for p in precisions])
    con.print(t)
    stages = list(next(iter(res["formats"].values()))["stages_s_per_mp"])
    s = Table("stage (alone, whole pages)", *res["formats"], title="Seconds per LR megapixel, one core")
    for k in stages:
        s.add_row(k, *[f"{f['stages_s_per_mp'][k]:.3f}" for f in res["formats"].values()])
    con.print(s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=3, help="pages per format")
    ap.add_argument("--size", default="1240x1754", help="LR page size WxH (default: A4 at 150 dpi)")
    ap.add_argument("--gray", action="store_true", help="gray pages (no chroma) instead of RGB")
    ap.add_argument("--repeat", type=int, default=1, help="best of N alternating passes")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: per-core figures)")
    ap.add_argument("--model", default=None, help="model file or shipped name (default: srformc)")
    ap.add_argument("--json", default=None, help="also write the result here")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="mchmc-codec-pages-"))
    try:
        pages = make_pages(tmp / "in", args.pages, w, h, args.gray)
        res = codec_ceiling(pages, model=args.model, threads=args.threads, repeat=args.repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_tables(res, f"{args.size} {'gray' if args.gray else 'RGB'}")
    if args.json:
        import json

        Path(args.json).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
