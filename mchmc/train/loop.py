"""The trainer: one phase of MCH / MCH-MC training, resumable exactly.

Loss (paper eq. 5, 14, 15), on the central region the unpadded net predicts:

    L = r_MSE * (1/N) sum_i ||F(Y_i) - T_i||^2  +  r_SCE * -(1/N) sum_i alpha_{c_i} log p_{c_i}

``||.||^2`` is the squared L2 norm over the patch's output pixels (Y in
normalised units), as the paper's formula (and Caffe's Euclidean loss up to
its 1/2) has it; the weighted cross-entropy is normalised by N, the batch
size, as in eq. 15 (not by the sum of the weights). The logged ``mse`` is the
per-pixel mean (what PSNR reads). Optimiser: Adam (betas from the config) with
two parameter groups, {conv1, conv2, head} at ``lr`` and {conv3} at
``lr_conv3``; the learning rate at step t is a pure function of t (constant,
or warm-up + cosine), so nothing about it has to be checkpointed.

Data order: the batch at step t is rows ``perm_e[j*B:(j+1)*B]`` of the training
patch index, with e, j = divmod(t, steps_per_epoch) and perm_e drawn from
``np.random.default_rng([seed, phase, e])``: a pure function of (seed, phase,
t). A checkpoint (model, optimizer, step, torch RNG state for dropout, the
open metrics interval and the byte length of metrics.csv) is written
atomically every ``checkpoint_every`` steps; a killed run resumes from it and
continues with exactly the batches, dropout masks and learning rates it would
have used.

Device (``PhaseSpec.device``, :mod:`mchmc.train.device`): on the CPU the loop is
exactly what it was before devices existed (same tensors, same order, same
host-side sums). On CUDA the model, optimiser state and each batch live on the
GPU: batches go through pinned (page-locked) host memory with a non-blocking
copy, bf16 autocast is CUDA's, fp32 stays fp32 (TF32 off, as in the inference
engine), cuDNN picks its fastest kernels for the fixed patch shapes, and the
logged sums stay on the device (read back only at log and checkpoint steps),
because a ``float()`` of the loss every step would make the CPU wait for the
GPU and leave it idle while the next batch is gathered. The checkpoint also
holds the CUDA RNG state (dropout masks). A CUDA run resumes with the same
batches and rates, but not bit-exactly (its kernels sum in an order of their own).
"""
from __future__ import annotations

import csv
import io
import math
import os
import time
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mchmc.train.augment import d4_batch, d4_choices
from mchmc.train.config_schema import PhaseConfig, TrainConfig
from mchmc.fsutil import atomic_write
from mchmc.precision import resolve_precision
from mchmc.train.device import resolve_device
from mchmc.model import MCH
from mchmc.train.patches import Geometry, PatchStore

PHASE_IDS = {"mch": 0, "phase1": 1, "phase2": 2}


def init_model(model: MCH, train: TrainConfig) -> None:
    """Paper init (N(0, init_std), biases 0) or Kaiming-normal (fan-in, ReLU gain), biases 0."""
    torch.manual_seed(train.seed)
    if train.init == "paper":
        model.reset_parameters(train.init_std)
        return
    for mod in model.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
            nn.init.zeros_(mod.bias)


def param_groups(model: MCH, phase: PhaseConfig) -> list[dict]:
    """{conv1, conv2, head} at phase.lr; {conv3} at phase.lr_conv3 (paper Table 2)."""
    conv3 = [p for n, p in model.named_parameters() if n.startswith("conv3.")]
    main = [p for n, p in model.named_parameters() if not n.startswith("conv3.")]
    return [{"params": main, "lr": phase.lr, "base_lr": phase.lr, "name": "conv1-conv2-head"},
            {"params": conv3, "lr": phase.lr_conv3, "base_lr": phase.lr_conv3, "name": "conv3"}]


def lr_factor(phase: PhaseConfig, t: int) -> float:
    """Multiplier of the base learning rates at (0-based) step t."""
    if phase.warmup and t < phase.warmup:
        return (t + 1) / phase.warmup
    if phase.schedule == "constant" or phase.steps <= 0:
        return 1.0
    frac = min(1.0, (t - phase.warmup) / max(1, phase.steps - phase.warmup))
    return phase.min_lr_ratio + (1 - phase.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac))


class BatchOrder:
    """Batch rows at step t: a pure function of (seed, phase, t)."""

    def __init__(self, rows: np.ndarray, batch: int, seed: int, phase_id: int):
        if len(rows) == 0:
            raise ValueError("no training patches (images smaller than the patch size?)")
        self.rows, self.batch, self.key = np.asarray(rows, np.int64), batch, (seed, phase_id)
        self.per_epoch = max(1, len(rows) // batch)
        self._epoch, self._perm = -1, None

    def perm(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            rng = np.random.default_rng([*self.key, epoch])
            n = len(self.rows)
            # fewer patches than a batch: sample with replacement (tiny smoke data only)
            self._perm = rng.permutation(n) if n >= self.batch else rng.integers(0, n, self.batch)
            self._epoch = epoch
        return self._perm

    def __call__(self, t: int) -> np.ndarray:
        e, j = divmod(t, self.per_epoch)
        return self.rows[self.perm(e)[j * self.batch : (j + 1) * self.batch]]


def loss_terms(model: MCH, lr: torch.Tensor, target: torch.Tensor, cats: torch.Tensor, alpha: torch.Tensor,
               phase: PhaseConfig, autocast, labelled: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """``labelled``: 1 / 0 per patch, whether its category teaches the head (None: every patch does)."""
    with autocast:
        sr, logits = model(lr)
    err = (sr.float() - target) ** 2
    sq_norm = err.flatten(1).sum(1).mean()  # (1/N) sum_i ||F(Y_i) - T_i||^2
    out = {"mse": err.mean().detach()}
    loss = phase.r_mse * sq_norm
    if logits is not None:
        logp = F.log_softmax(logits.float(), dim=1)
        w = alpha[cats] if labelled is None else alpha[cats] * labelled
        sce = -(w * logp.gather(1, cats[:, None])[:, 0]).mean()  # 1/N, eq. 15
        loss = loss + phase.r_sce * sce
        out["sce"] = sce.detach()
        out["correct"] = (logits.argmax(1) == cats).sum().detach()
    out["loss"] = loss
    return out


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


@dataclass
class PhaseSpec:
    """Everything one phase needs besides the model."""

    name: str
    phase: PhaseConfig
    train: TrainConfig
    store: PatchStore
    rows: np.ndarray  # training rows of store.index
    alpha: dict[str, float]
    checkpoint: Path
    csv_path: Path
    csv_start: int  # byte length of metrics.csv when the phase started (rows before belong to earlier phases)
    step_offset: int = 0  # back-propagations of earlier phases (the CSV's total_step)
    validate: Callable[[MCH], dict[str, float]] | None = None
    columns: tuple[str, ...] = ()
    stop_after: int | None = None  # tests: raise after this step (simulates a crash)
    device: str = "cpu"  # where to train: cpu, cuda:N, or auto (mchmc.train.device)
    unlabelled: frozenset[int] = frozenset()  # store image ids whose patches teach the upscaler, not the head


class Interrupted(RuntimeError):
    """Raised by ``stop_after`` (tests)."""


BASE_COLUMNS = ("step", "total_step", "phase", "lr", "loss", "mse", "sce", "train_acc")
TAIL_COLUMNS = ("steps_per_s", "elapsed")


def csv_columns(val_categories: list[str], classifier: bool) -> tuple[str, ...]:
    val = tuple(f"psnr_{c}" for c in val_categories) + ("psnr_mean", "psnr10_mean")
    return BASE_COLUMNS + val + (("val_acc",) if classifier else ()) + TAIL_COLUMNS


def train_phase(model: MCH, spec: PhaseSpec, callback: Callable[[dict], None] | None = None) -> dict:
    """Run (or resume) one phase to ``spec.phase.steps``. Returns the last metrics row."""
    # One function on purpose (86 lines): the training loop reads top to bottom as in nanoGPT's
    # train.py (set-up, resume, step, log, checkpoint); split, its exact-resume contract would be
    # spread over helpers that share a dozen locals.
    tc, ph = spec.train, spec.phase
    dev = torch.device(resolve_device(spec.device))
    on_cpu = dev.type == "cpu"
    if tc.threads:
        torch.set_num_threads(tc.threads)
    geom = Geometry(spec.store.patch, model.config.scale, model.config.halo)
    cat_names = list(model.config.categories)
    cat_of_image = np.array([cat_names.index(c) if c in cat_names else 0 for c in spec.store.categories], np.int64)
    labelled_of_image = None  # rendered pages with data.rendered_category = false: no SCE term
    if spec.unlabelled:
        labelled_of_image = np.ones(len(cat_of_image), np.float32)
        labelled_of_image[sorted(spec.unlabelled)] = 0.0
    alpha = torch.tensor([spec.alpha.get(c, 0.0) for c in cat_names] or [0.0], dtype=torch.float32).to(dev)
    fmt = torch.channels_last if tc.channels_last else torch.contiguous_format
    model.to(dev, memory_format=fmt).train()
    model.dropout = ph.dropout
    opt = torch.optim.Adam(param_groups(model, ph), betas=tc.betas, eps=tc.eps)
    order = BatchOrder(spec.rows, tc.batch, tc.seed, PHASE_IDS.get(spec.name, 9))
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16) if resolve_precision(tc.precision, dev) == "bf16" \
        else nullcontext()
    if not on_cpu:
        torch.backends.cudnn.benchmark = True  # fixed patch shapes: pick the fastest conv kernels once
        # fp32 means fp32, as in the inference Engine: cuDNN / cuBLAS would run fp32 convs and matmuls in TF32
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    dacc = None if on_cpu else torch.zeros(4, dtype=torch.float64, device=dev)  # the open interval's sums, on the GPU

    ck = load_checkpoint(spec.checkpoint)
    acc = [0.0, 0.0, 0.0, 0.0, 0]  # loss, mse, sce, correct, steps in the open log interval
    if ck is not None:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optim"])
        torch.set_rng_state(ck["torch_rng"])
        if not on_cpu and "cuda_rng" in ck:
            torch.cuda.set_rng_state(ck["cuda_rng"], dev)
        start, elapsed0, csv_bytes = int(ck["step"]), float(ck["elapsed"]), int(ck["csv_bytes"])
        acc = [float(a) for a in ck["acc"][:4]] + [int(ck["acc"][4])]
    else:
        torch.manual_seed(tc.seed * 1000 + PHASE_IDS.get(spec.name, 9))
        start, elapsed0, csv_bytes = 0, 0.0, spec.csv_start
    _truncate_csv(spec.csv_path, csv_bytes, spec.columns)

    t0 = time.perf_counter()
    t_int, n_int = t0, 0
    last: dict = {}
    for t in range(start, ph.steps):
        f = lr_factor(ph, t)
        for g in opt.param_groups:
            g["lr"] = g["base_lr"] * f
        rows = spec.store.index[order(t)]
        lr_np, hr_np = spec.store.gather(rows, geom)
        if tc.augment_d4:  # each patch turned by one of D4's eight elements, a function of (seed, phase, t)
            lr_np, hr_np = d4_batch(lr_np, hr_np, d4_choices(tc.seed, PHASE_IDS.get(spec.name, 9), t, len(rows)))
        x = torch.from_numpy(lr_np).contiguous(memory_format=fmt)
        y = torch.from_numpy(hr_np)
        c = torch.from_numpy(cat_of_image[rows[:, 0]])
        m = None if labelled_of_image is None else torch.from_numpy(labelled_of_image[rows[:, 0]])
        if not on_cpu:  # pinned host memory: the copies run asynchronously with the GPU's work
            x, y, c = (v.pin_memory().to(dev, non_blocking=True) for v in (x, y, c))
            m = None if m is None else m.pin_memory().to(dev, non_blocking=True)
        terms = loss_terms(model, x, y, c, alpha, ph, autocast, m)
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        opt.step()
        if on_cpu:
            acc[0] += float(terms["loss"].detach())
            acc[1] += float(terms["mse"])
            acc[2] += float(terms.get("sce", 0.0))
            acc[3] += float(terms.get("correct", 0)) / len(rows)
        else:
            dacc += _step_sums(terms, len(rows))
        acc[4] += 1
        n_int += 1
        step = t + 1
        if callback and (step % 25 == 0 or step == ph.steps):
            now = time.perf_counter()
            loss_sum = acc[0] if on_cpu else acc[0] + float(dacc[0])
            callback({"event": "step", "phase": spec.name, "step": step, "steps": ph.steps, "loss": loss_sum / acc[4],
                      "steps_per_s": n_int / max(now - t_int, 1e-9), "elapsed": elapsed0 + now - t0})
        if not on_cpu and (step % tc.log_every == 0 or step % tc.checkpoint_every == 0 or step == ph.steps):
            acc[:4] = [a + float(d) for a, d in zip(acc[:4], dacc.tolist())]  # at fixed steps: resumes log the same
            dacc.zero_()
        if step % tc.log_every == 0 or step == ph.steps:
            now = time.perf_counter()
            row = {"step": step, "total_step": spec.step_offset + step, "phase": spec.name,
                   "lr": ph.lr * f, "loss": acc[0] / acc[4], "mse": acc[1] / acc[4],
                   "sce": acc[2] / acc[4] if model.config.has_classifier else "",
                   "train_acc": acc[3] / acc[4] if model.config.has_classifier else "",
                   "steps_per_s": n_int / max(now - t_int, 1e-9), "elapsed": elapsed0 + now - t0}
            if spec.validate:
                row.update(spec.validate(model))
            model.train()
            _append_csv(spec.csv_path, spec.columns, row)
            last = row
            acc = [0.0, 0.0, 0.0, 0.0, 0]
            t_int, n_int = time.perf_counter(), 0
            if callback:
                callback({"event": "log", **row, "steps": ph.steps})
        if step % tc.checkpoint_every == 0 or step == ph.steps:
            atomic_save({"format": "mchmc-checkpoint", "phase": spec.name, "step": step,
                         "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
                         "optim": opt.state_dict(), "torch_rng": torch.get_rng_state(), "device": str(dev),
                         **({} if on_cpu else {"cuda_rng": torch.cuda.get_rng_state(dev)}),
                         "elapsed": elapsed0 + time.perf_counter() - t0,
                         "csv_bytes": spec.csv_path.stat().st_size if spec.csv_path.exists() else 0,
                         "acc": [float(a) for a in acc[:4]] + [int(acc[4])]}, spec.checkpoint)
        if spec.stop_after is not None and step >= spec.stop_after:
            raise Interrupted(f"stopped after step {step} (test hook)")
    model.dropout = 0.0
    model.to("cpu").eval()  # saved, validated and served from the CPU whatever trained it
    if not last:  # resumed at the very end: read back the last row
        last = read_metrics(spec.csv_path)[-1] if spec.csv_path.exists() and read_metrics(spec.csv_path) else {}
    return last


def _step_sums(terms: dict[str, torch.Tensor], batch: int) -> torch.Tensor:
    """One step's (loss, mse, sce, accuracy) as float64 on the device: the CPU path's host-side sums
    without reading the GPU back every step."""
    zero = terms["mse"].new_zeros(())
    v = torch.stack([terms["loss"].detach().double(), terms["mse"].double(),
                     terms.get("sce", zero).double(), terms.get("correct", zero).double()])
    v[3] /= batch
    return v


def _truncate_csv(path: Path, size: int, columns: tuple[str, ...]) -> None:
    if path.exists() and path.stat().st_size > size:
        with open(path, "r+b") as f:
            f.truncate(size)
    if size == 0 or not path.exists():
        path.write_text(",".join(columns) + "\n")


def _append_csv(path: Path, columns: tuple[str, ...], row: dict) -> None:
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
