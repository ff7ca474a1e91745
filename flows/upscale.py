"""The main job as a Prefect flow: plan the pages, then drive a Ray actor pool
over them shard by shard, streaming every page's record to the report.

    plan-pages   : scan SRC (file, folder, or list), map outputs under DST,
                   remove temporaries an interrupted run left behind
    pages-shard  : one task per shard of pages (not per page or tile): the
                   shard's pages go through the pool with backpressure
    summary      : table + markdown artifacts (pages per category, failures)

Ray is started (loopback-only) or joined (``ray_address``) in the flow's own
thread: a Ray driver connected from a helper thread inside a running flow
fails to reach its GCS (measured here), so the two start-ups run in sequence.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from .common import artifact_key, get_progress


@task(name="plan-pages", cache_policy=NO_CACHE)
def plan_pages(src: str, dst: str, options) -> dict:
    from mchmc.archive import remove_stale_temporaries, scan

    plan = scan(src, dst, options.output_name)
    stale = remove_stale_temporaries(dst) if Path(dst).is_dir() and not options.classify_only else 0
    return {"jobs": plan.jobs, "ignored": len(plan.ignored), "missing": [str(p) for p in plan.missing], "stale": stale}


@task(name="pages-shard", cache_policy=NO_CACHE)
def pages_shard(index: int, jobs: list, pool, report, options, previous: dict, progress) -> dict:
    from mchmc.batch import run_batch

    hook = get_progress()
    before = dict(progress.by_status)
    run_batch(jobs, pool, report, options, progress, (lambda r, p: hook({"record": r, "progress": p})) if hook else None,
              previous)
    return {"shard": index, "pages": len(jobs), **{k: v - before[k] for k, v in progress.by_status.items()}}


def summary_artifacts(summary, report_path: str, kind: str) -> None:
    rows = [{"category": c, "pages": n} for c, n in summary.by_category.items()]
    rows += [{"category": f"({s})", "pages": n} for s, n in summary.by_status.items() if s != "ok"]
    key = artifact_key("mchmc", kind, "summary")
    create_table_artifact(rows, key=key, description=f"Pages per category; report {report_path}")
    md = [f"# mchmc {kind}", "", f"{summary.pages} file(s): {summary.by_status}; report `{report_path}`", ""]
    md += ["| category | pages |", "|---|---|"] + [f"| {r['category']} | {r['pages']} |" for r in rows]
    if summary.errors:
        md += ["", "## Failed", ""] + [f"- {err}" for _, err in summary.errors[:200]]
    create_markdown_artifact("\n".join(md), key=key + "-md")


@flow(name="mchmc-upscale", log_prints=False, validate_parameters=False)
def upscale_flow(src: str, dst: str, options, cpus: int = 1, gpus: int = 0, ray_address: str | None = None,
                 report: str | None = None, shard_size: int = 500, per_actor: int = 2, pool=None) -> dict:
    """Upscale (or, with ``options.classify_only``, classify) every page under ``src``.

    ``pool``: a :class:`mchmc.pool.Pool` of ``PageWorker`` actors the caller
    already started (the CLI starts it while Prefect's API comes up, and shuts
    it down); without one the flow connects to Ray and runs its own."""
    from mchmc.batch import PageWorker, Progress
    from mchmc.pool import Pool, PoolSpec, connect
    from mchmc.report import ReportWriter, read_jsonl, report_paths, summarise

    log = get_run_logger()
    plan = plan_pages(src, dst, options)
    jobs = plan["jobs"]
    kind = "classify" if options.classify_only else "upscale"
    report_path, csv_path = report_paths(report or Path(dst) / f"mchmc-{kind}-report.jsonl")
    previous = {r.input: r for r in read_jsonl(report_path) if r.status in ("ok", "skipped") and r.category} \
        if report_path.exists() else {}
    own_pool = pool is None
    if own_pool:
        connect(ray_address, None if ray_address else cpus + gpus, None if ray_address else gpus or None)
        pool = Pool(PageWorker, (options,), PoolSpec(cpus=cpus, gpus=gpus, per_actor=per_actor))
    try:
        pool.wait_ready()
    except BaseException:
        if own_pool:
            pool.shutdown()
        raise
    progress = Progress(total=len(jobs))
    hook = get_progress()
    if hook:
        hook({"started": True, "progress": progress, "workers": pool.names, "ignored": plan["ignored"]})
    try:
        with ReportWriter(report_path) as writer:
            for i in range(0, len(jobs), shard_size):
                pages_shard(i // shard_size, jobs[i : i + shard_size], pool, writer, options, previous, progress)
            writer.close(csv_path)
    finally:
        if own_pool:
            pool.shutdown()
    summary = summarise(read_jsonl(report_path))
    summary_artifacts(summary, str(report_path), kind)
    log.info("%s: %s; report %s", kind, summary.by_status, report_path)
    return {"summary": asdict(summary), "report": str(report_path), "csv": str(csv_path), "ignored": plan["ignored"],
            "missing": plan["missing"], "workers": pool.names, "exit_code": summary.exit_code}
