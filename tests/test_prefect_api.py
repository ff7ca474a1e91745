"""The CLI's launcher for Prefect's temporary local API (cli/prefect_api.py): loopback
only, answers health checks, stops at exit, names the cause when it cannot start,
and starts nothing when the user configured a server."""
from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

import pytest

from mchmc.cli import prefect_api


def test_nothing_is_started_when_a_server_is_configured(monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert prefect_api.start_if_needed() is None


def test_the_api_listens_on_loopback_answers_and_stops(monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    api = prefect_api.start_if_needed()
    try:
        assert api is not None and api.url.startswith("http://127.0.0.1:")
        assert os.environ["PREFECT_API_URL"] == api.url  # this process's Prefect client will use it
        api.wait(180)
        with urllib.request.urlopen(f"{api.url}/health", timeout=10) as r:
            assert r.status == 200
    finally:
        api.stop()
        os.environ.pop("PREFECT_API_URL", None)  # delenv of an unset name registers no undo
    assert api.process.poll() is not None


def test_a_server_that_dies_is_reported_with_its_exit_code(monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(prefect_api, "_launch",
                        lambda port: subprocess.Popen([sys.executable, "-c", "raise SystemExit(7)"]))
    api = prefect_api.PrefectAPI()
    with pytest.raises(RuntimeError, match="exited with code 7"):
        api.wait(60)


def test_a_usage_error_stops_the_api_it_launched(monkeypatch, tmp_path):
    """upscale launches the API before checking the options that need torch; when one
    of them is wrong, nothing stays behind: no server, no PREFECT_API_URL."""
    from typer.testing import CliRunner

    from mchmc.cli.app import app

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    launched = []
    real = prefect_api.PrefectAPI.__init__

    def spy(self):
        real(self)
        launched.append(self)

    monkeypatch.setattr(prefect_api.PrefectAPI, "__init__", spy)
    res = CliRunner().invoke(app, ["upscale", str(tmp_path), "--out", str(tmp_path / "o"), "--tile", "0"])
    assert res.exit_code == 2 and "--tile" in res.output
    assert len(launched) == 1 and launched[0].process.poll() is not None
    import os

    assert "PREFECT_API_URL" not in os.environ
