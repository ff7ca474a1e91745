"""``mchmc upscale`` and ``mchmc classify``: options -> the Prefect flow -> progress bar,
summary table and exit code (0 every page ok or skipped, 1 some page failed, 2 usage)."""
from __future__ import annotations

import os
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from . import prefect_api

USAGE = 2

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def local_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def run(src: str, out: str | None, *, classify_only: bool = False, gpus: int = 0, cpus: int | None = None,
        ray_address: str | None = None, report: str | None = None, dry_run: bool = False, **opts) -> int:
    if not Path(src).exists():
        err_console.print(f"error: {src}: no such file or folder")
        return USAGE
    if not classify_only and not out:
        err_console.print("error: --out DST is required")
        return USAGE
    prefect_api.apply_defaults()  # also done by the root command; here for callers of run() itself
    api = None if dry_run else prefect_api.start_if_needed()  # comes up in its own process meanwhile
    checked = _check(src, out, classify_only, gpus, cpus, ray_address, report, dry_run, opts)
    if not isinstance(checked, tuple):  # a usage error or the dry run: no flow, so no API either
        if api is not None:
            api.stop()
            os.environ.pop("PREFECT_API_URL", None)
        return checked
    dst, options, cpus = checked
    return run_flow(src, dst, options, cpus=cpus, gpus=gpus, ray_address=ray_address, report=report, api=api)


def _check(src, out, classify_only, gpus, cpus, ray_address, report, dry_run, opts):
    """The options checked (torch is imported here): (dst, BatchOptions, cpus), or an exit code."""
    from mchmc.batch import BatchOptions

    try:
        options = BatchOptions(classify_only=classify_only, **opts)
    except ValueError as err:
        err_console.print(f"error: {err}")
        return USAGE
    dst = out or str(Path(report).parent if report else Path.cwd())
    if dry_run:
        return dry_run_table(src, dst, options)
    if gpus < 0 or (cpus is not None and cpus < 0):
        err_console.print("error: --gpus and --cpus must be >= 0")
        return USAGE
    if not ray_address:
        have = local_gpus() if gpus else 0
        if gpus > have:  # Ray would otherwise wait forever for a GPU actor
            err_console.print(f"error: --gpus {gpus} requested but this machine has {have} usable GPU(s); "
                              "use fewer, or --ray-address to join a cluster that has them")
            return USAGE
    if cpus is None and not ray_address:
        cpus = max(0 if gpus else 1, (os.cpu_count() or 1) - gpus)
    if cpus is not None and cpus + gpus == 0:
        err_console.print("error: no workers: give --cpus >= 1 or --gpus >= 1")
        return USAGE
    return dst, options, cpus


def start_services(ray_address: str | None, cpus: int, gpus: int, options, api: prefect_api.PrefectAPI | None = None):
    """Start everything the run needs, overlapped: Prefect's local API was
    launched first thing (:mod:`.prefect_api`, its own process, ~4 s); here Ray
    starts (this thread: a driver connected from a helper thread inside a
    running flow never reaches its GCS, measured here), then the worker actors
    asynchronously (their processes import torch and load the model), and only
    then do we wait for the API. If that API fails to come up, Prefect's own
    temporary server is used instead. Returns the (not yet ready) pool; the flow waits for it."""
    from mchmc.batch import PageWorker
    from mchmc.pool import Pool, PoolSpec, connect

    resources = connect(ray_address, None if ray_address else cpus + gpus, None if ray_address else gpus or None)
    if cpus is None:  # joined a cluster: every CPU it has, less one per GPU worker
        cpus = max(0, int(resources.get("CPU", 0)) - gpus)
    pool = Pool(PageWorker, (options,), PoolSpec(cpus=cpus, gpus=gpus), wait=False)
    if api is not None:
        try:
            api.wait(float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")))
        except RuntimeError as err:
            err_console.print(f"warning: {err}; using Prefect's own temporary server")
            api.stop()
            os.environ.pop("PREFECT_API_URL", None)
    return pool


def run_flow(src: str, dst: str, options, **kwargs) -> int:
    from mchmc.errors import MchmcError
    from mchmc.flows.common import set_progress
    from mchmc.flows.upscale import upscale_flow

    console = Console(highlight=False, soft_wrap=True)
    t0 = time.perf_counter()
    try:
        pool = start_services(kwargs.get("ray_address"), kwargs["cpus"], kwargs["gpus"], options, kwargs.pop("api", None))
    except MchmcError as err:
        err_console.print(f"error: {err}")
        return USAGE
    except Exception as err:
        err_console.print(f"error: cannot start Ray: {str(err).strip().splitlines()[-1] if str(err).strip() else err}")
        return USAGE
    t_services = time.perf_counter() - t0
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[mps]:.2f} MP/s"), TextColumn("{task.fields[failed]} failed"),
                   TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)
    state: dict = {}

    def hook(event: dict) -> None:
        p = event["progress"]
        if event.get("started"):
            state["t_work"] = time.perf_counter()
            state["task"] = bar.add_task("pages", total=p.total, mps=0.0, failed=0)
            console.print(f"start-up {state['t_work'] - t0:.1f} s (Ray, Prefect API, workers started {t_services:.1f} s, "
                          f"workers ready and pages planned {state['t_work'] - t0 - t_services:.1f} s); workers: {', '.join(event['workers'])}"
                          + (f"; {event['ignored']} non-image file(s) ignored" if event["ignored"] else ""))
            return
        rec = event["record"]
        if rec.status == "error":
            bar.console.print(f"[red]error:[/red] {rec.error}", soft_wrap=True)
        state["t_last"] = time.perf_counter()
        elapsed = max(state["t_last"] - state["t_work"], 1e-6)
        state["mp"] = p.megapixels
        bar.update(state["task"], completed=p.done, mps=p.megapixels / elapsed, failed=p.by_status["error"])

    set_progress(hook)
    try:
        with bar:
            result = upscale_flow(src, dst, options, pool=pool, **kwargs)
    except MchmcError as err:
        err_console.print(f"error: {err}")
        return USAGE
    finally:
        set_progress(None)
        pool.shutdown()
    print_summary(console, result)
    if "t_work" in state:
        work = max(state.get("t_last", state["t_work"]) - state["t_work"], 1e-6)
        mp = state.get("mp", 0.0)
        console.print(f"done: {mp:.2f} MP (input) in {work:.1f} s of work = {mp / work:.2f} MP/s; "
                      f"start-up {state['t_work'] - t0:.1f} s; total {time.perf_counter() - t0:.1f} s")
    return result["exit_code"]


def print_summary(console: Console, result: dict) -> None:
    s = result["summary"]
    table = Table("category", "pages", title="Pages per category")
    for cat, n in s["by_category"].items():
        table.add_row(cat, str(n))
    table.add_row("skipped (already done)", str(s["by_status"]["skipped"]))
    table.add_row("failed", str(s["by_status"]["error"]))
    console.print(table)
    for inp, reason in s["errors"][:50]:
        console.print(f"  failed: {reason}")
    if len(s["errors"]) > 50:
        console.print(f"  ... and {len(s['errors']) - 50} more (see the report)")
    for path in result["missing"]:
        console.print(f"  listed but missing: {path}")
    console.print(f"report: {result['report']} (+ {Path(result['csv']).name})")


def dry_run_table(src: str, dst: str, options) -> int:
    from mchmc.archive import scan

    try:
        plan = scan(src, dst, options.output_name)
    except (OSError, ValueError) as err:
        err_console.print(f"error: {err}")
        return USAGE
    # plain tab-separated lines (action, input, output): whole paths, easy to grep or feed back as a list
    counts: dict[str, int] = {}
    for job in plan.jobs:
        action = "classify" if options.classify_only else ("skip" if job.done and not options.overwrite else "upscale")
        counts[action] = counts.get(action, 0) + 1
        print(f"{action}\t{job.src}" + ("" if options.classify_only else f"\t{job.dst}"))
    done = ", ".join(f"{n} to {a}" for a, n in counts.items()) or "nothing to do"
    err_console.print(f"dry run: {len(plan.jobs)} page file(s): {done}"
                      + (f"; {len(plan.ignored)} non-image file(s) ignored" if plan.ignored else ""))
    return 0
