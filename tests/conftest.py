"""Shared fixtures. Data from ../shared is optional: tests that need it skip
with a message when it is absent."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import faults

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

# Every process the tests start loads the test-only fault hooks (inert unless a test sets MCHMC_FAULT_*).
faults.install_path()


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test when it is not there."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found (../shared is absent on this checkout)")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
