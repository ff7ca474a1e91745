"""A run leaves nothing behind and shows only its own words (issue 28, E19 and E20).

The real CLI runs in a session of its own, so every process it starts (Ray's GCS, raylet,
dashboard and runtime-env agents and workers; Prefect's temporary server) is found by its
session id, whatever it renamed itself to. After the run ends (normally, by kill -9, or by a
second Ctrl-C) none of them may still run: polled with a generous deadline, well short of the
minute and more that Ray's agents used to run on after their raylet. Ray's own log lines
(C++ warnings, ``(raylet)`` notices of a worker that died) never reach the user; our errors do."""
from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faults import KILL_NETWORK as FAULT_ENV

pytestmark = pytest.mark.slow

RAW_RAY = re.compile(r"\(raylet\)|\(pid=|\(\w+ pid=|core_worker|\.cc:\d+\]|^\[\d{4}-\d\d-\d\d |ray\.exceptions|Traceback")
DEADLINE = 30.0  # s for the last process of a run to go: the reaper takes about one


def pages(folder: Path, n: int, size: int = 48) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"p{i:02d}.png")
    return folder


def start(*args, **env) -> subprocess.Popen:
    """The real CLI in its own session (its id is the process's pid), output unbuffered."""
    return subprocess.Popen([sys.executable, "-m", "mchmc.cli.app", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1", **env))


def session(sid: int) -> dict[int, str]:
    """The live processes of session ``sid`` (zombies are dead): pid -> name."""
    found = {}
    for p in Path("/proc").iterdir():
        try:
            stat = (p / "stat").read_text()
        except (OSError, ValueError):
            continue
        name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        if int(rest[3]) == sid and rest[0] != "Z":
            found[int(p.name)] = name
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def survivors(sid: int) -> dict[int, str]:
    deadline = time.monotonic() + DEADLINE
    while session(sid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return session(sid)


def wait_for_line(proc: subprocess.Popen, start_of_line: str, timeout: float = 300) -> list[str]:
    """stdout's lines up to the first that starts with ``start_of_line``."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 1.0)[0]:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if line.startswith(start_of_line):
                return seen
    raise AssertionError(f"no {start_of_line!r} line: {''.join(seen)}")


@pytest.fixture(scope="module")
def split_run(tmp_path_factory):
    """A split-pipeline run (the CPU stand-in of the GPU path) with a bad page, whose network
    service dies once on its second request (Ray restarts it): ends normally, exit 1."""
    root = tmp_path_factory.mktemp("cleanup")
    src = pages(root / "src", 4)
    (src / "bad.png").write_bytes(b"not an image")
    proc = start("upscale", src, "--out", root / "out", "--cpus", "1", "--network-device", "cpu",
                 **{FAULT_ENV: str(root / "killed")})
    out, err = proc.communicate(timeout=600)
    return {"proc": proc, "out": out, "err": err, "root": root}


def test_a_run_shows_our_errors_and_no_raw_ray_lines(split_run):
    proc, out, err = split_run["proc"], split_run["out"], split_run["err"]
    assert (split_run["root"] / "killed").exists(), "the network service did die (and Ray said so in its logs)"
    assert proc.returncode == 1, out + err
    assert [ln for ln in err.splitlines() if ln.strip()] == [
        f"error: {split_run['root'] / 'src' / 'bad.png'}: not an image file (no PNG, JPEG, TIFF, WebP or BMP signature)"]
    raw = [ln for ln in (out + err).splitlines() if RAW_RAY.search(ln)]
    assert raw == [], raw
    assert len(list((split_run["root"] / "out").glob("p*.png"))) == 4


def test_after_a_run_ends_no_process_of_it_survives(split_run):
    assert survivors(split_run["proc"].pid) == {}


@pytest.mark.parametrize("how", ["kill -9", "Ctrl-C twice"])
def test_a_prefect_run_killed_takes_its_server_and_ray_with_it(tmp_path, how):
    """With --prefect the run starts Prefect's temporary API server: it goes with the run."""
    src = pages(tmp_path / "src", 40, 256)
    proc = start("upscale", src, "--out", tmp_path / "out", "--cpus", "1", "--prefect",
                 PREFECT_HOME=str(tmp_path / "prefect"))
    try:
        wait_for_line(proc, "start-up")  # Ray's workers and Prefect's server are up
        helpers = session(proc.pid)
        assert any("uvicorn" in command_line(pid) for pid in helpers), "Prefect's server runs in the session"
        if how == "kill -9":
            proc.kill()
        else:  # as a terminal sends it: to the whole foreground group
            os.killpg(proc.pid, signal.SIGINT)
            time.sleep(0.5)
            os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=120)  # not its output: a survivor would hold the pipes open
        assert survivors(proc.pid) == {}
    finally:
        for pid in session(proc.pid):  # a failed check leaves nothing behind either
            os.kill(pid, signal.SIGKILL)
        proc.stdout.close()
        proc.stderr.close()
