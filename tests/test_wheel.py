"""The release as a user gets it: the wheel built from this checkout, installed (not editable) in a
fresh venv, runs every command from a folder outside the checkout.

The wheel is built once from a copy of the checkout (nothing is written into it) and installed
with torch pinned as scripts/env.sh pins it (the CPU wheel on local disk); pip's cache, and no
byte-compiling of the dependencies, make the install about a minute on an idle machine. The
commands run in a temporary folder that is also their HOME, so neither the checkout's sources nor
a user cache can stand in for what the wheel lacks.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT
from test_data import synth_dataset

pytestmark = pytest.mark.slow

TORCH = "torch==2.13.0"  # as scripts/env.sh installs it: a looser spec pulls GBs of CUDA wheels
# package -> checkout folder (cli/ installs as mchmc.cli, ...)
PACKAGE_DIR = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
SAMPLES = ROOT / "samples"


def package_files() -> set[str]:
    """What the wheel must hold: every file of the package folders, at its installed path."""
    return {f"{package.replace('.', '/')}/{p.relative_to(ROOT / src).as_posix()}"
            for package, src in PACKAGE_DIR.items() for p in (ROOT / src).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # setuptools writes build/ and *.egg-info beside the sources: a copy keeps them out
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "runs", "*.egg-info",
                                                             "__pycache__", ".pytest_cache"))
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                          "-w", str(tmp / "dist"), str(src)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    (built,) = (tmp / "dist").glob("mchmc-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """``run(*args)``: a command of the fresh venv (``mchmc`` or ``python``) in a folder outside the checkout."""
    tmp = tmp_path_factory.mktemp("installed")
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    res = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-compile", TORCH, str(wheel)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    work = tmp / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not k.startswith("MCHMC_")}
    env.update(HOME=str(work), PREFECT_HOME=str(work / ".prefect"), MPLBACKEND="Agg",
               PATH=f"{env_dir / 'bin'}{os.pathsep}{os.environ['PATH']}")

    def run(*args, ok: bool = True) -> subprocess.CompletedProcess:
        exe = env_dir / "bin" / args[0]
        res = subprocess.run([str(exe), *map(str, args[1:])], cwd=work, env=env, capture_output=True, text=True,
                             errors="replace", timeout=600)
        if ok:
            assert res.returncode == 0, f"{args}: exit {res.returncode}\n{res.stdout}\n{res.stderr}"
        return res

    run.work = work
    return run


def test_the_wheel_holds_every_package_file_under_mchmc_and_nothing_else(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = package_files()
    assert "mchmc/train/textpages/__init__.py" in expected and "mchmc/weights/srformc.pt" in expected
    assert sorted(expected - names) == []
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"mchmc"}, "no top-level cli / flows package"


def test_every_module_of_the_checkout_imports_from_the_install(installed):
    expected = {p.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
                for p in package_files() if p.endswith(".py")} - {"mchmc"}
    code = ("import importlib, pkgutil, mchmc\n"
            "names = [m.name for m in pkgutil.walk_packages(mchmc.__path__, 'mchmc.')]\n"
            "[importlib.import_module(n) for n in names]\n"
            "print(mchmc.__file__, *names)")
    where, *names = installed("python", "-c", code).stdout.split()
    assert "site-packages" in where and not where.startswith(str(ROOT))
    assert sorted(expected - set(names)) == []


def test_info_version_and_help(installed):
    assert "upscale" in installed("mchmc", "--help").stdout
    assert "0.1.0" in installed("mchmc", "--version").stdout
    assert "mch-mc" in installed("mchmc", "info", "--model", "srformc").stdout


def test_upscale_classify_and_explain_the_sample_pages_with_the_shipped_models(installed):
    work = installed.work
    out = work / "text-page-x2.png"
    installed("mchmc", "upscale", SAMPLES / "text-page.png", "--out", out, "--cpus", "1")
    from PIL import Image

    with Image.open(out) as im, Image.open(SAMPLES / "text-page.png") as src:
        assert im.size == (2 * src.width, 2 * src.height)

    report = work / "classify.jsonl"
    installed("mchmc", "classify", SAMPLES, "--report", report, "--cpus", "1")
    got = {Path(r["input"]).name: r["category"] for r in map(json.loads, report.read_text().splitlines())}
    assert set(got) == {p.name for p in SAMPLES.iterdir()} and got["text-page.png"] == "text"

    heat = work / "manga-gradcam.png"
    installed("mchmc", "explain", SAMPLES / "manga-page.png", "--out", heat)
    assert heat.stat().st_size > 0


def test_a_text_config_finds_the_rendered_pages_it_trains_on(installed):
    """The ``*-text`` configs add rendered document pages (mchmc.train.textpages, system fonts)."""
    code = ("import dataclasses, sys\n"
            "from mchmc.train.config import load_config\n"
            "from mchmc.train.data import rendered_images\n"
            "data = load_config('best-text').data\n"
            "assert data.rendered_pages > 0\n"
            "pages = rendered_images(dataclasses.replace(data, rendered_pages=2, cache_dir=sys.argv[1]))\n"
            "print(len(pages))")
    assert installed("python", "-c", code, installed.work / "text-cache").stdout.split() == ["2"]


@pytest.fixture(scope="module")
def data_root(installed) -> Path:
    """Synthetic images in the folders the smoke config names."""
    from mchmc.train.config import load_config

    root = synth_dataset(installed.work / "imgs")
    for c, folder in load_config("smoke").data.folders.items():
        (root / c).rename(root / folder)
    return root


def test_prep_train_experiment_report_and_schedule(installed, data_root):
    """The smoke config for real: its patches, a model (through the Prefect flow), the model evaluated
    on its test fold, the report, and the model versions. ``train-head`` only as far as refusing a
    shipped model without a head: a real fit is minutes of CPU (tests/test_head.py runs one)."""
    work = installed.work
    data = ["--data-root", data_root, "--cache", work / "patches"]
    installed("mchmc", "prep", "--config", "smoke", *data, "--no-prefect")
    installed("mchmc", "train", "--config", "smoke", "--method", "SRforMC", "--fold", "1", "--runs", work / "runs",
              *data)
    assert (work / "runs" / "SRforMC-fold1-smoke" / "model.pt").is_file()
    refused = installed("mchmc", "train-head", "srforall", "--out", work / "x.pt", "--no-prefect", ok=False)
    assert refused.returncode == 2 and "no category head" in refused.stderr + refused.stdout

    installed("mchmc", "experiment", "--config", "smoke", "--folds", "1", "--methods", "SRforMC", "--runs",
              work / "runs", *data, "--no-prefect", "--no-report")
    assert (work / "runs" / "SRforMC-fold1-smoke" / "evaluation.json").is_file()
    installed("mchmc", "report", work / "runs", "--out", work / "report", "--no-prefect")
    assert "## Table 7" in (work / "report" / "report.md").read_text()

    assert "no versions" in installed("mchmc", "schedule", "versions", "--models", work / "models").stdout
