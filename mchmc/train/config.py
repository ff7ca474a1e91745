"""Experiment configs: TOML files in ``configs/`` loaded into typed, frozen dataclasses
(:mod:`mchmc.train.config_schema`).

    cfg = load_config("cpu")                          # configs/cpu.toml (or a path)
    cfg = load_config("smoke", {"data.root": "/tmp/imgs", "phase1.steps": 10})

Every key is checked: an unknown section or key, a wrong type or an
out-of-range value raises :class:`ConfigError` naming the file and the key.
``dump_config(cfg)`` writes the resolved config back as TOML (what a run
directory keeps as ``config.toml``; loading it gives an equal config).

Inheritance: a file may say ``base = "best"`` (a shipped config's name, or a
path to a ``.toml`` file, relative to the file that names it) and state only
what differs. The base is resolved first (recursively; a cycle is refused),
then each section of the file replaces the base's keys one by one; a value
that is a table (``data.folders``, ``data.stride``, ...) replaces the base's
whole. ``name`` (default: the file's stem) and ``description`` describe one
file, so they are never inherited.

A run as a warm start: ``train.init_from`` may name a run instead of a path,
``init_from = {method = "SRforMC", fold = 1, config = "best"}`` (``runs``:
the runs folder, default ``runs``); it resolves to that run's final model,
``runs/SRforMC-fold1-best/model.pt`` (:mod:`mchmc.train.rundir`), so the
resolved config (and the run's identity) is what the path would give.

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

from mchmc.train.config_checks import check_values
from mchmc.train.config_schema import PACKAGE_DIR, REPO_ROOT, Config, ConfigError
from mchmc.train.config_toml import config_to_dict
from mchmc.train.rundir import model_path, run_dir

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
        if len(args) == 2 and args[1] is Ellipsis:  # tuple[X, ...]: a list of any length
            if not isinstance(value, (list, tuple)):
                raise ConfigError(f"{key}: expected a list, got {value!r}")
            return tuple(_convert(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
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
        return _build(Config, _named_run(raw), "")
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


RUN_KEYS = ("method", "fold", "config", "runs")


def _named_run(raw: dict) -> dict:
    """``raw`` with a ``train.init_from`` that names a run (a table) replaced by the path of its model."""
    train = raw.get("train")
    spec = train.get("init_from") if isinstance(train, dict) else None
    if not isinstance(spec, dict):
        return raw
    unknown = sorted(set(spec) - set(RUN_KEYS))
    missing = [k for k in ("method", "fold", "config") if k not in spec]
    if unknown or missing:
        raise ConfigError("train.init_from: a run is {method = ..., fold = ..., config = ...} (runs optional); "
                          + (f"unknown key(s) {', '.join(unknown)}" if unknown else f"missing {', '.join(missing)}"))
    fold = spec["fold"]
    if not (fold == "all" or isinstance(fold, int) and not isinstance(fold, bool) and fold >= 1):
        raise ConfigError(f"train.init_from.fold: a fold number or \"all\", not {fold!r}")
    for k in ("method", "config", "runs"):
        if k in spec and not isinstance(spec[k], str):
            raise ConfigError(f"train.init_from.{k}: expected a string, got {spec[k]!r}")
    d = run_dir(spec.get("runs", "runs"), spec["method"], None if fold == "all" else fold, spec["config"])
    return {**raw, "train": {**train, "init_from": model_path(d).as_posix()}}


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
    """Load a TOML config by name or path (its ``base`` first), apply ``{"section.key": value}`` overrides,
    validate."""
    path = config_path(name_or_path)
    raw = read_config(path)
    for k, v in (overrides or {}).items():
        set_dotted(raw, k, v)
    return config_from_dict(raw, str(path))


def read_config(path: Path, chain: tuple[Path, ...] = ()) -> dict:
    """The file's table with its ``base`` resolved (recursively), ``name`` defaulting to the file's stem."""
    chain = chain + (path.resolve(),)
    raw = _read_toml(path)
    base = raw.pop("base", None)
    if base is not None:
        base_path = _base_path(base, path)
        if base_path.resolve() in chain:
            cycle = " -> ".join(p.name for p in chain + (base_path.resolve(),))
            raise ConfigError(f"{path}: base cycle: {cycle}")
        inherited = read_config(base_path, chain)
        for k in ("name", "description"):  # they describe one file
            inherited.pop(k, None)
        raw = _merge(inherited, raw)
    raw.setdefault("name", path.stem)
    return raw


def _read_toml(path: Path) -> dict:
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from None
    _check_keys(raw, path)
    return raw


def _check_keys(raw: dict, path: Path) -> None:
    """Unknown sections and keys, named with the file they are in (a base's own, not the file naming it)."""
    known = {f.name: f for f in fields(Config)}
    hints = typing.get_type_hints(Config)
    unknown = sorted(set(raw) - set(known) - {"base"})
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)} in top level; known: base, {', '.join(known)}")
    for section, values in raw.items():
        tp = hints.get(section)
        if is_dataclass(tp) and isinstance(values, dict):
            names = [f.name for f in fields(tp)]
            bad = sorted(set(values) - set(names))
            if bad:
                raise ConfigError(f"{path}: unknown key(s) {', '.join(bad)} in [{section}]; known: {', '.join(names)}")


def _base_path(base, path: Path) -> Path:
    """A shipped config's name, or a path relative to the file that names it."""
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{path}: base: expected a config name or a .toml path, got {base!r}")
    if base.endswith(".toml") or "/" in base or os.sep in base:
        p = Path(base).expanduser()
        p = p if p.is_absolute() else path.parent / p
        if not p.is_file():
            raise ConfigError(f"{path}: base {base!r}: no such config file {p}")
        return p
    try:
        return config_path(base)
    except ConfigError as err:
        raise ConfigError(f"{path}: base {base!r}: {err}") from None


def _merge(base: dict, child: dict) -> dict:
    """``child`` over ``base``: a section's keys one by one, any other value (a table value too) whole."""
    out = dict(base)
    for k, v in child.items():
        out[k] = {**base[k], **v} if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def with_overrides(cfg: Config, overrides: dict) -> Config:
    raw = config_to_dict(cfg)
    for k, v in overrides.items():
        set_dotted(raw, k, v)
    return config_from_dict(raw, f"config {cfg.name!r}")
