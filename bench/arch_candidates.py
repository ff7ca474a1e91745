"""Training cost of the quality tier's candidate architectures (issue 27, item 1), in one run.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/arch_candidates.py            # bf16 where native
    .venv/bin/python bench/arch_candidates.py --precision fp32 --steps 100

Each candidate is a variant of the paper's design (``build_model("mch-mc", channels=..., tail=...)``):
a bare forward + backward + Adam step at batch 32 on random patches, one thread. The LR patch of each
is 20 + 2 x halo, so every candidate is supervised on the same 40 x 40 HR centre the paper's 60 px
patches give. Printed: multiply-adds per LR pixel (against waifu2x-upconv7's 551,856 from its ncnn
.param: six 3x3 convolutions 16-256 channels and a 4x4 stride-2 deconvolution) and steps/s with its
ratio to the paper's network measured in the same run: on a shared CPU only the ratio means much.
"""
from __future__ import annotations

import argparse
import time

import torch

from mchmc.model import build_model
from mchmc.precision import resolve_precision

UPCONV7_MACS = 551_856
CANDIDATES = {
    "mch-mc (paper)": {},
    "mch-mc-wide": {"channels": (96, 48)},
    "128/64": {"channels": (128, 64)},
    "128/64 + 64": {"channels": (128, 64), "tail": (64,)},
    "112/56 + 64 x 2": {"channels": (112, 56), "tail": (64, 64)},
    "mch-mc-quality (96/48 + 64 x 3)": {"channels": (96, 48), "tail": (64, 64, 64)},
    "64/32 + 64 x 4": {"tail": (64, 64, 64, 64)},
}


def steps_per_s(overrides: dict, precision: str, steps: int, repeat: int) -> tuple[float, object]:
    torch.manual_seed(0)
    model = build_model("mch-mc", **overrides).train().to(memory_format=torch.channels_last)
    n = 20 + 2 * model.config.halo
    x = torch.rand(32, 1, n, n).contiguous(memory_format=torch.channels_last)
    y, c = torch.rand(32, 1, 40, 40), torch.randint(0, 3, (32,))
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")

    def step():
        with autocast:
            sr, logits = model(x)
        loss = ((sr.float() - y) ** 2).sum((1, 2, 3)).mean() + torch.nn.functional.cross_entropy(logits.float(), c)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    best = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        best = max(best, steps / (time.perf_counter() - t0))
    return best, model.config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    precision = resolve_precision(args.precision, "cpu")
    print(f"precision {precision}, {args.threads} thread(s), batch 32, best of {args.repeat} x {args.steps} steps")
    base = None
    for name, overrides in CANDIDATES.items():
        rate, cfg = steps_per_s(overrides, precision, args.steps, args.repeat)
        base = base or rate
        print(f"{name:34s} MACs/LR px {cfg.macs_per_lr_pixel:>8,} ({cfg.macs_per_lr_pixel / UPCONV7_MACS:.2f}x upconv7)"
              f"  halo {cfg.halo}  steps/s {rate:6.2f} ({rate / base:.2f}x paper)", flush=True)


if __name__ == "__main__":
    main()
