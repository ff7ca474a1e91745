"""Issue 29, item 6: scheduled retraining on the user's archive, end to end with a real Prefect server
(`prefect server start` on loopback, as tests/test_services.py does): schedule, train, gate on the archive's
own validation pages, promote, and `mchmc upscale --model <versions folder>` uses the promoted model."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mchmc.batch.records import read_jsonl
from mchmc.modelfile import load_model
from services import PrefectServer, stop_group
from test_own_archive import make_archive, page
from test_services import wait_for

pytestmark = pytest.mark.slow
NAMES = ("Zeitungen", "фото")


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    server = PrefectServer.start(tmp_path_factory.mktemp("prefect"))
    yield server
    server.stop()


def versions(models: Path) -> dict[str, dict]:
    """The versions whose gate has decided (promoted or rejected), by name."""
    docs = {p.parent.name: json.loads(p.read_text()) for p in (models / "SRforMC").glob("v[0-9]*/version.json")}
    return {name: doc for name, doc in docs.items() if doc.get("status") in ("promoted", "rejected")}


def test_a_scheduled_retrain_on_an_archive_trains_gates_promotes_and_upscale_uses_it(prefect_server, tmp_path):
    arch = make_archive(tmp_path / "arch", dict.fromkeys(NAMES, 5))
    models = tmp_path / "models"
    env = dict(os.environ, PREFECT_API_URL=prefect_server.url, PREFECT_RUNNER_POLL_FREQUENCY="1", MCHMC_DATA_ROOT="")
    log = tmp_path / "serve.log"
    serve = subprocess.Popen([sys.executable, "-m", "mchmc.cli.app", "schedule", "retrain", "--config", "smoke",
                              "--interval", "10", "--data", "arch", "--cache", "cache", "--models", "models",
                              "--name", "archive-retrain"],
                             env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=tmp_path,
                             start_new_session=True)
    try:
        first = wait_for(lambda: versions(models).get("v0001"), 300, "the first version", serve, log)
        assert load_model(models / "SRforMC").config.categories == NAMES, "the model carries the archive's names"
        assert first["evaluation"]["images"] == 2, "gated on the archive's own validation pages, one per category"
        for i, name in enumerate(NAMES):  # the archive grows: the next run scans it again and trains on it
            page(arch / name / "new.png", 500 + i)
        second = wait_for(lambda: versions(models).get("v0002"), 300, "a version for the grown archive", serve, log)
        assert second["data_key"] != first["data_key"] and second["decision"]["reason"]
    finally:
        stop_group(serve, grace=30, sig=signal.SIGTERM)
    current = json.loads((models / "SRforMC" / "current.json").read_text())["version"]
    assert current == ("v0002" if second["decision"]["promote"] else "v0001")
    src = tmp_path / "src"
    page(src / "p.png", 900, size=(64, 80))
    up = subprocess.run([sys.executable, "-m", "mchmc.cli.app", "upscale", str(src), "--out", str(tmp_path / "dst"),
                         "--model", str(models / "SRforMC"), "--cpus", "1"], capture_output=True, text=True,
                        timeout=600, env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    (rec,) = read_jsonl(tmp_path / "dst" / "mchmc-upscale-report.jsonl")
    assert tuple(rec.probs) == NAMES and rec.category in NAMES
