"""Independent references from ../shared (the peer benchmark's own code), loaded
by path so the project never copies them. Tests that use them skip without it."""
from __future__ import annotations

import importlib.util

from conftest import shared_path


def peer_imresize():
    """The peer benchmark's MATLAB-style imresize module."""
    path = shared_path("tools", "peers", "imresize_matlab.py")
    spec = importlib.util.spec_from_file_location("peer_imresize_matlab", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.imresize
