"""Training flow: one method on one fold, prep -> Phase 1 -> Phase 2 (SRforMC) or prep -> MCH.

Each stage is a task with retries; a retry or a re-run resumes from the
stage's last checkpoint, and a finished stage (``checkpoints/<stage>.done.json``
+ its model file in the run dir: the persisted stage result) is skipped.
"""
from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from mchmc.markdown import table

from .common import artifact_key, fmt, get_progress, resolve
from .prep import prep_patches, report_prep


@task(name="train-stage", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def train_stage_task(config: str, overrides: dict | None, method: str, fold: str, runs: str, stage: str) -> dict:
    from mchmc.train.run import open_run, prep_stage, train_stage

    run = open_run(resolve(config, overrides), method, fold, runs)
    if not run.is_done(stage):
        prep_stage(run)
    return train_stage(run, stage, get_progress())


def report_run(summary: dict) -> None:
    rows = []
    for name, st in summary["stages"].items():
        fin = st.get("final", {})
        row = {"stage": name, "steps": st["steps"], "minutes": round(st["seconds"] / 60, 2),
               "loss": fin.get("loss"), "psnr_mean": fin.get("psnr_mean"), "bicubic_mean": st["bicubic"].get("mean")}
        row.update({f"psnr_{c}": fin.get(f"psnr_{c}") for c in st["bicubic"] if c != "mean"})
        if fin.get("val_acc") not in (None, ""):
            row["val_acc"] = fin["val_acc"]
        rows.append(row)
    key = artifact_key("train", summary["method"], "fold", summary["fold"], summary["config"])
    create_table_artifact(rows, key=key, description=f"Stages of {summary['run_dir']}")
    md = [f"# {summary['method']}, test fold {summary['fold']}, config {summary['config']}", "",
          f"Run dir `{summary['run_dir']}`; model `{summary['model']}`; {summary['metrics_rows']} metrics rows.",
          "", table(rows, fmt)] if rows else []
    create_markdown_artifact("\n".join(md), key=key + "-summary")


@flow(name="mchmc-train", log_prints=True)
def train_flow(config: str = "cpu", method: str = "SRforMC", fold: str = "1", runs: str = "runs",
               overrides: dict | None = None, device: str | None = None) -> dict:
    """Prep, then every training stage of ``method`` with ``fold`` held out ('all' = train on everything).
    ``device`` (auto, cpu, cuda, cuda:N) overrides the config's ``train.device``; each stage's device is in
    its result and the model's provenance."""
    from mchmc.train.run import open_run, summary

    if device:
        overrides = {**(overrides or {}), "train.device": device}
    log = get_run_logger()
    run = open_run(resolve(config, overrides), method, str(fold), runs)
    prep = prep_patches(config, overrides)
    report_prep(prep)
    for stage in run.phase_names:
        st = train_stage_task(config, overrides, method, str(fold), str(runs), stage)
        log.info("%s done on %s: %s steps, %.1f s, val %s", stage, st.get("device", "cpu"), st["steps"], st["seconds"],
                 {k: v for k, v in st["final"].items() if k.startswith("psnr") or k == "val_acc"})
        if st.get("gate"):  # train.never_worse: which upscaler the run kept, on the validation pages
            from mchmc.train.gate import words

            log.info("%s", words(st["gate"]))
    result = summary(run)
    report_run(result)
    return result
