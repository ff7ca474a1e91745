"""A phase's resume state and its metrics log.

A checkpoint (``checkpoints/<phase>.pt``) holds the model, the optimiser, the step, the torch RNG state
(dropout masks; the CUDA one too on a GPU), the open metrics interval's sums and the byte length of
``metrics.csv`` when it was written; it is written atomically, so a kill -9 leaves the previous one whole.
On resume ``metrics.csv`` is cut back to that length: rows logged after the checkpoint are logged again.
"""
from __future__ import annotations

import csv
import io
import os
import warnings
from pathlib import Path

import torch

from mchmc.fsutil import atomic_write

BASE_COLUMNS = ("step", "total_step", "phase", "lr", "loss", "mse", "sce", "train_acc")
TAIL_COLUMNS = ("steps_per_s", "elapsed")


def atomic_save(obj, path: Path) -> None:
    """torch.save to a temporary name, fsync, rename: a kill -9 never leaves half a checkpoint."""
    with atomic_write(path, fsync=True) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: Path) -> dict | None:
    if not path.is_file():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=True)


def checkpoint_state(phase: str, step: int, model, opt, dev: torch.device, elapsed: float, csv_path: Path,
                     acc: list) -> dict:
    """What :func:`restore` needs to continue after ``step`` exactly (on the CPU; a GPU's sums differ)."""
    on_cpu = dev.type == "cpu"
    return {"format": "mchmc-checkpoint", "phase": phase, "step": step,
            "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "optim": opt.state_dict(), "torch_rng": torch.get_rng_state(), "device": str(dev),
            **({} if on_cpu else {"cuda_rng": torch.cuda.get_rng_state(dev)}),
            "elapsed": elapsed,
            "csv_bytes": csv_path.stat().st_size if csv_path.exists() else 0,
            "acc": [float(a) for a in acc[:4]] + [int(acc[4])]}


def restore(ck: dict, model, opt, dev: torch.device) -> tuple[int, float, int, list]:
    """Load a checkpoint into the model, optimiser and RNGs; (step, elapsed, csv bytes, open interval sums)."""
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optim"])
    torch.set_rng_state(ck["torch_rng"])
    if dev.type != "cpu" and "cuda_rng" in ck:
        torch.cuda.set_rng_state(ck["cuda_rng"], dev)
    acc = [float(a) for a in ck["acc"][:4]] + [int(ck["acc"][4])]
    return int(ck["step"]), float(ck["elapsed"]), int(ck["csv_bytes"]), acc


def csv_columns(val_categories: list[str], classifier: bool) -> tuple[str, ...]:
    val = tuple(f"psnr_{c}" for c in val_categories) + ("psnr_mean", "psnr10_mean")
    return BASE_COLUMNS + val + (("val_acc",) if classifier else ()) + TAIL_COLUMNS


def truncate_csv(path: Path, size: int, columns: tuple[str, ...]) -> None:
    if path.exists() and path.stat().st_size > size:
        with open(path, "r+b") as f:
            f.truncate(size)
    if size == 0 or not path.exists():
        path.write_text(",".join(columns) + "\n")


def append_csv(path: Path, columns: tuple[str, ...], row: dict) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    with open(path, "a") as f:
        f.write(buf.getvalue())
        f.flush()
        os.fsync(f.fileno())


def read_metrics(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
