"""Every shipped config keeps its run identity (issue 30): what each config resolved to before the configs
were rewritten to inherit from one another (``base = "..."``) and ``init_from`` could name a run, recorded by
the code of the branch point (commit 6aaa239) in ``tests/config_identity.json``.

A run dir is reopened (resumed) when its ``config.toml`` is the resolved config's TOML, or failing that when
its run identity is the same (:func:`mchmc.train.run.same_run`); its name is ``<method>-fold<k>-<name>``; a
retrain's source key hashes the identity. So each of these is compared, not just the loaded dataclass.

Regenerate (only when a config is *meant* to change what it trains):
    .venv/bin/python tests/test_config_identity.py > /tmp/ci.json && mv /tmp/ci.json tests/config_identity.json
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

FIXTURE = Path(__file__).with_name("config_identity.json")
METHODS = ("SRforNature", "SRforManga", "SRforText", "SRforAll", "SRforMC")
DATA_KEY = "0" * 32  # a patch store key stands in: the source key's config part is what is compared


def record(name: str) -> dict:
    """What decides a shipped config's runs: its config.toml text, identity, run dir names, source key."""
    from mchmc.train.config import load_config
    from mchmc.train.config_toml import config_to_dict, dump_config, run_identity
    from mchmc.train.retrain import source_key
    from mchmc.train.rundir import run_dir

    cfg = load_config(name)
    identity = json.dumps(run_identity(cfg), sort_keys=True)
    return {"resolved": json.loads(json.dumps(config_to_dict(cfg))),
            "config_toml": dump_config(cfg),
            "identity_sha256": hashlib.sha256(identity.encode()).hexdigest(),
            "run_dirs": [run_dir("runs", m, f, cfg.name).as_posix() for m in METHODS for f in (1, None)],
            "source_key": source_key(cfg, "SRforMC", "1", DATA_KEY)}


def shipped() -> list[str]:
    from mchmc.train.config import CONFIG_DIR

    return sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))


def _before() -> dict:
    return json.loads(FIXTURE.read_text()) if FIXTURE.is_file() else {}


def test_every_shipped_config_is_recorded():
    assert shipped() == sorted(_before())


@pytest.mark.parametrize("name", sorted(_before()))
def test_shipped_config_keeps_its_identity(name):
    before, now = _before()[name], record(name)
    assert now["resolved"] == before["resolved"]
    assert now["config_toml"] == before["config_toml"]  # a run dir's config.toml: byte for byte
    assert now["identity_sha256"] == before["identity_sha256"]
    assert now["run_dirs"] == before["run_dirs"]
    assert now["source_key"] == before["source_key"]


@pytest.mark.parametrize("name", sorted(_before()))
def test_old_config_toml_is_the_same_run(name):
    """A run dir written by the old code (its config.toml) is reopened, not refused, by the new one."""
    from mchmc.train.config import load_config
    from mchmc.train.run import same_run

    assert same_run(_before()[name]["config_toml"], load_config(name))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    json.dump({n: record(n) for n in shipped()}, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
