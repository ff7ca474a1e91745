"""``mchmc prep`` and ``mchmc train``: resolve the config, run the flow (or the plain
functions with --no-prefect) and show a rich progress display."""
from __future__ import annotations

import shutil
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

err = Console(stderr=True, soft_wrap=True, highlight=False)


def _overrides(data_root: str | None, cache: str | None) -> dict:
    """``--data-root`` is a path the user typed: relative to the current directory (a config file's own
    ``data.root`` stays relative to the repository), so it is made absolute here (issue 29)."""
    from pathlib import Path

    ov = {}
    if data_root:
        ov["data.root"] = str(Path(data_root).expanduser().resolve())
    if cache:
        ov["data.cache_dir"] = str(cache)
    return ov


def prep(config: str, data_root: str | None, cache: str | None, use_prefect: bool) -> int:
    from mchmc.errors import MchmcError

    con = Console(highlight=False)
    ov = _overrides(data_root, cache)
    try:
        if use_prefect:
            from mchmc.batch.pool import reaper
            from mchmc.flows.prep import prep_flow

            reaper.start()  # Prefect's temporary server dies with this command, kill -9 included
            res = prep_flow(config, ov)
        else:
            from mchmc.flows.prep import prep_patches

            res = prep_patches.fn(config, ov)
    except MchmcError as e:
        err.print(f"error: {e}")
        return 2
    table = Table("category", "images", "stride", "patches", "alpha",
                  title=f"Patch store {res['key']} ({'cache hit' if res['cache_hit'] else 'built'}, {res['seconds']:.1f} s)")
    for c, n in res["counts"].items():
        table.add_row(c, str(res["images"][c]), str(res["stride"][c]), f"{n:,}", f"{res['alpha'][c]:.4f}")
    con.print(table)
    con.print(f"store: {res['path']}")
    return 0


class _Display:
    """Rich progress over all phases: step, loss, validation PSNR, steps/s, ETA."""

    def __init__(self, phase_steps: dict[str, int]):
        self.offsets, total = {}, 0
        for name, n in phase_steps.items():
            self.offsets[name], total = total, total + n
        self.psnr = "-"
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=err, refresh_per_second=4)
        self.task = self.progress.add_task("train", total=total, info="")

    def __call__(self, ev: dict) -> None:
        done = self.offsets.get(ev["phase"], 0) + int(ev["step"])
        if ev.get("event") == "log" and ev.get("psnr_mean") not in (None, ""):
            self.psnr = f"{float(ev['psnr_mean']):.2f} dB"
            if ev.get("val_acc") not in (None, ""):
                self.psnr += f", acc {float(ev['val_acc']):.0%}"
        info = f"loss {float(ev['loss']):.4g} | val PSNR {self.psnr} | {float(ev['steps_per_s']):.1f} steps/s"
        self.progress.update(self.task, completed=done, description=ev["phase"], info=info)


def train(config: str, method: str, fold: str, runs: str, data_root: str | None, cache: str | None,
          export: str | None, use_prefect: bool, device: str | None = None, data: str | None = None,
          init: str | None = None) -> int:
    """``device``: ``--device`` (None: the config's ``train.device``, ``auto`` unless it says otherwise).
    ``data``: ``--data``, an archive whose sub-folders are the categories (:mod:`mchmc.train.archive`);
    ``init``: ``--init``, a model file or shipped name to fine-tune from (``train.init_from``)."""
    # Over 60 lines on purpose: the command reads top to bottom (resolve the config, open the run, train, print),
    # its two try blocks deciding the exit code (2: refused before any work, 1: training failed or unfinished).
    from mchmc.train.config import load_config
    from mchmc.errors import MchmcError
    from mchmc.flows.common import set_progress
    from mchmc.train.device import resolve_device
    from mchmc.train.run import open_run

    con = Console(highlight=False)
    ov = _overrides(data_root, cache)
    if device:
        ov["train.device"] = device  # through the overrides, so the Prefect flow trains where this said
    if init:
        from pathlib import Path

        ov["train.init_from"] = str(Path(init).resolve()) if Path(init).expanduser().exists() else init
    try:
        cfg = load_config(config, ov)
        if data:
            from mchmc.train.archive import archive_run

            archive, more, method = archive_run(cfg, data, method)
            con.print("\n".join(archive.header_lines()))
            ov.update(more)
            cfg = load_config(config, ov)
        used = resolve_device(cfg.train.device)  # a GPU asked for and missing: refused before any work
        run = open_run(cfg, method, fold, runs)
    except MchmcError as e:
        err.print(f"error: {e}")
        return 2
    phases = {n: p.steps for n, p in cfg.phases(method)}
    _print_start(con, cfg, method, run, phases, used)
    display = _Display(phases)
    set_progress(display)
    t0 = time.time()
    try:
        with display.progress:
            if use_prefect:
                from mchmc.batch.pool import reaper
                from mchmc.flows.train import train_flow

                reaper.start()  # Prefect's temporary server dies with this command, kill -9 included
                result = train_flow(config, method, str(fold), str(runs), ov)
            else:
                from mchmc.train.run import train_method

                result = train_method(cfg, method, fold, runs, display)
    except MchmcError as e:
        err.print(f"error: {e}")
        return 1
    finally:
        set_progress(None)
    con.print(_stages_table(run, result))
    for st in result["stages"].values():
        if st.get("gate"):
            from mchmc.train.gate import words

            con.print(words(st["gate"]))
    con.print(f"model: {result['model']} ({time.time() - t0:.0f} s this session)")
    if export and result["done"]:
        from pathlib import Path

        Path(export).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result["model"], export)
        con.print(f"exported to {export}")
    return 0 if result["done"] else 1


def _print_start(con: Console, cfg, method: str, run, phases: dict[str, int], used: str) -> None:
    from mchmc.precision import resolve_precision
    from mchmc.train.device import device_words

    con.print(f"{method}, test fold {run.fold_label}, config {cfg.name}: "
              + ", ".join(f"{n} {s:,} steps" for n, s in phases.items()) + f"; run dir {run.dir}")
    con.print(f"device {device_words(used)} (config: {cfg.train.device}); precision "
              f"{resolve_precision(cfg.train.precision, used)} (config: {cfg.train.precision}); start "
              f"{cfg.train.init_from or cfg.train.init}; validation {len(run.split.val)} images "
              f"({'carved out of the training folds' if cfg.train.validation == 'train' else 'from the test fold'})")
    if cfg.train.balance_mse:
        con.print("MSE term balanced: each category weighs the same, whatever its number of patches")
    if cfg.train.never_worse and cfg.train.init_from:
        con.print("never worse than the start: " + ("Phase 1 trains the head alone on the start's features; "
                  if len(phases) > 1 else "") + "the trained upscaler is kept only if at least as good as the "
                  "start's on every category of the validation pages (whole)")


def _stages_table(run, result: dict) -> Table:
    table = Table("stage", "steps", "minutes", "val PSNR (crop 2)", "bicubic", "val acc", title=str(run.dir))
    for name, st in result["stages"].items():
        fin = st["final"]
        acc = fin.get("val_acc")
        table.add_row(name, f"{st['steps']:,}", f"{st['seconds'] / 60:.1f}",
                      " / ".join(f"{c} {float(fin[f'psnr_{c}']):.2f}" for c in st["bicubic"] if f"psnr_{c}" in fin),
                      " / ".join(f"{c} {v:.2f}" for c, v in st["bicubic"].items() if c != "mean"),
                      f"{float(acc):.0%}" if acc not in (None, "") else "-")
    return table


def train_head(model: str, out: str, config: str | None, fold: int, data_root: str | None, use_prefect: bool) -> int:
    from mchmc.errors import MchmcError

    ov = _overrides(data_root, None) or None
    try:
        if use_prefect:
            from mchmc.batch.pool import reaper
            from mchmc.flows.head import train_head_flow

            reaper.start()  # Prefect's temporary server dies with this command, kill -9 included
            res = train_head_flow(model, out, config, fold, ov)
        else:
            from mchmc.train.head import retrain_head

            res = retrain_head(model, out, config, fold, ov, log=err.print)
    except (MchmcError, ValueError) as e:
        err.print(f"error: {e}")
        return 2
    Console(highlight=False).print(
        f"head retrained on {res['train_images']} images x {len(res['scales'])} sizes (config {res['config']}); "
        f"validation loss {res['val_loss_before']:.4f} -> {res['val_loss']:.4f}, top-1 {res['val_top1_before']:.3f} "
        f"-> {res['val_top1']:.3f} (epoch {res['epoch']}); written {out}")
    return 0


def train_router(model: str, config: str | None, fold: int, data_root: str | None, use_prefect: bool) -> int:
    from mchmc.errors import MchmcError

    ov = _overrides(data_root, None) or None
    try:
        if use_prefect:
            from mchmc.batch.pool import reaper
            from mchmc.flows.router import train_router_flow

            reaper.start()  # Prefect's temporary server dies with this command, kill -9 included
            summaries = train_router_flow(model, config, fold, ov)
        else:
            from mchmc.train.router import train_routers

            summaries = train_routers(model, config, fold, ov, log=err.print)
    except (MchmcError, ValueError) as e:
        err.print(f"error: {e}")
        return 2
    out = Console(highlight=False)
    for s in summaries:
        cv = ", ".join(f"{c} {v:.1%}" for c, v in s["cv_top1"].items())
        out.print(f"{s['model']}: router fitted on {s['train_pages']} pages of {s['train_images']} images (config "
                  f"{s['config']}, L2 {s['strength']:g}); cross-validated top-1 {cv}; written {s['out']}")
    return 0
