"""Router flow: the router that picks each page's specialist, fitted for every level of a tier that has them.

One task per level, one library call each (:func:`mchmc.train.router.train_router`); the summaries become
an artifact.
"""
from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from .common import artifact_key


@task(name="fit-router", cache_policy=NO_CACHE)
def fit_router_task(model_file: str, config: str | None, fold: int, overrides: dict | None) -> dict:
    from mchmc.train.router import train_router

    return train_router(model_file, config, fold, overrides, log=get_run_logger().info)


@flow(name="mchmc-train-router", log_prints=True)
def train_router_flow(model: str = "quality", config: str | None = None, fold: int = 1,
                      overrides: dict | None = None) -> list[dict]:
    from mchmc.train.router import routed_levels

    summaries = [fit_router_task(str(f), config, fold, overrides) for f in routed_levels(model)]
    lines = [f"# Routers of `{model}` (fold {fold})", "",
             "| level file | config | pages | L2 | cross-validated top-1 | validation top-1 (router / head) |",
             "|---|---|---|---|---|---|"]
    for s in summaries:
        cv = ", ".join(f"{c} {v:.1%}" for c, v in s["cv_top1"].items())
        val = ", ".join(f"{c} {v:.0%} / {s['val_top1_head'][c]:.0%}" for c, v in s.get("val_top1", {}).items())
        lines.append(f"| {s['model']} | {s['config']} | {s['train_pages']} | {s['strength']:g} | {cv} | {val or '-'} |")
    create_markdown_artifact("\n".join(lines), key=artifact_key("train-router", model, "fold", fold))
    return summaries
