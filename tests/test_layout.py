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

