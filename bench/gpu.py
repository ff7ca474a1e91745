"""A prepared device check (issue 18, item 5): every GPU figure the project needs, one command.

    python bench/gpu.py --out docs/gpu-h200          # on the GPU machine: < 8 minutes on one H200
    python bench/gpu.py --dry-run --out /tmp/gpu     # anywhere: the CPU in place of the GPU, small sizes

It imports only torch, numpy, Pillow, rich and mchmc library modules that need neither Ray nor
Prefect (the device image lacks them), and writes ``gpu-check.json`` and ``gpu-check.md`` to
``--out``; the Markdown is printed too. Sections, each under its own time budget (a section
that runs out lists the rows it skipped), in :mod:`gpu_measure`:

1. matmul: the card's measured n x n matmul TFLOP/s in bf16, fp16, tf32, fp32 (the yardstick).
2. engine: LR MP/s of the network as the service runs it (stacked tiles, 8-bit Y codes in through
   a pinned buffer, SR and GAP sums back), per precision (fp32 strict, tf32, bf16 = the engine's
   policy of conv2 in bf16, fp16 the same policy) x tile x batch; its share of the bf16 matmul
   rate (107,904 FLOP per LR pixel) and its max |difference| from fp32.
3. transfer: host <-> device ms per LR MP (8-bit and float32 Y in, the float32 SR out), pinned
   and pageable.
4. pipeline: pages/s and LR MP/s with 1, 4, 8 and all codec workers: today's path (the network
   inside each worker, on the CPU), the split pipeline with the network on the device, and the
   same with the network service on the CPU (the stand-in); ratio against today's path.
5. codec: the per-core ceiling with no network (``bench/codec.py``, when present).
6. training: steps/s of the training step (``mchmc.train.steps.loss_terms``, backward, Adam) at
   batch 32 and 128 and each config's batch, fp32 and bf16; hours per config from the bf16 rate.

How the pieces map to the Ray pipeline (``mchmc upscale --gpus N``): each codec *thread* here is
a CPU codec actor (``PageWorker``, one core); the ``NetworkService`` object is the service actor
(the same class: one per GPU); ``LocalLink`` stands for ``RayLink`` (the same requests without
Ray's object-store hop, on one node a shared-memory copy of each strip plus a scheduling round
trip of about a millisecond). Threads share one interpreter: numpy, Pillow's codecs and torch
release the GIL in their heavy loops, the Python between them does not, so with many workers
the pipeline rows are a lower bound of what separate actor processes give.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gpu_measure as gm  # noqa: E402

# (full run on a GPU, --dry-run on the CPU): sizes and per-section budgets in seconds
FULL = {"matmul_n": 8192, "plane": 4096, "tiles": (256, 512, 1024), "batches": (1, 16, 64), "transfer_mp": 16.0,
        "pages": 48, "page_size": (1240, 1754), "train_batches": (32, 128),
        "budget": {"matmul": 15, "engine": 120, "transfer": 15, "pipeline": 160, "codec": 30, "training": 40}}
DRY = {"matmul_n": 256, "plane": 160, "tiles": (48, 96), "batches": (1, 4), "transfer_mp": 0.25,
       "pages": 4, "page_size": (160, 120), "train_batches": (8,),
       "budget": {"matmul": 4, "engine": 20, "transfer": 3, "pipeline": 30, "codec": 10, "training": 8}}
PRECISIONS = ("fp32", "tf32", "bf16", "fp16")


def meta(dev: torch.device, dry: bool) -> dict:
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?") \
        if os.path.exists("/proc/cpuinfo") else platform.processor()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        commit = ""
    return {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({cpu})",
            "dry_run": dry, "torch": torch.__version__, "cuda": torch.version.cuda, "cpu": cpu,
            "cores": os.cpu_count(), "commit": commit, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def gray_plane(n: int) -> np.ndarray:
    """A scanned gray page's Y plane (n x n), from samples/, as the upscaler computes it."""
    from mchmc import colour
    from PIL import Image

    with Image.open(Path(__file__).resolve().parents[1] / "samples" / "text-page.png") as im:
        g = np.asarray(im.convert("L"))
    g = np.tile(g, (-(-n // g.shape[0]), -(-n // g.shape[1])))[:n, :n]
    return colour.luminance(np.ascontiguousarray(g))


def codec_section(pages, budget: gm.Budget) -> dict:
    try:
        from codec import codec_ceiling
    except ImportError:
        return {"skipped": "bench/codec.py not present"}
    t0 = time.perf_counter()
    res = codec_ceiling([str(p) for p in pages[:3]], full=False)
    return {"formats": {f: {"codec_mp_s_per_core": v["codec_mp_s"]} for f, v in res["formats"].items()},
            "cpu": res.get("cpu"), "seconds": time.perf_counter() - t0, "budget_s": budget.seconds}


def run(dry: bool, out: Path, work: Path) -> dict:
    from mchmc.batch.options import BatchOptions
    from mchmc.modelfile import load_model

    sizes = DRY if dry else FULL
    dev = torch.device("cpu" if dry else "cuda")
    res: dict = {"meta": meta(dev, dry), "seconds": {}}
    net = load_model(None).model

    def section(name, fn):
        t0 = time.perf_counter()
        budget = gm.Budget(sizes["budget"][name])
        print(f"[{name}] budget {budget.seconds} s ...", flush=True)
        res[name] = fn(budget)
        res["seconds"][name] = round(time.perf_counter() - t0, 1)

    section("matmul", lambda b: gm.matmul(dev, sizes["matmul_n"], b))
    section("engine", lambda b: gm.engine_rates(net, gray_plane(sizes["plane"]), dev, sizes["tiles"], sizes["batches"],
                                                PRECISIONS, b, res["matmul"].get("bf16")))
    section("transfer", lambda b: gm.transfers(dev, sizes["transfer_mp"], b))
    pages = gm.make_pages(work / "pages", sizes["pages"], *sizes["page_size"])
    counts = sorted({1, 2} if dry else {c for c in (1, 4, 8, os.cpu_count() or 1) if c <= (os.cpu_count() or 1)})
    options = BatchOptions(model=None, noise="none", tile=256)
    section("pipeline", lambda b: gm.pipeline(pages, work / "out", counts, dev, b, options))
    section("codec", lambda b: codec_section(pages, b))
    from mchmc.train.config import load_config

    batches = sorted(set(sizes["train_batches"]) | ({load_config(str(p)).train.batch for p in
                                                     (Path(__file__).resolve().parents[1] / "configs").glob("*.toml")}
                                                    if not dry else set()))
    section("training", lambda b: gm.training(dev, batches, ("fp32", "bf16"), b))
    res["config_hours"] = gm.config_hours(res["training"])
    res["meta"]["ray_or_prefect_imported"] = sorted({m.split(".")[0] for m in sys.modules} & {"ray", "prefect"})
    return res


def md_table(rows: list[dict], cols: list[tuple[str, str]]) -> str:
    def cell(v):
        return "-" if v is None else f"{v:.3g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(h for h, _ in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(k)) for _, k in cols) + " |" for r in rows]
    return "\n".join(lines)


def markdown(res: dict) -> str:
    m = res["meta"]
    parts = [f"# Device check: {m['device']}" + (" (dry run: the CPU in place of the GPU)" if m["dry_run"] else ""),
             f"torch {m['torch']}, CUDA {m['cuda']}, {m['cores']} cores ({m['cpu']}), commit {m['commit']}, "
             f"{m['date']}. Seconds per section: " + ", ".join(f"{k} {v}" for k, v in res["seconds"].items()),
             "## Matmul (TFLOP/s)", md_table([res["matmul"]], [(k, k) for k in res["matmul"]]),
             "## Engine (the service's stacked batches; ratio = share of the bf16 matmul rate)",
             md_table(res["engine"], [("precision", "precision"), ("tile", "tile"), ("batch", "batch"),
                                      ("wire", "wire"), ("LR MP/s", "lr_mp_s"), ("of bf16 peak", "share_of_bf16_matmul"),
                                      ("max diff vs fp32", "max_abs_diff_vs_fp32"), ("skipped", "skipped")]),
             "## Host <-> device transfers", md_table(res["transfer"], [
                 ("what", "what"), ("pinned", "pinned"), ("ms per LR MP", "ms_per_lr_mp"), ("GB/s", "gb_s"),
                 ("skipped", "skipped")])]
    base = {r["workers"]: r["lr_mp_s"] for r in res["pipeline"] if r["network"].startswith("in each") and r.get("lr_mp_s")}
    for r in res["pipeline"]:
        if r.get("lr_mp_s") and base.get(r["workers"]):
            r["ratio"] = r["lr_mp_s"] / base[r["workers"]]
    parts += ["## Pipeline (ratio: against today's path, the network in each worker, same worker count)",
              md_table(res["pipeline"], [("codec workers", "workers"), ("network", "network"), ("pages", "pages"),
                                         ("pages/s", "pages_s"), ("LR MP/s", "lr_mp_s"), ("ratio", "ratio"),
                                         ("skipped", "skipped")])]
    codec = res["codec"]
    rows = [{"format": f, "mp": v["codec_mp_s_per_core"]} for f, v in codec.get("formats", {}).items()]
    parts += ["## Codec ceiling (LR MP/s per core, no network)",
              md_table(rows, [("format", "format"), ("LR MP/s per core", "mp")]) if rows else codec.get("skipped", "")]
    parts += ["## Training (steps/s)", md_table(res["training"], [("batch", "batch"), ("precision", "precision"),
                                                                   ("steps/s", "steps_s"), ("skipped", "skipped")]),
              "## Hours per config (Phase 1 + Phase 2 at the bf16 rate)",
              md_table(res["config_hours"], [("config", "config"), ("batch", "batch"), ("steps", "mch_mc_steps"),
                                             ("hours", "hours_mch_mc")])]
    return "\n\n".join(parts) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="the CPU in place of the GPU, small sizes (CI)")
    ap.add_argument("--out", type=Path, default=Path("gpu-check"), help="folder for gpu-check.json and .md")
    args = ap.parse_args()
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: run on the GPU machine, or --dry-run to check the script on the CPU")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mchmc-gpu-") as work:
        res = run(args.dry_run, args.out, Path(work))
    res["seconds"]["total"] = round(time.perf_counter() - t0, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu-check.json").write_text(json.dumps(res, indent=1, default=str))
    text = markdown(res)
    (args.out / "gpu-check.md").write_text(text)
    print(text)
    print(f"written: {args.out / 'gpu-check.json'}, {args.out / 'gpu-check.md'} ({res['seconds']['total']} s)")


if __name__ == "__main__":
    main()
