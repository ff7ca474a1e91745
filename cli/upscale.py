"""``mchmc upscale`` and ``mchmc classify``: options -> checked plan -> the
library's driver over a Ray pool -> progress, summary table and exit code.

Exit codes: 0 every page ok or skipped, 1 a page failed or met a conflict in this run,
2 usage (one line, before any work), 3 only pages that failed in an earlier run are
left (not retried without ``--retry-failed``), 130 interrupted (Ctrl-C).

A plain run starts no Prefect server: the driver (:mod:`mchmc.batch.driver.loop`) runs
here and drives Ray directly, so the command starts in seconds. With a Prefect
API configured (``PREFECT_API_URL``) or ``--prefect``, the same driver runs
inside the ``mchmc-upscale`` flow, so the run is recorded there.
"""
from __future__ import annotations

import os
import signal
import sys
import time

from rich.console import Console
from rich.table import Table

USAGE = 2

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def run(src: str, out: str | None, *, classify_only: bool = False, gpus: int | str = 0, cpus: int | None = None,
        ray_address: str | None = None, report: str | None = None, dry_run: bool = False,
        prefect: bool = False, network_device: str | None = None, **opts) -> int:
    t0 = time.perf_counter()
    if not classify_only and not out:
        err_console.print("error: --out DST is required")
        return USAGE
    from .devices import local_gpus, resolve

    try:  # --gpus / --network-device (cli.devices): one line before any work
        devices = resolve(gpus, network_device, ray_address, local_gpus, cpus)
    except ValueError as err:
        err_console.print(f"error: {err}")
        return USAGE
    gpus = devices.gpus
    checked = _check(src, out, classify_only, gpus, cpus, ray_address, report, dry_run, opts, devices)
    if isinstance(checked, int):
        return checked
    prep, cpus, choice = checked
    if dry_run:
        return dry_run_table(prep)
    from mchmc.batch.driver.loop import Stop

    stop = Stop()
    use_prefect = prefect or bool(os.environ.get("PREFECT_API_URL"))
    with _interrupts(stop):
        try:
            code = _run(prep, stop, t0, cpus=cpus, gpus=devices, ray_address=ray_address, prefect=use_prefect,
                        choice=choice)
        except KeyboardInterrupt:  # Ctrl-C before the pages started: nothing to record yet
            err_console.print("interrupted before any page was done")
            code = 130
    if not use_prefect:  # Prefect flushes its logs to the API at exit: let it
        exit_now(code)
    return code


def _check(src, out, classify_only, gpus, cpus, ray_address, report, dry_run, opts, devices):
    """Options, model and plan checked: (Prepared, cpus, the model's Choice), or an exit code after one line."""
    from mchmc.batch.driver.prepare import RunError, prepare
    from mchmc.batch.options import BatchOptions
    from mchmc.errors import MchmcError
    from mchmc.pages.limits import default_worker_memory
    from mchmc.tierchoice import choose_model
    from .bounds import out_of_range

    max_memory = opts.pop("max_memory", None)
    if bad := out_of_range(max_memory, cpus, ray_address):
        err_console.print(f"error: {bad}")
        return USAGE
    if not classify_only:  # a page's memory is checked from its header, before it is decoded
        workers = cpus if cpus is not None else devices.default_cpus()
        opts["max_bytes"] = int(max_memory * 1e9) if max_memory else \
            (None if ray_address else default_worker_memory(max(1, workers)) or None)
    if opts.get("precision") == "bf16" and cpus != 0 and not ray_address:
        from mchmc.precision import native_bf16

        if not native_bf16("cpu"):
            err_console.print("warning: --precision bf16: this CPU has no native bf16 (AVX512-BF16 / AMX), so it is "
                              "emulated and several times slower than fp32; --precision auto picks fp32 here")
    choice = choose_model(opts.pop("model", None), gpus)  # --model wins; else the tier of these devices
    try:
        options = BatchOptions(classify_only=classify_only, model=choice.model, **opts)
        _check_model(options)
    except (ValueError, MchmcError) as err:
        err_console.print(f"error: {err}")
        return USAGE
    if cpus == 0 and not gpus:
        err_console.print("error: no workers: give --cpus >= 1 or --gpus >= 1")
        return USAGE
    if cpus is None and not ray_address:
        cpus = devices.default_cpus()
    try:
        prep = prepare(src, out, options, report, dry_run)
    except RunError as err:
        err_console.print(f"error: {err}")
        return USAGE
    return prep, cpus, choice


def _check_model(options) -> None:
    """The model exists, is a model file with a valid config, and (classify) has a classifier:
    read without torch or weights, so this takes milliseconds; each worker loads the file in full
    and a worker that cannot stops the run with the file's one-line reason."""
    from mchmc.modelfile import ModelFileError, noise_variants, read_config

    _, config = read_config(options.model)
    if options.scale not in (config.scale, config.scale**2):
        raise ModelFileError(options.model or "srformc", f"is a {config.scale}x model, so --scale must be "
                                                         f"{config.scale} or {config.scale**2} (two passes)")
    if options.classify_only and not config.has_classifier:
        raise ModelFileError(options.model or "srformc", "has no classifier head (an MCH model), so it cannot "
                                                         "classify; use an MCH-MC model such as srformc")
    if options.noise not in ("auto", "none"):
        variants = noise_variants(options.model)
        if int(options.noise) not in variants:
            raise ModelFileError(options.model or "srformc", f"has no noise-level {options.noise} variant "
                                 f"(it has: {', '.join(map(str, variants)) or 'none'}); use --noise auto or none")
        read_config(variants[int(options.noise)])


class _interrupts:
    """First Ctrl-C (or SIGTERM): stop feeding pages, let the driver finish cleanly;
    second: exit at once. Before the pages start, Ctrl-C interrupts the start-up."""

    def __init__(self, stop):
        self.stop, self.running = stop, False
        _interrupts.current = self

    def handler(self, signum, frame):
        if self.stop.requested:
            os._exit(130)
        self.stop.set()
        err_console.print("interrupted: recording the pages in flight, then stopping (Ctrl-C again to quit at once)")
        if not self.running:
            raise KeyboardInterrupt

    def __enter__(self):
        self.old = {s: signal.signal(s, self.handler) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc):
        for s, h in self.old.items():
            signal.signal(s, h)


_started_ray: list[bool] = []  # True once this process started a local Ray


def exit_now(code: int) -> None:
    """Leave at once after a run that started a local Ray: its atexit shutdown
    takes seconds and, hit by a second Ctrl-C, can crash; the reaper
    (:mod:`mchmc.batch.pool.reaper`) takes every Ray process down as this one exits."""
    if any(_started_ray):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def start_pool_factory(cpus: int | None, devices, ray_address: str | None):
    """The library's pool starter (:func:`mchmc.batch.pool.start.pool_starter`) for these devices
    (:class:`cli.devices.Devices`); once it has Ray up, this process's exit and SIGTERM are ours again."""
    from mchmc.batch.pool.start import pool_starter

    def connected(local: bool) -> None:
        _started_ray.append(local)
        if getattr(_interrupts, "current", None):  # ray.init installs its own SIGTERM handler: ours again
            signal.signal(signal.SIGTERM, _interrupts.current.handler)

    return pool_starter(cpus, devices.gpus, ray_address, network=devices.network, visible=devices.visible(),
                        on_connected=connected)


def _run(prep, stop, t0: float, *, cpus, gpus, ray_address, prefect: bool, choice) -> int:
    from mchmc.errors import MchmcError
    from .progress import PageProgress

    console = Console(highlight=False, soft_wrap=True)
    progress = PageProgress(console, err_console, prep.pages, t0)
    start_pool = start_pool_factory(cpus, gpus, ray_address)
    interrupts = _interrupts.current

    def on_start(info: dict) -> None:
        interrupts.running = True
        progress.started(info, prep.seen)

    try:
        if prefect:
            from mchmc.batch.pool import reaper
            from mchmc.flows.upscale import upscale_flow

            reaper.start()  # before Prefect's temporary server starts, so that it dies with this process
            outcome = upscale_flow(prep, start_pool, stop, on_start, progress.record)
        else:
            from mchmc.batch.driver.loop import run as drive

            outcome = drive(prep, start_pool, stop=stop, on_start=on_start, on_record=progress.record)
    except MchmcError as err:
        progress.close()
        err_console.print(f"error: {err}")
        return USAGE
    progress.close()
    print_summary(console, outcome, prep.kind)
    console.print(choice.line())
    progress.done(outcome)
    if outcome.interrupted:
        err_console.print(f"interrupted: {outcome.summary.pages} page(s) recorded in {outcome.report}; "
                          "run the same command again to finish the rest")
    return outcome.exit_code


def print_summary(console: Console, outcome, kind: str) -> None:
    from mchmc.batch.report.htmlreport import also_html
    from mchmc.errors import shown

    s = outcome.summary
    table = Table("category", "pages", title="Pages per category (done now or earlier)")
    for cat, n in s.by_category.items():
        table.add_row(cat, str(n))
    if kind == "upscale":
        table.add_row("upscaled now", str(s.by_status["ok"]))
        table.add_row("skipped (already done)", str(s.by_status["skipped"]))
        table.add_row("conflict (left alone)", str(s.by_status["conflict"]))
    table.add_row("failed", str(s.by_status["error"]))
    if s.by_status["failed-earlier"]:
        table.add_row("failed earlier (not retried)", str(s.by_status["failed-earlier"]))
    console.print(table)
    if kind == "upscale" and s.by_noise and set(s.by_noise) != {"none"}:
        console.print("noise reduction of the files upscaled now: " + ", ".join(
            f"{'none' if level == 'none' else 'level ' + level} on {n} file(s)" for level, n in s.by_noise.items()))
    words = {"ok": "written" if kind == "upscale" else "classified", "conflict": "conflict (left alone)",
             "error": "failed", "failed-earlier": "failed earlier (not retried)"}
    for label, counts, skipped in (("CBZ / ZIP volumes", s.containers, "already done"),
                                   ("PDF documents", s.documents, "skipped (already done, or no page images)")):
        if counts:  # their pages are counted above
            told = {**words, "skipped": skipped}
            console.print(f"{label}: " + ", ".join(f"{n} {told[st]}" for st, n in counts.items()))
    volumes = s.containers.get("failed-earlier", 0) + s.documents.get("failed-earlier", 0)  # refused whole
    old = [f"{n} {what}(s)" for n, what in ((s.by_status["failed-earlier"], "page"), (volumes, "volume")) if n]
    if old:  # each failure was told once, by the run it happened in
        console.print(f"{' and '.join(old)} failed in an earlier run and are unchanged since: not retried (their "
                      "reasons are in the report); --retry-failed tries them again")
    seen = outcome.seen
    for path in seen.missing:
        console.print(f"  listed but missing: {shown(path)}")
    if seen.missing_count > len(seen.missing):
        console.print(f"  ... and {seen.missing_count - len(seen.missing)} more listed but missing")
    console.print(f"report: {shown(outcome.report)} (+ {shown(outcome.csv.name)}{also_html(outcome.report)})")


def dry_run_table(prep) -> int:
    """Plain tab-separated lines (action, input, output): whole paths, easy to grep or feed back as a list."""
    from mchmc.batch.driver.decide import dry_run
    from mchmc.errors import shown

    counts: dict[str, int] = {}
    named = {"todo": "upscale", "skipped": "skip", "conflict": "conflict", "failed-earlier": "failed-earlier"}
    for job, planned in dry_run(prep):
        action = named[planned] if prep.writes else "classify"
        counts[action] = counts.get(action, 0) + 1
        print(f"{action}\t{shown(job.src)}" + ("" if not prep.writes else f"\t{shown(job.dst)}"))
    done = ", ".join(f"{n} to {a}" for a, n in counts.items()) or "nothing to do"
    seen = prep.seen
    err_console.print(f"dry run: {prep.pages} page file(s): {done}"
                      + (f"; {seen.ignored} non-image file(s) ignored" if seen.ignored else "")
                      + (f"; {seen.symlink_count} symlink(s) not followed" if seen.symlink_count else ""))
    return 0
