"""A training run: one method on one fold, as stages that a re-run skips when done.

    run = open_run(cfg, "SRforMC", "1", runs_root="runs")   # run dir, config.toml, folds.json
    prep_stage(run)                                          # patch store (cache hit after the first time)
    for name in run.phase_names: train_stage(run, name)      # phase1 -> phase2 (SRforMC) or mch
    summary(run)

Run directory ``<runs_root>/<method>-fold<k|all>-<config>/``, its files named by :mod:`mchmc.train.rundir`;
a different config in an existing run dir (its ``config.toml``) is refused once it has trained.
"""
from __future__ import annotations

import json
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mchmc.fsutil import atomic_write_text
from mchmc.model import build_model
from mchmc.modelfile import save_model
from mchmc.precision import resolve_precision
from mchmc.train import gate, rundir
from mchmc.train.checkpoint import csv_columns, read_metrics
from mchmc.train.config import config_from_dict
from mchmc.train.config_schema import METHODS, Config, ConfigError
from mchmc.train.config_toml import dump_config, run_identity
from mchmc.train.data import Split, parse_fold, save_folds, split_images
from mchmc.train.device import device_words, resolve_device
from mchmc.train.loop import PhaseSpec, train_phase
from mchmc.train.patches import PatchStore, PrepResult, class_weights, prepare
from mchmc.train.start import start_weights
from mchmc.train.steps import patch_weights
from mchmc.train.validate import Validator


@dataclass
class Run:
    cfg: Config
    method: str
    fold: int | None
    dir: Path
    split: Split
    store_path: Path | None = None
    info: dict = field(default_factory=dict)

    @property
    def arch(self) -> str:
        return self.cfg.arch(self.method)

    @property
    def categories(self) -> tuple[str, ...]:
        """The method's categories; the all-category methods (SRforAll, SRforMC) train the data's own, in
        ``data.folders`` order (the paper's three, or an archive's folders: issue 29)."""
        own = METHODS[self.method][1]
        return tuple(self.cfg.data.folders) if len(own) > 1 else own

    @property
    def train_categories(self) -> tuple[str, ...]:
        """The categories whose patches train: the run's, or the ``train.specialise`` ones among them."""
        only = self.cfg.train.specialise
        if not only:
            return self.categories
        unknown = sorted(set(only) - set(self.categories))
        if unknown:
            raise ConfigError(f"train.specialise: categories {unknown} are not this run's {sorted(self.categories)}")
        return tuple(c for c in self.categories if c in only)

    def build(self):
        """A fresh network of the run's architecture, its head over the run's categories."""
        from mchmc.modelconfig import ARCHITECTURES

        if ARCHITECTURES[self.arch].has_classifier:
            return build_model(self.arch, categories=self.categories)
        return build_model(self.arch)

    @property
    def phase_names(self) -> list[str]:
        return [n for n, _ in self.cfg.phases(self.method)]

    @property
    def fold_label(self) -> str:
        return rundir.fold_label(self.fold)

    def phase_model_path(self, name: str) -> Path:
        return rundir.phase_model_path(self.dir, name)

    def done_path(self, name: str) -> Path:
        return rundir.done_path(self.dir, name)

    @property
    def model_path(self) -> Path:
        return rundir.model_path(self.dir)

    @property
    def metrics_path(self) -> Path:
        return rundir.metrics_path(self.dir)

    def is_done(self, name: str) -> bool:
        return self.done_path(name).is_file() and self.phase_model_path(name).is_file()


def open_run(cfg: Config, method: str, fold: str | int, runs_root: str | Path = "runs") -> Run:
    """Create or reopen a run dir; write config.toml and folds.json (refuse a changed config once trained).

    The data is checked before anything is written, so a start refused for its data (a wrong folder) leaves
    no run dir behind; and a run dir that holds no training yet (its start failed later, in prep) takes the
    corrected config rather than refusing it (issue 29, item 5)."""
    cfg.arch(method)  # an unknown method, or a train.arch of another kind: one line before any work
    f = parse_fold(fold, cfg.folds.k)
    split = split_images(cfg, tuple(cfg.data.folders), f)
    d = rundir.run_dir(runs_root, method, f, cfg.name)
    run = Run(cfg, method, f, d, split)
    _ = run.train_categories  # a train.specialise outside the run's categories: one line before anything is written
    text = dump_config(cfg)
    cpath = rundir.config_file(d)
    if cpath.exists() and has_trained(d) and not same_run(cpath.read_text(), cfg):
        raise ConfigError(f"{cpath}: this run dir was started with a different config; "
                          "use another --runs folder or delete the run dir to start over")
    d.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cpath, text)
    save_folds(split, d / rundir.FOLDS_FILE, cfg.folds.seed, cfg.folds.k)
    return run


def has_trained(d: Path) -> bool:
    """Whether a run dir holds any training (a metrics row, a checkpoint, a model): what a different config
    would silently mix with, so only then is it refused."""
    return rundir.metrics_path(d).exists() or (d / rundir.CHECKPOINTS).exists() or any(d.glob("*.pt"))


def same_run(saved: str, cfg: Config) -> bool:
    """Whether a run dir's ``config.toml`` text describes ``cfg``'s run: the same resolved config but for
    where it trains (:func:`run_identity`), so a run dir written before ``train.device`` existed, or
    started on the CPU and continued with ``--device cuda``, is reopened rather than refused."""
    if saved == dump_config(cfg):
        return True
    try:
        old = config_from_dict(tomllib.loads(saved), "config.toml")
    except (tomllib.TOMLDecodeError, ConfigError):
        return False
    return run_identity(old) == run_identity(cfg)


def prep_stage(run: Run, progress: Callable[[str, int, int], None] | None = None) -> PrepResult:
    res = prepare(run.cfg.data, build_model(run.arch).config.scale, progress)
    run.store_path = res.path
    return res


def training_rows(run: Run, store: PatchStore) -> np.ndarray:
    refs = [r for r in run.split.train if r.category in run.train_categories]
    rows = store.rows_for(refs)
    return store.image_weighted(rows, run.cfg.train.seed) if run.cfg.train.copy_weight == "image" else rows


def train_stage(run: Run, name: str, callback: Callable[[dict], None] | None = None) -> dict:
    """Train one phase (resuming from its checkpoint); returns the stage summary. Skips a finished stage."""
    if run.is_done(name):
        return json.loads(run.done_path(name).read_text())
    device = resolve_device(run.cfg.train.device)  # before any work: a missing GPU is one line, not a trace
    if run.store_path is None:
        prep_stage(run)
    cfg, phases = run.cfg, dict(run.cfg.phases(run.method))
    names = run.phase_names
    idx = names.index(name)
    for prev in names[:idx]:
        if not run.is_done(prev):
            raise RuntimeError(f"stage {name} needs {prev} to be finished first")
    store = PatchStore(run.store_path)
    rows = training_rows(run, store)
    counts, alpha, unlabelled = _class_weights(run, store, rows)
    model = run.build()
    start_weights(run, model, idx)
    validator = Validator(run.split.val, cfg.train.val_images, cfg.train.val_crop, model.config.scale,
                          cfg.data.noise)
    csv_start, offset, prev_seconds = _earlier_phases(run, idx)
    t0 = time.time()
    spec = PhaseSpec(name, phases[name], cfg.train, store, rows, alpha, rundir.checkpoint_path(run.dir, name),
                     run.metrics_path, csv_start, offset, validate=lambda m: validator.evaluate(m, "fp32"),
                     columns=csv_columns(validator.categories, model.config.has_classifier), device=device,
                     unlabelled=unlabelled,
                     mse_weights=patch_weights(counts, cfg.train.balance_mse, cfg.train.mse_weight),
                     head_only=gate.head_only(run, name))
    last = train_phase(model, spec, callback)
    seconds = float(last.get("elapsed", time.time() - t0) or 0.0)
    record = None
    if gate.applies(run) and name == names[-1]:  # train.never_worse: keep the start's upscaler unless no worse
        model, record = gate.never_worse(run, model)
    summary = {"stage": name, "method": run.method, "config": cfg.name, "fold": run.fold_label,
               "steps": phases[name].steps, "seconds": seconds, "train_patches": counts, "alpha": alpha,
               "train_images": sum(1 for r in run.split.train if r.category in run.train_categories),
               "bicubic": validator.bicubic(), "final": {k: v for k, v in last.items() if k != "event"},
               "data_key": store.path.name, "csv_bytes": run.metrics_path.stat().st_size,
               "device": device_words(device), "precision": resolve_precision(cfg.train.precision, device),
               **({"mse_weights": spec.mse_weights} if spec.mse_weights else {}),
               **({"head_only": True} if spec.head_only else {}), **({"gate": record} if record else {})}
    save_model(model, run.phase_model_path(name), _provenance(run, name, summary, validator, prev_seconds))
    atomic_write_text(run.done_path(name), json.dumps(summary, indent=1, default=str))  # the stage's "done" mark
    return summary


def _class_weights(run: Run, store: PatchStore, rows: np.ndarray) -> tuple[dict, dict, frozenset]:
    """Training patches per category, the class weights alpha, and the store ids of images whose patches
    teach the upscaler only (rendered pages with data.rendered_category = false: alpha counts the others)."""
    counts = {c: n for c, n in store.counts(rows).items() if c in run.train_categories}
    if run.cfg.data.rendered_category:
        return counts, class_weights(counts), frozenset()
    rendered = [r for r in run.split.train if r.source == "rendered"]
    unlabelled = frozenset(i for r in rendered for i in store.copies[(r.category, r.name)])
    off = store.counts(store.rows_for(rendered))
    return counts, class_weights({c: n - off.get(c, 0) for c, n in counts.items()}), unlabelled


def _earlier_phases(run: Run, idx: int) -> tuple[int, int, float]:
    """Where the phase starts in metrics.csv (bytes), its step offset and the earlier phases' seconds."""
    csv_start = offset = 0
    prev_seconds = 0.0
    for prev in run.phase_names[:idx]:
        doc = json.loads(run.done_path(prev).read_text())
        csv_start, offset, prev_seconds = doc["csv_bytes"], offset + doc["steps"], prev_seconds + doc["seconds"]
    return csv_start, offset, prev_seconds


def _provenance(run: Run, name: str, summary: dict, validator: Validator, prev_seconds: float) -> dict:
    """What the phase's model file says about how it was made."""
    cfg, phases, names = run.cfg, dict(run.cfg.phases(run.method)), run.phase_names
    return {"method": run.method, "config": cfg.name, "phase": name, "test_fold": run.fold_label,
            "train_folds": [k for k in range(1, cfg.folds.k + 1) if k != run.fold],
            "fold_seed": cfg.folds.seed, "steps": {n: phases[n].steps for n in names[: names.index(name) + 1]},
            "wall_seconds": prev_seconds + summary["seconds"], "stage_seconds": summary["seconds"],
            "validation": _kept_validation(summary), "bicubic": summary["bicubic"],
            "data_hash": summary["data_key"], "alpha": summary["alpha"], "train_patches": summary["train_patches"],
            "validation_images": {c: [r.name for r in run.split.val if r.group == c] for c in validator.categories},
            "validation_rule": cfg.train.validation, "precision": summary["precision"], "device": summary["device"],
            "init_from": cfg.train.init_from or cfg.train.init,
            **{k: summary[k] for k in ("mse_weights", "head_only", "gate") if k in summary}}


def _kept_validation(summary: dict) -> dict:
    """The validation figures of the model the phase saved: its last metrics row, or, where the never-worse gate
    kept the start's upscaler, that model's own figures on the gate's (whole) validation pages."""
    record = summary.get("gate") or {}
    return record["start"] if record.get("kept") == "start" else summary["final"]


def summary(run: Run) -> dict:
    stages = {n: json.loads(run.done_path(n).read_text()) for n in run.phase_names if run.is_done(n)}
    rows = read_metrics(run.metrics_path) if run.metrics_path.exists() else []
    return {"run_dir": str(run.dir), "method": run.method, "fold": run.fold_label, "config": run.cfg.name,
            "stages": stages, "model": str(run.model_path), "metrics_rows": len(rows),
            "done": all(run.is_done(n) for n in run.phase_names)}


def train_method(cfg: Config, method: str, fold: str | int, runs_root: str | Path = "runs",
                 callback: Callable[[dict], None] | None = None) -> dict:
    """Prep -> every phase of the method, skipping finished stages (no Prefect)."""
    run = open_run(cfg, method, fold, runs_root)
    prep_stage(run)
    for name in run.phase_names:
        train_stage(run, name, callback)
    return summary(run)
