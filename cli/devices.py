"""``--gpus`` and ``--network-device``: which devices run the network, checked before any work.

``--gpus N`` asks for N GPUs (any); ``--gpus 0,2`` for those device ids (as ``nvidia-smi`` and
torch number the visible devices; one id: ``--gpus 2,``), the way waifu2x front-ends pick
devices. With GPUs the pipeline is split (:mod:`mchmc.batch.pool.netpool`): one network service per
GPU, and CPU codec workers, one per core by default, since the codecs are the work and a GPU
service needs no core of its own. ``--gpus N --cpus 0`` keeps the design before issue 18: N GPU
workers that each read, convert, upscale and write whole pages on one core (compose files and
scripts written for it still run; the split pipeline is the faster use of a GPU).

``--network-device cpu`` (or ``MCHMC_NETWORK_DEVICE=cpu``) runs the same split pipeline with one
network service on the CPU: the GPU path's code, scheduling and wire format, checkable on any
machine (CI). Without GPUs or that option the network runs inside each CPU worker, as it
always has.
"""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Devices:
    gpus: int = 0  # GPUs used, one network service each
    ids: tuple[int, ...] | None = None  # which (torch's numbering of the visible devices); None: any
    network: str | None = None  # None: in the CPU workers; "cuda": GPU services; "cpu": the CPU stand-in

    def default_cpus(self) -> int:
        """Codec workers when --cpus is not given: a core each, less the CPU stand-in's core."""
        cores = os.cpu_count() or 1
        return max(1, cores - 1) if self.network == "cpu" else cores

    def visible(self) -> str | None:
        """CUDA_VISIBLE_DEVICES for a private local Ray that must see exactly ``ids`` (it numbers
        what it sees from 0), mapped through the user's own CUDA_VISIBLE_DEVICES if set."""
        if self.ids is None:
            return None
        seen = os.environ.get("CUDA_VISIBLE_DEVICES")
        names = [s.strip() for s in seen.split(",")] if seen else [str(i) for i in range(max(self.ids) + 1)]
        return ",".join(names[i] for i in self.ids)


def local_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def parse_gpus(value) -> tuple[int, tuple[int, ...] | None]:
    """``"2"`` -> (2, None); ``"0,2"`` -> (2, (0, 2)); ``"3,"`` -> (1, (3,)). ValueError: one line."""
    text = str(value).strip()
    if "," not in text:
        try:
            n = int(text)
        except ValueError:
            raise ValueError(f"--gpus {text}: give a count (2) or device ids (0,2)") from None
        if n < 0:
            raise ValueError("--gpus and --cpus must be >= 0")
        return n, None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise ValueError(f"--gpus {text}: device ids are integers >= 0, comma-separated (0,2)")
    ids = tuple(int(p) for p in parts)
    if len(set(ids)) != len(ids):
        raise ValueError(f"--gpus {text}: a device id is given twice")
    return len(ids), ids


def resolve(gpus, network_device: str | None, ray_address: str | None, have_gpus, cpus: int | None = None) -> Devices:
    """The devices of a run, or ValueError (one line). ``have_gpus()``: this machine's usable GPUs
    (asked only for a local run that wants some). ``cpus=0`` with GPUs: whole-page GPU workers."""
    count, ids = parse_gpus(gpus)
    choice = (network_device or os.environ.get("MCHMC_NETWORK_DEVICE") or "auto").strip().lower()
    if choice not in ("auto", "cpu"):
        raise ValueError(f"--network-device must be auto or cpu, not {choice!r}")
    if choice == "cpu" and count:
        raise ValueError("--network-device cpu is the CPU stand-in of the GPU path: give it without --gpus")
    if ids is not None and ray_address:
        raise ValueError(f"--gpus {gpus}: device ids pick GPUs of this machine; on a cluster give a count")
    if count and not ray_address:
        have = have_gpus()
        if count > have:  # Ray would otherwise wait forever for a GPU actor
            raise ValueError(f"--gpus {gpus} requested but this machine has {have} usable GPU(s); "
                             "use fewer, or --ray-address to join a cluster that has them")
        if ids is not None and max(ids) >= have:
            raise ValueError(f"--gpus {gpus}: no device {max(ids)}; this machine has {have} usable GPU(s) "
                             f"(ids 0..{have - 1})")
    if count and cpus == 0:  # no codec workers: the GPU workers do whole pages (the design before issue 18)
        return Devices(count, ids, None)
    return Devices(count, ids, "cuda" if count else "cpu" if choice == "cpu" else None)
