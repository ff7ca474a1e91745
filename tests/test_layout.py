"""House rules that keep the architecture readable from the file tree."""
import ast
import re

from conftest import ROOT

LIB = ROOT / "mchmc"
CODE = [ROOT / d for d in ("mchmc", "cli", "flows", "bench", "scripts")]  # everything but the tests
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 300, 60
WHY_LONG = re.compile(r"#.*over 60 lines", re.I)


def modules():
    return [p for d in CODE for p in sorted(d.rglob("*.py"))]


def test_every_module_stays_small():
    """The whole tree, sub-packages included: a module over 300 lines holds more than one idea."""
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in modules()}
    assert len(sizes) > 100 and sizes["mchmc/model.py"] < 150
    assert {n: s for n, s in sizes.items() if s > MAX_MODULE_LINES} == {}


def test_a_function_over_60_lines_says_why():
    """A comment saying 'over 60 lines' (and why) in its first lines, where a reader meets it."""
    unexplained = []
    for p in modules():
        lines = p.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                    head = lines[node.lineno - 1 : node.body[0].end_lineno + 2]
                    if not any(WHY_LONG.search(line) for line in head):
                        unexplained.append(f"{p.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert unexplained == []


def test_the_library_has_no_fault_injection_branches():
    """Crash tests inject faults from tests/faults.py (a start-up hook of the processes the tests start)."""
    offenders = [str(p.relative_to(ROOT)) for p in LIB.rglob("*.py") if "MCHMC_FAULT" in p.read_text()]
    assert offenders == []


def test_library_never_imports_prefect_or_typer():
    pattern = re.compile(r"^\s*(import|from)\s+(prefect|typer)\b", re.M)
    offenders = [p.name for p in LIB.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_top_level_layout():
    for name in ["mchmc", "flows", "cli", "configs", "tests", "bench", "pyproject.toml", "README.md", ".ci/run"]:
        assert (ROOT / name).exists(), name


def test_every_subpackage_is_in_the_readme_layout():
    """README's layout section names every sub-package of the library (what it owns is beside it)."""
    readme = (ROOT / "README.md").read_text()
    packages = {p.parent for p in LIB.rglob("__init__.py")} - {LIB}
    missing = [str(p.relative_to(ROOT)) for p in sorted(packages) if f"{p.name}/" not in readme]
    assert missing == []
