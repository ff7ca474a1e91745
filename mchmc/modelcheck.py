"""What a model file may ask for, checked before anything is built or allocated:
the zip records of the file, every config field's type and range, the tensor
shapes the config implies (computed on the ``meta`` device) and the parameter
count. Only the shapes need torch (imported there): the rest checks a file
without it. Each check raises ValueError naming what is wrong; :mod:`mchmc.modelfile`
turns it into a one-line :class:`~mchmc.errors.ModelFileError`."""
from __future__ import annotations

import collections
import io
import json
import pickle
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from mchmc.errors import ModelFileError
from mchmc.modelconfig import ARCHITECTURES, MCHConfig

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
MAX_TAIL = 64  # 3x3 tail layers (issue 27's quality tier uses a few)
MAX_CATEGORIES, MAX_CATEGORY_CHARS = 64, 64
ZIP_MAGIC = b"PK\x03\x04"


def shown_value(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_int(value: object) -> bool:
    return type(value) is int  # not bool, not float


def _int_field(lo: int, hi: int) -> Callable[[str, object], int]:
    def check(name: str, value: object) -> int:
        if not _is_int(value) or not lo <= value <= hi:
            raise ValueError(f"{name} must be an integer in {lo}..{hi}, got {shown_value(value)}")
        return value
    return check


def _ints_field(n: int, lo: int, hi: int, odd: bool = False) -> Callable[[str, object], tuple[int, ...]]:
    what = f"{n} {'odd ' if odd else ''}integers in {lo}..{hi}"

    def check(name: str, value: object) -> tuple[int, ...]:
        if (not isinstance(value, list) or len(value) != n
                or not all(_is_int(v) and lo <= v <= hi and (v % 2 == 1 or not odd) for v in value)):
            raise ValueError(f"{name} must be {what}, got {shown_value(value)}")
        return tuple(value)
    return check


def _tail_field(name: str, value: object) -> tuple[int, ...]:
    lo, hi = CHANNELS_RANGE
    if not isinstance(value, list) or len(value) > MAX_TAIL or not all(_is_int(v) and lo <= v <= hi for v in value):
        raise ValueError(f"{name} must be a list of at most {MAX_TAIL} integers in {lo}..{hi}, got {shown_value(value)}")
    return tuple(value)


def _arch_field(name: str, value: object) -> str:
    if not isinstance(value, str) or value not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {shown_value(value)} (known: {', '.join(ARCHITECTURES)})")
    return value


def _categories_field(name: str, value: object) -> tuple[str, ...]:
    if (not isinstance(value, list) or len(value) > MAX_CATEGORIES or len(set(map(repr, value))) != len(value)
            or not all(isinstance(c, str) and 0 < len(c) <= MAX_CATEGORY_CHARS for c in value)):
        raise ValueError(f"{name} must be a list of at most {MAX_CATEGORIES} distinct names of 1..{MAX_CATEGORY_CHARS} "
                         f"characters, got {shown_value(value)}")
    return tuple(value)


def _legacy_dropout(name: str, value: object) -> None:
    """Files written before 0.2 carry a ``dropout`` the model never read; checked, then ignored."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {shown_value(value)}")


LEGACY_KEYS: dict[str, Callable[[str, object], None]] = {"dropout": _legacy_dropout}


# One check per MCHConfig field (a test keeps this complete): type, then range.
CONFIG_CHECKS: dict[str, Callable[[str, object], object]] = {
    "arch": _arch_field,
    "scale": _int_field(*SCALE_RANGE),
    "channels": _ints_field(2, *CHANNELS_RANGE),
    "kernels": _ints_field(3, *KERNEL_RANGE, odd=True),
    "categories": _categories_field,
    "hidden": _int_field(*HIDDEN_RANGE),
    "tail": _tail_field,
}


def config_from_json(text: object) -> MCHConfig:
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
    import torch

    from mchmc.model import MCH

    with torch.device("meta"):
        model = MCH(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def state_dict_mismatch(want: dict[str, tuple[int, ...]], state: object) -> str:
    """'' when ``state`` has exactly the tensors ``want`` describes (float, same shapes), else the first problems."""
    import torch

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

def check_archive(path: Path) -> None:
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
            raise ModelFileError(path, f"record {shown_value(rec.filename)} is compressed (torch.save stores records "
                                       "as they are; a compressed one can expand without limit); refused unread")
        if rec.file_size != rec.compress_size:
            raise ModelFileError(path, "corrupt model file (a stored record's sizes disagree)")
    total = sum(rec.file_size for rec in records)
    if total > MAX_FILE_BYTES:
        raise ModelFileError(path, f"records claim {total / 2**20:.0f} MiB (limit {MAX_FILE_BYTES / 2**20:.0f} MiB); "
                                   "refused unread")


class _HeaderUnpickler(pickle.Unpickler):
    """Reads a ``torch.save`` payload's plain values without torch: every tensor becomes None.
    Only the three globals torch.save writes for a dict of float tensors resolve (to stubs that
    do nothing); anything else is refused, so no code a file names ever runs."""

    STUBS = {("collections", "OrderedDict"): collections.OrderedDict, ("torch._utils", "_rebuild_tensor_v2"): lambda *a, **k: None}

    def find_class(self, module: str, name: str):
        if (module, name) in self.STUBS:
            return self.STUBS[module, name]
        if module == "torch" and name.endswith("Storage"):
            return None
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a model file")

    def persistent_load(self, pid):
        return None


def torch_payload(path: Path) -> object:
    """:func:`check_archive`, then ``torch.load(weights_only=True)``: no pickled code runs."""
    import torch

    check_archive(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=True)


def read_checked(path: Path, read: Callable[[Path], object] = torch_payload, kind: str = "mchmc model file") -> object:
    """``read(path)`` (:func:`torch_payload`, or :func:`read_header` without torch) with every way a
    hostile or broken file fails turned into one :class:`ModelFileError` line naming ``kind``: the SR
    model files and the chroma network's read their payload through here."""
    try:
        return read(path)
    except ModelFileError:
        raise
    except EOFError:
        raise ModelFileError(path, f"empty or truncated {kind}") from None
    except pickle.UnpicklingError:
        raise ModelFileError(path, f"not an {kind} (unknown or pickled content, refused unread)") from None
    except (RuntimeError, zipfile.BadZipFile, ValueError):
        raise ModelFileError(path, f"corrupt or truncated {kind} (not a valid torch archive)") from None
    except OSError as err:
        raise ModelFileError(path, f"cannot read: {err.strerror or err}") from None
    except Exception:  # the unpickler and the zip reader trip over arbitrary bytes in many ways
        raise ModelFileError(path, f"not an {kind} (unreadable content)") from None


def read_header(path: Path) -> object:
    """The payload of a model file with its tensors left unread (None): the format, version,
    config and provenance, read without torch after :func:`check_archive`. Raises ValueError
    (or an unpickling error) for content that is not a plain payload."""
    check_archive(path)
    with zipfile.ZipFile(path) as zf:
        names = [n for n in zf.namelist() if n.endswith("/data.pkl")]
        if len(names) != 1:
            raise ValueError("no single data.pkl record")
        data = zf.read(names[0])
    return _HeaderUnpickler(io.BytesIO(data)).load()
