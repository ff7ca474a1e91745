"""Experiment flow: the paper's K-fold grid (Tables 7-10, Figs. 11-13) as one resumable run.

For each selected fold (fold-major, so finished folds give whole table rows
early), the fold's Bicubic cell, then each selected method: the method is
trained by the ``mchmc-train`` flow as a subflow (prep -> Phase 1 -> Phase 2,
or the MCH phase; finished stages are skipped, an unfinished one resumes from
its checkpoint), then scored on the test fold by the ``evaluate-cell`` task.
A cell whose model and evaluation record are current is skipped without
starting anything, so a re-run after an interruption does only what is missing
(state lives in the run dirs, see :mod:`mchmc.experiment.cells`). At the end the
report of every evaluated cell of the config is written and its tables are
published as artifacts (keys ``experiment-<config>-<table>``).
"""
from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from .common import artifact_key, get_progress, resolve
from .train import train_flow

TABLE_TITLES = {
    "table7": "Table 7: PSNR / SSIM (paper border), mean ± std over folds, paper beside",
    "table7-cells": "Table 7 cell by cell: average PSNR / SSIM of each (method, fold)",
    "gain": "SRforMC − SRforAll per category and on average",
    "table7-crop2": "Table 7 with crop 2",
    "table8": "Table 8: inference seconds per image",
    "table9": "Table 9: SRforMC top-1 accuracy [%]",
    "confusion": "SRforMC confusion (all folds)",
    "table10": "Table 10: SRforMC − SRforAll by classification result",
}


def _emit(event: dict) -> None:
    hook = get_progress()
    if hook:
        hook(event)


@task(name="evaluate-cell", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def evaluate_cell_task(config: str, overrides: dict | None, method: str, fold: int, runs: str, progress=None) -> dict:
    """Score one trained cell (or the bicubic row) on its test fold; skipped when its record is current."""
    from mchmc.experiment.cells import Cell, evaluate_cell

    return evaluate_cell(resolve(config, overrides), Cell(method, fold), runs, progress)


@task(name="experiment-report", retries=1, retry_delay_seconds=2, cache_policy=NO_CACHE)
def report_task(runs: str, config: str | None, out: str | None = None, command: str | None = None) -> dict:
    from mchmc.experiment.report import write_report

    rep = write_report(runs, config, out, command)
    return {"config": rep.config, "path": str(rep.path), "out_dir": str(rep.out_dir), "markdown": rep.markdown,
            "tables": rep.tables, "figures": {k: str(v) for k, v in rep.figures.items()}, "cells": rep.cells,
            "missing": list(rep.missing), "notes": list(rep.notes)}


def publish(report: dict) -> None:
    """The report's tables as table artifacts, and the whole report as a markdown artifact."""
    for name, rows in report["tables"].items():
        if rows:
            create_table_artifact(rows, key=artifact_key("experiment", report["config"], name),
                                  description=TABLE_TITLES.get(name, name) + f" ({report['cells']} cells)")
    create_markdown_artifact(report["markdown"], key=artifact_key("experiment", report["config"], "report"),
                             description=f"Report written to {report['path']}")


@flow(name="mchmc-report", log_prints=True)
def report_flow(runs: str = "runs", config: str | None = None, out: str | None = None,
                command: str | None = None) -> dict:
    """Write the report of the evaluated cells under ``runs`` and publish its tables."""
    rep = report_task(runs, config, out, command)
    publish(rep)
    return rep


@flow(name="mchmc-experiment", log_prints=True)
def experiment_flow(config: str = "cpu", folds: list[int] | None = None, methods: list[str] | None = None,
                    runs: str = "runs", overrides: dict | None = None, report: bool = True,
                    command: str | None = None) -> dict:
    """Train and score every selected (method, fold) cell that is not done yet, then report."""
    from mchmc.experiment.cells import plan_cells, run_cells

    cfg = resolve(config, overrides)
    states = run_cells(  # the library's sequence; training as a subflow, each scoring as a task
        cfg, plan_cells(cfg, folds, methods), runs, _emit,
        train=lambda cell: train_flow(config, cell.method, str(cell.fold), runs, overrides),
        evaluate=lambda cell, progress: evaluate_cell_task(config, overrides, cell.method, cell.fold, runs, progress))
    get_run_logger().info("cells: %s", states)
    result = {"config": cfg.name, "cells": states}
    if report:
        command = command or " ".join(["mchmc experiment --config", str(config)]
                                      + ([f"--folds {','.join(map(str, folds))}"] if folds else [])
                                      + ([f"--methods {','.join(methods)}"] if methods else []) + [f"--runs {runs}"])
        rep = report_task(runs, cfg.name, None, command)
        publish(rep)
        result["report"] = rep
    return result
