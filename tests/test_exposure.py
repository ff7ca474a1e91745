"""Secure defaults: what counts as loopback, the one-line warnings for exposed Ray and Prefect
addresses, and that joining an exposed Ray cluster prints the warning before connecting."""
from __future__ import annotations

import pytest

from mchmc.exposure import host_of, is_loopback, prefect_exposure_warning, ray_exposure_warning


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

    from mchmc import pool

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
