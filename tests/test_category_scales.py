"""bench/category_scales.py --router: where a level has a router, its category is scored beside the head's,
at 1x, 2x and 4x the benchmark's page size (the router's statistics read a big page reduced, so whether it
holds on a scan is a measurement, docs/quality-tier.md, session 12)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import category_scales as cs
from conftest import shared_path
from test_router import always
from test_routing import family

from mchmc.router import router_file, save_router


def test_the_router_row_is_what_the_router_says_and_the_heads_rows_stay(tmp_path):
    datasets = shared_path("datasets")
    model = family(tmp_path / "fam", {"manga": 3 / 64})
    plain, _, counts = cs.top1(str(model), None, str(datasets), "val")
    assert {v for v, _, _ in plain} == {cs.VIEW_PIXELS}, "no router file: no router row"
    save_router(always("manga", model), router_file(model))
    scores, truth, _ = cs.top1(str(model), None, str(datasets), "val", router=True)
    for size in cs.SIZES:
        assert scores[("router", "manga", size)] == 100.0
        assert scores[("router", "nature", size)] == scores[("router", "text", size)] == 0.0
        assert truth[("router", "manga", size)] > 0.99
        for c in counts:
            assert scores[(cs.VIEW_PIXELS, c, size)] == plain[(cs.VIEW_PIXELS, c, size)], "the head's rows unchanged"
