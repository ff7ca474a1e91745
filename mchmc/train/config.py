"""Experiment configs: TOML files in ``configs/`` loaded into typed, frozen dataclasses.

    cfg = load_config("cpu")                          # configs/cpu.toml (or a path)
    cfg = load_config("smoke", {"data.root": "/tmp/imgs", "phase1.steps": 10})

Every key is checked: an unknown section or key, a wrong type or an
out-of-range value raises :class:`ConfigError` naming the file and the key.
``dump_config(cfg)`` writes the resolved config back as TOML (what a run
directory keeps as ``config.toml``; loading it gives an equal config).

Relative paths in ``data.root`` are resolved against the repository root (the
folder above ``configs/``), so the default ``../shared/datasets`` works from any
working directory; ``$MCHMC_DATA_ROOT`` overrides it.
"""
from __future__ import annotations

import os
import tomllib
import typing
from dataclasses import fields, is_dataclass
from pathlib import Path

from mchmc.train.config_schema import PACKAGE_DIR, REPO_ROOT, Config, ConfigError, check_values
from mchmc.train.config_toml import config_to_dict

# configs/ at the top of a checkout; a wheel carries the same files as mchmc/configs/
CONFIG_DIR = REPO_ROOT / "configs" if (REPO_ROOT / "configs").is_dir() else PACKAGE_DIR / "configs"


# ---------------------------------------------------------------- parsing

def _convert(value, tp, key: str):
    """Check/convert a TOML value to the annotated type ``tp``."""
    origin = typing.get_origin(tp)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(f"{key}: expected a list of {len(args)} values, got {value!r}")
        return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        kt, vt = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table, got {value!r}")
        return {_convert(k, kt, key): _convert(v, vt, f"{key}.{k}") for k, v in value.items()}
    raise ConfigError(f"{key}: unsupported type {tp}")  # pragma: no cover


def _build(cls, raw: dict, prefix: str):
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a table, got {raw!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        where = f"[{prefix}]" if prefix else "top level"
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} in {where}; known: {', '.join(known)}")
    kwargs = {}
    for name, value in raw.items():
        tp, key = hints[name], f"{prefix}.{name}" if prefix else name
        kwargs[name] = _build(tp, value, key) if is_dataclass(tp) else _convert(value, tp, key)
    obj = cls(**kwargs)
    check_values(obj, prefix)
    return obj



def config_from_dict(raw: dict, source: str = "config") -> Config:
    try:
        return _build(Config, raw, "")
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def config_path(name_or_path: str | os.PathLike) -> Path:
    """A config name (``configs/<name>.toml``) or a path to a TOML file."""
    p = Path(name_or_path).expanduser()
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise ConfigError(f"{p}: no such config file")
        return p
    cand = CONFIG_DIR / f"{name_or_path}.toml"
    if not cand.is_file():
        known = ", ".join(sorted(c.stem for c in CONFIG_DIR.glob("*.toml"))) or "none"
        raise ConfigError(f"no config named {str(name_or_path)!r} (known: {known}; or give a .toml path)")
    return cand


def set_dotted(raw: dict, key: str, value) -> None:
    parts = key.split(".")
    d = raw
    for p in parts[:-1]:
        d = d.setdefault(p, {})
        if not isinstance(d, dict):
            raise ConfigError(f"override {key}: {p} is not a table")
    d[parts[-1]] = value


def load_config(name_or_path: str | os.PathLike, overrides: dict | None = None) -> Config:
    """Load a TOML config by name or path, apply ``{"section.key": value}`` overrides, validate."""
    path = config_path(name_or_path)
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from None
    raw.setdefault("name", path.stem)
    for k, v in (overrides or {}).items():
        set_dotted(raw, k, v)
    return config_from_dict(raw, str(path))


def with_overrides(cfg: Config, overrides: dict) -> Config:
    raw = config_to_dict(cfg)
    for k, v in overrides.items():
        set_dotted(raw, k, v)
    return config_from_dict(raw, f"config {cfg.name!r}")
