"""Driver memory against the number of pages: flat, not ~1 KB per page.

The driver (mchmc.batch.driver.loop) plans, decides, feeds, commits and reports every page
of a run; before issue 15 it held every job and every record (~1 KB per page,
~1 GiB for a million pages). This bench runs the real driver, with the real
PageWorker (a random MCH-MC model, tiny 4 x 4 pages, upscale with staged
outputs, ledger and streamed report), over 1,000 / 10,000 / 100,000 pages, each
size in a fresh process, and prints the peak resident memory of that process
(the worker runs in-process through ``InlinePool``, so its constant share is
in every row) and the growth of Python's own allocations while the pages run
(tracemalloc, on a second pass for ``--trace-sizes``).

    .venv/bin/python bench/driver_memory.py                  # 1k, 10k, 100k
    .venv/bin/python bench/driver_memory.py --sizes 1000,20000
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(n: int, root: Path, trace: bool) -> dict:
    import io

    import numpy as np
    import torch
    from PIL import Image

    from mchmc.batch.driver.loop import run
    from mchmc.batch.pool.pool import InlinePool
    from mchmc.batch.driver.prepare import prepare
    from mchmc.batch.options import BatchOptions
    from mchmc.batch.worker.pageworker import PageWorker
    from mchmc.model import build_model
    from mchmc.modelfile import save_model

    src, dst = root / "src", root / "out"
    buf = io.BytesIO()
    Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3)).save(buf, format="PNG")
    data = buf.getvalue()
    for d in range(0, n, 1000):  # 1,000 pages per folder, as a scanned archive would hold them
        folder = src / f"vol{d // 1000:04d}"
        folder.mkdir(parents=True)
        for i in range(d, min(n, d + 1000)):
            (folder / f"p{i:06d}.png").write_bytes(data)
    torch.manual_seed(0)
    model = build_model("mch-mc")
    model.reset_parameters(0.05)
    model_path = save_model(model, root / "tiny.pt")
    options = BatchOptions(model=str(model_path), tile=32, split_pixels=0)
    prep = prepare(str(src), str(dst), options)
    if trace:
        import tracemalloc

        tracemalloc.start()
    t0 = time.perf_counter()
    outcome = run(prep, lambda opts: InlinePool(PageWorker, (opts,)))
    seconds = time.perf_counter() - t0
    traced = None
    if trace:
        import tracemalloc

        _, traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert outcome.summary.by_status["ok"] == n, outcome.summary
    return {"pages": n, "seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "traced_peak_mb": traced / 2**20 if traced is not None else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--trace-sizes", default="1000", help="sizes also run under tracemalloc (slower, ~3x)")
    args = ap.parse_args()
    args.trace_sizes = {int(s) for s in args.trace_sizes.split(",") if s}
    if args.child:
        with tempfile.TemporaryDirectory(prefix="mchmc-bench-") as tmp:
            print(json.dumps(child(args.child, Path(tmp), args.trace)))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for n in sizes:
        for trace in ([False, True] if n in args.trace_sizes else [False]):
            out = subprocess.run([sys.executable, __file__, "--child", str(n)] + (["--trace"] if trace else []),
                                 capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"  measured {n:>7} pages{' (tracemalloc)' if trace else ''}: {row}", file=sys.stderr, flush=True)
    base = next(r for r in rows if r["traced_peak_mb"] is None and r["pages"] == sizes[0])
    print(f"\nDriver memory, real driver + in-process PageWorker, tiny pages ({os.cpu_count()} CPUs)\n")
    print("| pages | seconds | pages/s | peak RSS (MB) | RSS / RSS at first size | tracemalloc peak over the run (MB) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        r = next(x for x in rows if x["pages"] == n and x["traced_peak_mb"] is None)
        t = next((x["traced_peak_mb"] for x in rows if x["pages"] == n and x["traced_peak_mb"] is not None), None)
        print(f"| {n:,} | {r['seconds']:.1f} | {n / r['seconds']:.0f} | {r['peak_rss_mb']:.0f} | "
              f"{r['peak_rss_mb'] / base['peak_rss_mb']:.2f} | {'' if t is None else f'{t:.2f}'} |")


if __name__ == "__main__":
    main()
