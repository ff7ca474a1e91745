"""A resolved config written back as TOML: what a run directory keeps as
``config.toml``; :func:`mchmc.train.config.config_from_dict` of it gives an equal config."""
from __future__ import annotations

import re
from dataclasses import MISSING, fields, is_dataclass

from mchmc.train.config_schema import Config


def config_to_dict(obj) -> dict:
    """The config as plain values; a field marked quiet (``config_schema.QUIET``) is left out at its default."""
    out = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        if f.metadata.get("quiet") and v == (f.default_factory() if f.default is MISSING else f.default):
            continue
        out[f.name] = config_to_dict(v) if is_dataclass(v) else (list(v) if isinstance(v, tuple) else
                                                                  dict(v) if isinstance(v, dict) else v)
    return out


# Where a run trains, not what it trains: a run dir continued elsewhere, or a retraining whose data and
# config are unchanged, is the same run whatever these say (and configs written before a key existed match).
WHERE_KEYS = {"train": ("device",)}
# Keys added after models were registered, with the value that means what configs without them meant:
# left out of the identity at that value, so those configs (and their retraining source keys) keep theirs.
LATER_KEYS = {"train": {"arch": "", "augment_d4": False},
              "data": {"rendered_pages": 0, "rendered_seed": 1000, "rendered_stride": 30,
                       "rendered_hold_out": "Condensed", "rendered_scans": True,
                       "rendered_category": True, "extra_folders": {}, "extra_reduce": {}, "extra_stride": 10}}


def run_identity(cfg: Config) -> dict:
    """The config as a dict without :data:`WHERE_KEYS` (and :data:`LATER_KEYS` at their defaults):
    what decides a run's result."""
    raw = config_to_dict(cfg)
    for section, keys in WHERE_KEYS.items():
        raw[section] = {k: v for k, v in raw[section].items() if k not in keys}
    for section, defaults in LATER_KEYS.items():
        raw[section] = {k: v for k, v in raw[section].items() if k not in defaults or v != defaults[k]}
    return raw


def _toml_key(k: str) -> str:
    """A bare key where TOML allows one (what configs always had), else quoted: an archive's category names
    are folder names in any script, with spaces (issue 29)."""
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _toml_value(k)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} as TOML")


def dump_config(cfg: Config) -> str:
    """The resolved config as TOML text (round-trips through :func:`config_from_dict`)."""
    raw = config_to_dict(cfg)
    lines = [f"{k} = {_toml_value(v)}" for k, v in raw.items() if not isinstance(v, dict)]
    for section, values in raw.items():
        if isinstance(values, dict) and section not in ("",):
            lines += ["", f"[{section}]"] + [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"
