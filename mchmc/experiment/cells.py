"""The K-fold experiment's cells: what exists, what is missing, and the evaluation of one cell.

A cell is one (method, test fold) pair: train the method on the other folds
(:mod:`mchmc.train.run`, resumable stage by stage) and score it on the test
fold of every category (:mod:`mchmc.experiment.evaluate`). Each fold also has a
``Bicubic`` cell (no training). Everything a cell produces lives in its run
directory ``<runs>/<method>-fold<k>-<config>/``, the same directory ``mchmc
train`` uses, so a cell trained earlier by hand (same config, same fold) is
reused as it is:

    model.pt + checkpoints/*.done.json   trained (mchmc.train.run)
    evaluation.json                      scored: one ImageScore per test image

``evaluation.json`` records the sha256 of the model file it scored and the test
images' names; a cell whose model or test set changed is scored again, one whose
record matches is skipped. Writes are atomic (temp file + rename), so an
interrupted evaluation leaves no half record: a re-run does only what is missing. Prefect, if any, sits above this module (``mchmc.flows.experiment``).

Several experiment processes may share one ``runs`` folder (on a 2-core CPU,
two processes with one torch thread each train ~1.2x faster than one with two):
a process *claims* a cell before working on it (:func:`claim_cell`, a lock
on a file under ``<runs>/.claims/``) and passes over cells another live
process holds, so each cell is trained and scored once. A killed process's
claim is gone with it (the kernel drops its lock).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from mchmc.train.config_schema import METHODS, Config
from mchmc.train.config import load_config
from mchmc.train.config_toml import dump_config
from mchmc.train.data import ImageRef, split_images
from mchmc.errors import MchmcError
from mchmc.experiment.evaluate import BICUBIC, SCORING, ImageScore, evaluate_bicubic, evaluate_model
from mchmc.fsutil import atomic_write_text, file_sha256
from mchmc.locks import claim
from mchmc.modelfile import load_model
from mchmc.train.checkpoint import read_metrics
from mchmc.train.run import open_run, train_method
from mchmc.train.rundir import config_file, done_path, metrics_path, model_path, phase_model_path, run_dir, run_dirs

EVAL_FILE = "evaluation.json"
EVAL_FORMAT, EVAL_VERSION = "mchmc-evaluation", 1
PAPER_METHODS = tuple(METHODS)  # SRforNature, SRforManga, SRforText, SRforAll, SRforMC (Table 6 order)


class ExperimentError(MchmcError):
    """A bad selection of folds / methods, or an unreadable result file (the message names it)."""


@dataclass(frozen=True)
class Cell:
    method: str  # one of METHODS, or BICUBIC
    fold: int

    @property
    def trains(self) -> bool:
        return self.method != BICUBIC

    def dir(self, runs: str | Path, config: str) -> Path:
        return run_dir(runs, self.method, self.fold, config)


@dataclass(frozen=True)
class CellStatus:
    cell: Cell
    stages_done: tuple[str, ...]
    stages: tuple[str, ...]
    steps_total: int  # training steps of all stages
    steps_left: int  # of which not yet run (from the stages' metrics rows; approximate within a stage)
    evaluated: bool  # evaluation.json matches the current model and test set

    @property
    def trained(self) -> bool:
        return set(self.stages) <= set(self.stages_done)

    @property
    def state(self) -> str:
        if self.evaluated:
            return "done"
        if self.trained:
            return "trained" if self.cell.trains else "todo"
        return "partial" if self.steps_left < self.steps_total else "todo"


def plan_cells(cfg: Config, folds: list[int] | None = None, methods: list[str] | None = None,
               bicubic: bool = True) -> list[Cell]:
    """Fold-major list of cells (a fold's Bicubic first), so finished folds give whole rows early."""
    folds = list(range(1, cfg.folds.k + 1)) if not folds else list(dict.fromkeys(folds))
    bad = [f for f in folds if not 1 <= f <= cfg.folds.k]
    if bad:
        raise ExperimentError(f"fold(s) {bad} outside 1..{cfg.folds.k} (config {cfg.name!r})")
    methods = list(PAPER_METHODS) if not methods else list(dict.fromkeys(methods))
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ExperimentError(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(METHODS)}")
    ordered = [m for m in PAPER_METHODS if m in methods]
    return [Cell(m, f) for f in folds for m in ([BICUBIC] if bicubic else []) + ordered]


def test_refs(cfg: Config, fold: int) -> list[ImageRef]:
    """The test fold of every category (Table 7 scores every method on all three)."""
    return split_images(cfg, tuple(cfg.data.folders), fold).test


def _stage_progress(d: Path, name: str) -> int:
    csv_path = metrics_path(d)
    if not csv_path.is_file():
        return 0
    steps = [int(float(r["step"])) for r in read_metrics(csv_path) if r.get("phase") == name and r.get("step")]
    return max(steps, default=0)


def _read_eval(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ExperimentError(f"{path}: unreadable evaluation record: {err}") from None
    if not isinstance(doc, dict) or doc.get("format") != EVAL_FORMAT or doc.get("version") != EVAL_VERSION:
        raise ExperimentError(f"{path}: not an mchmc evaluation record (format {EVAL_FORMAT} v{EVAL_VERSION})")
    return doc


def _eval_key(cfg: Config, cell: Cell, runs: str | Path) -> dict:
    """What an evaluation record must match to be current: the model file, the test images and how they are
    scored (``SCORING``: a record from before issue 30, every image's category pooled whole, is stale)."""
    names = sorted(f"{r.category}/{r.name}" for r in test_refs(cfg, cell.fold))
    model = model_path(cell.dir(runs, cfg.name))
    digest = file_sha256(model) if cell.trains and model.is_file() else ""
    return {"model_sha256": digest, "images": names, "scoring": SCORING}


def cell_status(cfg: Config, cell: Cell, runs: str | Path) -> CellStatus:
    d = cell.dir(runs, cfg.name)
    phases = cfg.phases(cell.method) if cell.trains else []
    stages = tuple(n for n, _ in phases)
    done = tuple(n for n in stages if done_path(d, n).is_file() and phase_model_path(d, n).is_file())
    total = sum(p.steps for _, p in phases)
    left = sum(p.steps - (p.steps if n in done else min(p.steps, _stage_progress(d, n))) for n, p in phases)
    evaluated = False
    try:
        doc = _read_eval(d / EVAL_FILE)
    except ExperimentError:
        doc = None  # an unreadable record is stale: the cell is scored again and the record rewritten
    if doc is not None and set(stages) <= set(done):
        key = _eval_key(cfg, cell, runs)
        evaluated = all(doc.get(k) == v for k, v in key.items())
    return CellStatus(cell, done, stages, total, left, evaluated)


def evaluate_cell(cfg: Config, cell: Cell, runs: str | Path,
                  progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Score a trained cell (or the bicubic row) on its test fold; skipped when its record is current.

    Returns ``{"cell", "path", "cached", "images", "seconds"}``.
    """
    d = cell.dir(runs, cfg.name)
    status = cell_status(cfg, cell, runs)
    path = d / EVAL_FILE
    if status.evaluated:
        return {"cell": asdict(cell), "path": str(path), "cached": True, "images": len(read_scores(path))}
    if not status.trained:
        raise ExperimentError(f"{d}: {cell.method} fold {cell.fold} is not trained yet "
                              f"(stages done: {list(status.stages_done) or 'none'})")
    if cell.trains:
        run = open_run(cfg, cell.method, cell.fold, runs)  # checks config.toml, rewrites folds.json
        refs = run.split.test
        model = load_model(model_path(d)).model
        scores = evaluate_model(model, refs, cell.method, cell.fold, progress=progress)
    else:
        d.mkdir(parents=True, exist_ok=True)
        atomic_write_text(config_file(d), dump_config(cfg))
        refs = test_refs(cfg, cell.fold)
        scores = evaluate_bicubic(refs, cell.fold, progress=progress)
    doc = {"format": EVAL_FORMAT, "version": EVAL_VERSION, "method": cell.method, "fold": cell.fold,
           "config": cfg.name, **_eval_key(cfg, cell, runs), "torch_threads": torch.get_num_threads(),
           "precision": "fp32", "seconds": sum(s.seconds for s in scores),
           "scores": [asdict(s) for s in scores]}
    atomic_write_text(path, json.dumps(doc, indent=1) + "\n")
    return {"cell": asdict(cell), "path": str(path), "cached": False, "images": len(scores),
            "seconds": doc["seconds"]}


def run_cells(cfg: Config, cells: list[Cell], runs: str | Path, callback: Callable[[dict], None] | None = None,
              train: Callable[[Cell], object] | None = None,
              evaluate: Callable[[Cell, Callable], object] | None = None) -> dict[str, str]:
    """Train and score every cell that is not done, in order.

    ``callback`` receives the trainer's step/log events and ``{"event": "cell" | "eval", ...}``.
    ``train(cell)`` and ``evaluate(cell, progress)`` default to the plain library calls; the
    Prefect flow passes its subflow and task instead, so the sequence lives here only.
    Returns label -> "cached" | "done" | "elsewhere" (held by another process: see :func:`claim_cell`).
    """
    emit = callback or (lambda ev: None)
    train = train or (lambda cell: train_method(cfg, cell.method, cell.fold, runs, callback))
    evaluate = evaluate or (lambda cell, progress: evaluate_cell(cfg, cell, runs, progress))
    states = {}
    for i, cell in enumerate(cells):
        st = cell_status(cfg, cell, runs)
        label = f"{cell.method} fold {cell.fold}"
        base = {"event": "cell", "index": i, "total": len(cells), "label": label}
        if st.state == "done":
            emit({**base, "state": "cached"})
            states[label] = "cached"
            continue
        with claim_cell(runs, cell.dir(runs, cfg.name).name) as mine:
            if not mine:
                emit({**base, "state": "elsewhere"})
                states[label] = "elsewhere"  # another process holds it
                continue
            st = cell_status(cfg, cell, runs)  # another process may have finished it meanwhile
            if cell.trains and not st.trained:
                emit({**base, "state": "training", "steps_left": st.steps_left})
                train(cell)
            emit({**base, "state": "evaluating"})
            evaluate(cell, lambda k, n, name: emit({"event": "eval", "label": label, "done": k, "total": n,
                                                    "image": name}))
        emit({**base, "state": "done"})
        states[label] = "done"
    return states


CLAIMS = ".claims"


def claim_cell(runs: str | Path, cell_dir_name: str):
    """Hold ``cell_dir_name`` for this process while the block runs (``with ... as mine``);
    ``mine`` is False when another live process holds it (:func:`mchmc.locks.claim`)."""
    return claim(Path(runs) / CLAIMS / cell_dir_name)


# ---------------------------------------------------------------- reading results back

def read_scores(path: Path) -> list[ImageScore]:
    """The ImageScores of one evaluation.json."""
    doc = _read_eval(path)
    if doc is None:
        raise ExperimentError(f"{path}: no such evaluation record")
    known = {f.name for f in fields(ImageScore)}
    try:
        return [ImageScore(**{**{k: v for k, v in s.items() if k in known}, "probs": tuple(s.get("probs", ()))})
                for s in doc["scores"]]
    except (KeyError, TypeError) as err:
        raise ExperimentError(f"{path}: malformed scores: {err}") from None


def evaluated_dirs(runs: str | Path, config: str | None = None) -> dict[str, list[Path]]:
    """config name -> run dirs under ``runs`` that hold an evaluation record."""
    out: dict[str, list[Path]] = {}
    for d, _, _, name in run_dirs(runs, cfg_name=config or "*"):
        if (d / EVAL_FILE).is_file() and (config is None or name == config):
            out.setdefault(name, []).append(d)
    return out


def resolve_config_name(runs: str | Path, config: str | None) -> str:
    """The config whose cells a report covers: the one given, or the only one with results under ``runs``."""
    runs = Path(runs)
    if not runs.is_dir():
        raise ExperimentError(f"{runs}: no such runs folder")
    found = evaluated_dirs(runs, config)
    if config:
        if not found:
            raise ExperimentError(f"{runs}: no evaluated cells of config {config!r} (run `mchmc experiment` first)")
        return config
    if not found:
        raise ExperimentError(f"{runs}: no evaluated cells (run `mchmc experiment` first)")
    if len(found) > 1:
        raise ExperimentError(f"{runs}: results of several configs ({', '.join(sorted(found))}); pick one with --config")
    return next(iter(found))


def load_scores(runs: str | Path, config: str) -> list[ImageScore]:
    """Every ImageScore of every evaluated cell of ``config`` under ``runs``."""
    return [s for d in evaluated_dirs(runs, config).get(config, []) for s in read_scores(d / EVAL_FILE)]


def run_config(runs: str | Path, config: str) -> Config:
    """The resolved config the cells were run with (from a run dir's config.toml)."""
    for d in evaluated_dirs(runs, config).get(config, []):
        if config_file(d).is_file():
            return load_config(config_file(d))
    raise ExperimentError(f"{runs}: no config.toml in any evaluated cell of config {config!r}")


def load_curves(runs: str | Path, config: str, method: str) -> dict[int, list[dict]]:
    """fold -> metrics.csv rows of the method's run dirs (the training curves: Fig. 11, 12)."""
    out = {}
    for d, _, fold, name in run_dirs(runs, method, config):
        if fold.isdigit() and name == config and metrics_path(d).is_file():
            out[int(fold)] = read_metrics(metrics_path(d))
    return dict(sorted(out.items()))
