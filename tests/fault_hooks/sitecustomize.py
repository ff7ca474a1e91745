"""Loaded at start-up by the Python processes the tests start: see tests/faults.py."""
import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("mchmc_test_faults", Path(__file__).resolve().parents[1] / "faults.py")
_faults = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _faults
_spec.loader.exec_module(_faults)
_faults.install()
