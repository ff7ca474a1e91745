"""Data prep flow: the patch store for a config (a cache hit when nothing changed)."""
from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from mchmc.markdown import table

from .common import artifact_key, fmt, resolve


@task(name="prep-patches", retries=1, retry_delay_seconds=2, cache_policy=NO_CACHE)
def prep_patches(config: str, overrides: dict | None = None) -> dict:
    """HR/LR Y planes + patch index under the content-hash key (mchmc.train.patches.prepare)."""
    from mchmc.model import build_model
    from mchmc.train.patches import prepare

    cfg = resolve(config, overrides)
    res = prepare(cfg.data, build_model("mch").config.scale)
    return {"config": cfg.name, "path": str(res.path), "key": res.key, "counts": res.counts, "alpha": res.alpha,
            "images": res.images, "cache_hit": res.cache_hit, "seconds": res.seconds, "computed": res.computed,
            "stride": dict(cfg.data.stride), "patch": cfg.data.patch}


def report_prep(result: dict) -> None:
    rows = [{"category": c, "images": result["images"].get(c, 0), "stride": result["stride"].get(c),
             "patches": n, "alpha": round(result["alpha"][c], 4)} for c, n in result["counts"].items()]
    create_table_artifact(rows, key=artifact_key("prep", result["config"]),
                          description=f"Patch counts and class weights (all images), store {result['key']}")
    md = [f"# Patch store `{result['key']}` ({result['config']})", "",
          f"{'cache hit' if result['cache_hit'] else 'built'} in {result['seconds']:.1f} s at `{result['path']}` "
          f"({result.get('computed', 0)} image(s) processed, the others found by content hash); "
          f"{result['patch']}x{result['patch']} HR patches.", "",
          table([{**r, "patches": f"{r['patches']:,}"} for r in rows], fmt)]
    create_markdown_artifact("\n".join(md), key=artifact_key("prep-summary", result["config"]))


@flow(name="mchmc-prep", log_prints=True)
def prep_flow(config: str = "cpu", overrides: dict | None = None) -> dict:
    """Build or find the patch store; report patch counts and alpha as artifacts."""
    result = prep_patches(config, overrides)
    report_prep(result)
    get_run_logger().info("patches %s (alpha %s), cache hit: %s", result["counts"], result["alpha"],
                          result["cache_hit"])
    return result
