"""``mchmc schedule``: serve the retraining flow on a schedule, list and remove schedules, and see or
promote model versions.

Schedules live in a Prefect server (``prefect server start``, or the one in
docker-compose.yml) named by ``PREFECT_API_URL``: Prefect's ephemeral API runs
no scheduler. ``mchmc schedule retrain`` registers the deployment
``mchmc-retrain/<name>`` and keeps polling for its runs (``flow.serve``); each
run executes in a subprocess of this command and shows in the Prefect UI with
its artifacts. Stopping the command pauses the schedule; ``remove`` deletes it.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

USAGE = 2
FLOW_NAME = "mchmc-retrain"
NEED_SERVER = ("needs a Prefect server (Prefect's ephemeral API runs no scheduler): start one with "
               "`prefect server start` (or `docker compose up -d prefect-server`) and set "
               "PREFECT_API_URL=http://127.0.0.1:4200/api")

# Piped (logs, grep, tests) tables get room for whole names and dates instead of rich's 80 columns.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class UsageError(Exception):
    """Bad options: one line, exit code 2."""


def _defaults() -> None:
    from .defaults import apply_prefect_defaults

    apply_prefect_defaults()


def _server(what: str) -> str:
    """PREFECT_API_URL, checked reachable; a one-line warning when it is exposed without auth."""
    from mchmc.service_exposure import prefect_exposure_warning

    url = os.environ.get("PREFECT_API_URL", "")
    if not url:
        raise UsageError(f"mchmc schedule {what} {NEED_SERVER}")
    warning = prefect_exposure_warning(url)
    if warning:
        err.print(f"warning: {warning}")
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        failure = client.api_healthcheck()
    if failure is not None:
        raise UsageError(f"cannot reach the Prefect API at {url}: {str(failure).strip().splitlines()[-1]}")
    return url


def retrain_parameters(config: str, method: str, fold: str, models: str, tolerance: float,
                       data_root: str | None, cache: str | None, data: str | None = None) -> dict:
    """The flow's parameters, checked now (a bad config fails here, not at 3 a.m.), paths made absolute
    (scheduled runs must not depend on the directory the schedule was started from)."""
    from mchmc.train.config_schema import method_arch
    from mchmc.train.config import config_path, load_config
    from mchmc.train.data import parse_fold

    overrides = {}
    if data_root:
        overrides["data.root"] = str(Path(data_root).expanduser().resolve())
    if cache:
        overrides["data.cache_dir"] = str(Path(cache).expanduser().resolve())
    path = config_path(config)
    cfg = load_config(path, overrides)
    method_arch(method)
    if data:  # the archive is checked now too; each run scans it again (mchmc.train.archive)
        from mchmc.train.archive import archive_run

        data, method = str(Path(data).expanduser().resolve()), archive_run(cfg, data, method)[2]
    parse_fold(fold, cfg.folds.k)
    if tolerance < 0:
        raise UsageError(f"--tolerance must be >= 0 dB, not {tolerance}")
    return {"config": str(path.resolve()), "method": method, "fold": str(fold),
            "models": str(Path(models).expanduser().resolve()), "tolerance_db": float(tolerance),
            "overrides": overrides or None, **({"data": data} if data else {})}


def build_schedule(cron: str | None, interval: float | None, timezone: str):
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from prefect.schedules import Cron, Interval

    if (cron is None) == (interval is None):
        raise UsageError("give exactly one of --cron \"MIN HOUR DOM MON DOW\" or --interval SECONDS (or --once)")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"--timezone {timezone!r}: not an IANA time zone (e.g. UTC, Europe/Berlin)") from None
    if interval is not None:
        if interval <= 0:
            raise UsageError(f"--interval must be > 0 seconds, not {interval:g}")
        return Interval(interval, timezone=timezone), f"every {interval:g} s"
    try:
        return Cron(cron, timezone=timezone), f"cron '{cron}' ({timezone})"
    except ValueError as e:
        raise UsageError(f"--cron {cron!r}: {str(e).strip().splitlines()[0]}") from None


def retrain(config: str, method: str, fold: str, models: str, cron: str | None, interval: float | None,
            timezone: str, name: str | None, tolerance: float, data_root: str | None, cache: str | None,
            once: bool, data: str | None = None) -> int:
    from mchmc.errors import MchmcError

    _defaults()
    try:
        params = retrain_parameters(config, method, fold, models, tolerance, data_root, cache, data)
        if not once:
            schedule, when = build_schedule(cron, interval, timezone)
            url = _server("retrain")
    except (UsageError, MchmcError) as e:
        err.print(f"error: {e}")
        return USAGE
    if once:
        return run_once(params)
    return serve(params, schedule, when, url, name)


def serve(params: dict, schedule, when: str, url: str, name: str | None) -> int:
    """Register (or update) the deployment and poll for its runs until stopped."""
    from mchmc.train.config import load_config
    from mchmc.flows.retrain import retrain_flow
    from prefect.exceptions import ObjectNotFound
    from prefect.types.entrypoint import EntrypointType

    method = params["method"]
    cfg_name = load_config(params["config"], params["overrides"]).name
    name = name or f"retrain-{method}-{cfg_name}".lower()
    out.print(f"serving {FLOW_NAME}/{name}: {when}; config {cfg_name}, {method}, test fold {params['fold']}; "
              f"versions in {Path(params['models']) / method}")
    out.print(f"runs and artifacts: the Prefect UI of {url.removesuffix('/api')} (Deployments); "
              "Ctrl-C stops serving and pauses the schedule")
    import signal

    # Ctrl-C / SIGINT must stop serving even when this process inherited SIGINT
    # as ignored (started in the background by a shell script, or by a parent
    # that ignores it): Python keeps an inherited SIG_IGN, so restore its handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        retrain_flow.serve(name=name, schedule=schedule, parameters=params, limit=1, tags=["mchmc", "retrain"],
                           description=f"Retrain {method} ({cfg_name}); a new version is put in use only if not worse",
                           print_starting_message=False, entrypoint_type=EntrypointType.MODULE_PATH)
    except ObjectNotFound:  # `mchmc schedule remove` deleted it while it was served
        out.print(f"{FLOW_NAME}/{name} was removed from the server; stopped")
    return 0


def run_once(params: dict) -> int:
    """One retrain now, without a schedule (Prefect's ephemeral API unless PREFECT_API_URL is set)."""
    from mchmc.errors import MchmcError
    from mchmc.flows.retrain import retrain_flow

    try:
        res = retrain_flow(**params)
    except MchmcError as e:
        err.print(f"error: {e}")
        return 1
    out.print(f"{res['status']}: version {res['version']}, in use {res['current']} (before {res['previous']}); "
              f"{res['reason']}; {res['computed']} image(s) prepared anew; versions in {res['versions']}")
    return 0


def _deployments(client, name: str | None = None):
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, FlowFilter, FlowFilterName

    dep_filter = DeploymentFilter(name=DeploymentFilterName(any_=[name])) if name else None
    return client.read_deployments(flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
                                   deployment_filter=dep_filter)


def _describe_schedule(dep) -> str:
    parts = []
    for s in dep.schedules or []:
        sch = s.schedule
        text = (f"cron '{sch.cron}' ({sch.timezone or 'UTC'})" if getattr(sch, "cron", None) else
                f"every {sch.interval.total_seconds():g} s" if getattr(sch, "interval", None) else str(sch))
        parts.append(text + ("" if s.active else " (inactive)"))
    return "; ".join(parts) or "none"


def list_schedules() -> int:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (DeploymentFilter, DeploymentFilterId, FlowRunFilter,
                                                FlowRunFilterState, FlowRunFilterStateType)
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    _defaults()
    try:
        _server("list")
    except UsageError as e:
        err.print(f"error: {e}")
        return USAGE
    table = Table("name", "schedule", "state", "retrains", "last run", "next run (UTC)", title=f"{FLOW_NAME} schedules")
    with get_client(sync_client=True) as client:
        deployments = _deployments(client)
        for dep in sorted(deployments, key=lambda d: d.name):
            of_dep = DeploymentFilter(id=DeploymentFilterId(any_=[dep.id]))

            def runs(not_any=None, any_=None, sort=FlowRunSort.START_TIME_DESC):
                state = FlowRunFilterState(type=FlowRunFilterStateType(not_any_=not_any, any_=any_))
                return client.read_flow_runs(deployment_filter=of_dep, flow_run_filter=FlowRunFilter(state=state),
                                             sort=sort, limit=1)

            done = runs(not_any=[StateType.SCHEDULED])
            upcoming = runs(any_=[StateType.SCHEDULED], sort=FlowRunSort.EXPECTED_START_TIME_ASC)
            last = "-" if not done else done[0].state_name + (
                f" {done[0].start_time:%Y-%m-%d %H:%M}" if done[0].start_time else "")
            nxt = f"{upcoming[0].expected_start_time:%Y-%m-%d %H:%M}" if upcoming and not dep.paused else "-"
            served = str(getattr(dep.status, "value", dep.status)).upper() == "READY"
            p = dep.parameters or {}
            table.add_row(dep.name, _describe_schedule(dep),
                          ("paused" if dep.paused else "active") + (", served" if served else ", not served"),
                          f"{p.get('method', '?')}, {Path(str(p.get('config', '?'))).stem}, fold {p.get('fold', '?')}",
                          last, nxt)
    if not deployments:
        out.print(f"no {FLOW_NAME} schedules (start one with `mchmc schedule retrain`)")
        return 0
    out.print(table)
    out.print("served: an `mchmc schedule retrain` process is polling for its runs (paused when it stops)")
    return 0


def remove(name: str) -> int:
    from prefect.client.orchestration import get_client

    _defaults()
    short = name.removeprefix(f"{FLOW_NAME}/")
    try:
        _server("remove")
    except UsageError as e:
        err.print(f"error: {e}")
        return USAGE
    with get_client(sync_client=True) as client:
        found = _deployments(client, short)
        if not found:
            known = ", ".join(sorted(d.name for d in _deployments(client))) or "none"
            err.print(f"error: {short}: no such {FLOW_NAME} schedule (known: {known})")
            return USAGE
        for dep in found:
            client.delete_deployment(dep.id)
    out.print(f"removed {FLOW_NAME}/{short} and its scheduled runs (stop its `mchmc schedule retrain` process too, "
              "if one is still running)")
    return 0


def versions(models: str, method: str) -> int:
    from mchmc.errors import MchmcError
    from mchmc.modelversions import ModelVersions

    folder = ModelVersions(Path(models) / method)
    try:
        current = folder.current()
        found = folder.versions()
    except MchmcError as e:
        err.print(f"error: {e}")
        return USAGE
    if not found:
        out.print(f"no versions in {folder.folder} yet")
        return 0
    table = Table("", "version", "status", "created", "PSNR val", "in use then", title=str(folder.folder))
    for v in found:
        ev = v.info.get("evaluation", {})
        psnr, base = ev.get("candidate", {}).get("psnr_mean"), ev.get("baseline", {}).get("psnr_mean")
        table.add_row("*" if current and current.name == v.name else "", v.name, v.status,
                      str(v.info.get("created_at", ""))[:16].replace("T", " "),
                      f"{psnr:.2f}" if isinstance(psnr, (int, float)) else "-",
                      f"{ev.get('baseline_version')} {base:.2f}" if isinstance(base, (int, float)) else "-")
    out.print(table)
    for v in found:
        reason = v.info.get("decision", {}).get("reason")
        if reason:
            out.print(f"{v.name}: {reason}")
    out.print(f"* in use (current.json): `mchmc upscale --model {folder.folder}` loads it")
    return 0


def promote(version: str, models: str, method: str) -> int:
    from mchmc.errors import MchmcError
    from mchmc.modelversions import ModelVersions

    folder = ModelVersions(Path(models) / method)
    try:
        before = folder.current()
        folder.promote(version, "promoted by hand (mchmc schedule promote)")
    except MchmcError as e:
        err.print(f"error: {e}")
        return USAGE
    out.print(f"{folder.folder}: {version} is in use now (before: {before.name if before else 'none'})")
    return 0
