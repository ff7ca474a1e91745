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
have used. The per-step functions are in :mod:`mchmc.train.steps`, the
checkpoint and metrics.csv in :mod:`mchmc.train.checkpoint`.

Events: ``callback`` gets ``{"event": "step", ...}`` every 25 steps and at the
end, and ``{"event": "log", **row}`` after each metrics.csv row is written (and
before that step's checkpoint). An exception it raises stops the phase there as
a crash would: the tests inject faults that way, and the next call resumes from
the last checkpoint.

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

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mchmc.model import MCH
from mchmc.precision import resolve_precision
from mchmc.train.augment import d4_batch, d4_choices
from mchmc.train.checkpoint import (append_csv, atomic_save, checkpoint_state, load_checkpoint, read_metrics,
                                    restore, truncate_csv)
from mchmc.train.config_schema import PhaseConfig, TrainConfig
from mchmc.train.device import resolve_device
from mchmc.train.patches import Geometry, PatchStore
from mchmc.train.steps import BatchOrder, loss_terms, lr_factor, param_groups, phase_id, step_sums

STEP_EVENT_EVERY = 25  # a "step" event (progress display) every N steps and at the end


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
    device: str = "cpu"  # where to train: cpu, cuda:N, or auto (mchmc.train.device)
    unlabelled: frozenset[int] = frozenset()  # store image ids whose patches teach the upscaler, not the head
    mse_weights: dict[str, float] | None = None  # train.balance_mse: per category, a patch's weight in the MSE
    head_only: bool = False  # the upscaler frozen, only the head trains (train.never_worse's Phase 1)


def train_phase(model: MCH, spec: PhaseSpec, callback: Callable[[dict], None] | None = None) -> dict:
    """Run (or resume) one phase to ``spec.phase.steps``. Returns the last metrics row."""
    phase = _Phase(model, spec, callback)  # set-up: device, optimiser, batch order, precision
    for t in range(phase.resume(), spec.phase.steps):  # from the checkpoint, or from a fresh seed
        phase.step(t)
    return phase.finish()


class _Phase:
    """One phase between its steps: the state the named parts of :func:`train_phase` share."""

    def __init__(self, model: MCH, spec: PhaseSpec, callback: Callable[[dict], None] | None):
        self.model, self.spec, self.callback = model, spec, callback
        tc, ph = self.tc, self.ph = spec.train, spec.phase
        self.dev = torch.device(resolve_device(spec.device))
        self.on_cpu = self.dev.type == "cpu"
        if tc.threads:
            torch.set_num_threads(tc.threads)
        self.geom = Geometry(spec.store.patch, model.config.scale, model.config.halo)
        self.cat_of_image, self.labelled_of_image = _image_labels(model, spec)
        cats = list(model.config.categories)
        self.alpha = torch.tensor([spec.alpha.get(c, 0.0) for c in cats] or [0.0], dtype=torch.float32).to(self.dev)
        self.mse_w = None if spec.mse_weights is None else torch.tensor(
            [spec.mse_weights.get(c, 0.0) for c in cats] or [1.0], dtype=torch.float32).to(self.dev)
        self.fmt = torch.channels_last if tc.channels_last else torch.contiguous_format
        model.to(self.dev, memory_format=self.fmt).train()
        model.dropout = ph.dropout
        if spec.head_only:
            if model.head is None:
                raise ValueError(f"{spec.name}: only the head was to train, and the model has none")
            for p in model.parameters():
                p.requires_grad_(False)
            for p in model.head.parameters():
                p.requires_grad_(True)
        self.opt = torch.optim.Adam(param_groups(model, ph, spec.head_only), betas=tc.betas, eps=tc.eps)
        self.phase_id = phase_id(spec.name)
        self.order = BatchOrder(spec.rows, tc.batch, tc.seed, self.phase_id)
        self.autocast = torch.autocast(self.dev.type, dtype=torch.bfloat16) \
            if resolve_precision(tc.precision, self.dev) == "bf16" else nullcontext()
        if not self.on_cpu:
            torch.backends.cudnn.benchmark = True  # fixed patch shapes: pick the fastest conv kernels once
            # fp32 means fp32, as in the inference Engine: cuDNN / cuBLAS would run fp32 convs and matmuls in TF32
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        # the open log interval's sums (loss, mse, sce, accuracy, steps); on a GPU the first four build up
        # in dacc, on the device, and are read back only at log and checkpoint steps
        self.acc: list = [0.0, 0.0, 0.0, 0.0, 0]
        self.dacc = None if self.on_cpu else torch.zeros(4, dtype=torch.float64, device=self.dev)
        self.last: dict = {}

    def resume(self) -> int:
        """Continue from the phase's checkpoint (or start it); the first step to run."""
        ck = load_checkpoint(self.spec.checkpoint)
        if ck is not None:
            start, self.elapsed0, csv_bytes, self.acc = restore(ck, self.model, self.opt, self.dev)
        else:
            torch.manual_seed(self.tc.seed * 1000 + self.phase_id)
            start, self.elapsed0, csv_bytes = 0, 0.0, self.spec.csv_start
        truncate_csv(self.spec.csv_path, csv_bytes, self.spec.columns)
        self.t0 = time.perf_counter()
        self.t_int, self.n_int = self.t0, 0
        return start

    def step(self, t: int) -> None:
        """Step t (0-based): one back-propagation, then whatever falls due after it (event, log, checkpoint)."""
        f = lr_factor(self.ph, t)
        for g in self.opt.param_groups:
            g["lr"] = g["base_lr"] * f
        self._accumulate(self._back_propagate(t))
        step, tc = t + 1, self.tc
        end = step == self.ph.steps
        if self.callback and (step % STEP_EVENT_EVERY == 0 or end):
            self._step_event(step)
        if not self.on_cpu and (step % tc.log_every == 0 or step % tc.checkpoint_every == 0 or end):
            self.acc[:4] = [a + float(d) for a, d in zip(self.acc[:4], self.dacc.tolist())]  # resumes log the same
            self.dacc.zero_()
        if step % tc.log_every == 0 or end:
            self._log(step, f)
        if step % tc.checkpoint_every == 0 or end:
            atomic_save(checkpoint_state(self.spec.name, step, self.model, self.opt, self.dev, self._elapsed(),
                                         self.spec.csv_path, self.acc), self.spec.checkpoint)

    def _batch(self, t: int):
        """Step t's batch as tensors on the device: LR input, HR target, category, labelled (or None)."""
        spec, tc = self.spec, self.tc
        rows = spec.store.index[self.order(t)]
        lr_np, hr_np = spec.store.gather(rows, self.geom)
        if tc.augment_d4:  # each patch turned by one of D4's eight elements, a function of (seed, phase, t)
            lr_np, hr_np = d4_batch(lr_np, hr_np, d4_choices(tc.seed, self.phase_id, t, len(rows)))
        x = torch.from_numpy(lr_np).contiguous(memory_format=self.fmt)
        y = torch.from_numpy(hr_np)
        c = torch.from_numpy(self.cat_of_image[rows[:, 0]])
        m = None if self.labelled_of_image is None else torch.from_numpy(self.labelled_of_image[rows[:, 0]])
        if not self.on_cpu:  # pinned host memory: the copies run asynchronously with the GPU's work
            x, y, c = (v.pin_memory().to(self.dev, non_blocking=True) for v in (x, y, c))
            m = None if m is None else m.pin_memory().to(self.dev, non_blocking=True)
        return x, y, c, m

    def _back_propagate(self, t: int) -> tuple[dict[str, torch.Tensor], int]:
        x, y, c, m = self._batch(t)
        terms = loss_terms(self.model, x, y, c, self.alpha, self.ph, self.autocast, m, self.mse_w)
        self.opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        self.opt.step()
        return terms, len(c)

    def _accumulate(self, done: tuple[dict[str, torch.Tensor], int]) -> None:
        terms, batch = done
        acc = self.acc
        if self.on_cpu:
            acc[0] += float(terms["loss"].detach())
            acc[1] += float(terms["mse"])
            acc[2] += float(terms.get("sce", 0.0))
            acc[3] += float(terms.get("correct", 0)) / batch
        else:
            self.dacc += step_sums(terms, batch)
        acc[4] += 1
        self.n_int += 1

    def _elapsed(self) -> float:
        return self.elapsed0 + time.perf_counter() - self.t0

    def _step_event(self, step: int) -> None:
        now = time.perf_counter()
        loss_sum = self.acc[0] if self.on_cpu else self.acc[0] + float(self.dacc[0])
        self.callback({"event": "step", "phase": self.spec.name, "step": step, "steps": self.ph.steps,
                       "loss": loss_sum / self.acc[4], "steps_per_s": self.n_int / max(now - self.t_int, 1e-9),
                       "elapsed": self.elapsed0 + now - self.t0})

    def _log(self, step: int, f: float) -> None:
        """A metrics.csv row for the interval since the last one (with validation), then the "log" event."""
        acc, spec, classifier = self.acc, self.spec, self.model.config.has_classifier
        now = time.perf_counter()
        row = {"step": step, "total_step": spec.step_offset + step, "phase": spec.name,
               "lr": self.ph.lr * f, "loss": acc[0] / acc[4], "mse": acc[1] / acc[4],
               "sce": acc[2] / acc[4] if classifier else "", "train_acc": acc[3] / acc[4] if classifier else "",
               "steps_per_s": self.n_int / max(now - self.t_int, 1e-9), "elapsed": self.elapsed0 + now - self.t0}
        if spec.validate:
            row.update(spec.validate(self.model))
        self.model.train()
        append_csv(spec.csv_path, spec.columns, row)
        self.last = row
        self.acc = [0.0, 0.0, 0.0, 0.0, 0]
        self.t_int, self.n_int = time.perf_counter(), 0
        if self.callback:
            self.callback({"event": "log", **row, "steps": self.ph.steps})

    def finish(self) -> dict:
        """The model back on the CPU in eval mode (saved, validated and served from there whatever trained
        it); the last metrics row (read back when the phase was resumed at its very end)."""
        self.model.dropout = 0.0
        self.model.to("cpu").eval()
        for p in self.model.parameters():  # a head-only phase's frozen upscaler: trainable again for what follows
            p.requires_grad_(True)
        path = self.spec.csv_path
        if not self.last:
            self.last = read_metrics(path)[-1] if path.exists() and read_metrics(path) else {}
        return self.last


def _image_labels(model: MCH, spec: PhaseSpec) -> tuple[np.ndarray, np.ndarray | None]:
    """Per store image: its category's index in the model's head, and (rendered pages with
    data.rendered_category = false) 1 / 0 whether its patches teach the head (None: all do)."""
    cat_names = list(model.config.categories)
    cat_of_image = np.array([cat_names.index(c) if c in cat_names else 0 for c in spec.store.categories], np.int64)
    if not spec.unlabelled:
        return cat_of_image, None
    labelled = np.ones(len(cat_of_image), np.float32)
    labelled[sorted(spec.unlabelled)] = 0.0
    return cat_of_image, labelled
