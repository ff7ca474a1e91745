"""Helpers shared by the flows: config resolution, a progress hook, artifact formatting."""
from __future__ import annotations

import re
from collections.abc import Callable

_progress: Callable[[dict], None] | None = None


def set_progress(callback: Callable[[dict], None] | None) -> None:
    """Install a callback that training tasks in this process report steps to (the CLI's display)."""
    global _progress
    _progress = callback


def get_progress() -> Callable[[dict], None] | None:
    return _progress


def resolve(config: str, overrides: dict | None):
    from mchmc.train.config import load_config

    return load_config(config, overrides or {})


def artifact_key(*parts: object) -> str:
    """Prefect artifact keys: lowercase letters, digits and dashes only."""
    key = "-".join(str(p) for p in parts).lower()
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", key)).strip("-")


def fmt(v: object) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)
