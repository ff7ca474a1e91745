"""The weights of a run that is still training, as a model file: its latest checkpoint, exported.

A long run (the quality tier trains for CPU days, over several sessions) checkpoints every few hundred
steps but writes ``model.pt`` only at the end. A snapshot lets a user try the weights so far with
``mchmc upscale --model``, or warm-start another run from them (``train.init_from``), while the run goes
on: the run dir is only read, never written, so the training is not disturbed and its resume stays exact.

    python -m mchmc.train.snapshot runs/SRforMC-fold1-quality runs/snapshots/quality-clean.pt

The file's provenance names the run, the phase and the step it was taken at.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mchmc.errors import MchmcError
from mchmc.train import rundir
from mchmc.train.checkpoint import load_checkpoint
from mchmc.train.config import load_config
from mchmc.train.config_schema import ConfigError


def run_config(run: Path):
    """The run dir's own config (its ``config.toml``): what it trains, whatever the configs say today."""
    cfg_path = rundir.config_file(run)
    if not cfg_path.is_file():
        raise ConfigError(f"{run}: not a run dir (no {rundir.CONFIG_FILE})")
    return load_config(cfg_path)


def latest_weights(run: Path, cfg) -> tuple[str, int | None, dict]:
    """(phase, step, state dict) of the run's most advanced weights: the last phase with a checkpoint or a
    finished model (``step`` is None for a finished phase's model)."""
    from mchmc.modelfile import load_model

    method = run.name.partition("-fold")[0]
    try:
        names = [n for n, _ in cfg.phases(method)]
    except (KeyError, ValueError) as err:
        raise ConfigError(f"{run}: unknown method {method!r} in the run dir's name ({err})") from None
    for name in reversed(names):
        if rundir.done_path(run, name).is_file() and rundir.phase_model_path(run, name).is_file():
            return name, None, load_model(rundir.phase_model_path(run, name)).model.state_dict()
        path = rundir.checkpoint_path(run, name)
        try:
            ck = load_checkpoint(path)  # weights_only: a planted file cannot run code
        except Exception as err:  # noqa: BLE001 - torch raises many kinds for a file that is not one
            raise ConfigError(f"{path}: not a readable checkpoint ({type(err).__name__})") from None
        if ck is None:
            continue
        if not (isinstance(ck, dict) and isinstance(ck.get("model"), dict) and isinstance(ck.get("step"), int)):
            raise ConfigError(f"{path}: not an mchmc checkpoint")
        return name, ck["step"], ck["model"]
    raise ConfigError(f"{run}: no checkpoint or model yet")


def snapshot(run: str | Path, out: str | Path) -> dict:
    """Write ``out`` (atomically) from the run's latest weights; returns the provenance written."""
    from mchmc.modelfile import save_model
    from mchmc.train.run import Run

    run = Path(run)
    cfg = run_config(run)
    phase, step, state = latest_weights(run, cfg)
    method, _, rest = run.name.partition("-fold")
    model = Run(cfg, method, None, run, split=None).build()  # the run's architecture and categories
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError, ValueError) as err:
        why = " ".join(str(err).split())[:200]  # load_state_dict's message spans lines: one line, bounded
        raise ConfigError(f"{run}: the checkpoint does not fit the run's architecture ({why})") from None
    provenance = {"method": method, "config": cfg.name, "test_fold": rest.partition("-")[0],
                  "snapshot": {"run": str(run), "phase": phase, "step": step},
                  "init_from": cfg.train.init_from or cfg.train.init}
    save_model(model, out, provenance)
    return provenance


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mchmc.train.snapshot", description=__doc__.splitlines()[0])
    ap.add_argument("run", help="the run dir (runs/<method>-fold<k>-<config>)")
    ap.add_argument("out", help="the model file to write")
    args = ap.parse_args(argv)
    try:
        prov = snapshot(args.run, args.out)
    except (MchmcError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    s = prov["snapshot"]
    print(f"{args.out}: {s['phase']} " + ("finished" if s["step"] is None else f"step {s['step']:,}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
