"""Trainer throughput against a bare PyTorch loop over the same batches, in one run.

    .venv/bin/python bench/train.py                         # cpu config, SRforMC Phase 2 settings, real data if present
    .venv/bin/python bench/train.py --steps 3000 --precision fp32 --synthetic
    .venv/bin/python bench/train.py --device cuda --steps 3000    # on a GPU (issue 18): same table

The bare loop trains the same network (same init, param groups, Adam, autocast,
channels_last, loss) on tensors gathered in advance from the patch store, so
it measures only forward + backward + step. The trainer (``mchmc.train.loop``)
additionally draws each batch from the memory-mapped store by the seeded data
order, sets the scheduled learning rates, accumulates the logged metrics, and
writes one checkpoint at the end. Validation is switched off in both. Best of
``--repeat`` alternating runs; the target is trainer >= 90% of the bare loop.

Both loops resolve the config's precision for the device (``auto`` is bf16 where
native), so they run the same arithmetic. ``--device cuda`` trains on the GPU
(the bare loop's tensors are moved there first; the trainer pins and copies
each batch as in a real run). On a shared CPU, ``OMP_NUM_THREADS=1`` gives
steadier figures: two threads contending with other jobs lose far more than half.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from mchmc.train.config import load_config, with_overrides
from mchmc.model import build_model
from mchmc.train.patches import Geometry, PatchStore, class_weights, prepare
from mchmc.precision import resolve_precision
from mchmc.train.device import device_words, resolve_device
from mchmc.train.checkpoint import csv_columns
from mchmc.train.loop import PhaseSpec, train_phase
from mchmc.train.steps import BatchOrder, init_model, loss_terms, param_groups


def synthetic_root(tmp: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_data import synth_dataset

    return synth_dataset(tmp / "imgs", n=8, size=(240, 240))


def bare_loop(model, batches, phase, alpha, precision, steps, device="cpu") -> float:
    dev = torch.device(device)
    model.to(dev)
    alpha = alpha.to(dev)
    batches = [tuple(v.to(dev) for v in b) for b in batches]
    opt = torch.optim.Adam(param_groups(model, phase), betas=(0.9, 0.999))
    ac = torch.autocast(dev.type, dtype=torch.bfloat16) if precision == "bf16" else nullcontext()
    model.train()
    model.dropout = phase.dropout
    warm = 50
    for t in range(steps + warm):
        if t == warm:
            t0 = time.perf_counter()
        x, y, c = batches[t % len(batches)]
        loss = loss_terms(model, x, y, c, alpha, phase, ac)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return steps / (time.perf_counter() - t0)


def trainer_loop(model, store, rows, cfg, phase, alpha, steps, work: Path, device: str = "cpu") -> float:
    marks = {}

    def cb(ev):
        if ev["event"] == "step":
            marks[ev["step"]] = time.perf_counter()

    spec = PhaseSpec("phase2", replace(phase, steps=steps + 50), cfg.train, store, rows, alpha,
                     work / "ck.pt", work / "m.csv", 0, columns=csv_columns([], True), device=device)
    (work / "ck.pt").unlink(missing_ok=True)
    (work / "m.csv").unlink(missing_ok=True)
    train_phase(model, spec, cb)
    return steps / (marks[steps + 50] - marks[50])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="cpu")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default=None, help="default: the config's")
    ap.add_argument("--synthetic", action="store_true", help="synthetic images instead of the config's data")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (mchmc.train.device)")
    args = ap.parse_args()
    device = resolve_device(args.device)

    tmp = Path(tempfile.mkdtemp(prefix="mchmc-bench-"))
    cfg = load_config(args.config)
    over = {"train.log_every": 10**9, "train.checkpoint_every": 10**9}
    if args.precision:
        over["train.precision"] = args.precision
    if args.synthetic or not cfg.data.root_path().is_dir():
        root = synthetic_root(tmp)
        over.update({"data.root": str(root), "data.cache_dir": str(tmp / "cache"), "data.limit": 0,
                     "data.folders": {c: c for c in ("nature", "manga", "text")}})
    cfg = with_overrides(cfg, over)
    model = build_model("mch-mc")
    res = prepare(cfg.data, model.config.scale)
    store = PatchStore(res.path)
    rows = np.arange(len(store.index))
    alpha_d = class_weights(store.counts())
    alpha = torch.tensor([alpha_d[c] for c in model.config.categories], dtype=torch.float32)
    phase = cfg.phase2
    geom = Geometry(store.patch, model.config.scale, model.config.halo)
    order = BatchOrder(rows, cfg.train.batch, cfg.train.seed, 2)
    cat_ids = np.array([model.config.categories.index(c) for c in store.categories])
    batches = []
    for t in range(256):  # pre-made tensors for the bare loop: the trainer's own first batches
        r = store.index[order(t)]
        lr, hr = store.gather(r, geom)
        batches.append((torch.from_numpy(lr).contiguous(memory_format=torch.channels_last), torch.from_numpy(hr),
                        torch.from_numpy(cat_ids[r[:, 0]])))

    def fresh():
        m = build_model("mch-mc")
        init_model(m, cfg.train)
        return m.to(memory_format=torch.channels_last)

    precision = resolve_precision(cfg.train.precision, device)
    best = {"bare": 0.0, "trainer": 0.0}
    try:
        for _ in range(args.repeat):
            best["bare"] = max(best["bare"], bare_loop(fresh(), batches, phase, alpha, precision, args.steps, device))
            best["trainer"] = max(best["trainer"], trainer_loop(fresh(), store, rows, cfg, phase, alpha_d, args.steps, tmp,
                                                                device))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    con = Console()
    con.print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device_words(device)}, "
              f"config {cfg.name}, precision {precision} (config: {cfg.train.precision}), batch {cfg.train.batch}, {len(rows):,} patches "
              f"({'synthetic' if 'data.folders' in over else 'real'} data), {args.steps} timed steps, best of {args.repeat}")
    table = Table("loop", "steps/s", "patches/s", "vs bare")
    for k, v in best.items():
        table.add_row(k, f"{v:.1f}", f"{v * cfg.train.batch:.0f}", f"{v / best['bare']:.1%}")
    con.print(table)


if __name__ == "__main__":
    main()
