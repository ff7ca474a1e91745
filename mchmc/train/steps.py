"""The trainer's per-step work, each a pure function of the config and the step: the initial weights, the
optimiser's parameter groups, the learning rate at step t, the batch rows at step t, and the loss.

:mod:`mchmc.train.loop` runs them in order; keeping them pure is what lets a resumed phase continue with
exactly the batches and learning rates it would have used (nothing of them is checkpointed).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mchmc.model import MCH
from mchmc.train.config_schema import ConfigError, PhaseConfig, TrainConfig

PHASE_IDS = {"mch": 0, "phase1": 1, "phase2": 2}


def phase_id(name: str) -> int:
    """The phase's number in the seeds of its batch order, dropout and augmentation (9: a phase of its own)."""
    return PHASE_IDS.get(name, 9)


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


def param_groups(model: MCH, phase: PhaseConfig, head_only: bool = False) -> list[dict]:
    """{conv1, conv2, head} at phase.lr; {conv3} at phase.lr_conv3 (paper Table 2). ``head_only``: the head
    at phase.lr, nothing else (the upscaler frozen: ``train.never_worse``'s Phase 1)."""
    if head_only:
        return [{"params": list(model.head.parameters()), "lr": phase.lr, "base_lr": phase.lr, "name": "head"}]
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


def mse_weights(counts: dict[str, int]) -> dict[str, float]:
    """``train.balance_mse``: a patch's weight in the MSE term, 1 / (K * its category's share of the training
    patches), so that each of the K categories with patches weighs 1 / K of the term, whatever its pixels."""
    present = {c: n for c, n in counts.items() if n > 0}
    total = sum(present.values())
    return {c: (total / (len(present) * n) if n > 0 else 0.0) for c, n in counts.items()}


def patch_weights(counts: dict[str, int], balance: bool, factors: dict[str, float]) -> dict[str, float] | None:
    """Per category, a patch's weight in the MSE term: ``train.balance_mse``'s (or 1) times ``train.mse_weight``'s
    factor (or 1); None when neither is set (the paper's plain mean, computed as it always was)."""
    if not balance and not factors:
        return None
    unknown = sorted(set(factors) - set(counts))
    if unknown:
        raise ConfigError(f"train.mse_weight: categories {unknown} are not this run's {sorted(counts)}")
    base = mse_weights(counts) if balance else dict.fromkeys(counts, 1.0)
    return {c: base[c] * factors.get(c, 1.0) for c in counts}


def loss_terms(model: MCH, lr: torch.Tensor, target: torch.Tensor, cats: torch.Tensor, alpha: torch.Tensor,
               phase: PhaseConfig, autocast, labelled: torch.Tensor | None = None,
               mse_w: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """``labelled``: 1 / 0 per patch, whether its category teaches the head (None: every patch does).
    ``mse_w``: per category, a patch's weight in the MSE term (None: 1, the paper's)."""
    with autocast:
        sr, logits = model(lr)
    err = (sr.float() - target) ** 2
    per_patch = err.flatten(1).sum(1)
    sq_norm = (per_patch if mse_w is None else mse_w[cats] * per_patch).mean()  # (1/N) sum_i ||F(Y_i) - T_i||^2
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


def step_sums(terms: dict[str, torch.Tensor], batch: int) -> torch.Tensor:
    """One step's (loss, mse, sce, accuracy) as float64 on the device: the CPU path's host-side sums
    without reading the GPU back every step."""
    zero = terms["mse"].new_zeros(())
    v = torch.stack([terms["loss"].detach().double(), terms["mse"].double(),
                     terms.get("sce", zero).double(), terms.get("correct", zero).double()])
    v[3] /= batch
    return v
