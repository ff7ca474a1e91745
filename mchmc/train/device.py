"""Where training runs: ``train.device`` / ``mchmc train --device``.

    auto     cuda (its first device) when this torch sees a CUDA GPU, else cpu
    cpu      the CPU (the reference path: bit-identical to training before devices existed)
    cuda     cuda:0;  cuda:N  the N-th CUDA device

``auto`` is the default so that the `paper` config, practical only on a GPU,
uses one where there is one, while on a machine without CUDA ``auto`` *is*
``cpu`` and every run stays bit-for-bit what it was. The device a run used is
resolved once per stage and recorded (the CLI's header line, the stage's
``done.json``, the model's provenance), so a run is never silent about it.

The device is *where* a run trains, not *what* it trains: a run dir's identity
and the retraining source key leave it out (:func:`mchmc.train.config_toml.run_identity`),
so a run started on the CPU may be continued on a GPU. Only a resume on the
same device is bit-exact (CUDA kernels sum in another order).

The syntax check is free of torch, so a config loads instantly; only
:func:`resolve_device` imports it.
"""
from __future__ import annotations

import re

from mchmc.errors import MchmcError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")
_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


class DeviceError(MchmcError, ValueError):
    """A device name that is not one of :data:`DEVICE_CHOICES`, or one this machine lacks."""


def check_device(name: str) -> str:
    """``name`` if it is a device spelling we know, else a one-line :class:`DeviceError`."""
    if not isinstance(name, str) or not _PATTERN.fullmatch(name):
        raise DeviceError(f"must be one of {', '.join(DEVICE_CHOICES)}, not {name!r}")
    return name


def resolve_device(name: str) -> str:
    """``auto`` -> ``cuda:0`` or ``cpu``; ``cuda`` -> ``cuda:0``; a CUDA device this machine lacks is a
    one-line :class:`DeviceError` (before any work, not a CUDA stack trace half-way through)."""
    check_device(name)
    if name == "cpu":
        return "cpu"
    import torch

    if name == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    index = int(name.partition(":")[2] or 0)
    if not torch.cuda.is_available():
        raise DeviceError(f"{name} asked for, but this torch ({torch.__version__}) sees no CUDA GPU; "
                          "use --device cpu or auto")
    count = torch.cuda.device_count()
    if index >= count:
        raise DeviceError(f"{name} asked for, but this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
    return f"cuda:{index}"


def device_words(device: str) -> str:
    """``cpu`` or ``cuda:0 (NVIDIA H200)``: what a header line and a provenance record say."""
    if not device.startswith("cuda"):
        return device
    import torch

    return f"{device} ({torch.cuda.get_device_name(device)})"
