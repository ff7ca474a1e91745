"""The main job end to end against the bare engine, in one run.

    .venv/bin/python bench/archive.py                         # 40 pages of 640x480, shipped SRforMC
    .venv/bin/python bench/archive.py --pages 80 --size 1024x768 --precision bf16
    .venv/bin/python bench/archive.py --images ../shared/datasets/manga_manga109 --pages 40

Rows (LR megapixels per second, the same pages in every row):

- ``bare engine``: the Y planes through :class:`mchmc.engine.Engine` in this
  process with every core (torch threads = cores), nothing else: the ceiling.
- ``in-process pipeline``: read, :func:`upscale_page`, write, one process,
  every core: what page I/O, colour and chroma add to the engine.
- ``mchmc upscale --cpus N`` for N = 1 and 2 (``--stand-in``: also with ``--network-device cpu``,
  N codec workers and one network service on the CPU, issue 18): the real CLI in a subprocess
  (the driver over a Ray pool). Its MP/s counts from the first worker being
  ready to the last page reported ("start-up excluded"); start-up (plan, Ray,
  workers) and the whole wall time are separate columns.

``--startup`` measures what a user waits for instead (issue 16): on 4 small
pages, the time to the start-up line, to the first page done (its record in
the report) and to the end of the whole command, beside a bare
``python -c "import torch"`` timed in the same run (median of ``--repeat``):

    .venv/bin/python bench/archive.py --startup

``ratio`` is MP/s over the bare engine's. The issue's goal: >= 0.8 for the
end-to-end runs with start-up excluded, start-up <= 10 s. Pages are cut from
the project's own samples (or from --images) and written as PNG first.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def make_pages(folder: Path, count: int, width: int, height: int, images: Path | None) -> list[Path]:
    """``count`` RGB pages cut (with wrap-around) from the samples or --images."""
    sources = sorted(p for p in (images or ROOT / "samples").rglob("*") if p.suffix.lower() in (".png", ".jpg"))
    if not sources:
        raise SystemExit(f"no images under {images or ROOT / 'samples'}")
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        with Image.open(sources[i % len(sources)]) as im:
            a = np.asarray(im.convert("RGB"))
        reps = (-(-height // a.shape[0]), -(-width // a.shape[1]), 1)
        a = np.tile(a, reps)
        y, x = rng.integers(0, a.shape[0] - height + 1), rng.integers(0, a.shape[1] - width + 1)
        path = folder / f"page{i:03d}.png"
        Image.fromarray(np.ascontiguousarray(a[y : y + height, x : x + width])).save(path, compress_level=1)
        paths.append(path)
    return paths


def bare_engine(paths: list[Path], model: str | None, tile: int, precision: str) -> tuple[float, float]:
    """(LR MP, seconds) of the engine alone over the pages' Y planes."""
    import torch

    from mchmc.colour import luminance
    from mchmc.engine import Engine
    from mchmc.modelfile import load_model
    from mchmc.pages import read_page

    torch.set_num_threads(os.cpu_count() or 1)
    engine = Engine(load_model(model).model, tile=tile, precision=precision)
    planes = [luminance(read_page(p).pixels) for p in paths]
    engine.run(planes[0][:64, :64])  # warm-up
    t = time.perf_counter()
    for y in planes:
        engine.run(y, gap=True)
    return sum(y.size for y in planes) / 1e6, time.perf_counter() - t


def in_process(paths: list[Path], out: Path, model: str | None, tile: int, precision: str) -> tuple[float, float]:
    import torch

    from mchmc.batch.plan import Job
    from mchmc.batch.options import BatchOptions
    from mchmc.batch.worker.pageworker import PageWorker

    torch.set_num_threads(os.cpu_count() or 1)
    worker = PageWorker(BatchOptions(model=model, tile=tile, precision=precision))
    t, mp = time.perf_counter(), 0.0
    for p in paths:
        rec = worker.process(Job(p, out / p.name))
        assert rec.status == "ok", rec.error
        mp += rec.megapixels
    return mp, time.perf_counter() - t


DONE = re.compile(r"done: ([\d.]+) MP \(input\) in ([\d.]+) s of work = [\d.]+ MP/s; start-up ([\d.]+) s; total ([\d.]+) s")


def cli_run(src: Path, out: Path, cpus: int, model: str | None, tile: int, precision: str,
            extra: tuple[str, ...] = ()) -> tuple[float, float, float, float]:
    """(MP, work seconds, start-up seconds, total seconds) of one `mchmc upscale` run."""
    cmd = [sys.executable, "-m", "mchmc.cli.app", "upscale", str(src), "--out", str(out), "--cpus", str(cpus),
           "--tile", str(tile), "--precision", precision, *extra] + (["--model", model] if model else [])
    env = dict(os.environ, COLUMNS="200")
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    m = DONE.search(res.stdout)
    if res.returncode != 0 or not m:
        raise SystemExit(f"mchmc upscale failed ({res.returncode}):\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    return tuple(float(g) for g in m.groups())  # type: ignore[return-value]


def timed_startup(src: Path, out: Path, model: str | None) -> tuple[float, float, float]:
    """(to the start-up line, to the first record in the report, whole command) of one run."""
    import threading

    cmd = [sys.executable, "-m", "mchmc.cli.app", "upscale", str(src), "--out", str(out), "--cpus", "2"] + \
        (["--model", model] if model else [])
    report = out / "mchmc-upscale-report.jsonl"
    marks: dict[str, float] = {}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def watch_report() -> None:
        while proc.poll() is None and "first" not in marks:
            if report.exists() and report.stat().st_size:
                marks["first"] = time.perf_counter() - t0
            time.sleep(0.005)

    threading.Thread(target=watch_report, daemon=True).start()
    for line in proc.stdout:
        if line.startswith("start-up") and "startup" not in marks:
            marks["startup"] = time.perf_counter() - t0
    proc.wait()
    total = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"mchmc upscale failed ({proc.returncode})")
    return marks.get("startup", float("nan")), marks.get("first", float("nan")), total


def startup(args) -> None:
    import statistics

    work = Path(tempfile.mkdtemp(prefix="mchmc-bench-"))
    try:
        make_pages(work / "pages", 4, 320, 240, args.images)
        torch_s, runs = [], []
        for i in range(args.repeat):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import torch"], check=True)
            torch_s.append(time.perf_counter() - t)
            shutil.rmtree(work / "out", ignore_errors=True)
            runs.append(timed_startup(work / "pages", work / "out", args.model))
        t_torch = statistics.median(torch_s)
        cols = [statistics.median(r[k] for r in runs) for k in range(3)]
        t_nothing = statistics.median(timed_startup(work / "pages", work / "out", args.model)[2] for _ in range(2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nmchmc upscale on 4 pages of 320x240, 2 CPU workers, {os.cpu_count()} cores, median of {args.repeat}\n")
    print("| | seconds | x import torch |")
    print("|---|---:|---:|")
    print(f"| python -c 'import torch' | {t_torch:.2f} | 1.00 |")
    for name, v in zip(("start-up line printed", "first page done (in the report)", "whole command"), cols):
        print(f"| {name} | {v:.2f} | {v / t_torch:.2f} |")
    print(f"| whole command, nothing left to do (re-run) | {t_nothing:.2f} | {t_nothing / t_torch:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--startup", action="store_true", help="time start-up on 4 small pages against import torch")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--pages", type=int, default=40)
    ap.add_argument("--size", default="640x480", help="WxH of each page (LR)")
    ap.add_argument("--images", type=Path, help="cut pages from these images instead of samples/")
    ap.add_argument("--model", help="model name or file (default: the shipped SRforMC)")
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--workers", default="1,2", help="CPU worker counts for the CLI runs")
    ap.add_argument("--workdir", type=Path, help="keep pages and outputs here (default: a temp folder, removed)")
    ap.add_argument("--stand-in", action="store_true",
                    help="also each CLI run with --network-device cpu (the split pipeline, network service on CPU)")
    args = ap.parse_args()
    if args.startup:
        return startup(args)
    w, h = map(int, args.size.lower().split("x"))
    work = args.workdir or Path(tempfile.mkdtemp(prefix="mchmc-bench-"))
    try:
        paths = make_pages(work / "pages", args.pages, w, h, args.images)
        rows = []
        mp, sec = bare_engine(paths, args.model, args.tile, args.precision)
        base = mp / sec
        rows.append(("bare engine (in process, all cores)", mp, sec, None, None, base))
        mp, sec = in_process(paths, work / "inproc", args.model, args.tile, args.precision)
        rows.append(("in-process pipeline (read, upscale_page, write)", mp, sec, None, None, mp / sec))
        for n in map(int, args.workers.split(",")):
            out = work / f"cli{n}"
            shutil.rmtree(out, ignore_errors=True)
            mp, sec, start, total = cli_run(work / "pages", out, n, args.model, args.tile, args.precision)
            rows.append((f"mchmc upscale --cpus {n}", mp, sec, start, total, mp / sec))
            if args.stand_in:
                shutil.rmtree(out, ignore_errors=True)
                mp, sec, start, total = cli_run(work / "pages", out, n, args.model, args.tile, args.precision,
                                                ("--network-device", "cpu"))
                rows.append((f"mchmc upscale --cpus {n} --network-device cpu", mp, sec, start, total, mp / sec))
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)

    from rich.console import Console
    from rich.table import Table

    table = Table("run", "LR MP", "work s", "start-up s", "total s", "MP/s", "ratio vs bare",
                  title=f"{args.pages} pages {w}x{h}, tile {args.tile}, {args.precision}, {os.cpu_count()} cores")
    for name, mp, sec, start, total, mps in rows:
        table.add_row(name, f"{mp:.1f}", f"{sec:.1f}", "-" if start is None else f"{start:.1f}",
                      "-" if total is None else f"{total:.1f}", f"{mps:.2f}", f"{mps / base:.2f}")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
