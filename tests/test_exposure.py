"""Secure defaults: what counts as loopback, the one-line warnings for exposed Ray and Prefect
addresses, that joining an exposed Ray cluster prints the warning before connecting, and that a
local run's private Ray gets a fresh token while a joined cluster keeps the user's auth settings."""
from __future__ import annotations

import os

import pytest

from mchmc.service_exposure import (
    host_of,
    is_loopback,
    prefect_exposure_warning,
    ray_exposure_warning,
)


@pytest.mark.parametrize("address, loopback", [
    ("127.0.0.1:6379", True), ("127.3.4.5:6379", True), ("localhost:6379", True), ("[::1]:6379", True),
    ("ray://127.0.0.1:10001", True), ("http://127.0.0.1:4200/api", True), ("127.0.0.1", True),
    ("10.0.0.5:6379", False), ("0.0.0.0:6379", False), ("ray-head:6379", False), ("[2001:db8::1]:6379", False),
    ("https://prefect.example.org/api", False), ("ray://10.0.0.5:10001", False),
])
def test_loopback_addresses(address, loopback):
    assert is_loopback(address) is loopback


def test_hosts_are_parsed_from_every_address_form():
    assert host_of("ray-head:6379") == "ray-head"
    assert host_of("[::1]:6379") == "::1"
    assert host_of("http://Prefect.Example.org:4200/api") == "prefect.example.org"


def test_an_exposed_ray_address_warns_about_its_missing_authentication_in_one_line():
    assert ray_exposure_warning("127.0.0.1:6379", {}) is None and ray_exposure_warning(None, {}) is None
    text = ray_exposure_warning("10.0.0.5:6379", {"RAY_AUTH_MODE": "disabled"})
    assert "10.0.0.5:6379" in text and "no authentication" in text and "ShadowRay" in text
    assert "RAY_AUTH_MODE=token" in text and "\n" not in text
    with_token = ray_exposure_warning("ray-head:6379", {"RAY_AUTH_MODE": "token"})
    assert "token authentication is on" in with_token and "not encrypted" in with_token


def test_an_exposed_prefect_api_without_an_auth_string_warns():
    assert prefect_exposure_warning("http://127.0.0.1:4200/api", {}) is None
    assert prefect_exposure_warning("http://prefect-server:4200/api", {"PREFECT_API_AUTH_STRING": "u:p"}) is None
    text = prefect_exposure_warning("http://10.0.0.5:4200/api", {})
    assert "not on loopback" in text and "PREFECT_API_AUTH_STRING" in text and "\n" not in text


def test_joining_an_exposed_ray_cluster_prints_the_warning_before_connecting(monkeypatch, capsys):
    """pool.connect, which every upscale / classify goes through (no cluster is contacted here)."""
    import ray

    from mchmc.batch.pool import ray_local as pool

    class Refused(Exception):
        pass

    def fake_init(**kwargs):
        raise Refused(kwargs.get("address"))

    from ray._private import ray_constants

    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", ray_constants.ENABLE_RAY_CLUSTER)  # restored after
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", fake_init)
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    with pytest.raises(Refused, match="10.0.0.5:6379"):
        pool.connect("10.0.0.5:6379")
    err = capsys.readouterr().err
    assert err.startswith("warning: Ray at 10.0.0.5:6379 is not on loopback") and err.count("\n") == 1
    assert ray_constants.ENABLE_RAY_CLUSTER is True, "a remote cluster must reach this driver on a routable IP"
    with pytest.raises(Refused):
        pool.connect("127.0.0.1:6379")
    assert capsys.readouterr().err == "" and ray_constants.ENABLE_RAY_CLUSTER is False


def test_a_local_run_gets_a_private_token_and_joining_a_cluster_gets_the_users_auth_back(monkeypatch, capsys):
    """pool.connect without an address: a new cluster ("local": RAY_ADDRESS and ray_current_cluster are
    never followed) with token auth and a fresh token; with an address, the user's settings as they were."""
    import ray
    from ray._private import ray_constants

    from mchmc.batch.pool import ray_local as pool

    seen = []

    def fake_init(**kwargs):
        seen.append((kwargs, {k: os.environ.get(k) for k in (*pool.AUTH_ENV, "RAY_ADDRESS")}))

    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", ray_constants.ENABLE_RAY_CLUSTER)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", fake_init)
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 1.0})
    monkeypatch.setattr(pool, "_user_auth", None)
    user = {"RAY_AUTH_MODE": "disabled", "RAY_AUTH_TOKEN_PATH": "/home/u/.ray/token", "RAY_ADDRESS": "10.9.9.9:6379"}
    for key, value in user.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)

    pool.connect(num_cpus=1)
    pool.connect(num_cpus=1)  # a second run in this process: a new token
    (first, env1), (second, env2) = seen
    assert first["address"] == "local" and first["num_cpus"] == 1
    assert env1["RAY_AUTH_MODE"] == "token" and len(env1["RAY_AUTH_TOKEN"]) == 64 and int(env1["RAY_AUTH_TOKEN"], 16)
    assert env1["RAY_AUTH_TOKEN_PATH"] is None and env1["RAY_ADDRESS"] is None
    assert env2["RAY_AUTH_TOKEN"] != env1["RAY_AUTH_TOKEN"]

    pool.connect("127.0.0.1:6379")  # the user's own cluster: their auth config, not the private token
    kwargs, env3 = seen[-1]
    assert kwargs["address"] == "127.0.0.1:6379"
    assert env3 == {"RAY_AUTH_MODE": "disabled", "RAY_AUTH_TOKEN": None, "RAY_AUTH_TOKEN_PATH": "/home/u/.ray/token",
                    "RAY_ADDRESS": None}, "RAY_ADDRESS stays dropped: a stray one is never followed"
    assert capsys.readouterr().err == ""
