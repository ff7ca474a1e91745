"""mchmc against real services, no Docker: a `prefect server start` on 127.0.0.1 and a Ray head from
`ray start --head` on loopback (own ports, own temp dirs, token auth on), driven through the CLI.

- `mchmc schedule retrain --interval` serves the retraining flow; a scheduled run fires and
  completes (a second one finds the data unchanged), checked through Prefect's API with its
  artifacts; `mchmc schedule list` / `remove` see and delete it.
- `mchmc upscale --ray-address` runs its workers on that head, not on a Ray of its own.

Only the processes these tests start are stopped, by process group (never `ray stop`)."""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mchmc.batch.plan import Job
from mchmc.batch.options import BatchOptions
from mchmc.batch.worker.pageworker import PageWorker
from mchmc.model import build_model
from mchmc.modelfile import save_model
from mchmc.batch.records import read_jsonl
from services import PrefectServer, RayHead, stop_group
from test_data import synth_dataset

pytestmark = pytest.mark.slow
SMOKE_FOLDERS = {"nature": "nature_bsds100", "manga": "manga_manga109", "text": "text_hradis_bmvc_ocr_test_orig"}


def mchmc(*args: str, env: dict, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mchmc.cli.app", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, **kw)


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    server = PrefectServer.start(tmp_path_factory.mktemp("prefect"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ray_head():
    head = RayHead.start(num_cpus=2, token=secrets.token_hex(24))
    yield head
    head.stop()


def smoke_data(root: Path) -> Path:
    """Synthetic images under the smoke config's folder names (so `--config smoke --data-root` works)."""
    synth_dataset(root)
    for cat, folder in SMOKE_FOLDERS.items():
        (root / cat).rename(root / folder)
    return root


# ---------------------------------------------------------------- Prefect server + schedules

def wait_for(check, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what}: the process exited ({proc.returncode}): {log.read_text()[-3000:] if log else ''}")
        time.sleep(1)
    pytest.fail(f"{what}: not within {timeout:.0f} s" + (f"; log: {log.read_text()[-3000:]}" if log else ""))


def test_a_scheduled_retrain_fires_completes_and_shows_in_prefect_with_artifacts(prefect_server, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (DeploymentFilter, DeploymentFilterId, FlowRunFilter, FlowRunFilterId,
                                                FlowRunFilterParentFlowRunId, FlowRunFilterState,
                                                FlowRunFilterStateType)
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.client.schemas.objects import StateType
    from prefect.exceptions import ObjectNotFound

    data, models = smoke_data(tmp_path / "data"), tmp_path / "models"
    env = dict(os.environ, PREFECT_API_URL=prefect_server.url, PREFECT_RUNNER_POLL_FREQUENCY="1")
    log = tmp_path / "serve.log"
    serve = subprocess.Popen([sys.executable, "-m", "mchmc.cli.app", "schedule", "retrain", "--config", "smoke",
                              "--interval", "10", "--data-root", str(data), "--cache", str(tmp_path / "cache"),
                              "--models", str(models), "--name", "test-retrain"],
                             env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=tmp_path,
                             start_new_session=True)
    here = temporary_settings(updates={PREFECT_API_URL: prefect_server.url})  # this process's client
    try:
        with here, get_client(sync_client=True) as client:
            def completed():
                try:
                    dep = client.read_deployment_by_name("mchmc-retrain/test-retrain")
                except ObjectNotFound:
                    return None
                finished = FlowRunFilterStateType(any_=[StateType.COMPLETED, StateType.FAILED, StateType.CRASHED])
                runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep.id])),
                                             flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=finished)))
                bad = [r for r in runs if r.state_type in (StateType.FAILED, StateType.CRASHED)]
                if bad:
                    pytest.fail(f"scheduled run {bad[0].name} {bad[0].state_name}: {bad[0].state.message}; "
                                f"{log.read_text()[-3000:]}")
                done = sorted((r for r in runs if r.state_type == StateType.COMPLETED), key=lambda r: r.start_time)
                return (dep, done) if len(done) >= 2 else None

            dep, done = wait_for(completed, 300, "two scheduled runs completed", serve, log)
            assert dep.paused is False and dep.parameters["method"] == "SRforMC"
            assert dep.parameters["config"].endswith("smoke.toml") and dep.parameters["models"] == str(models)
            first = done[0]
            artifacts = client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[first.id])))
            keys = {a.key: a for a in artifacts}
            assert {"retrain-srformc-smoke", "retrain-srformc-smoke-decision", "prep-smoke"} <= set(keys)
            assert "promoted" in keys["retrain-srformc-smoke-decision"].data
            table = json.loads(keys["retrain-srformc-smoke"].data)
            assert [r["version"] for r in table] == ["v0001"] and table[0]["in_use"] is True
            children = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[first.id])))
            assert [(client.read_flow(c.flow_id).name, c.state_type) for c in children] == [
                ("mchmc-train", StateType.COMPLETED)], "training ran as a subflow of the scheduled run"
            second = client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[done[1].id])))
            assert "unchanged" in {a.key: a for a in second}["retrain-srformc-smoke-decision"].data

        pointer = json.loads((models / "SRforMC" / "current.json").read_text())
        assert pointer["version"] == "v0001" and (models / "SRforMC" / "v0001" / "model.pt").is_file()
        assert not (models / "SRforMC" / "v0002").exists(), "the unchanged second run added no version"

        listed = mchmc("schedule", "list", env=env)
        assert listed.returncode == 0, listed.stderr
        assert "test-retrain" in listed.stdout and "every 10 s" in listed.stdout and "active" in listed.stdout

        # Ctrl-C in a terminal: SIGINT to the whole foreground process group (the
        # server process and any scheduled run it has started), not to one PID
        os.killpg(serve.pid, signal.SIGINT)
        serve.wait(120)
        with temporary_settings(updates={PREFECT_API_URL: prefect_server.url}), get_client(sync_client=True) as client:
            assert client.read_deployment_by_name("mchmc-retrain/test-retrain").paused is True
        assert "paused" in mchmc("schedule", "list", env=env).stdout

        removed = mchmc("schedule", "remove", "test-retrain", env=env)
        assert removed.returncode == 0, removed.stderr
        with temporary_settings(updates={PREFECT_API_URL: prefect_server.url}), get_client(sync_client=True) as client:
            with pytest.raises(ObjectNotFound):
                client.read_deployment_by_name("mchmc-retrain/test-retrain")
        again = mchmc("schedule", "remove", "test-retrain", env=env)
        assert again.returncode == 2 and again.stderr.strip().count("\n") == 0 and "no such" in again.stderr
        assert models.joinpath("SRforMC", "v0001", "model.pt").is_file(), "removing a schedule keeps the models"
    finally:
        stop_group(serve, grace=30, sig=signal.SIGTERM)


@pytest.mark.parametrize("args, message", [
    (["list"], "prefect server start"),
    (["remove", "x"], "PREFECT_API_URL"),
    (["retrain", "--config", "smoke", "--interval", "60"], "ephemeral API runs no scheduler"),
    (["retrain", "--config", "smoke", "--cron", "61 * * * *"], "--cron"),
    (["retrain", "--config", "smoke", "--cron", "0 3 * * 0", "--interval", "5"], "exactly one"),
    (["retrain", "--config", "smoke"], "exactly one"),
    (["retrain", "--config", "smoke", "--cron", "0 3 * * 0", "--timezone", "Mars/Olympus"], "--timezone"),
    (["retrain", "--config", "nope", "--interval", "5"], "no config named 'nope'"),
    (["retrain", "--config", "smoke", "--method", "SRforCats", "--interval", "5"], "unknown method"),
])
def test_bad_schedule_commands_are_one_line_usage_errors(args, message, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    res = mchmc("schedule", *args, env=env, cwd=tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], res.stderr


def tiny_archive(tmp_path: Path, pages: int) -> tuple[Path, Path]:
    """``pages`` random 56x40 pages under tmp_path/scans and a small random MCH-MC model file."""
    src = tmp_path / "scans"
    src.mkdir()
    for i in range(pages):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(src / f"p{i}.png")
    torch.manual_seed(0)
    model = build_model("mch-mc")
    model.reset_parameters(0.05)
    return src, save_model(model, tmp_path / "tiny.pt")


def test_upscale_with_a_prefect_api_configured_is_recorded_as_a_flow_run(prefect_server, tmp_path):
    """A plain run starts no Prefect server; with PREFECT_API_URL set the same driver
    runs inside the mchmc-upscale flow, whose run and summary artifact land in Prefect."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.objects import StateType
    from prefect.settings import PREFECT_API_URL, temporary_settings

    src, model_file = tiny_archive(tmp_path, 2)
    env = dict(os.environ, PREFECT_API_URL=prefect_server.url)
    res = mchmc("upscale", str(src), "--out", str(tmp_path / "out"), "--model", str(model_file), "--cpus", "1",
                "--tile", "32", env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    with temporary_settings(updates={PREFECT_API_URL: prefect_server.url}), get_client(sync_client=True) as client:
        runs = [r for r in client.read_flow_runs() if client.read_flow(r.flow_id).name == "mchmc-upscale"]
        assert [r.state_type for r in runs] == [StateType.COMPLETED]
        artifacts = client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[runs[0].id])))
        assert {"mchmc-upscale-summary", "mchmc-upscale-report"} <= {a.key for a in artifacts}, "and the HTML's link"


# ---------------------------------------------------------------- Ray head + upscale

def test_upscale_runs_its_workers_on_a_ray_head_started_with_ray_start(ray_head, tmp_path):
    (src, model_file), dst = tiny_archive(tmp_path, 3), tmp_path / "scans_2x"
    env = dict(os.environ, PREFECT_LOGGING_LEVEL="WARNING", **ray_head.env)
    proc = subprocess.Popen([sys.executable, "-m", "mchmc.cli.app", "upscale", str(src), "--out", str(dst),
                             "--model", str(model_file), "--cpus", "2", "--tile", "32",
                             "--ray-address", ray_head.address], env=env, cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    assert "ShadowRay" not in err, "a loopback head needs no exposure warning"
    records = list(read_jsonl(dst / "mchmc-upscale-report.jsonl"))
    assert sorted(r.status for r in records) == ["ok"] * 3
    ref = PageWorker(BatchOptions(model=str(model_file), tile=32), name="ref")
    for i in range(3):
        assert ref.process(Job(src / f"p{i}.png", tmp_path / "ref" / f"p{i}.png")).status == "ok"
        assert (dst / f"p{i}.png").read_bytes() == (tmp_path / "ref" / f"p{i}.png").read_bytes()
    drivers = list(ray_head.session_logs().glob(f"python-core-driver-*_{proc.pid}.log"))
    assert drivers, "the CLI's Ray driver joined the head's session (it did not start a Ray of its own)"
    assert ray_head.proc.poll() is None, "the cluster outlives the CLI run: mchmc never stops a Ray it joined"
