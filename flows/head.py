"""Head-retraining flow: the category head of one model fitted again on whole pages at many sizes.

One task, one library call (:func:`mchmc.train.head.retrain_head`); its summary becomes an artifact.
"""
from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from .common import artifact_key


@task(name="retrain-head", cache_policy=NO_CACHE)
def retrain_head_task(model: str, out: str, config: str | None, fold: int, overrides: dict | None) -> dict:
    from mchmc.train.head import retrain_head

    return retrain_head(model, out, config, fold, overrides, log=get_run_logger().info)


@flow(name="mchmc-train-head", log_prints=True)
def train_head_flow(model: str = "srformc", out: str = "head.pt", config: str | None = None, fold: int = 1,
                    overrides: dict | None = None) -> dict:
    summary = retrain_head_task(model, out, config, fold, overrides)
    lines = [f"# Category head of `{model}` retrained -> `{out}`", "",
             f"Config {summary['config']}, sizes 1/f for f in {summary['scales']}, {summary['train_images']} training "
             f"and {summary['val_images']} validation images; epoch {summary['epoch']} kept.", "",
             f"Validation loss {summary['val_loss_before']:.4f} -> {summary['val_loss']:.4f}, "
             f"top-1 {summary['val_top1_before']:.3f} -> {summary['val_top1']:.3f}."]
    create_markdown_artifact("\n".join(lines), key=artifact_key("train-head", summary["config"], "fold", fold))
    return summary
