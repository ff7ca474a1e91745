"""Tiers (issue 27): ``--model fast`` / ``--model quality`` wherever a model name is taken, the
default per path (CPU: fast, unchanged; GPUs: quality when its weights are installed), and
``mchmc info``'s tiers table. The quality tier's weights are stood in for by a randomly
initialised ``mch-mc-quality`` model in a fake weights folder."""
from __future__ import annotations

import shutil

import pytest
from mchmc.cli.app import app
from typer.testing import CliRunner

from mchmc import modelfile
from mchmc.errors import ModelFileError
from mchmc.model import build_model
from mchmc.modelfile import noise_variants, resolve_model, save_model, shipped_models
from mchmc.router import router_file
from mchmc.tierchoice import choose_model, tier_of
from mchmc.tiers import TIERS

REAL = modelfile.SHIPPED_DIR


@pytest.fixture
def weights(tmp_path, monkeypatch):
    """A weights folder holding the fast tier's files (copied) and no quality tier."""
    folder = tmp_path / "weights"
    folder.mkdir()
    for name in ("srformc.pt", "srformc-noise1.pt"):
        shutil.copy(REAL / name, folder / name)
    monkeypatch.setattr(modelfile, "SHIPPED_DIR", folder)
    return folder


def install_quality(folder, levels=(2,), specialists=()):
    """The quality tier's files: clean, ``levels``, and ``specialists`` ((level or None, category), ...)."""
    validation = {"psnr_nature": 32.5, "psnr_manga": 34.25, "psnr_text": 28.0, "psnr_mean": 31.5, "loss": 1.0}
    save_model(build_model("mch-mc-quality"), folder / "srformc-quality.pt", {"validation": validation})
    for k in levels:
        save_model(build_model("mch-mc-quality"), folder / f"srformc-quality-noise{k}.pt")
    for k, category in specialists:
        level = "" if k is None else f"-noise{k}"
        save_model(build_model("mch-mc-quality"), folder / f"srformc-quality{level}-for-{category}.pt",
                   {"validation": {"psnr_nature": 32.75}})


def test_the_tier_names_resolve_to_their_shipped_files_wherever_a_model_name_is_taken(weights):
    assert resolve_model("fast") == resolve_model("FAST") == resolve_model("srformc") == weights / "srformc.pt"
    assert noise_variants("fast") == noise_variants("srformc") == {1: weights / "srformc-noise1.pt"}
    install_quality(weights)
    assert resolve_model("quality") == weights / "srformc-quality.pt"
    assert noise_variants("quality") == {2: weights / "srformc-quality-noise2.pt"}, "the <stem>-noise<k>.pt rule"
    assert modelfile.read_config("quality")[1].arch == "mch-mc-quality"


def test_a_tier_whose_weights_are_not_installed_is_one_line_naming_it(weights):
    with pytest.raises(ModelFileError) as err:
        resolve_model("quality")
    text = str(err.value)
    assert "\n" not in text and text.startswith("quality: the quality tier's weights (srformc-quality.pt) are not "
                                                 "in this version of mchmc")


def test_a_specialist_belongs_to_its_models_tier(weights):
    install_quality(weights, specialists=((None, "nature"), (2, "manga")))
    for name in ("srformc-quality-for-nature.pt", "srformc-quality-noise2-for-manga.pt", "srformc-quality-noise2.pt"):
        assert tier_of(weights / name) is TIERS["quality"], name
    assert tier_of(weights / "srformc-noise1.pt") is TIERS["fast"]


def test_shipped_models_lists_files_not_the_tier_aliases(weights):
    install_quality(weights, levels=())
    assert set(shipped_models()) == {"srformc", "srformc-noise1", "srformc-quality"}
    assert set(TIERS) == {"fast", "quality"} and not set(TIERS) & set(shipped_models())


def test_the_default_is_fast_on_cpus_and_quality_on_gpus_only_when_installed(weights):
    cpu = choose_model(None, gpus=0)
    assert (cpu.model, cpu.tier.name) == (None, "fast"), "the CPU default stays srformc, unchanged"
    without = choose_model(None, gpus=2)
    assert (without.model, without.tier.name) == (None, "fast") and "not in this version" in without.line()
    install_quality(weights)
    assert choose_model(None, gpus=0).model is None
    gpu = choose_model(None, gpus=2)
    assert (gpu.model, gpu.tier.name) == ("quality", "quality")
    assert gpu.line() == "tier: quality (srformc-quality.pt; the default with --gpus 2)"
    assert resolve_model(gpu.model) == weights / "srformc-quality.pt"


@pytest.mark.parametrize("model, tier", [("srformc", "fast"), ("fast", "fast"), ("srformc-noise1", "fast"),
                                         ("quality", "quality"), ("/some/model.pt", None)])
def test_an_explicit_model_always_wins(weights, model, tier):
    install_quality(weights)
    for gpus in (0, 2):
        choice = choose_model(model, gpus)
        assert choice.model == model and (choice.tier.name if choice.tier else None) == tier


def test_upscale_with_gpus_and_no_model_plans_the_quality_tier(weights, tmp_path, monkeypatch):
    """Through the command's own checks (a dry run; the GPUs are faked, nothing runs on them)."""
    from mchmc.cli import devices
    from mchmc.cli import upscale as up

    install_quality(weights)
    monkeypatch.setattr(devices, "local_gpus", lambda: 2)
    planned = []
    monkeypatch.setattr(up, "dry_run_table", lambda prep: planned.append(prep.options.model) or 0)
    for gpus, model in (("2", None), ("0", None), ("2", "fast"), ("2", "srformc")):
        assert up.run("samples", str(tmp_path / "out"), gpus=gpus, dry_run=True, model=model) == 0
    assert planned == ["quality", None, "fast", "srformc"]


def test_upscale_and_info_with_a_missing_tier_exit_nonzero_in_one_line(weights, tmp_path):
    result = CliRunner().invoke(app, ["upscale", "samples", "--out", str(tmp_path / "o"), "--model", "quality"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "error: quality: the quality tier's weights (srformc-quality.pt) are not in this version" in \
        result.output.replace("\n", " ")
    result = CliRunner().invoke(app, ["info", "--model", "quality"], terminal_width=200)
    assert result.exit_code == 1 and "the quality tier's weights" in result.output


def test_info_lists_the_tiers_their_cost_validation_and_the_chroma_network(weights, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich's width: one table row a line
    def rows(output):
        table = {}
        for line in output.replace("│", "|").splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 5 and cells[0] in TIERS:
                table.setdefault(cells[0], []).append(cells[1:])
        return table

    def validation(output):  # the validation table: model file -> its figures
        cells = [[c.strip() for c in line.split("│")] for line in output.splitlines() if ".pt " in line]
        return {c[0]: c[1:] for c in cells if len(c) > 2}

    before = rows(CliRunner().invoke(app, ["info"], terminal_width=200).output)
    assert before["quality"][0][:5] == ["not installed", "mch-mc-quality", "221,280", "0.40", "4.1"]
    assert before["fast"][0][:6] == ["srformc.pt", "mch-mc", "53,952", "0.10", "1.0", "1"]
    install_quality(weights)
    result = CliRunner().invoke(app, ["info"], terminal_width=200)
    after = rows(result.output)
    assert after["quality"][0] == ["srformc-quality.pt", "mch-mc-quality", "221,280", "0.40", "4.1", "2"]
    assert "quality: a larger MCH-MC" in result.output and "specialists: none" in result.output
    assert validation(result.output)["srformc-quality.pt"] == ["32.50", "34.25", "28.00", "-", "31.50"], \
        "validation PSNR"
    install_quality(weights, specialists=((None, "nature"), (2, "manga"), (2, "nature")))
    output = CliRunner().invoke(app, ["info"], terminal_width=200).output
    routed = rows(output)
    assert "specialists: clean: nature; 2: nature, manga" in output, "the category chooses the reconstruction"
    assert "(router)" not in output
    router_file(weights / "srformc-quality-noise2.pt").parent.mkdir()
    router_file(weights / "srformc-quality-noise2.pt").write_bytes(b"a router")
    output = CliRunner().invoke(app, ["info"], terminal_width=200).output
    assert "specialists: clean: nature; 2: nature, manga (router)" in output, "level 2's router chooses"
    assert validation(output)["srformc-quality-noise2-for-manga.pt"] == ["32.75", "-", "-", "-", "-"]
    assert routed["quality"][0][0] == "srformc-quality.pt"
    assert "Chroma network: chroma/chroma.pt" in result.output and "18,144 multiply-adds" in result.output
    assert "with the fast and quality tiers" in result.output, "one shipped chroma network, for every tier"


def test_info_names_each_tiers_chroma_network(weights, monkeypatch):
    """A tier with its own chroma network (``chroma/<stem>.pt`` beside its file) is listed with it."""
    from mchmc.chroma import ChromaConfig, ChromaNet, save_chroma

    monkeypatch.setenv("COLUMNS", "200")
    shutil.copytree(REAL / "chroma", weights / "chroma")
    install_quality(weights)
    save_chroma(ChromaNet(ChromaConfig(channels=32, layers=9)), weights / "chroma" / "srformc-quality.pt")
    lines = [ln for ln in CliRunner().invoke(app, ["info"], terminal_width=200).output.splitlines()
             if ln.startswith("Chroma network:")]
    assert len(lines) == 2
    assert lines[0].startswith("Chroma network: chroma/chroma.pt,") and lines[0].endswith(
        "with the fast tier (--no-chroma: off)")
    assert lines[1].startswith("Chroma network: chroma/srformc-quality.pt, 9 unpadded 3x3 conv layers, 32 channels")
    assert "67,968 multiply-adds" in lines[1] and lines[1].endswith("with the quality tier (--no-chroma: off)")
