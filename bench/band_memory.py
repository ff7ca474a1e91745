"""The driver's memory on a page split into bands (issue 28, C10): the band pixels stay out of it.

Before C10 every band's upscaled pixels came back to the driver and were sent on to the
stitching actor (2.26 GB for an 81 MP page, held by the driver and copied into Ray's
object store with the stitch's arguments); now the driver only passes references.
This runs the real driver with a real local Ray pool of ``--cpus`` PageWorker actors (a
random MCH-MC model) over one synthetic page split into bands, in a fresh process, and
prints the driver process's peak RSS over the run (VmHWM, reset just before it) and
its growth over the RSS at the start. With ``--before REF``
the same run is made first with the ``mchmc`` package of git ``REF`` (exported to a
temporary folder, first on PYTHONPATH, so its Ray workers run it too): both rows in one run.

    .venv/bin/python bench/band_memory.py --before HEAD~1                 # 2400 x 1800 page
    .venv/bin/python bench/band_memory.py --width 4000 --height 3000 --before HEAD~1
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak() -> None:
    """Make VmHWM the current RSS, so the set-up (the synthetic page made here) is not the peak."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def child(width: int, height: int, cpus: int, root: Path) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    import mchmc
    from mchmc.batch.driver.loop import run
    from mchmc.batch.driver.prepare import prepare
    from mchmc.batch.options import BatchOptions
    from mchmc.batch.pool.pool import Pool, PoolSpec
    from mchmc.batch.pool.ray_local import connect
    from mchmc.batch.worker.pageworker import PageWorker
    from mchmc.model import build_model
    from mchmc.modelfile import save_model

    src, dst = root / "src", root / "out"
    src.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)).save(
        src / "big.png", compress_level=1)
    torch.manual_seed(0)
    model = build_model("mch-mc")
    model.reset_parameters(0.05)
    options = BatchOptions(model=str(save_model(model, root / "tiny.pt")), split_pixels=width * height // 2)
    connect(num_cpus=cpus, temp_dir=str(root / "ray"))
    prep = prepare(str(src), str(dst), options)
    _reset_peak()
    base = _status_mb("VmRSS")
    t0 = time.perf_counter()
    outcome = run(prep, lambda opts: Pool(PageWorker, (opts,), PoolSpec(cpus=cpus)))
    seconds = time.perf_counter() - t0
    assert outcome.summary.by_status["ok"] == 1, outcome.summary
    peak = _status_mb("VmHWM")
    return {"package": str(Path(mchmc.__file__).parent), "seconds": seconds, "rss_before_run_mb": base,
            "peak_rss_mb": peak, "growth_mb": peak - base, "band_pixels_mb": 4 * width * height * 3 / 2**20}


def measure(args, pythonpath: str | None) -> dict:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
    cmd = [sys.executable, __file__, "--child", "--width", str(args.width), "--height", str(args.height),
           "--cpus", str(args.cpus)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=2400)
    ap.add_argument("--height", type=int, default=1800)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--before", help="a git ref whose mchmc package runs first, for a before/after pair")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory(prefix="mchmc-bench-") as tmp:
            print(json.dumps(child(args.width, args.height, args.cpus, Path(tmp))))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="mchmc-before-") as old:
        if args.before:
            archive = subprocess.run(["git", "archive", args.before, "mchmc"], cwd=ROOT, capture_output=True,
                                     check=True).stdout
            subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
            rows.append((args.before, measure(args, old)))
        rows.append(("working tree", measure(args, str(ROOT))))
    for name, row in rows:
        print(f"  {name}: {row}", file=sys.stderr)
    mp = args.width * args.height / 1e6
    print(f"\nDriver memory, one {args.width} x {args.height} page ({mp:.1f} MP) in bands over {args.cpus} Ray "
          f"actors; its upscaled pixels: {rows[0][1]['band_pixels_mb']:.0f} MiB\n")
    print("| mchmc | seconds | driver RSS before the run (MiB) | driver peak RSS (MiB) | growth (MiB) |")
    print("|---|---:|---:|---:|---:|")
    for name, r in rows:
        print(f"| {name} | {r['seconds']:.1f} | {r['rss_before_run_mb']:.0f} | {r['peak_rss_mb']:.0f} | "
              f"{r['growth_mb']:.0f} |")
    if len(rows) == 2:
        print(f"\ngrowth after / before: {rows[1][1]['growth_mb'] / max(rows[0][1]['growth_mb'], 1e-9):.2f}")


if __name__ == "__main__":
    main()
