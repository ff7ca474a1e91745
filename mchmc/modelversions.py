"""Model versions folders: a retrain adds a version; the model in use changes only by promotion.

Why: a scheduled retrain runs unattended on a growing archive. Its result must
never replace the model people are upscaling with until it has been evaluated
against that model on the same held-out images, and the previous versions stay
on disk for a rollback.

A versions folder (one per method, e.g. ``models/SRforMC/``):

    v0001/model.pt        an mchmc model file (read with torch.load(weights_only=True))
    v0001/version.json    source, data key, evaluation, decision, status, times
    v0002/...
    current.json          {"version": "v0002", "model": "v0002/model.pt", "promoted_at": ...}
    runs/<source>/        the training run behind each source (resumable; mchmc.train.run)

``current.json`` is the only pointer to the model in use and is replaced
atomically (temp file + rename), so ``mchmc upscale --model models/SRforMC``
always reads a whole old or a whole new version. Version numbers are allocated
with ``mkdir``, so two retrains racing on one folder never share one.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from mchmc.errors import MchmcError
from mchmc.fsutil import atomic_write, atomic_write_text

CURRENT = "current.json"
VERSION_FILE = "version.json"
MODEL_FILE = "model.pt"
_NAME = re.compile(r"^v(\d{4,})$")
STATUSES = ("candidate", "promoted", "rejected")


class VersionError(MchmcError):
    """A versions folder or version that does not exist or cannot be used."""


@dataclass(frozen=True)
class Version:
    """One version folder and what its version.json says."""

    name: str
    folder: Path
    info: dict

    @property
    def model(self) -> Path:
        return self.folder / MODEL_FILE

    @property
    def number(self) -> int:
        return int(_NAME.match(self.name).group(1))

    @property
    def status(self) -> str:
        return self.info.get("status", "candidate")

    @property
    def source(self) -> str | None:
        return self.info.get("source")


@dataclass(frozen=True)
class Gate:
    """When a candidate replaces the model in use: its validation ``metric`` (higher is better) may
    be at most ``tolerance_db`` below the current model's on the same images (0: not worse)."""

    metric: str = "psnr_mean"
    tolerance_db: float = 0.0


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def decide(candidate: dict, current: dict | None, gate: Gate = Gate()) -> Decision:
    """Promote a candidate with a finite metric that is not worse than the current model's (within tolerance)."""
    new = candidate.get(gate.metric)
    if new is None or not math.isfinite(float(new)):
        return Decision(False, f"candidate has no finite {gate.metric} ({new!r})")
    if current is None:
        return Decision(True, f"no model in use yet; candidate {gate.metric} {float(new):.3f}")
    old = current.get(gate.metric)
    if old is None or not math.isfinite(float(old)):
        return Decision(True, f"current model has no finite {gate.metric}; candidate {float(new):.3f}")
    delta = float(new) - float(old)
    verdict = "not worse" if delta >= -gate.tolerance_db else "worse"
    reason = (f"{gate.metric} {float(new):.3f} vs current {float(old):.3f} ({delta:+.3f} dB, "
              f"tolerance {gate.tolerance_db:g} dB): {verdict}")
    return Decision(verdict == "not worse", reason)


def _write_json_atomic(path: Path, doc: dict) -> None:
    atomic_write_text(path, json.dumps(doc, indent=1, default=str) + "\n", fsync=True)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def is_versions_folder(path: Path) -> bool:
    return path.is_dir() and ((path / CURRENT).is_file() or any(_NAME.match(p.name) for p in path.iterdir()))


class ModelVersions:
    """The versions folder of one method."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def versions(self) -> list[Version]:
        """Every finished version (one with a version.json), oldest first."""
        if not self.folder.is_dir():
            return []
        found = []
        for d in self.folder.iterdir():
            if _NAME.match(d.name) and (d / VERSION_FILE).is_file():
                try:
                    found.append(Version(d.name, d, json.loads((d / VERSION_FILE).read_text())))
                except ValueError:
                    continue  # a damaged version.json: not a usable version
        return sorted(found, key=lambda v: v.number)

    def get(self, name: str) -> Version:
        for v in self.versions():
            if v.name == name:
                return v
        known = ", ".join(v.name for v in self.versions()) or "none"
        raise VersionError(f"{self.folder}: no version {name!r} (known: {known})")

    def current(self) -> Version | None:
        path = self.folder / CURRENT
        if not path.is_file():
            return None
        try:
            name = json.loads(path.read_text())["version"]
        except (ValueError, KeyError, TypeError):
            raise VersionError(f"{path}: damaged pointer (expected {{\"version\": \"v0001\", ...}})") from None
        return self.get(name)

    def find_source(self, source: str) -> Version | None:
        """The version already trained from this source (same data, config, method and fold), if any."""
        return next((v for v in self.versions() if v.source == source), None)

    def runs_dir(self, source: str) -> Path:
        return self.folder / "runs" / source

    def add(self, model_file: str | os.PathLike, info: dict) -> Version:
        """Copy a model file in as the next version, status 'candidate'; the current pointer is untouched."""
        self.folder.mkdir(parents=True, exist_ok=True)
        number = max((v.number for v in self.versions()), default=0) + 1
        while True:  # mkdir is the lock: a racing retrain takes the next number
            folder = self.folder / f"v{number:04d}"
            try:
                folder.mkdir()
                break
            except FileExistsError:
                number += 1
        with atomic_write(folder / MODEL_FILE) as tmp:
            shutil.copyfile(model_file, tmp)
        doc = {**info, "version": folder.name, "status": "candidate", "created_at": _now()}
        _write_json_atomic(folder / VERSION_FILE, doc)
        return Version(folder.name, folder, doc)

    def update(self, version: Version, **fields) -> Version:
        doc = {**version.info, **fields}
        _write_json_atomic(version.folder / VERSION_FILE, doc)
        return Version(version.name, version.folder, doc)

    def promote(self, name: str, reason: str = "promoted by hand") -> Version:
        """Point current.json at version ``name`` (also a rollback to an older one)."""
        version = self.get(name)
        if not version.model.is_file():
            raise VersionError(f"{version.model}: model file missing; not promoted")
        _write_json_atomic(self.folder / CURRENT, {"version": version.name, "model": f"{version.name}/{MODEL_FILE}",
                                                   "promoted_at": _now(), "reason": reason})
        return self.update(version, status="promoted", promoted_at=_now())


def current_model_path(folder: str | os.PathLike) -> Path:
    """The model file a versions folder points at (what ``--model models/SRforMC`` loads)."""
    versions = ModelVersions(folder)
    current = versions.current()
    if current is None:
        raise VersionError(f"{versions.folder}: no model in use yet (no {CURRENT}); run a retrain or promote a version")
    return current.model
