"""The measurements of ``bench/gpu.py``, one function per section (see its docstring).

Each takes a :class:`Budget` and stops early when it runs out (the rows it did not reach are
listed as skipped), so the whole check fits its slot on any card. Only torch, numpy, Pillow and
mchmc modules that need neither Ray nor Prefect are imported.
"""
from __future__ import annotations

import itertools
import os
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from mchmc.engine import Engine

FLOP_PER_LR_PX = 107_904  # MCH's three convolutions per LR pixel (docs: stack-notes.md)


class Budget:
    def __init__(self, seconds: float):
        self.seconds, self.end = seconds, time.perf_counter() + seconds

    def left(self) -> float:
        return self.end - time.perf_counter()


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def timed(fn, dev: torch.device, min_time: float, max_reps: int = 1000) -> float:
    """Seconds per call of ``fn`` (after one warm-up call), repeated for at least ``min_time``."""
    fn()
    sync(dev)
    n, t0 = 0, time.perf_counter()
    while n < max_reps and (n == 0 or time.perf_counter() - t0 < min_time):
        fn()
        n += 1
    sync(dev)
    return (time.perf_counter() - t0) / n


def set_tf32(on: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


def matmul(dev: torch.device, n: int, budget: Budget) -> dict:
    """TFLOP/s of an n x n matmul per dtype: the card's yardstick (bf16 above all)."""
    out = {}
    for name, dtype, tf32 in (("bf16", torch.bfloat16, False), ("fp16", torch.float16, False),
                              ("tf32", torch.float32, True), ("fp32", torch.float32, False)):
        if budget.left() <= 0:
            out[name] = None
            continue
        set_tf32(tf32)
        a, b = torch.randn(n, n, device=dev, dtype=dtype), torch.randn(n, n, device=dev, dtype=dtype)
        out[name] = 2 * n**3 / timed(lambda: a @ b, dev, min(1.0, budget.left() / 4)) / 1e12
    set_tf32(False)
    return out


class HalfEngine(Engine):
    """The engine's reduced-precision policy (only conv2, 95% of the FLOPs, reduced) in fp16, for the
    comparison; the shipped engine offers fp32 and bf16 only."""

    def _features(self, x):
        m = self.model
        f1 = torch.relu_(m.conv1(x))
        with torch.autocast(self.device.type, dtype=torch.float16):
            f2 = torch.relu_(m.conv2(f1))
        return f2.float()


def make_engine(net, tile: int, dev: torch.device, precision: str) -> Engine:
    if precision == "fp16":
        engine = HalfEngine(net, tile=tile, device=dev, precision="bf16")
    else:
        engine = Engine(net, tile=tile, device=dev, precision="bf16" if precision == "bf16" else "fp32")
    set_tf32(precision == "tf32")  # after the Engine, which turns TF32 off on CUDA (fp32 means fp32)
    return engine


def engine_rates(net, plane: np.ndarray, dev: torch.device, tiles, batches, precisions, budget: Budget,
                 bf16_tflops: float | None) -> list[dict]:
    """LR MP/s of the network service's stacked batches (network.run_batch: windows gathered from
    the 8-bit codes, pinned transfers, SR and GAP back) per precision x tile x batch."""
    from mchmc.batch.network.service import Staging, run_batch
    from mchmc.batch.network.wire import TileRequest, pack

    packed = pack(plane)
    req = TileRequest(None, packed, (0, plane.shape[0], 0, plane.shape[1]), sr=True, gap=True)
    staging, rows, ref = Staging(pinned=dev.type == "cuda"), [], {}
    # precision innermost (fp32 first, the reference): a budget that runs out drops the largest
    # tiles and batches, never a whole precision
    combos = list(itertools.product(tiles, batches, precisions))
    per = budget.left() / max(1, len(combos)) / 2
    for tile, batch, precision in combos:
        row = {"precision": precision, "tile": tile, "batch": batch, "wire": packed.kind}
        rows.append(row)
        if budget.left() <= 0:
            row["skipped"] = "time budget"
            continue
        try:
            eng = make_engine(net, tile, dev, precision)
            def once():
                return run_batch(eng, [req], stack=True, max_tiles=batch, server="bench", staging=staging)
            sec = timed(once, dev, max(0.2, per), max_reps=50)
            sr = once()[0].sr
        except Exception as err:  # e.g. fp16 autocast unsupported for a conv on this CPU
            row["skipped"] = f"{type(err).__name__}: {str(err).splitlines()[0][:80]}"
            continue
        if precision == "fp32":
            ref.setdefault(tile, sr)
        row["lr_mp_s"] = plane.size / 1e6 / sec
        if bf16_tflops:
            row["share_of_bf16_matmul"] = row["lr_mp_s"] * 1e6 * FLOP_PER_LR_PX / (bf16_tflops * 1e12)
        if tile in ref:
            row["max_abs_diff_vs_fp32"] = float(np.abs(sr - ref[tile]).max())
    set_tf32(False)
    return rows


def transfers(dev: torch.device, mp: float, budget: Budget) -> list[dict]:
    """Host <-> device milliseconds per LR megapixel: Y in as 8-bit codes or float32, the SR out
    (float32, 4 output pixels per LR pixel); pinned and pageable host memory."""
    n = int(mp * 1e6)
    rows = []
    for pinned in ((True, False) if dev.type == "cuda" else (False,)):
        for what, dtype, count, direction in (("Y in, uint8 codes", torch.uint8, n, "h2d"),
                                              ("Y in, float32", torch.float32, n, "h2d"),
                                              ("SR out, float32", torch.float32, 4 * n, "d2h")):
            row = {"what": what, "pinned": pinned}
            rows.append(row)
            if budget.left() <= 0:
                row["skipped"] = "time budget"
                continue
            host = torch.empty(count, dtype=dtype, pin_memory=pinned)
            devt = torch.empty(count, dtype=dtype, device=dev)
            copy = (lambda: devt.copy_(host, non_blocking=pinned)) if direction == "h2d" else \
                (lambda: host.copy_(devt, non_blocking=pinned))
            sec = timed(copy, dev, min(0.5, budget.left() / 6), max_reps=200)
            row["ms_per_lr_mp"] = sec * 1e3 / mp
            row["gb_s"] = count * host.element_size() / sec / 1e9
    return rows


def make_pages(folder: Path, count: int, width: int, height: int) -> list[Path]:
    """``count`` pages cut from samples/, alternately gray (a scanned text page) and RGB, as PNG."""
    from PIL import Image

    root = Path(__file__).resolve().parents[1] / "samples"
    sources = sorted(p for p in root.iterdir() if p.suffix.lower() in (".png", ".jpg"))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        with Image.open(sources[i % len(sources)]) as im:
            a = np.asarray(im.convert("RGB"))
        a = np.tile(a, (-(-height // a.shape[0]), -(-width // a.shape[1]), 1))[:height, :width]
        img = Image.fromarray(np.ascontiguousarray(a))
        (img.convert("L") if i % 2 == 0 else img).save(folder / f"page{i:03d}.png", compress_level=1)
        paths.append(folder / f"page{i:03d}.png")
    return paths


def pipeline_row(pages: list[Path], out: Path, workers: int, network: str | None, seconds: float,
                 options) -> dict:
    """``workers`` codec threads over ``pages`` (each page once, until ``seconds`` run out): the
    network in each worker (``network=None``: today's path) or in one service on ``network``."""
    from mchmc.batch.network.proxy import LocalLink
    from mchmc.batch.network.service import NetworkService, NetworkSpec
    from mchmc.batch.plan import Job
    from mchmc.batch.worker.pageworker import PageWorker
    from mchmc.pages import page_sizes

    service = NetworkService(options, NetworkSpec(device=network, tile=512 if network != "cpu" else None)) \
        if network else None
    link = LocalLink(service) if service else None
    pool = [PageWorker(options, link, device="cpu", name=f"cpu{i}") for i in range(workers)]
    feed, lock, done, errors = iter(pages), threading.Lock(), [], []
    t0 = time.perf_counter()

    def work(w):
        while time.perf_counter() - t0 < seconds:
            with lock:
                page = next(feed, None)
            if page is None:
                return
            rec = w.process(Job(page, out / w.name / page.name))
            (done if rec.status == "ok" else errors).append(page if rec.status == "ok" else rec.error)

    threads = [threading.Thread(target=work, args=(w,)) for w in pool]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sec = time.perf_counter() - t0
    mp = sum(w * h for p in done for w, h in page_sizes(p)[:1]) / 1e6
    row = {"workers": workers, "network": network or "in each worker (cpu)", "pages": len(done),
           "pages_s": len(done) / sec, "lr_mp_s": mp / sec, "errors": errors[:3]}
    if service:
        row["service"] = {k: v for k, v in service.stats().items() if k != "tag"}
    return row


def pipeline(pages, out: Path, counts, dev: torch.device, budget: Budget, options) -> list[dict]:
    """Per worker count: today's path, the split pipeline with the network on ``dev``, and (on a
    GPU run) the same with the network on the CPU; one torch thread per network, as an actor has."""
    nets = [None, dev.type] + (["cpu"] if dev.type == "cuda" else [])
    runs = [(n, net) for n in counts for net in nets]
    torch.set_num_threads(1)
    rows = []
    for i, (n, net) in enumerate(runs):
        share = budget.left() / (len(runs) - i)
        if share < 1.0:
            rows.append({"workers": n, "network": net or "in each worker (cpu)", "skipped": "time budget"})
            continue
        rows.append(pipeline_row(pages, out / f"{n}-{net}", n, net, 0.7 * share, options))
    torch.set_num_threads(os.cpu_count() or 1)
    return rows


def training(dev: torch.device, batches, precisions, budget: Budget) -> list[dict]:
    """Steps/s of the training step (mchmc.train.steps.loss_terms, backward, Adam) on the trainer's own
    LR patches (the config's HR patch / 2: 30 x 30, whose unpadded output is the 40 x 40 HR centre),
    Phase 2 settings of the paper config. Batches are made on the device: the trainer's gather of
    each batch on the CPU is not counted."""
    from mchmc.model import build_model
    from mchmc.train.config import load_config
    from mchmc.train.steps import init_model, loss_terms, param_groups

    cfg = load_config("paper")
    rows = []
    for batch, precision in itertools.product(batches, precisions):
        row = {"batch": batch, "precision": precision}
        rows.append(row)
        if budget.left() <= 0:
            row["skipped"] = "time budget"
            continue
        torch.manual_seed(0)
        model = build_model("mch-mc")
        init_model(model, cfg.train)
        model = model.to(dev, memory_format=torch.channels_last).train()
        opt = torch.optim.Adam(param_groups(model, cfg.phase2), betas=cfg.train.betas, eps=cfg.train.eps)
        n = cfg.data.patch // model.config.scale
        x = torch.rand(batch, 1, n, n, device=dev).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            y = torch.rand_like(model(x)[0].float())
        c = torch.randint(0, len(model.config.categories), (batch,), device=dev)
        alpha = torch.ones(len(model.config.categories), device=dev)
        autocast = torch.autocast(dev.type, dtype=torch.bfloat16) if precision == "bf16" else nullcontext()

        def step():
            terms = loss_terms(model, x, y, c, alpha, cfg.phase2, autocast)
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            opt.step()

        row["steps_s"] = 1.0 / timed(step, dev, min(2.0, budget.left() / 4), max_reps=5000)
    return rows


def config_hours(rows: list[dict]) -> list[dict]:
    """Hours of each config in configs/ (Phase 1 + Phase 2, or the plain-MCH phase) at the measured
    bf16 steps/s of the nearest measured batch size."""
    from mchmc.train.config import load_config

    rates = {r["batch"]: r["steps_s"] for r in rows if r.get("precision") == "bf16" and "steps_s" in r}
    out = []
    for path in sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.toml")):
        cfg = load_config(str(path))
        if not rates:
            break
        batch = min(rates, key=lambda b: abs(b - cfg.train.batch))
        mc = cfg.phase1.steps + cfg.phase2.steps
        out.append({"config": path.stem, "batch": cfg.train.batch, "rate_from_batch": batch,
                    "mch_mc_steps": mc, "hours_mch_mc": mc / rates[batch] / 3600})
    return out
