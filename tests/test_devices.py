"""``--gpus`` as a count or as device ids, and ``--network-device``: checked before any work."""
from __future__ import annotations

import pytest
from test_upscale_cli import mchmc

from mchmc.cli.devices import Devices, parse_gpus, resolve


def four():
    return 4


@pytest.mark.parametrize("value, want", [("0", (0, None)), ("2", (2, None)), (3, (3, None)),
                                          ("0,2", (2, (0, 2))), ("3,", (1, (3,))), (" 1, 0 ", (2, (1, 0)))])
def test_gpus_is_a_count_or_comma_separated_ids(value, want):
    assert parse_gpus(value) == want


@pytest.mark.parametrize("value, message", [("-1", ">= 0"), ("two", "a count"), ("0,x", "integers"),
                                            ("1,1", "twice"), (",", "integers")])
def test_bad_gpus_values_are_one_line(value, message):
    with pytest.raises(ValueError, match=message):
        parse_gpus(value)


def test_devices_of_a_run(monkeypatch):
    monkeypatch.delenv("MCHMC_NETWORK_DEVICE", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert resolve("0", None, None, four) == Devices(0, None, None)  # the network in the CPU workers
    assert resolve("2", None, None, four) == Devices(2, None, "cuda")
    assert resolve("2", None, None, four, cpus=0) == Devices(2, None, None)  # --cpus 0: whole-page GPU workers
    assert resolve("0,3", None, None, four).visible() == "0,3"
    assert resolve("0", "cpu", None, four) == Devices(0, None, "cpu")
    monkeypatch.setenv("MCHMC_NETWORK_DEVICE", "cpu")
    assert resolve("0", None, None, four).network == "cpu"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")  # ids count within what the user made visible
    assert resolve("1,3", "auto", None, four).visible() == "5,7"


@pytest.mark.parametrize("gpus, device, address, message", [
    ("5", None, None, "--gpus 5 requested but this machine has 4 usable GPU"),
    ("0,4", None, None, "no device 4"),
    ("0,1", None, "10.0.0.1:6379", "on a cluster give a count"),
    ("1", "cpu", None, "without --gpus"),
    ("0", "tpu", None, "auto or cpu"),
])
def test_impossible_device_choices_fail_with_one_line(gpus, device, address, message):
    with pytest.raises(ValueError, match=message):
        resolve(gpus, device, address, four)


def test_device_ids_the_machine_lacks_stop_the_command_before_any_work(tmp_path):
    (tmp_path / "scans").mkdir()
    res = mchmc("upscale", str(tmp_path / "scans"), "--out", str(tmp_path / "o"), "--gpus", "0,2",
                env={**__import__("os").environ, "CUDA_VISIBLE_DEVICES": ""})
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1 and "--gpus 0,2" in lines[0] and "0 usable GPU" in lines[0]
    assert not (tmp_path / "o").exists()
