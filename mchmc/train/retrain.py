"""Retraining on a grown archive, as plain steps (no Prefect; flows/retrain.py strings them into a flow).

    prep = prepare(cfg.data, scale)                        # only new or changed images are processed
    plan = plan_retrain(cfg, "SRforMC", "1", "models", prep.key)
    if plan.existing is None:                              # this data + config was never trained
        train_method(cfg, "SRforMC", "1", plan.runs_root)  # resumable run under models/SRforMC/runs/<source>/
    outcome = register_candidate(cfg, plan, Gate())        # evaluate vs the model in use, add vNNNN, maybe promote

Why a *source* key: a weekly retrain on data that did not change would train
the same model again (training is deterministic), so a retrain is keyed by the
patch store's content hash plus the config (paths left out), method and fold;
a source already trained is reported as unchanged and nothing is added. The
training run of a source lives in its own folder, so a killed retrain resumes
from its last checkpoint on the next run.

Why the evaluation runs here, not during training: the candidate and the model
in use are scored on the *same* images (the run's validation images, carved out
of the training folds and never trained on, centre-cropped to
``train.val_crop``), which the training-time validation of an older run need not
have used. Promoting is choosing a model, so it never looks at the test fold.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mchmc.train.config_schema import Config
from mchmc.train.config_toml import run_identity
from mchmc.errors import MchmcError
from mchmc.model import build_model
from mchmc.modelfile import load_model
from mchmc.train.patches import PrepResult, prepare
from mchmc.train.validate import Validator
from mchmc.train.run import Run, open_run, train_method
from mchmc.modelversions import Gate, ModelVersions, decide

ALL_IMAGES = 1 << 30  # Validator's per-category cap: every validation image


class RetrainError(MchmcError):
    """A retrain step that cannot go on (training not finished, nothing to evaluate on)."""


@dataclass(frozen=True)
class RetrainPlan:
    method: str
    fold: str
    data_key: str  # the patch store's content hash
    source: str  # data key + config (paths left out) + method + fold
    versions_folder: Path  # <models>/<method>
    runs_root: Path  # <versions_folder>/runs/<source>
    existing: str | None  # the version already trained from this source, if any


@dataclass(frozen=True)
class Outcome:
    status: str  # "unchanged" | "promoted" | "rejected"
    version: str | None  # the version this retrain added (or found, when unchanged)
    current: str | None  # the version in use afterwards
    previous: str | None  # the version in use before
    reason: str
    data_key: str
    candidate: dict = field(default_factory=dict)  # validation metrics of the new version
    baseline: dict = field(default_factory=dict)  # the previous model's, on the same images
    images: int = 0  # validation images both were scored on

    def to_dict(self) -> dict:
        return asdict(self)


def source_key(cfg: Config, method: str, fold: str, data_key: str) -> str:
    """What a trained model depends on; where the data or the cache live does not count."""
    raw = run_identity(cfg)  # the device it trains on is left out too
    for key in ("name", "description"):
        raw.pop(key, None)
    raw["data"] = {k: v for k, v in raw["data"].items() if k not in ("root", "cache_dir")}
    doc = json.dumps({"data_key": data_key, "config": raw, "method": method, "fold": str(fold)}, sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()[:16]


def plan_retrain(cfg: Config, method: str, fold: str, models_root: str | Path, data_key: str) -> RetrainPlan:
    versions = ModelVersions(Path(models_root) / method)
    source = source_key(cfg, method, fold, data_key)
    existing = versions.find_source(source)
    done = existing if existing is not None and existing.status != "candidate" else None
    return RetrainPlan(method, str(fold), data_key, source, versions.folder, versions.runs_dir(source),
                       done.name if done else None)


def unchanged_outcome(plan: RetrainPlan) -> Outcome:
    current = ModelVersions(plan.versions_folder).current()
    name = current.name if current else None
    return Outcome("unchanged", plan.existing, name, name,
                   f"data and config unchanged since {plan.existing} (data key {plan.data_key}); nothing trained",
                   plan.data_key)


def gate_validator(run: Run) -> Validator:
    """Every validation image of the run (training folds, held out of training), centre-cropped like the
    training-time validation and degraded as it is."""
    scale = build_model(run.arch).config.scale
    return Validator(run.split.val, ALL_IMAGES, run.cfg.train.val_crop, scale, run.cfg.data.noise)


def register_candidate(cfg: Config, plan: RetrainPlan, gate: Gate = Gate()) -> Outcome:
    """Score the finished run's model and the model in use on the same images, add the candidate as
    the next version, and move ``current.json`` to it only if ``gate`` says it is not worse."""
    run = open_run(cfg, plan.method, plan.fold, plan.runs_root)
    if not run.is_done(run.phase_names[-1]):
        raise RetrainError(f"{run.dir}: training is not finished; nothing to register")
    candidate_file = run.phase_model_path(run.phase_names[-1])
    candidate = load_model(candidate_file, expect_arch=run.arch)
    versions = ModelVersions(plan.versions_folder)
    current = versions.current()
    validator = gate_validator(run)
    if not validator.images:
        raise RetrainError(f"{run.dir}: no validation images to evaluate on; add data or raise train.val_images")
    scores = validator.evaluate(candidate.model)
    baseline = validator.evaluate(load_model(current.model, expect_arch=run.arch).model) if current else {}
    decision = decide(scores, baseline if current else None, gate)
    info = {"source": plan.source, "data_key": plan.data_key, "method": plan.method, "fold": plan.fold,
            "config": cfg.name, "run_dir": str(run.dir),
            "training": {k: candidate.provenance.get(k) for k in ("steps", "wall_seconds", "train_patches")},
            "evaluation": {"images": len(validator.images), "crop": cfg.train.val_crop, "candidate": scores,
                           "baseline": baseline, "baseline_version": current.name if current else None},
            "gate": asdict(gate), "decision": asdict(decision)}
    leftover = versions.find_source(plan.source)  # added by a retrain that stopped before deciding
    version = versions.update(leftover, **info) if leftover else versions.add(candidate_file, info)
    if decision.promote:
        versions.promote(version.name, decision.reason)
    else:
        versions.update(version, status="rejected")
    now = versions.current()
    return Outcome("promoted" if decision.promote else "rejected", version.name, now.name if now else None,
                   current.name if current else None, decision.reason, plan.data_key, scores, baseline,
                   len(validator.images))


def retrain(cfg: Config, method: str, fold: str, models_root: str | Path, gate: Gate = Gate(),
            callback=None) -> tuple[PrepResult, Outcome]:
    """Every step in order, without Prefect: prep, plan, train (unless unchanged), register."""
    prep = prepare(cfg.data, build_model("mch").config.scale)
    plan = plan_retrain(cfg, method, fold, models_root, prep.key)
    if plan.existing is not None:
        return prep, unchanged_outcome(plan)
    train_method(cfg, method, fold, plan.runs_root, callback)
    return prep, register_candidate(cfg, plan, gate)
