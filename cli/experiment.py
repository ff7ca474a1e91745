"""``mchmc experiment``, ``mchmc report`` and ``mchmc explain``: parse, call one library or
flow function, show progress and the result. Exit codes: 0 done, 1 a run or file failed,
2 usage errors (bad folds, methods, config)."""
from __future__ import annotations

import os
import shlex
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

err = Console(stderr=True, soft_wrap=True, highlight=False)


def parse_folds(text: str | None) -> list[int] | None:
    """'1,2' or '1-3' -> [1, 2] / [1, 2, 3]; None or '' -> every fold."""
    if not text:
        return None
    out = []
    for part in text.split(","):
        part = part.strip()
        a, _, b = part.partition("-")
        if not a.isdigit() or (b and not b.isdigit()):
            raise ValueError(f"--folds: {text!r} is not a list of fold numbers like 1,2 or 1-3")
        out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return out


def _command(name: str, *args: tuple[str | None, str | None]) -> str:
    """The command line that reproduces this run (recorded in the report), from the parsed options."""
    parts = ["mchmc", name]
    for flag, value in args:
        if value:
            parts += ([flag] if flag else []) + [shlex.quote(str(value))]
    return " ".join(parts)


def parse_methods(text: str | None) -> list[str] | None:
    return [m.strip() for m in text.split(",") if m.strip()] if text else None


class _Display:
    """Two bars: cells of the grid, and the current cell's training steps or evaluated images."""

    def __init__(self, total: int):
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=err,
                                 refresh_per_second=4)
        self.cells = self.progress.add_task("cells", total=total, info="")
        self.inner = self.progress.add_task("", total=1, info="", visible=False)
        self.label = ""

    def __call__(self, ev: dict) -> None:
        kind = ev.get("event")
        if kind == "cell":
            self.label = ev["label"]
            done = ev["index"] + (1 if ev["state"] in ("cached", "done") else 0)
            self.progress.update(self.cells, completed=done, info=f"{self.label}: {ev['state']}")
            self.progress.update(self.inner, visible=False)
        elif kind == "eval":
            self.progress.update(self.inner, visible=True, description=f"  {self.label} scoring", completed=ev["done"],
                                 total=ev["total"], info=ev["image"])
        elif kind in ("step", "log"):
            info = f"loss {float(ev['loss']):.4g} | {float(ev['steps_per_s']):.1f} steps/s"
            if kind == "log" and ev.get("psnr_mean") not in (None, ""):
                info += f" | val {float(ev['psnr_mean']):.2f} dB"
            self.progress.update(self.inner, visible=True, description=f"  {self.label} {ev['phase']}",
                                 completed=int(ev["step"]), total=int(ev["steps"]), info=info)


def _plan_table(cfg, cells, runs) -> tuple[Table, int]:
    from mchmc.experiment.cells import cell_status

    table = Table("cell", "state", "steps left", title=f"Experiment {cfg.name}: {len(cells)} cells under {runs}/")
    left = 0
    for c in cells:
        st = cell_status(cfg, c, runs)
        left += st.steps_left
        table.add_row(f"{c.method} fold {c.fold}", st.state, f"{st.steps_left:,}" if c.trains else "-")
    return table, left


def _print_tables(con: Console, tables: dict, names=("table7", "gain", "table9", "table10")) -> None:
    for name in names:
        rows = tables.get(name) or []
        if not rows:
            continue
        t = Table(*rows[0].keys(), title=name)
        for r in rows:
            t.add_row(*[str(v).replace("**", "") for v in r.values()])
        con.print(t)


def experiment(config: str, folds: str | None, methods: str | None, runs: str, data_root: str | None,
               cache: str | None, use_prefect: bool, report: bool, plan_only: bool) -> int:
    from mchmc.train.config import load_config
    from mchmc.errors import MchmcError
    from mchmc.experiment.cells import plan_cells, run_cells
    from mchmc.flows.common import set_progress

    from .train import _overrides

    con = Console(highlight=False)
    ov = _overrides(data_root, cache)
    try:
        cfg = load_config(config, ov)
        cells = plan_cells(cfg, parse_folds(folds), parse_methods(methods))
        table, left = _plan_table(cfg, cells, runs)
    except (MchmcError, ValueError) as e:
        err.print(f"error: {e}")
        return 2
    con.print(table)
    con.print(f"{left:,} training steps to run (batch {cfg.train.batch}).")
    if plan_only:
        return 0
    command = _command("experiment", ("--config", config), ("--folds", folds), ("--methods", methods),
                       ("--runs", runs), ("--data-root", data_root), ("--cache", cache))
    display = _Display(len(cells))
    set_progress(display)
    try:
        with display.progress:
            if use_prefect:
                from mchmc.batch.pool import reaper
                from mchmc.flows.experiment import experiment_flow

                reaper.start()  # Prefect's temporary server dies with this command, kill -9 included
                result = experiment_flow(config, parse_folds(folds), parse_methods(methods), runs, ov, report, command)
                rep = result.get("report")
            else:
                run_cells(cfg, cells, runs, display)
                rep = None
                if report:
                    from mchmc.experiment.report import write_report

                    r = write_report(runs, cfg.name, None, command)
                    rep = {"path": str(r.path), "tables": r.tables}
    except MchmcError as e:
        err.print(f"error: {e}")
        return 1
    finally:
        set_progress(None)
    if rep:
        _print_tables(con, rep["tables"])
        con.print(f"report: {rep['path']}")
    return 0


def report(runs: str, config: str | None, out: str | None, use_prefect: bool) -> int:
    from mchmc.errors import MchmcError

    con = Console(highlight=False)
    try:
        from mchmc.experiment.cells import resolve_config_name

        name = resolve_config_name(runs, config)  # usage errors before any service starts
    except MchmcError as e:
        err.print(f"error: {e}")
        return 2
    command = _command("report", (None, runs), ("--config", name), ("--out", out))
    try:
        if use_prefect:
            from mchmc.batch.pool import reaper
            from mchmc.flows.experiment import report_flow

            reaper.start()  # Prefect's temporary server dies with this command, kill -9 included
            rep = report_flow(runs, name, out, command)
        else:
            from mchmc.experiment.report import write_report

            r = write_report(runs, name, out, command)
            rep = {"path": str(r.path), "tables": r.tables, "missing": list(r.missing), "notes": list(r.notes),
                   "cells": r.cells}
    except MchmcError as e:
        err.print(f"error: {e}")
        return 1
    _print_tables(con, rep["tables"])
    for note in rep.get("notes", []):
        err.print(f"note: {note}")
    con.print(f"{rep['cells']} cells; report: {rep['path']}")
    return 0


def _page_planes(path: str):
    """(Y plane normalised, 8-bit RGB or gray for display, the page's header) of the first page of
    ``path``: for a page above the category view's size, its view (what the head reads, so the maps
    explain the category ``classify`` reports) and the page shown at that size."""
    import numpy as np

    from mchmc.colour import to_unit
    from mchmc.pages import read_page
    from mchmc.pages.category import head_plane
    from mchmc.resize import imresize

    page = read_page(path)
    px = page.pixels if page.pixels.ndim == 3 else page.pixels[..., None]
    shown = np.rint(np.clip(to_unit(px[..., 0] if page.meta.gray else px[..., :3]), 0, 1) * 255).astype(np.uint8)
    y = head_plane(page)  # what classify's head reads: the whole page, or its view
    return y, (shown if y.shape == shown.shape[:2] else imresize(shown, output_shape=y.shape)), page.meta


def explain(image: str, out: str | None, model: str | None, tile: int, method: str = "gradcam",
            noise: str = "auto") -> int:
    """The model that explains a page is the one ``classify`` and ``upscale`` would use for it:
    ``--noise`` picks the noise-level variant the same way (per page under ``auto``), so the
    probabilities shown are the ones ``classify`` reports."""
    from mchmc.batch.options import BatchOptions
    from mchmc.errors import MchmcError
    from mchmc.experiment.figures import explain_figure
    from mchmc.experiment.gradcam import grad_cam, window_cam
    from mchmc.modelfile import load_model, noise_variants
    from mchmc.pages.noise import choose

    from mchmc.errors import ModelFileError

    from .upscale import _check_model

    con = Console(highlight=False)
    dst = Path(out) if out else Path(f"{Path(image).stem}-gradcam.png")
    if not Path(image).is_file():
        err.print(f"error: {image}: no such file")
        return 2
    if dst.exists() and os.path.samefile(dst, image):  # a link too: the map must never replace the page
        err.print(f"error: {dst}: --out is the page it explains; give the heat map another name")
        return 2
    if tile < 1:
        err.print(f"error: --tile must be >= 1 px, not {tile}")
        return 2
    if method not in ("gradcam", "window"):
        err.print(f"error: --method must be gradcam or window, not {method!r}")
        return 2
    try:
        options = BatchOptions(model=model, noise=noise, classify_only=True)
        mf = load_model(model)
        if not mf.model.config.has_classifier:  # every MCH-MC variant (mch-mc, mch-mc-wide) has the head
            raise ModelFileError(mf.path, f"architecture is {mf.model.config.arch!r}, which has no category "
                                 "head to explain: expected 'mch-mc' or a variant of it")
        _check_model(options)  # --noise: the variant exists, as classify checks it
    except (ValueError, ModelFileError) as e:  # a usage error, like every command's
        err.print(f"error: {e}")
        return 2
    try:
        y, shown, meta = _page_planes(image)
        choice = choose(options.noise, meta, frozenset(noise_variants(model) if options.noise != "none" else ()))
        if choice.level is not None:  # as a worker does (mchmc.batch.worker.pageworker): that level's variant
            mf = load_model(noise_variants(model)[choice.level])
        cam = (grad_cam if method == "gradcam" else window_cam)(mf.model, y, tile=tile)
        explain_figure(shown, cam, dst, title=Path(image).name, method=method)
    except MchmcError as e:
        err.print(f"error: {e}")
        return 1
    except OSError as e:
        err.print(f"error: {dst}: cannot write: {e.strerror or e}")
        return 1
    table = Table("category", "probability", title=f"{image} ({mf.path.name}; noise {choice.reason})")
    for c, p in zip(cam.categories, cam.probs):
        table.add_row(c + (" (top-1)" if c == cam.predicted else ""), f"{p:.1%}")
    con.print(table)
    con.print(f"heat map: {dst}")
    return 0
