"""Arithmetic precisions of inference and training, and which one ``auto`` means
on a device. Free of torch at import, so option checks stay instant."""
from __future__ import annotations

PRECISIONS = ("fp32", "bf16")
PRECISION_CHOICES = ("auto", *PRECISIONS)  # auto: bf16 where the device computes it natively, else fp32


def native_bf16(device: object = "cpu") -> bool:
    """Whether ``device`` computes bf16 natively. On a CPU without AVX512-BF16 or
    AMX, oneDNN emulates it and bf16 runs ~9x *slower* than fp32 (measured on an
    AVX2-only CPU: 0.15 against 1.23 LR MP/s); with them it runs 1.8-1.9x faster
    (bench/engine.py on this project's CPU machines)."""
    if str(device).startswith("cuda"):
        import torch

        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((ln for ln in f if ln.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: object = "cpu") -> str:
    """``auto`` -> ``bf16`` where native on ``device``, else ``fp32``; others unchanged."""
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision
