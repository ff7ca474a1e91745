"""The main job as a Prefect flow, for runs that should be recorded in Prefect
(``PREFECT_API_URL`` set, or ``mchmc upscale --prefect``). It holds no logic:
the library's driver (:mod:`mchmc.batch.driver.loop`) does the work exactly as in a plain
run, and the flow adds the record, its logs and the summary artifacts.

    pages    : mchmc.batch.driver.loop.run over the Ray pool (started only if a page needs work)
    summary  : table + markdown artifacts (pages per category, failures), a link to mchmc-report.html
"""
from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from mchmc.markdown import table

from .common import artifact_key


@task(name="pages", cache_policy=NO_CACHE)
def pages(prep, start_pool, stop, on_start, on_record):
    from mchmc.batch.driver.loop import run

    return run(prep, start_pool, stop=stop, on_start=on_start, on_record=on_record)


def summary_artifacts(summary, report_path: str, kind: str) -> None:
    rows = [{"category": c, "pages": n} for c, n in summary.by_category.items()]
    rows += [{"category": f"({s})", "pages": n} for s, n in summary.by_status.items() if s != "ok"]
    key = artifact_key("mchmc", kind, "summary")
    create_table_artifact(rows, key=key, description=f"Pages per category; report {report_path}")
    md = [f"# mchmc {kind}", "", f"{summary.pages} file(s): {summary.by_status}; report `{report_path}`", ""]
    md += [table(rows)]
    if summary.errors:
        md += ["", "## Failed", ""] + [f"- {err}" for _, err in summary.errors]
    create_markdown_artifact("\n".join(md), key=key + "-md")
    report_link(report_path, kind)


def report_link(report_path: str, kind: str) -> None:
    """A link artifact to the run's HTML page (:mod:`mchmc.batch.report.htmlreport`), when it was written."""
    from mchmc.batch.report.htmlreport import html_path

    page = html_path(report_path).absolute()
    if page.is_file():
        create_link_artifact(page.as_uri(), link_text=page.name, key=artifact_key("mchmc", kind, "report"),
                             description=f"Every page of the run: summary, review first, before / after ({page})")


@flow(name="mchmc-upscale", log_prints=False, validate_parameters=False)
def upscale_flow(prep, start_pool, stop=None, on_start=None, on_record=None):
    """Upscale (or, with ``prep.options.classify_only``, classify) the prepared plan
    (:func:`mchmc.batch.driver.prepare.prepare`); returns the driver's Outcome."""
    outcome = pages(prep, start_pool, stop, on_start, on_record)
    summary_artifacts(outcome.summary, str(outcome.report), prep.kind)
    get_run_logger().info("%s: %s; report %s", prep.kind, outcome.summary.by_status, outcome.report)
    return outcome
