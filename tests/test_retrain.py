"""Retraining without Prefect: model versions, the promotion gate, incremental prep and the retrain
steps end to end with the smoke config on synthetic images (seconds; no ../shared, no services)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mchmc.errors import ModelFileError
from mchmc.model import build_model
from mchmc.modelfile import load_model, resolve_model, save_model
from mchmc.train.patches import prepare
from mchmc.train.retrain import register_candidate, retrain, source_key
from mchmc.modelversions import CURRENT, Gate, ModelVersions, VersionError, current_model_path, decide
from test_data import synth_config


QUICK = {"train.val_crop": 64, "phase1.steps": 10, "phase2.steps": 10, "train.batch": 8}  # seconds, not minutes


def tiny_model_file(path: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    model = build_model("mch-mc")
    model.reset_parameters(0.05)
    return save_model(model, path)


# ---------------------------------------------------------------- versions folder

def test_a_new_version_is_added_beside_the_one_in_use_and_only_promotion_moves_the_pointer(tmp_path):
    versions = ModelVersions(tmp_path / "models" / "SRforMC")
    assert versions.versions() == [] and versions.current() is None
    v1 = versions.add(tiny_model_file(tmp_path / "a.pt", 0), {"source": "s1"})
    assert v1.name == "v0001" and v1.status == "candidate" and versions.current() is None
    versions.promote("v0001", "first")
    in_use = (tmp_path / "models" / "SRforMC" / "v0001" / "model.pt").read_bytes()
    v2 = versions.add(tiny_model_file(tmp_path / "b.pt", 1), {"source": "s2"})
    assert v2.name == "v0002" and versions.current().name == "v0001", "adding never changes the model in use"
    assert versions.current().model.read_bytes() == in_use
    versions.promote("v0002", "better")
    assert versions.current().name == "v0002" and versions.get("v0002").status == "promoted"
    assert json.loads((versions.folder / CURRENT).read_text())["model"] == "v0002/model.pt"
    versions.promote("v0001", "rollback")
    assert versions.current().name == "v0001"
    assert versions.find_source("s2").name == "v0002" and versions.find_source("nope") is None
    from mchmc.fsutil import is_temporary

    assert not [p for p in versions.folder.rglob("*") if p.name.endswith(".tmp") or is_temporary(p.name)], \
        "no temporaries left"


def test_version_numbers_are_never_reused_even_when_a_folder_is_taken(tmp_path):
    versions = ModelVersions(tmp_path / "m")
    (tmp_path / "m" / "v0001").mkdir(parents=True)  # a racing retrain took v0001 and has not finished
    assert versions.add(tiny_model_file(tmp_path / "a.pt"), {}).name == "v0002"


def test_upscale_model_option_accepts_a_versions_folder_and_means_its_current_version(tmp_path):
    versions = ModelVersions(tmp_path / "SRforMC")
    versions.add(tiny_model_file(tmp_path / "a.pt"), {})
    with pytest.raises(ModelFileError, match="no model in use yet") as info:
        resolve_model(versions.folder)
    assert "\n" not in str(info.value) and str(info.value).startswith(str(versions.folder))
    versions.promote("v0001")
    assert resolve_model(str(versions.folder)) == versions.folder / "v0001" / "model.pt"
    assert load_model(versions.folder).config.arch == "mch-mc"
    assert current_model_path(versions.folder) == versions.folder / "v0001" / "model.pt"


def test_bad_version_names_and_damaged_pointers_are_one_line_errors(tmp_path):
    versions = ModelVersions(tmp_path / "m")
    versions.add(tiny_model_file(tmp_path / "a.pt"), {})
    with pytest.raises(VersionError, match="no version 'v0009' .*known: v0001"):
        versions.promote("v0009")
    (versions.folder / CURRENT).write_text("{not json")
    with pytest.raises(VersionError, match="damaged pointer"):
        versions.current()


# ---------------------------------------------------------------- the gate

@pytest.mark.parametrize("candidate, current, gate, promote", [
    ({"psnr_mean": 30.0}, None, Gate(), True),  # nothing in use yet
    ({"psnr_mean": 30.0}, {"psnr_mean": 30.0}, Gate(), True),  # not worse
    ({"psnr_mean": 30.2}, {"psnr_mean": 30.0}, Gate(), True),
    ({"psnr_mean": 29.9}, {"psnr_mean": 30.0}, Gate(), False),  # worse
    ({"psnr_mean": 29.9}, {"psnr_mean": 30.0}, Gate(tolerance_db=0.2), True),
    ({"psnr_mean": float("nan")}, {"psnr_mean": 30.0}, Gate(), False),  # a broken candidate never wins
    ({}, None, Gate(), False),
])
def test_a_candidate_is_promoted_only_when_not_worse_on_validation(candidate, current, gate, promote):
    decision = decide(candidate, current, gate)
    assert decision.promote is promote and decision.reason and "\n" not in decision.reason


# ---------------------------------------------------------------- incremental prep

def add_image(root: Path, category: str, name: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    img = np.kron(rng.random((13, 14, 3)), np.ones((8, 8, 1)))[:96, :104] * 200 + rng.random((96, 104, 3)) * 40
    Image.fromarray(img.astype(np.uint8)).save(root / category / name)


def test_prep_after_new_data_processes_only_the_new_image_and_equals_a_fresh_build(tmp_path):
    cfg = synth_config(tmp_path)
    first = prepare(cfg.data, 2)
    assert first.computed == 15 and not first.cache_hit
    assert prepare(cfg.data, 2).computed == 0  # a cache hit does no work
    add_image(Path(cfg.data.root), "nature", "nature_99.png", seed=7)
    grown = prepare(cfg.data, 2)
    assert grown.key != first.key and not grown.cache_hit and grown.computed == 1
    from mchmc.train.config import with_overrides

    fresh = prepare(with_overrides(cfg, {"data.cache_dir": str(tmp_path / "fresh")}).data, 2)
    assert fresh.key == grown.key and fresh.computed == 16
    for name in ("hr.u16", "lr.u16", "index.npy", "manifest.json"):
        assert (grown.path / name).read_bytes() == (fresh.path / name).read_bytes(), name


# ---------------------------------------------------------------- retrain steps (no Prefect)

def test_retrain_adds_versions_skips_unchanged_data_and_gates_promotion(tmp_path):
    cfg = synth_config(tmp_path, **QUICK)
    models = tmp_path / "models"
    prep, first = retrain(cfg, "SRforMC", "1", models)
    assert (first.status, first.version, first.current, first.previous) == ("promoted", "v0001", "v0001", None)
    assert prep.computed == 15 and first.images == 3 and first.candidate["psnr_mean"] > 10
    folder = models / "SRforMC"
    in_use = (folder / "v0001" / "model.pt").read_bytes()

    prep, again = retrain(cfg, "SRforMC", "1", models)
    assert prep.cache_hit and again.status == "unchanged" and again.version == "v0001"
    assert [v.name for v in ModelVersions(folder).versions()] == ["v0001"], "unchanged data trains nothing"

    add_image(Path(cfg.data.root), "manga", "manga_99.png", seed=3)
    prep, grown = retrain(cfg, "SRforMC", "1", models)
    assert prep.computed == 1, "only the new image is prepared"
    assert grown.version == "v0002" and grown.previous == "v0001"
    assert grown.baseline and set(grown.baseline) == set(grown.candidate), "both scored on the same images"
    info = json.loads((folder / "v0002" / "version.json").read_text())
    assert info["evaluation"]["baseline_version"] == "v0001" and info["data_key"] == prep.key
    assert grown.status == ("promoted" if decide(grown.candidate, grown.baseline).promote else "rejected")
    assert grown.current == ("v0002" if grown.status == "promoted" else "v0001")
    assert (folder / "v0001" / "model.pt").read_bytes() == in_use, "an older version is never rewritten"


def test_a_worse_candidate_is_kept_but_not_put_in_use(tmp_path):
    cfg = synth_config(tmp_path, **QUICK)
    models = tmp_path / "models"
    retrain(cfg, "SRforMC", "1", models)
    add_image(Path(cfg.data.root), "text", "text_99.png", seed=5)
    strict = Gate(tolerance_db=-1000.0)  # demands 1000 dB more: any candidate is "worse"
    prep, outcome = retrain(cfg, "SRforMC", "1", models, strict)
    assert outcome.status == "rejected" and outcome.version == "v0002" and outcome.current == "v0001"
    versions = ModelVersions(models / "SRforMC")
    assert versions.get("v0002").status == "rejected" and versions.get("v0002").model.is_file()
    assert resolve_model(versions.folder) == versions.folder / "v0001" / "model.pt"


def test_the_source_key_ignores_where_the_data_lives_but_not_what_it_is(tmp_path):
    from mchmc.train.config import with_overrides

    cfg = synth_config(tmp_path)
    moved = with_overrides(cfg, {"data.root": "/elsewhere", "data.cache_dir": "/other"})
    assert source_key(cfg, "SRforMC", "1", "k") == source_key(moved, "SRforMC", "1", "k")
    assert source_key(cfg, "SRforMC", "1", "k") != source_key(cfg, "SRforMC", "1", "k2")
    assert source_key(cfg, "SRforMC", "1", "k") != source_key(cfg, "SRforMC", "2", "k")
    assert source_key(cfg, "SRforMC", "1", "k") != source_key(with_overrides(cfg, {"phase2.steps": 99}), "SRforMC", "1", "k")


def test_registering_an_unfinished_run_is_refused(tmp_path):
    from mchmc.train.retrain import RetrainError, plan_retrain

    cfg = synth_config(tmp_path)
    plan = plan_retrain(cfg, "SRforMC", "1", tmp_path / "models", "nokey")
    with pytest.raises(RetrainError, match="training is not finished"):
        register_candidate(cfg, plan)
    assert ModelVersions(tmp_path / "models" / "SRforMC").versions() == []


# ---------------------------------------------------------------- the CLI over a versions folder

def test_schedule_versions_and_promote_show_and_roll_back_the_model_in_use(tmp_path):
    import subprocess
    import sys

    versions = ModelVersions(tmp_path / "models" / "SRforMC")
    for seed in (0, 1):
        v = versions.add(tiny_model_file(tmp_path / f"{seed}.pt", seed), {"decision": {"reason": f"why {seed}"}})
        versions.promote(v.name)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "mchmc.cli.app", "schedule", *args, "--models",
                               str(tmp_path / "models")], capture_output=True, text=True, timeout=120)

    shown = cli("versions")
    assert shown.returncode == 0, shown.stderr
    rows = [ln for ln in shown.stdout.splitlines() if "v000" in ln and "│" in ln]
    assert len(rows) == 2 and "*" in rows[1] and "*" not in rows[0], "v0002 is in use"
    back = cli("promote", "v0001")
    assert back.returncode == 0 and "v0001 is in use now (before: v0002)" in back.stdout
    assert versions.current().name == "v0001"
    missing = cli("promote", "v0009")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "no version 'v0009'" in missing.stderr
