"""The private local Ray (issue 15, item 17): token authentication with a fresh token per run, immune to a
stray RAY_ADDRESS or ray_current_cluster file. Each test runs a driver process of its own, with a short temp
dir of its own (Ray's socket paths are limited to ~107 bytes; /tmp/ray belongs to other runs).
Split from test_pool.py, which tests the actor pool on a module-wide Ray."""
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import ROOT

from mchmc.batch.pool.ray_local import AUTH_ENV

PRIVATE_DRIVER = r"""
import json, os, sys
from mchmc.batch.pool.ray_local import connect
import ray

resources = connect(num_cpus=1, temp_dir=sys.argv[1])

@ray.remote
class Probe:
    def has(self, token):
        return os.environ.get("RAY_AUTH_MODE") == "token" and os.environ.get("RAY_AUTH_TOKEN") == token

token = os.environ["RAY_AUTH_TOKEN"]
print(json.dumps({"cpus": resources.get("CPU"), "gcs": ray.get_runtime_context().gcs_address, "token": token,
                  "mode": os.environ["RAY_AUTH_MODE"], "address_env": os.environ.get("RAY_ADDRESS"),
                  "worker_has_token": ray.get(Probe.remote().has.remote(token), timeout=60)}), flush=True)
sys.stdin.readline()  # stay up while the test tries to join
ray.shutdown()
"""

JOIN = r"""
import sys, ray
ray.init(address=sys.argv[1], log_to_driver=False, logging_level="error")
print("JOINED", ray.cluster_resources().get("CPU"), flush=True)
ray.shutdown()
"""


@pytest.fixture
def short_tmp():
    path = Path(tempfile.mkdtemp(prefix="mp", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@contextmanager
def private_driver(temp_dir: Path, **env):
    """A driver process that started the private Ray in ``temp_dir`` (``env``: what to set, None to
    unset); yields what it reports and ends it on exit."""
    home = temp_dir / "home"  # so a token Ray wrote to ~/.ray/auth_token would be seen
    home.mkdir(exist_ok=True)
    full_env = {**os.environ, "HOME": str(home), **env}
    for key in [k for k, v in env.items() if v is None]:
        full_env.pop(key)
    proc = subprocess.Popen([sys.executable, "-c", PRIVATE_DRIVER, str(temp_dir)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        if not line:
            proc.wait(timeout=60)
            pytest.fail(f"the driver failed ({proc.returncode}): {proc.stderr.read()[-3000:]}")
        yield json.loads(line)
    finally:
        try:
            proc.communicate("\n", timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def _join(gcs: str, **auth) -> subprocess.CompletedProcess:
    """Another local process trying to join: no inherited auth, only what ``auth`` gives it."""
    env = {k: v for k, v in os.environ.items() if k not in AUTH_ENV and k != "RAY_ADDRESS"}
    env.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0",
               RAY_gcs_server_port_wait_time_s="2",  # give up after ~2 s rather than Ray's 20
               **auth)
    return subprocess.run([sys.executable, "-c", JOIN, gcs], capture_output=True, text=True, timeout=90, cwd=ROOT,
                          env=env)


DEAD = "127.0.0.1:9"  # the discard port: nothing listens


@pytest.mark.slow
@pytest.mark.parametrize("stray", ["RAY_ADDRESS", "ray_current_cluster"])
def test_a_stray_ray_address_or_a_planted_current_cluster_file_does_not_stop_a_local_run(stray, short_tmp):
    """Either used to send every local run to a dead address (issue 15, item 17)."""
    if stray == "ray_current_cluster":  # where ray.init(address=None) looks for "the last cluster"
        (short_tmp / "ray_current_cluster").write_text(DEAD)
    env = {"RAY_ADDRESS": DEAD} if stray == "RAY_ADDRESS" else {"RAY_ADDRESS": None}
    with private_driver(short_tmp, **env) as info:
        assert info["cpus"] == 1.0 and info["gcs"].startswith("127.0.0.1:") and info["gcs"] != DEAD
        assert info["address_env"] is None, "dropped, so the workers do not inherit it either"
        assert info["worker_has_token"] is True


@pytest.mark.slow
def test_the_private_ray_refuses_a_local_process_without_its_token(short_tmp):
    """Token auth with a fresh token for the run, even where the user's environment says RAY_AUTH_MODE=disabled."""
    with private_driver(short_tmp, RAY_AUTH_MODE="disabled", RAY_ADDRESS=None) as info:
        assert info["mode"] == "token" and len(info["token"]) == 64 and int(info["token"], 16) >= 0
        assert info["worker_has_token"] is True, "the workers inherit it"
        anonymous = _join(info["gcs"])
        assert anonymous.returncode != 0 and "JOINED" not in anonymous.stdout
        assert "InvalidAuthToken" in anonymous.stderr, anonymous.stderr[-2000:]
        guessed = _join(info["gcs"], RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
        assert guessed.returncode != 0 and "InvalidAuthToken" in guessed.stderr, guessed.stderr[-2000:]
        member = _join(info["gcs"], RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=info["token"])
        assert member.returncode == 0 and "JOINED 1.0" in member.stdout, member.stderr[-2000:]
    leaked = [p for p in short_tmp.rglob("*") if p.is_file() and info["token"].encode() in p.read_bytes()]
    assert not leaked and not (short_tmp / "home" / ".ray").exists(), "the token is never written to disk"
