"""Package discovery, which pyproject.toml cannot express for this layout.

flows/, cli/ and configs/ sit at the top of the checkout but install under the mchmc namespace
(pyproject.toml's [tool.setuptools.package-dir]); `packages = {find = ...}` would find them as
top-level `cli` / `flows` or not at all. So every package is found here, under each mapped
folder, by setuptools' own finder (namespace packages too: mchmc/weights is data only), and a
new subpackage (mchmc/train/textpages was missed once) ships without editing a list.
Everything else is in pyproject.toml.
"""
import tomllib
from pathlib import Path

from setuptools import find_namespace_packages, setup

HERE = Path(__file__).resolve().parent
PACKAGE_DIR = tomllib.loads((HERE / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]


def packages() -> list[str]:
    found = []
    for name, folder in PACKAGE_DIR.items():
        subs = find_namespace_packages(str(HERE / folder), exclude=["*__pycache__*"])
        found += [name] + [f"{name}.{sub}" for sub in subs]
    return found


setup(packages=packages())
