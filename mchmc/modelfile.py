"""Model files: weights plus the config they need, loadable without executing code.

A model file is a ``torch.save`` of a plain dict that ``torch.load(...,
weights_only=True)`` reads (tensors, strings, ints only; no pickled classes):

    {"format": "mchmc-model", "version": 1,
     "config": "<json of MCHConfig>",          # architecture, scale, categories, ...
     "provenance": "<json>",                   # training run, data, steps, metrics
     "state_dict": {name: tensor}}

Shipped models live in ``mchmc/weights/<name>.pt`` and are found by name
(``resolve_model("srformc")``); anything else is a path: a model file, or a
versions folder (``models/SRforMC``, :mod:`mchmc.train.versions`), which means the
version its ``current.json`` points at. Every failure raises
:class:`ModelFileError` with a one-line "<file>: <reason>" message.

Nothing a file says is trusted before it is checked, so a small crafted file
cannot make the loader allocate gigabytes: the file's size and its zip records
are bounded before ``torch.load`` (records must be stored, as ``torch.save``
writes them: a compressed one could expand without limit), every config field
is checked for type and range, the shapes the config implies are computed on
the ``meta`` device (no memory) and the parameter count bounded, and the
state dict must match those shapes exactly, all before the model is built.
"""
from __future__ import annotations

import json
import math
import os
import pickle
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch

from mchmc.errors import ModelFileError
from mchmc.fsutil import atomic_write
from mchmc.model import ARCHITECTURES, MCH, MCHConfig
from mchmc.train.versions import VersionError, current_model_path, is_versions_folder

FORMAT, VERSION = "mchmc-model", 1
SHIPPED_DIR = Path(__file__).parent / "weights"
DEFAULT_MODEL = "srformc"

# Bounds on what a model file may ask for. The shipped models have 63,271 parameters
# (250 KB); 100 M parameters (400 MB in fp32) is far beyond any MCH-family network
# trained here, yet bounded, so a config can never make the loader allocate gigabytes.
MAX_PARAMETERS = 100_000_000
MAX_FILE_BYTES = 4 * MAX_PARAMETERS + (16 << 20)  # the fp32 weights at the cap plus room for the rest
MAX_CONFIG_CHARS = 64 << 10  # the JSON config of MCHConfig is ~150 characters
MAX_PROVENANCE_CHARS = 16 << 20
# Per-field ranges, each far wider than any sensible MCH (paper: scale 2, 64/32 channels,
# 5/5/3 kernels, 256 hidden units, 3 categories).
SCALE_RANGE = (1, 8)
CHANNELS_RANGE = (1, 4096)
KERNEL_RANGE = (1, 31)  # odd only: the halo (sum of k // 2) assumes centred kernels
HIDDEN_RANGE = (1, 16384)
MAX_CATEGORIES, MAX_CATEGORY_CHARS = 64, 64
ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class ModelFile:
    """A loaded model and what its file says about it."""

    model: MCH
    path: Path
    provenance: dict = field(default_factory=dict)

    @property
    def config(self) -> MCHConfig:
        return self.model.config


def shipped_models() -> dict[str, Path]:
    """Names of the models inside the package -> their files."""
    return {p.stem: p for p in sorted(SHIPPED_DIR.glob("*.pt"))}


def resolve_model(name_or_path: str | os.PathLike | None = None) -> Path:
    """A shipped model's name (case-insensitive) or a file path -> the file's path."""
    key = str(name_or_path or DEFAULT_MODEL)
    shipped = shipped_models()
    if key.lower() in shipped:
        return shipped[key.lower()]
    path = Path(key).expanduser()
    if not path.exists():
        known = ", ".join(shipped) or "none installed"
        raise ModelFileError(path, f"no such model file or shipped model name (shipped: {known})")
    if is_versions_folder(path):
        try:
            return current_model_path(path)
        except VersionError as err:
            raise ModelFileError(path, str(err).removeprefix(f"{path}: ")) from None
    return path


def save_model(model: MCH, path: str | os.PathLike, provenance: dict | None = None) -> Path:
    """Write atomically (an owned temporary in the same folder, then rename; mode 0o666 less the umask)."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": json.dumps(asdict(model.config)),
        "provenance": json.dumps(provenance or {}, default=str),
        "state_dict": {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()},
    }
    with atomic_write(path) as tmp:
        torch.save(payload, tmp)
    return path


# ---------------------------------------------------------------- checking a config

def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_int(value: object) -> bool:
    return type(value) is int  # not bool, not float


def _int_field(lo: int, hi: int) -> Callable[[str, object], int]:
    def check(name: str, value: object) -> int:
        if not _is_int(value) or not lo <= value <= hi:
            raise ValueError(f"{name} must be an integer in {lo}..{hi}, got {_shown(value)}")
        return value
    return check


def _ints_field(n: int, lo: int, hi: int, odd: bool = False) -> Callable[[str, object], tuple[int, ...]]:
    what = f"{n} {'odd ' if odd else ''}integers in {lo}..{hi}"

    def check(name: str, value: object) -> tuple[int, ...]:
        if (not isinstance(value, list) or len(value) != n
                or not all(_is_int(v) and lo <= v <= hi and (v % 2 == 1 or not odd) for v in value)):
            raise ValueError(f"{name} must be {what}, got {_shown(value)}")
        return tuple(value)
    return check


def _arch_field(name: str, value: object) -> str:
    if not isinstance(value, str) or value not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {_shown(value)} (known: {', '.join(ARCHITECTURES)})")
    return value


def _categories_field(name: str, value: object) -> tuple[str, ...]:
    if (not isinstance(value, list) or len(value) > MAX_CATEGORIES or len(set(map(repr, value))) != len(value)
            or not all(isinstance(c, str) and 0 < len(c) <= MAX_CATEGORY_CHARS for c in value)):
        raise ValueError(f"{name} must be a list of at most {MAX_CATEGORIES} distinct names of 1..{MAX_CATEGORY_CHARS} "
                         f"characters, got {_shown(value)}")
    return tuple(value)


def _legacy_dropout(name: str, value: object) -> None:
    """Files written before 0.2 carry a ``dropout`` the model never read; checked, then ignored."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {_shown(value)}")


LEGACY_KEYS: dict[str, Callable[[str, object], None]] = {"dropout": _legacy_dropout}


# One check per MCHConfig field (a test keeps this complete): type, then range.
CONFIG_CHECKS: dict[str, Callable[[str, object], object]] = {
    "arch": _arch_field,
    "scale": _int_field(*SCALE_RANGE),
    "channels": _ints_field(2, *CHANNELS_RANGE),
    "kernels": _ints_field(3, *KERNEL_RANGE, odd=True),
    "categories": _categories_field,
    "hidden": _int_field(*HIDDEN_RANGE),
}


def _config_from_json(text: object) -> MCHConfig:
    """The config a file's JSON describes, every field checked; ValueError names the first bad one."""
    if not isinstance(text, str):
        raise ValueError(f"config is a {type(text).__name__}, not a JSON string")
    if len(text) > MAX_CONFIG_CHARS:
        raise ValueError(f"config is {len(text)} characters (limit {MAX_CONFIG_CHARS})")
    raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError(f"config is a JSON {type(raw).__name__}, not an object")
    known = {f.name for f in fields(MCHConfig)} | set(LEGACY_KEYS)
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"unknown config keys {sorted(map(str, unknown))[:5]}")
    values = {}
    for name, value in raw.items():
        if name in LEGACY_KEYS:
            LEGACY_KEYS[name](name, value)
            continue
        check = CONFIG_CHECKS.get(name)
        if check is None:  # a new MCHConfig field without a check: refuse rather than trust it
            raise ValueError(f"config key {name!r} cannot be checked by this version of mchmc")
        values[name] = check(name, value)
    config = MCHConfig(**values)
    registered = ARCHITECTURES[config.arch]
    if config.has_classifier != registered.has_classifier:
        raise ValueError(f"architecture {config.arch!r} " + (
            "has a classifier but the config lists no categories" if registered.has_classifier
            else f"has no classifier but the config lists {len(config.categories)} categories"))
    return config


def expected_shapes(config: MCHConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor ``MCH(config)`` holds, computed on the meta device (nothing allocated)."""
    with torch.device("meta"):
        model = MCH(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _state_dict_mismatch(want: dict[str, tuple[int, ...]], state: object) -> str:
    """'' when ``state`` has exactly the tensors ``want`` describes (float, same shapes), else the first problems."""
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        return "no tensor state dict"
    problems = [f"missing {k}" for k in want if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in want]
    problems += [f"{k} is {tuple(state[k].shape)}, expected {s}" for k, s in want.items()
                 if k in state and tuple(state[k].shape) != s]
    problems += [f"{k} is {str(state[k].dtype).removeprefix('torch.')}, expected floating point" for k in want
                 if k in state and not state[k].is_floating_point()]
    return "; ".join(problems[:3]) + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else "")


# ---------------------------------------------------------------- reading a file

def _check_archive(path: Path) -> None:
    """Refuse, before torch.load reads anything, a file that is empty, too big, not a zip archive,
    or whose records would expand (compressed) or claim more than the cap."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            magic = f.read(len(ZIP_MAGIC))
    except OSError as err:
        raise ModelFileError(path, f"cannot read: {err.strerror or err}") from None
    if size == 0:
        raise ModelFileError(path, "empty or truncated model file")
    if size > MAX_FILE_BYTES:
        raise ModelFileError(path, f"{size / 2**20:.0f} MiB is more than a model file can be "
                                   f"(limit {MAX_FILE_BYTES / 2**20:.0f} MiB); refused unread")
    if magic != ZIP_MAGIC:
        raise ModelFileError(path, "not an mchmc model file (not a torch zip archive; pickled or legacy "
                                   "content refused unread)")
    try:
        with zipfile.ZipFile(path) as zf:
            records = zf.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError):
        raise ModelFileError(path, "corrupt or truncated model file (not a valid torch archive)") from None
    except OSError as err:
        raise ModelFileError(path, f"cannot read: {err.strerror or err}") from None
    for rec in records:
        if rec.compress_type != zipfile.ZIP_STORED:
            raise ModelFileError(path, f"record {_shown(rec.filename)} is compressed (torch.save stores records "
                                       "as they are; a compressed one can expand without limit); refused unread")
        if rec.file_size != rec.compress_size:
            raise ModelFileError(path, "corrupt model file (a stored record's sizes disagree)")
    total = sum(rec.file_size for rec in records)
    if total > MAX_FILE_BYTES:
        raise ModelFileError(path, f"records claim {total / 2**20:.0f} MiB (limit {MAX_FILE_BYTES / 2**20:.0f} MiB); "
                                   "refused unread")


def _read_payload(path: Path) -> dict:
    _check_archive(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except EOFError:
        raise ModelFileError(path, "empty or truncated model file") from None
    except pickle.UnpicklingError:
        raise ModelFileError(path, "not an mchmc model file (unknown or pickled content, refused unread)") from None
    except (RuntimeError, zipfile.BadZipFile, ValueError):
        raise ModelFileError(path, "corrupt or truncated model file (not a valid torch archive)") from None
    except OSError as err:
        raise ModelFileError(path, f"cannot read: {err.strerror or err}") from None
    except Exception:  # the unpickler trips over arbitrary bytes in many ways
        raise ModelFileError(path, "not an mchmc model file (unreadable content)") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(path, "not an mchmc model file (no 'mchmc-model' header)")
    if payload.get("version") != VERSION:
        raise ModelFileError(path, f"model file version {_shown(payload.get('version'))} is not supported "
                                   f"(expected {VERSION})")
    return payload


def _provenance(text: object) -> dict:
    if text is None or text == "":
        return {}
    if not isinstance(text, str) or len(text) > MAX_PROVENANCE_CHARS:
        raise ValueError(f"provenance must be a JSON string of at most {MAX_PROVENANCE_CHARS} characters")
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError(f"provenance is a JSON {type(doc).__name__}, not an object")
    return doc


def load_model(name_or_path: str | os.PathLike | None = None, expect_arch: str | None = None) -> ModelFile:
    """Load a model file (no code executed, nothing it asks for trusted unchecked).
    ``expect_arch`` rejects other architectures."""
    path = resolve_model(name_or_path)
    if path.is_dir():
        raise ModelFileError(path, "is a folder, not a model file")
    payload = _read_payload(path)
    try:
        if "config" not in payload:
            raise ValueError("no config")
        config = _config_from_json(payload["config"])
        provenance = _provenance(payload.get("provenance"))
    except (TypeError, ValueError, RecursionError) as err:
        raise ModelFileError(path, f"bad model config: {err}") from None
    if expect_arch is not None and config.arch != expect_arch:
        raise ModelFileError(path, f"architecture is {config.arch!r}, expected {expect_arch!r}")
    want = expected_shapes(config)
    count = sum(math.prod(s) for s in want.values())
    if count > MAX_PARAMETERS:
        raise ModelFileError(path, f"bad model config: it asks for {count:,} parameters "
                                   f"(limit {MAX_PARAMETERS:,}); refused before building")
    mismatch = _state_dict_mismatch(want, payload.get("state_dict"))
    if mismatch:
        raise ModelFileError(path, f"weights do not match architecture {config.arch!r}: {mismatch}")
    model = MCH(config)  # bounded now: the file holds exactly these tensors
    model.load_state_dict(payload["state_dict"], strict=True)
    return ModelFile(model.eval(), path, provenance)
