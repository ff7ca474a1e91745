"""Retraining flow: prep what changed -> train a candidate (the mchmc-train subflow) -> evaluate it
against the model in use -> add it as a new version, promoted only if not worse.

This is the flow ``mchmc schedule retrain`` serves on a cron or interval
schedule; each run shows in the Prefect UI with the prep and training
artifacts and its own (key ``retrain-<method>-<config>``): every version with
its status and scores, and the decision. The steps are plain functions in
:mod:`mchmc.train.retrain`; this module only orders them and reports.
"""
from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from mchmc.markdown import table

from .common import artifact_key, fmt, resolve
from .prep import prep_patches, report_prep
from .train import train_flow


@task(name="plan-retrain", cache_policy=NO_CACHE)
def plan_task(config: str, overrides: dict | None, method: str, fold: str, models: str, data_key: str):
    from mchmc.train.retrain import plan_retrain

    return plan_retrain(resolve(config, overrides), method, fold, models, data_key)


@task(name="evaluate-and-register", cache_policy=NO_CACHE)
def register_task(config: str, overrides: dict | None, plan, tolerance_db: float):
    from mchmc.train.retrain import register_candidate
    from mchmc.modelversions import Gate

    return register_candidate(resolve(config, overrides), plan, Gate(tolerance_db=tolerance_db))


def report_retrain(outcome, versions_folder: Path, method: str, config: str) -> None:
    from mchmc.modelversions import ModelVersions

    versions = ModelVersions(versions_folder)
    current = versions.current()
    rows = []
    for v in versions.versions():
        ev = v.info.get("evaluation", {})
        rows.append({"version": v.name, "in_use": bool(current and current.name == v.name), "status": v.status,
                     "created": v.info.get("created_at", ""), "data_key": v.info.get("data_key", ""),
                     "psnr_mean": ev.get("candidate", {}).get("psnr_mean"),
                     "baseline": ev.get("baseline_version") or "",
                     "baseline_psnr_mean": ev.get("baseline", {}).get("psnr_mean"),
                     "decision": v.info.get("decision", {}).get("reason", "")})
    key = artifact_key("retrain", method, config)
    create_table_artifact(rows, key=key, description=f"Model versions in {versions_folder}")
    md = [f"# Retrain {method} ({config}): {outcome.status}", "",
          f"- version: `{outcome.version}`; in use now: `{outcome.current}` (before: `{outcome.previous}`)",
          f"- reason: {outcome.reason}", f"- data key: `{outcome.data_key}`; versions folder `{versions_folder}`"]
    if outcome.candidate:
        md += ["", f"Scored on the same {outcome.images} held-out image(s):", "",
               table([{"metric": k, "candidate": v, "in use before": outcome.baseline.get(k, "-")}
                      for k, v in outcome.candidate.items()], fmt)]
    create_markdown_artifact("\n".join(md), key=key + "-decision")


@flow(name="mchmc-retrain", log_prints=True)
def retrain_flow(config: str = "cpu", method: str = "SRforMC", fold: str = "1", models: str = "models",
                 tolerance_db: float = 0.0, overrides: dict | None = None, data: str | None = None) -> dict:
    """Retrain ``method`` on the current data; add a new model version, promoted only if not worse.
    ``data``: an archive (``--data``), scanned again now, so pages added since the last run train."""
    from mchmc.train.retrain import unchanged_outcome

    log = get_run_logger()
    if data:
        from mchmc.train.archive import archive_run

        archive, more, method = archive_run(resolve(config, overrides), data, method)
        log.info("\n".join(archive.header_lines()))
        overrides = {**(overrides or {}), **more}
    cfg = resolve(config, overrides)
    prep = prep_patches(config, overrides)
    report_prep(prep)
    plan = plan_task(config, overrides, method, str(fold), models, prep["key"])
    if plan.existing is not None:
        outcome = unchanged_outcome(plan)
    else:
        train_flow(config, method, str(fold), str(plan.runs_root), overrides)
        outcome = register_task(config, overrides, plan, tolerance_db)
    report_retrain(outcome, plan.versions_folder, method, cfg.name)
    log.info("retrain %s: %s (version %s, in use %s): %s; %s image(s) prepared anew", method, outcome.status,
             outcome.version, outcome.current, outcome.reason, prep.get("computed", 0))
    return {**outcome.to_dict(), "computed": prep.get("computed", 0), "versions": str(plan.versions_folder)}
