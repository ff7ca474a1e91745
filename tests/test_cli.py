"""The `mchmc` command: instant help (nothing heavy imported) and `info`."""
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from mchmc.cli.app import app


def test_help_imports_no_heavy_library():
    code = "import sys; from mchmc.cli.app import app; heavy = {'torch', 'prefect', 'ray'} & set(sys.modules); print(sorted(heavy))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_help_lists_the_commands():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0 and "info" in result.output


def test_info_prints_architectures_halo_and_scale():
    result = CliRunner().invoke(app, ["info"], terminal_width=160)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "54,052" in out and "9,219" in out and "63,271" in out
    assert "mch-mc" in out and "2x" in out
    assert "| 5 " in out.replace("│", "|") or " 5 " in out


def test_info_on_a_bad_model_file_exits_1_with_one_line(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"nope")
    result = CliRunner().invoke(app, ["info", "--model", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}: not an mchmc model file" in result.output.replace("\n", "")


@pytest.mark.parametrize("args", [["--bogus"], ["nosuchcommand"]])
def test_usage_errors_exit_2(args):
    assert CliRunner().invoke(app, args).exit_code == 2
