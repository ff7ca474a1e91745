"""docker-compose.yml, the Dockerfile and the image's entry point, read as data (no Docker needed):
the services a cluster needs, each with a healthcheck, the shared volumes, ports on loopback only,
no credentials in the repository."""
from __future__ import annotations

import os
import re
import subprocess

import pytest
import yaml

from conftest import ROOT

INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?:(:?[-?])([^}]*))?\}")
SECRET_KEY = re.compile(r"PASSWORD|TOKEN|AUTH_STRING|SECRET", re.I)


def defaults(text: str) -> str:
    """What compose makes of ``${VAR:-default}`` with nothing set (required ``${VAR:?}`` -> '<VAR>')."""
    return INTERPOLATION.sub(lambda m: m.group(3) if m.group(2) in (":-", "-") else f"<{m.group(1)}>", text)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def services(compose, profile: str | None = None) -> dict:
    return {n: s for n, s in compose["services"].items() if profile is None or profile in s.get("profiles", [])}


def env_of(service: dict) -> dict:
    env = service.get("environment", {})
    return dict(item.split("=", 1) for item in env) if isinstance(env, list) else env


def test_the_cluster_services_are_all_there(compose):
    names = set(compose["services"])
    assert {"postgres", "prefect-server", "ray-head", "ray-worker", "ray-worker-gpu", "mchmc",
            "retrain-scheduler"} <= names
    default = {n for n, s in compose["services"].items() if not s.get("profiles")}
    assert default == {"postgres", "prefect-server", "ray-head", "ray-worker"}, "`docker compose up` starts these"


def test_prefect_runs_on_postgres(compose):
    server = compose["services"]["prefect-server"]
    assert server["image"].startswith("prefecthq/prefect:3.9")
    assert env_of(server)["PREFECT_API_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://")
    assert "@postgres:5432/" in env_of(server)["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert server["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert compose["services"]["postgres"]["image"].startswith("postgres:")


def test_ray_nodes_and_the_cli_run_the_mchmc_image_and_find_each_other(compose):
    s = compose["services"]
    for name in ("ray-head", "ray-worker", "ray-worker-gpu", "mchmc", "retrain-scheduler"):
        assert defaults(s[name]["image"]).startswith("mchmc:"), name
        assert s[name]["build"]["context"] == "."
    assert "--head" in s["ray-head"]["command"] and "--block" in s["ray-head"]["command"]
    for worker in ("ray-worker", "ray-worker-gpu"):
        assert "--address=ray-head:6379" in s[worker]["command"]
        assert s[worker]["depends_on"]["ray-head"]["condition"] == "service_healthy"
    cli = env_of(s["mchmc"])
    assert cli["PREFECT_API_URL"] == "http://prefect-server:4200/api" and cli["MCHMC_RAY_ADDRESS"] == "ray-head:6379"
    assert env_of(s["retrain-scheduler"])["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert s["retrain-scheduler"]["command"][:2] == ["schedule", "retrain"]


def test_gpu_workers_reserve_nvidia_devices_behind_a_profile(compose):
    gpu = compose["services"]["ray-worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    device = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert defaults(str(device["count"])) == "1"
    assert "cu" in defaults(gpu["build"]["args"]["TORCH_INDEX_URL"]), "a CUDA torch build"
    assert any(a.startswith("--num-gpus=") for a in gpu["command"])


def test_workers_and_the_cli_share_the_archive_and_model_volumes(compose):
    for name in ("ray-head", "ray-worker", "ray-worker-gpu", "mchmc"):
        targets = {defaults(v).split(":")[1] for v in compose["services"][name]["volumes"]}
        assert {"/archive", "/models"} <= targets, name
    sched = {defaults(v).split(":")[1] for v in compose["services"]["retrain-scheduler"]["volumes"]}
    assert {"/models", "/data", "/cache"} <= sched
    assert {"prefect-db", "patch-cache"} <= set(compose["volumes"])


def test_every_long_running_service_has_a_healthcheck(compose):
    for name, svc in compose["services"].items():
        check = svc.get("healthcheck", {})
        if name == "mchmc":
            assert check.get("disable") is True, "the one-shot CLI has none, explicitly"
            continue
        assert check.get("test") and check["test"][0] in ("CMD", "CMD-SHELL"), name


def test_published_ports_bind_loopback_only(compose):
    published = []
    for name, svc in compose["services"].items():
        for port in svc.get("ports", []):
            host_ip = port.get("host_ip") if isinstance(port, dict) else defaults(str(port)).split(":")[0]
            published.append((name, host_ip))
    assert published, "the Prefect UI is published"
    assert all(ip == "127.0.0.1" for _, ip in published), published
    assert not services(compose)["ray-head"].get("ports"), "Ray's ports never leave the compose network"


def test_no_credentials_in_the_repository(compose):
    """Every secret comes from .env as a required variable (``${VAR:?...}``): no literal, no default."""
    for name, svc in compose["services"].items():
        for key, value in env_of(svc).items():
            for m in INTERPOLATION.finditer(str(value)):
                if SECRET_KEY.search(m.group(1)):
                    assert m.group(2) == ":?", f"{name}.{key}: ${{{m.group(1)}}} must be required, with no default"
            literal = INTERPOLATION.sub("", str(value))
            if SECRET_KEY.search(key):
                assert literal == "", f"{name}.{key} holds a literal secret"
            assert not re.search(r"://[^/@]*:[^/@]+@", literal), f"{name}.{key}: password in a URL"
    example = dict(ln.split("=", 1) for ln in (ROOT / ".env.example").read_text().splitlines()
                   if ln.strip() and not ln.startswith("#"))
    secrets = {k: v for k, v in example.items() if SECRET_KEY.search(k)}
    assert secrets == {"POSTGRES_PASSWORD": "", "PREFECT_AUTH_STRING": "", "RAY_AUTH_TOKEN": ""}, "left to fill in"
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in (ROOT / ".dockerignore").read_text().splitlines(), "never baked into the image"


def test_ray_requires_a_token_on_every_node_and_client(compose):
    for name in ("ray-head", "ray-worker", "ray-worker-gpu", "mchmc"):
        env = env_of(compose["services"][name])
        assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN"].startswith("${RAY_AUTH_TOKEN:?"), name
    assert env_of(compose["services"]["prefect-server"])["PREFECT_SERVER_API_AUTH_STRING"].startswith(
        "${PREFECT_AUTH_STRING:?")


def test_dockerfile_runs_as_a_user_and_pins_torch_and_python():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", text, re.M)
    assert re.search(r"^USER (?!root)\w+", text, re.M), "not root"
    assert "torch==${TORCH_VERSION}" in text and "ARG TORCH_VERSION=2.13.0" in text
    assert 'ENTRYPOINT ["mchmc-entrypoint"]' in text


@pytest.fixture
def stub_bin(tmp_path):
    """`mchmc` and `ray` stand-ins that record their arguments, one call per line."""
    calls = tmp_path / "calls"
    for tool in ("mchmc", "ray"):
        stub = tmp_path / "bin" / tool
        stub.parent.mkdir(exist_ok=True)
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\n')
        stub.chmod(0o755)
    return tmp_path / "bin", calls


def entrypoint(stub_bin, *args: str, **env: str) -> list[str]:
    bin_dir, calls = stub_bin
    full = {"PATH": f"{bin_dir}:{os.environ['PATH']}", **env}
    subprocess.run(["sh", str(ROOT / "docker" / "entrypoint.sh"), *args], env=full, check=True, timeout=30)
    lines = calls.read_text().splitlines()
    calls.unlink()
    return lines


def test_the_image_points_upscale_at_the_cluster_from_a_ray_node(stub_bin):
    got = entrypoint(stub_bin, "upscale", "/archive/a", "--out", "/archive/b", MCHMC_RAY_ADDRESS="ray-head:6379")
    assert got == ["ray start --address=ray-head:6379 --num-cpus=0 --num-gpus=0 --disable-usage-stats",
                   "mchmc upscale --ray-address ray-head:6379 /archive/a --out /archive/b"]
    assert entrypoint(stub_bin, "classify", "/archive/a", "--ray-address", "other:1",
                      MCHMC_RAY_ADDRESS="ray-head:6379") == ["mchmc classify /archive/a --ray-address other:1"]
    assert entrypoint(stub_bin, "schedule", "list", MCHMC_RAY_ADDRESS="ray-head:6379") == ["mchmc schedule list"]
    assert entrypoint(stub_bin, "upscale", "/a", "--out", "/b") == ["mchmc upscale /a --out /b"], "no cluster set"
