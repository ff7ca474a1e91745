"""A model may bring its own chroma network (``chroma/<model stem>.pt`` beside its file): its colour JPEG pages
get that network's chroma, every other model's the shipped one (issue 27: the quality tier's cost allows a
deeper chroma network than the fast tier's)."""
from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

from mchmc.chroma import SHIPPED, ChromaConfig, ChromaNet, chroma_file, save_chroma
from mchmc.modelfile import SHIPPED_DIR


def test_a_model_without_its_own_chroma_network_gets_the_shipped_one(tmp_path):
    model = tmp_path / "mine.pt"
    shutil.copy(SHIPPED_DIR / "srformc.pt", model)
    assert chroma_file(model) == SHIPPED
    (tmp_path / "chroma").mkdir()
    (tmp_path / "chroma" / "other.pt").write_bytes(b"")
    (tmp_path / "chroma" / "mine.pt").mkdir()  # not a file: not a network
    assert chroma_file(model) == SHIPPED
    (tmp_path / "chroma" / "mine.pt").rmdir()
    save_chroma(ChromaNet(ChromaConfig(channels=8, layers=3)), tmp_path / "chroma" / "mine.pt")
    assert chroma_file(model) == tmp_path / "chroma" / "mine.pt"


def test_the_pages_of_a_model_with_its_own_chroma_network_get_its_chroma(tmp_path):
    """Its own network here is a new one, whose correction is zero: its pages' chroma is the bicubic, byte for
    byte what --no-chroma writes, where the shipped network's would differ (tests/test_chroma.py)."""
    from pages import smooth_rgb

    models = tmp_path / "models"
    (models / "chroma").mkdir(parents=True)
    for name in ("srformc.pt", "srformc-noise3.pt"):
        shutil.copy(SHIPPED_DIR / name, models / name)
    save_chroma(ChromaNet(ChromaConfig(channels=8, layers=7)), models / "chroma" / "srformc.pt")
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray((smooth_rgb(40, 56, 3) * 255).round().astype(np.uint8)).save(src / "q50.jpg", quality=50)
    outs = {}
    for flag in ("--chroma", "--no-chroma"):
        dst = tmp_path / flag
        res = subprocess.run([sys.executable, "-m", "mchmc.cli.app", "upscale", str(src), "--out", str(dst),
                              "--model", str(models / "srformc.pt"), "--cpus", "1", flag],
                             capture_output=True, text=True, timeout=600, check=False)
        assert res.returncode == 0, res.stderr
        outs[flag] = (dst / "q50.jpg").read_bytes()
    assert outs["--chroma"] == outs["--no-chroma"]
