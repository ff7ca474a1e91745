"""What routing a page to its category's specialist costs (issue 27, :mod:`mchmc.routing`).

A routed page is read by the model's head before it is upscaled: a big page through its view (a few
hundredths of its pixels), a page small enough to be pooled whole (at most 40,000 LR px) through conv1 and
conv2 once more. This bench runs the same pages through one worker per setup, in one process, interleaved:

- ``plain``: the model alone;
- ``routed``: the same model with a specialist for every category beside it, each a copy of the model,
  so the pixels must be byte-identical to ``plain``'s (checked) and the time difference is routing's alone;
- ``router``: ``routed`` with a router beside the model (:mod:`mchmc.router`; its weights are zero, so it
  names the first category, whose specialist is again a copy): the time over ``routed`` is what the page
  statistics cost.

It prints seconds per page (the median of ``--repeat`` rounds after a warm-up), routed / plain and
router / plain.

    OMP_NUM_THREADS=1 .venv/bin/python bench/routing.py [--model FILE] [--repeat 5] [PAGE ...]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mchmc.batch.options import BatchOptions
from mchmc.batch.plan import Job
from mchmc.batch.worker.pageworker import PageWorker
from mchmc.modelfile import read_config, resolve_model


SETUPS = ("plain", "routed", "router")


def setups(model: Path, folder: Path) -> dict[str, Path]:
    """plain/m.pt; routed/m.pt and router/m.pt with m-for-<category>.pt copies of it for every category,
    and router/router/m.pt."""
    import numpy as np

    from mchmc.router import STATISTICS, Router, file_sha256, router_file, save_router

    out = {}
    config = read_config(model)[1]
    for name in SETUPS:
        (folder / name).mkdir(parents=True)
        shutil.copy(model, folder / name / "m.pt")
        out[name] = folder / name / "m.pt"
        for category in config.categories if name != "plain" else ():
            shutil.copy(model, folder / name / f"m-for-{category}.pt")
    n, k = config.channels[1] + len(STATISTICS), len(config.categories)
    save_router(Router(tuple(config.categories), np.zeros(n), np.ones(n), np.zeros((k, n)), np.zeros(k),
                       file_sha256(out["router"])), router_file(out["router"]))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pages", nargs="*", type=Path, help="pages (default: samples/)")
    ap.add_argument("--model", default="srformc", help="a model name or file (default: the fast tier)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    pages = args.pages or sorted(p for p in (ROOT / "samples").iterdir() if p.suffix in (".png", ".jpg"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        workers = {name: PageWorker(BatchOptions(model=str(m), format="png", noise="none"))
                   for name, m in setups(resolve_model(args.model), tmp).items()}
        times: dict[tuple[str, str], list[float]] = {}
        for r in range(args.repeat + 1):  # round 0 warms up
            for page in pages:
                outs = {}
                for name, worker in workers.items():
                    outs[name] = tmp / f"{name}-{page.stem}.png"
                    t0 = time.perf_counter()
                    rec = worker.process(Job(page, outs[name]))
                    dt = time.perf_counter() - t0
                    if rec.status != "ok":
                        raise SystemExit(f"{page}: {rec.error}")
                    if r:
                        times.setdefault((page.name, name), []).append(dt)
                if not outs["plain"].read_bytes() == outs["routed"].read_bytes() == outs["router"].read_bytes():
                    raise SystemExit(f"{page}: a routed page differs from the plain one")
    print(f"model {args.model}; {args.repeat} rounds; median s per page; pixels identical on every page")
    print("| page | plain s | routed s | router s | routed / plain | router / plain |\n|---|---:|---:|---:|---:|---:|")
    total = dict.fromkeys(SETUPS, 0.0)
    for page in pages:
        med = {name: statistics.median(times[page.name, name]) for name in SETUPS}
        for name in total:
            total[name] += med[name]
        print(f"| {page.name} | {med['plain']:.3f} | {med['routed']:.3f} | {med['router']:.3f} | "
              f"{med['routed'] / med['plain']:.3f} | {med['router'] / med['plain']:.3f} |")
    print(f"| all | {total['plain']:.3f} | {total['routed']:.3f} | {total['router']:.3f} | "
          f"{total['routed'] / total['plain']:.3f} | {total['router'] / total['plain']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
