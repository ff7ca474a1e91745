"""Model files: weights plus the config they need, loadable without executing code.

A model file is a ``torch.save`` of a plain dict that ``torch.load(...,
weights_only=True)`` reads (tensors, strings, ints only; no pickled classes):

    {"format": "mchmc-model", "version": 1,
     "config": "<json of MCHConfig>",          # architecture, scale, categories, ...
     "provenance": "<json>",                   # training run, data, steps, metrics
     "state_dict": {name: tensor}}

Shipped models live in ``mchmc/weights/<name>.pt`` and are found by name
(``resolve_model("srformc")``); anything else is a path: a model file, or a
versions folder (``models/SRforMC``, :mod:`mchmc.versions`), which means the
version its ``current.json`` points at. Every failure raises
:class:`ModelFileError` with a one-line "<file>: <reason>" message.
"""
from __future__ import annotations

import json
import os
import pickle
import tempfile
import warnings
import zipfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch

from .errors import ModelFileError
from .model import ARCHITECTURES, MCH, MCHConfig
from .versions import VersionError, current_model_path, is_versions_folder

FORMAT, VERSION = "mchmc-model", 1
SHIPPED_DIR = Path(__file__).parent / "weights"
DEFAULT_MODEL = "srformc"


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
    """Write atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": json.dumps(asdict(model.config)),
        "provenance": json.dumps(provenance or {}, default=str),
        "state_dict": {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()},
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _config_from_json(text: str) -> MCHConfig:
    raw = json.loads(text)
    known = {f.name for f in fields(MCHConfig)}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"unknown config keys {sorted(unknown)}")
    tuples = {k: tuple(v) for k, v in raw.items() if isinstance(v, list)}
    return MCHConfig(**{**raw, **tuples})


def _state_dict_mismatch(model: MCH, state: object) -> str:
    """'' when ``state`` fits ``model`` exactly, else a short description of the first problems."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return "no tensor state dict"
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    problems = [f"missing {k}" for k in want if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in want]
    problems += [f"{k} is {tuple(state[k].shape)}, expected {s}" for k, s in want.items()
                 if k in state and tuple(state[k].shape) != s]
    return "; ".join(problems[:3]) + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else "")


def load_model(name_or_path: str | os.PathLike | None = None, expect_arch: str | None = None) -> ModelFile:
    """Load a model file (no code executed). ``expect_arch`` rejects other architectures."""
    path = resolve_model(name_or_path)
    if path.is_dir():
        raise ModelFileError(path, "is a folder, not a model file")
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
        raise ModelFileError(path, f"model file version {payload.get('version')!r} is not supported (expected {VERSION})")
    try:
        config = _config_from_json(payload["config"])
        provenance = json.loads(payload.get("provenance") or "{}")
    except (KeyError, TypeError, ValueError) as err:
        raise ModelFileError(path, f"bad model config: {err}") from None
    if config.arch not in ARCHITECTURES:
        raise ModelFileError(path, f"unknown architecture {config.arch!r}")
    if expect_arch is not None and config.arch != expect_arch:
        raise ModelFileError(path, f"architecture is {config.arch!r}, expected {expect_arch!r}")
    model = MCH(config)
    mismatch = _state_dict_mismatch(model, payload.get("state_dict"))
    if mismatch:
        raise ModelFileError(path, f"weights do not match architecture {config.arch!r}: {mismatch}")
    model.load_state_dict(payload["state_dict"], strict=True)
    return ModelFile(model.eval(), path, provenance)
