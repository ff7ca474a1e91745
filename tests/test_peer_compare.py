"""bench/peer_compare.py --split bench: Set5 and Set14, in no fold and in no config's training data, are more
images to choose on, each under the category it is (Set14's comic is a drawing, ppt3 a slide; the rest are
photographs), written as even-sized 8-bit PNGs (a gray image stays gray, as the peer benchmark reads it) with the folder in
the name so the two sets never collide."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import peer_compare as pc


def test_the_bench_split_is_set5_and_set14_under_their_categories(tmp_path, monkeypatch):
    root = tmp_path / "datasets"
    rng = np.random.default_rng(0)
    for folder, name, mode in [("set5", "baby", "RGB"), ("set14", "comic", "RGB"), ("set14", "ppt3", "RGB"),
                               ("set14", "bridge", "L"), ("set14", "baby", "RGB")]:
        (root / folder).mkdir(parents=True, exist_ok=True)
        shape = (21, 30, 3) if mode == "RGB" else (21, 30)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(root / folder / f"{name}.png")
    (root / "set14" / "sha256sums.txt").write_text("not an image\n")
    monkeypatch.setenv("MCHMC_DATA_ROOT", str(root))

    written = pc.write_images("quality", "1", 0, tmp_path / "hr", "bench")
    assert written == {"nature": ["set14-baby.png", "set14-bridge.png", "set5-baby.png"],
                       "manga": ["set14-comic.png"], "text": ["set14-ppt3.png"]}
    for category, names in written.items():
        for name in names:
            img = np.asarray(Image.open(tmp_path / "hr" / category / name))
            channels = () if name == "set14-bridge.png" else (3,)
            assert img.shape == (20, 30, *channels) and img.dtype == np.uint8, "even size, 8 bits"
    whole = np.asarray(Image.open(root / "set5" / "baby.png"))[:20]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "hr" / "nature" / "set5-baby.png")), whole)
    assert pc.write_images("quality", "1", 16, tmp_path / "crop", "bench")["manga"] == ["set14-comic.png"]
    assert np.asarray(Image.open(tmp_path / "crop" / "manga" / "set14-comic.png")).shape[:2] == (16, 16)
