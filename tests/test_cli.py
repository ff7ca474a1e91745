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
    from mchmc.model import ARCHITECTURES, build_model

    rows = {}  # architecture -> its table row, read back from the printed table
    for line in result.output.replace("│", "|").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] in ARCHITECTURES:
            rows[cells[0]] = cells
    assert set(rows) == set(ARCHITECTURES)
    for arch, (_, sr, head, total, halo, scale) in rows.items():
        model, cfg = build_model(arch), ARCHITECTURES[arch]
        n_head = sum(p.numel() for p in model.head.parameters()) if model.head is not None else 0
        n_all = sum(p.numel() for p in model.parameters())
        assert (int(sr.replace(",", "")), int(head.replace(",", "")), int(total.replace(",", ""))) == (
            n_all - n_head, n_head, n_all)
        assert (int(halo), scale) == (cfg.halo, f"{cfg.scale}x")
    assert rows["mch"][1] == rows["mch-mc"][1] == "54,052", "the paper's SR network, with or without the head"


def test_info_on_a_bad_model_file_exits_1_with_one_line(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"nope")
    result = CliRunner().invoke(app, ["info", "--model", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}: not an mchmc model file" in result.output.replace("\n", "")


@pytest.mark.parametrize("args", [["--bogus"], ["nosuchcommand"]])
def test_usage_errors_exit_2(args):
    assert CliRunner().invoke(app, args).exit_code == 2
