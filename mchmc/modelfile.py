"""Model files: weights plus the config they need, loadable without executing code.

A model file is a ``torch.save`` of a plain dict that ``torch.load(...,
weights_only=True)`` reads (tensors, strings, ints only; no pickled classes):

    {"format": "mchmc-model", "version": 1,
     "config": "<json of MCHConfig>",          # architecture, scale, categories, ...
     "provenance": "<json>",                   # training run, data, steps, metrics
     "state_dict": {name: tensor}}

Shipped models live in ``mchmc/weights/<name>.pt`` and are found by name
(``resolve_model("srformc")``); anything else is a path: a model file, or a
versions folder (``models/SRforMC``, :mod:`mchmc.modelversions`), which means the
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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mchmc.errors import ModelFileError
from mchmc.fsutil import atomic_write
from mchmc.modelcheck import (
    MAX_PARAMETERS,
    MAX_PROVENANCE_CHARS,
    config_from_json,
    expected_shapes,
    read_checked,
    read_header,
    shown_value,
    state_dict_mismatch,
    torch_payload,
)
from mchmc.modelconfig import MCHConfig
from mchmc.modelversions import VersionError, current_model_path, is_versions_folder
from mchmc.tiers import TIERS, tier_named

if TYPE_CHECKING:
    from mchmc.model import MCH

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
    """Names of the model files inside the package -> their files (the tiers' names, ``fast`` and
    ``quality``, are not listed here: they name some of these files, :mod:`mchmc.tiers`)."""
    return {p.stem: p for p in sorted(SHIPPED_DIR.glob("*.pt"))}


def resolve_model(name_or_path: str | os.PathLike | None = None) -> Path:
    """A tier's name (``fast``, ``quality``: :mod:`mchmc.tiers`), a shipped model's name (both
    case-insensitive) or a file path -> the file's path."""
    key = str(name_or_path or DEFAULT_MODEL)
    shipped = shipped_models()
    tier = tier_named(key)
    if tier is not None:
        if tier.stem not in shipped:
            raise ModelFileError(key, f"the {tier.name} tier's weights ({tier.stem}.pt) are not in this version of "
                                      "mchmc; use --model fast, or a model file")
        return shipped[tier.stem]
    if key.lower() in shipped:
        return shipped[key.lower()]
    path = Path(key).expanduser()
    if not path.exists():
        known = ", ".join(shipped) or "none installed"
        raise ModelFileError(path, f"no such model file or shipped model name (shipped: {known}; tiers: "
                                   f"{', '.join(TIERS)})")
    if is_versions_folder(path):
        try:
            return current_model_path(path)
        except VersionError as err:
            raise ModelFileError(path, str(err).removeprefix(f"{path}: ")) from None
    return path


def noise_variants(name_or_path: str | os.PathLike | None = None) -> dict[int, Path]:
    """The JPEG noise-level variants of a model (``--noise``): files named ``<stem>-noise<k>.pt`` beside it
    (the shipped ``srformc`` has ``srformc-noise0.pt`` .. ``srformc-noise3.pt``). Level -> file."""
    base = resolve_model(name_or_path)
    found = {k: base.with_name(f"{base.stem}-noise{k}{base.suffix}") for k in range(4)}
    return {k: p for k, p in found.items() if p.is_file()}


SPECIALIST = "{stem}-for-{category}{suffix}"  # a category's specialist beside a model file (mchmc.routing)


def specialist_files(model_file: str | os.PathLike, categories: tuple[str, ...]) -> dict[str, Path]:
    """Category -> the specialist file beside ``model_file`` (:data:`SPECIALIST`: ``m-for-nature.pt``
    beside ``m.pt``, ``m-noise1-for-manga.pt`` beside ``m-noise1.pt``), for those that exist."""
    base = Path(model_file)
    found = {c: base.with_name(SPECIALIST.format(stem=base.stem, category=c, suffix=base.suffix)) for c in categories}
    return {c: p for c, p in found.items() if p.is_file()}


BAND = "{stem}-for-{category}-q{quality}{suffix}"  # a specialist for the pages of ``quality`` and above only


def band_files(model_file: str | os.PathLike, categories: tuple[str, ...]) -> dict[str, tuple[tuple[int, Path], ...]]:
    """Category -> its band specialists beside ``model_file``, highest band first: (lowest quality, file) for
    each :data:`BAND` file (``m-noise3-for-manga-q45.pt``: the pages whose tables say q45 or above).

    Why: a level's one network is best at the qualities its training mix weighs most, and level 3 spans
    q20-54 (docs/quality-tier.md, session 13). A band file gives the top of a level its own network, at no cost
    per pixel. Only names of exactly that form count (the quality a plain integer 1-100, no leading zero)."""
    import glob

    base = Path(model_file)
    out = {}
    for category in categories:
        prefix = f"{base.stem}-for-{category}-q"
        found = []
        for path in base.parent.glob(f"{glob.escape(prefix)}*{glob.escape(base.suffix)}"):
            digits = path.name[len(prefix): len(path.name) - len(base.suffix)]
            if digits.isdigit() and digits == str(int(digits)) and 1 <= int(digits) <= 100 and path.is_file():
                found.append((int(digits), path))
        if found:
            out[category] = tuple(sorted(found, reverse=True))
    return out


def specialist_for(plain: Path | None, bands: tuple[tuple[int, Path], ...], quality: int | None) -> Path | None:
    """The file that upscales a page of estimated JPEG ``quality`` (None: not a JPEG): the highest band at or
    below its quality, else the category's ``plain`` specialist (None: the level's own model)."""
    if quality is not None:
        for lowest, path in bands:
            if quality >= lowest:
                return path
    return plain


def config_record(config: MCHConfig) -> dict:
    """The config as a model file stores it: an empty ``tail`` (the paper's networks) is left out, so their
    files are written exactly as before tails existed (and older mchmc versions still read them)."""
    record = asdict(config)
    if not record["tail"]:
        del record["tail"]
    return record


def save_model(model: MCH, path: str | os.PathLike, provenance: dict | None = None) -> Path:
    """Write atomically (an owned temporary in the same folder, then rename; mode 0o666 less the umask)."""
    import torch

    path = Path(path)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": json.dumps(config_record(model.config)),
        "provenance": json.dumps(provenance or {}, default=str),
        "state_dict": {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()},
    }
    with atomic_write(path) as tmp:
        torch.save(payload, tmp)
    return path


# ---------------------------------------------------------------- checking a config

def _read_payload(path: Path, tensors: bool = True) -> dict:
    """The checked payload; without ``tensors`` read with :func:`~mchmc.modelcheck.read_header`
    (no torch, every tensor None)."""
    payload = read_checked(path, torch_payload if tensors else read_header)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(path, "not an mchmc model file (no 'mchmc-model' header)")
    if payload.get("version") != VERSION:
        raise ModelFileError(path, f"model file version {shown_value(payload.get('version'))} is not supported "
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


def read_config(name_or_path: str | os.PathLike | None = None) -> tuple[Path, MCHConfig]:
    """A model file's path and checked config, read without torch and without its weights: what
    the batch CLI checks before any worker starts (each worker then loads the file in full)."""
    path, config, _ = _checked_config(name_or_path, tensors=False)
    return path, config


def read_provenance(name_or_path: str | os.PathLike | None = None) -> tuple[Path, MCHConfig, dict]:
    """:func:`read_config` plus what the file says about its training (``mchmc info``'s tiers)."""
    path, config, payload = _checked_config(name_or_path, tensors=False)
    return path, config, payload["provenance"]


def _checked_config(name_or_path, tensors: bool) -> tuple[Path, MCHConfig, dict]:
    path = resolve_model(name_or_path)
    if path.is_dir():
        raise ModelFileError(path, "is a folder, not a model file")
    payload = _read_payload(path, tensors)
    try:
        if "config" not in payload:
            raise ValueError("no config")
        config = config_from_json(payload["config"])
        provenance = _provenance(payload.get("provenance"))
    except (TypeError, ValueError, RecursionError) as err:
        raise ModelFileError(path, f"bad model config: {err}") from None
    return path, config, payload | {"provenance": provenance}


def load_model(name_or_path: str | os.PathLike | None = None, expect_arch: str | None = None) -> ModelFile:
    """Load a model file (no code executed, nothing it asks for trusted unchecked).
    ``expect_arch`` rejects other architectures."""
    from mchmc.model import MCH

    path, config, payload = _checked_config(name_or_path, tensors=True)
    provenance = payload["provenance"]
    if expect_arch is not None and config.arch != expect_arch:
        raise ModelFileError(path, f"architecture is {config.arch!r}, expected {expect_arch!r}")
    want = expected_shapes(config)
    count = sum(math.prod(s) for s in want.values())
    if count > MAX_PARAMETERS:
        raise ModelFileError(path, f"bad model config: it asks for {count:,} parameters "
                                   f"(limit {MAX_PARAMETERS:,}); refused before building")
    mismatch = state_dict_mismatch(want, payload.get("state_dict"))
    if mismatch:
        raise ModelFileError(path, f"weights do not match architecture {config.arch!r}: {mismatch}")
    model = MCH(config)  # bounded now: the file holds exactly these tensors
    model.load_state_dict(payload["state_dict"], strict=True)
    return ModelFile(model.eval(), path, provenance)
