"""Real Prefect and Ray services for tests, started and stopped by PID.

Each service runs in its own session (process group) so that stopping it
reaches every process it spawned and nothing else: never ``ray stop``, which
stops every Ray process on the machine. A Ray head gets its own short temp dir
(Unix socket paths are limited to ~107 bytes); processes that left the group
are still found by that unique dir in their command line.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent  # the venv's bin: prefect, ray, mchmc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def stop_group(proc: subprocess.Popen, grace: float = 10.0, sig: int = signal.SIGTERM) -> None:
    """Signal the process group we started, wait, then SIGKILL whatever of it is left."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def pids_mentioning(marker: str) -> list[int]:
    """Processes whose command line contains ``marker`` (a temp dir only our processes know)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@dataclass
class PrefectServer:
    proc: subprocess.Popen
    url: str  # http://127.0.0.1:<port>/api
    home: Path
    log: Path

    @classmethod
    def start(cls, root: Path, timeout: float = 180.0) -> "PrefectServer":
        port, home = free_port(), root / "prefect-home"
        home.mkdir(parents=True)
        env = dict(os.environ, PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
                   PREFECT_LOGGING_LEVEL="WARNING")
        env.pop("PREFECT_API_URL", None)
        log = root / "prefect-server.log"
        proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}/api"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"prefect server exited ({proc.returncode}): {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return cls(proc, url, home, log)
            except OSError:
                time.sleep(0.5)
        stop_group(proc)
        raise RuntimeError(f"prefect server not healthy after {timeout:.0f} s: {log.read_text()[-2000:]}")

    def stop(self) -> None:
        stop_group(self.proc, grace=20)


@dataclass
class RayHead:
    proc: subprocess.Popen
    address: str  # 127.0.0.1:<port>
    temp_dir: Path
    env: dict  # what a client needs (token auth)

    @classmethod
    def start(cls, num_cpus: int = 2, timeout: float = 120.0, token: str | None = None) -> "RayHead":
        ports: set[int] = set()
        while len(ports) < 5:  # distinct: Ray refuses two components on one port (its agent's default is 52365)
            ports.add(free_port())
        port, dash, agent_http, agent_grpc, metrics = list(ports)
        temp_dir = Path(tempfile.mkdtemp(prefix="mr", dir="/tmp"))
        client_env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token} if token else {"RAY_AUTH_MODE": "disabled"}
        env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0", **client_env)
        log = temp_dir / "head.log"
        cmd = [str(BIN / "ray"), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
               "--num-cpus", str(num_cpus), "--num-gpus", "0", "--include-dashboard=false", "--dashboard-port", str(dash),
               "--dashboard-agent-listen-port", str(agent_http), "--dashboard-agent-grpc-port", str(agent_grpc),
               "--metrics-export-port", str(metrics),
               "--temp-dir", str(temp_dir), "--disable-usage-stats", "--block"]
        proc = subprocess.Popen(cmd, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
        head = cls(proc, f"127.0.0.1:{port}", temp_dir, client_env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                text = log.read_text()[-2000:]
                head.stop()
                raise RuntimeError(f"ray start exited ({proc.returncode}): {text}")
            if listening(port) and "Ray runtime started" in log.read_text(errors="replace"):
                return head
            time.sleep(0.5)
        head.stop()
        raise RuntimeError(f"ray head not up after {timeout:.0f} s")

    def session_logs(self) -> Path:
        return next(self.temp_dir.glob("session_2*")) / "logs"

    def stop(self) -> None:
        """SIGTERM makes Ray drain for up to 30 s; 5 s is plenty for an idle test head."""
        stop_group(self.proc, grace=5)
        for pid in pids_mentioning(str(self.temp_dir)):  # a worker that left the process group
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.temp_dir, ignore_errors=True)
