"""House rules that keep the architecture readable from the file tree."""
import re

from conftest import ROOT

LIB = ROOT / "mchmc"


def test_library_files_stay_small():
    sizes = {p.name: len(p.read_text().splitlines()) for p in LIB.glob("*.py")}
    assert sizes["model.py"] < 150
    assert {n: s for n, s in sizes.items() if s > 400} == {}


def test_library_never_imports_prefect_or_typer():
    pattern = re.compile(r"^\s*(import|from)\s+(prefect|typer)\b", re.M)
    offenders = [p.name for p in LIB.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_top_level_layout():
    for name in ["mchmc", "flows", "cli", "configs", "tests", "bench", "pyproject.toml", "README.md", ".ci/run"]:
        assert (ROOT / name).exists(), name


def test_a_built_wheel_carries_the_weights_and_the_configs(tmp_path):
    """A non-editable install has no checkout around it: `--config cpu` and the
    default model must come from inside the package."""
    import subprocess
    import sys
    import zipfile

    import shutil

    had_build = (ROOT / "build").exists()
    try:
        res = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                              "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, text=True)
    finally:  # setuptools' build/ would otherwise linger in the checkout
        if not had_build:
            shutil.rmtree(ROOT / "build", ignore_errors=True)
    (wheel,) = tmp_path.glob("mchmc-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {f"mchmc/configs/{p.name}" for p in (ROOT / "configs").glob("*.toml")}
    assert configs and configs <= names
    assert {"mchmc/weights/srformc.pt", "mchmc/weights/srforall.pt"} <= names
    assert "mchmc/cli/app.py" in names and "mchmc/flows/upscale.py" in names
    assert "absent from the `packages` configuration" not in res.stderr, "package data declared: a quiet install"
