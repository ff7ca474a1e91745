"""Where a training run keeps its files: the one place that knows the run directory's layout.

    <runs_root>/<method>-fold<k|all>-<config>/
        config.toml                  the resolved config (mchmc.train.config_toml.dump_config)
        folds.json                   the split
        metrics.csv                  one row per log step, every phase
        checkpoints/<phase>.pt       resume state; checkpoints/<phase>.done.json: the stage finished
        phase1.pt                    SRforMC's Phase 1 model
        model.pt                     the run's final model (an mchmc.modelfile file)

:mod:`mchmc.train.run` opens and trains runs; the experiment's cells and report, and a config's
``init_from = {method = ..., fold = ..., config = ...}``, find a run's files through these functions.
"""
from __future__ import annotations

from pathlib import Path

CONFIG_FILE = "config.toml"
FOLDS_FILE = "folds.json"
METRICS_FILE = "metrics.csv"
CHECKPOINTS = "checkpoints"
MODEL_FILE = "model.pt"
PHASE1_FILE = "phase1.pt"


def fold_label(fold: int | None) -> str:
    return "all" if fold is None else str(fold)


def run_dir(runs_root: str | Path, method: str, fold: int | None, cfg_name: str) -> Path:
    return Path(runs_root) / f"{method}-fold{fold_label(fold)}-{cfg_name}"


def run_dirs(runs_root: str | Path, method: str = "*", cfg_name: str = "*") -> list[tuple[Path, str, str, str]]:
    """(dir, method, fold, config) of every run dir under ``runs_root`` matching the pattern
    (the other half of :func:`run_dir`)."""
    out = []
    for d in sorted(Path(runs_root).glob(f"{method}-fold*-{cfg_name}")):
        m, sep, rest = d.name.partition("-fold")
        fold, _, config = rest.partition("-")
        if sep and d.is_dir():
            out.append((d, m, fold, config))
    return out


def stage_records(runs_root: str | Path, method: str, cfg_name: str) -> list[Path]:
    """The "done" records of every finished stage of the method's runs of this config (any fold)."""
    return [p for d, _, _, config in run_dirs(runs_root, method, cfg_name) if config == cfg_name
            for p in done_paths(d)]


def phase_model_path(d: Path, phase: str) -> Path:
    """The model a phase leaves: ``phase1.pt`` for SRforMC's Phase 1, else the run's ``model.pt``."""
    return d / (PHASE1_FILE if phase == "phase1" else MODEL_FILE)


def model_path(d: Path) -> Path:
    """A run's final model."""
    return d / MODEL_FILE


def done_path(d: Path, phase: str) -> Path:
    return d / CHECKPOINTS / f"{phase}.done.json"


def done_paths(d: Path) -> list[Path]:
    """The "done" records of a run's finished stages."""
    return sorted((d / CHECKPOINTS).glob("*.done.json"))


def checkpoint_path(d: Path, phase: str) -> Path:
    return d / CHECKPOINTS / f"{phase}.pt"


def metrics_path(d: Path) -> Path:
    return d / METRICS_FILE


def config_file(d: Path) -> Path:
    return d / CONFIG_FILE
