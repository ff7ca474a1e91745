"""The ``mchmc`` command (typer). A thin layer: every command parses its options, imports the library
(torch, Prefect, Ray) lazily inside the command so ``mchmc --help`` stays instant, calls one function, and
maps errors to exit codes (0 all done, 1 some page or step failed, 2 usage error: one line, cli/entry.py)."""
from __future__ import annotations

import typer

CONFIG_HELP = "Config name in configs/ (paper, cpu, best, smoke) or a .toml path."
app = typer.Typer(
    name="mchmc",
    help="Batch 2x super-resolution for digitised archives with the MCH-MC network.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},  # every command: waifu2x users type -h
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"mchmc {version('mchmc')}")
        except PackageNotFoundError:  # running from a checkout that is not installed
            typer.echo("mchmc (not installed)")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", "-V", metavar="", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Batch 2x super-resolution for digitised archives with the MCH-MC network."""
    from .defaults import apply_prefect_defaults

    apply_prefect_defaults()


NOISE_HELP = ("JPEG noise reduction: auto (per page: a JPEG's level from its estimated quality, q>=99 none, "
              "86-98 0, 73-85 1, 55-72 2, 0-54 3; lossless pages none), none, or a level 0..3 for every page. "
              "The report says which level each page got and why.")

@app.command()
def info(model: str = typer.Option(None, "--model", "-m", help="Also describe this model file or shipped model name.")) -> None:
    """Print the architectures (layers, parameter counts, halo, scale) and the shipped models."""
    from . import info as info_mod

    raise typer.Exit(info_mod.show(model))


@app.command()
def prep(
    config: str = typer.Option("cpu", "--config", "-c", help=CONFIG_HELP),
    data_root: str = typer.Option(None, "--data-root", help="Folder holding the category image folders (overrides data.root)."),
    cache: str = typer.Option(None, "--cache", help="Patch store folder (overrides data.cache_dir; default ~/.cache/mchmc/patches)."),
    prefect: bool = typer.Option(True, "--prefect/--no-prefect", metavar="", help="Run as a Prefect flow (local ephemeral API by default)."),
) -> None:
    """Build (or find, by content hash) the patch store; print patch counts and class weights alpha."""
    from . import train as train_mod

    raise typer.Exit(train_mod.prep(config, data_root, cache, prefect))


@app.command()
def train(
    config: str = typer.Option("cpu", "--config", "-c", help=CONFIG_HELP),
    method: str = typer.Option("SRforMC", "--method", help="SRforNature, SRforManga, SRforText, SRforAll or SRforMC."),
    fold: str = typer.Option("1", "--fold", help="Test fold held out (1..5), or 'all' to train on every image."),
    runs: str = typer.Option("runs", "--runs", help="Root of the run directories (<runs>/<method>-fold<k>-<config>/)."),
    data_root: str = typer.Option(None, "--data-root", help="Folder holding the category image folders (overrides data.root)."),
    cache: str = typer.Option(None, "--cache", help="Patch store folder (overrides data.cache_dir)."),
    export: str = typer.Option(None, "--export", help="Also copy the final model file here when done (e.g. mchmc/weights/srformc.pt)."),
    prefect: bool = typer.Option(True, "--prefect/--no-prefect", metavar="", help="Run as a Prefect flow (local ephemeral API by default)."),
    device: str = typer.Option(None, "--device", help="Where to train: auto (the first CUDA GPU if there is one, else the CPU), cpu, cuda or cuda:N; overrides train.device."),
    data: str = typer.Option(None, "--data", help="Your archive: each sub-folder is a category (any name) of pages at any depth (images, CBZ, PDF); one category trains the plain MCH."),
    init: str = typer.Option(None, "--init", help="Fine-tune from this model (shipped name or file): what transfers is kept, a new head where the categories differ."),
) -> None:
    """Train one method on one fold (prep -> Phase 1 -> Phase 2 for SRforMC); resumes a killed run."""
    from . import train as train_mod

    raise typer.Exit(train_mod.train(config, method, fold, runs, data_root, cache, export, prefect, device, data,
                                     init))


@app.command("train-head")
def train_head(
    model: str = typer.Argument("srformc", help="Shipped model name or model file whose category head is retrained."),
    out: str = typer.Option(..., "--out", "-o", help="Where to write the model with its new head."),
    config: str = typer.Option(None, "--config", "-c", help="Config for the data, folds and JPEG level (default: the model's own, else best)."),
    fold: int = typer.Option(1, "--fold", help="Test fold held out (never read)."),
    data_root: str = typer.Option(None, "--data-root", help="Folder holding the category image folders (overrides data.root)."),
    prefect: bool = typer.Option(True, "--prefect/--no-prefect", metavar="", help="Run as a Prefect flow (local ephemeral API by default)."),
) -> None:
    """Retrain only the category head on whole pages at 1/4..2x their size (conv1-conv3 frozen: same pixels)."""
    from . import train as train_mod

    raise typer.Exit(train_mod.train_head(model, out, config, fold, data_root, prefect))


@app.command("train-router")
def train_router(
    model: str = typer.Argument("quality", help="Tier name or model file: a router is fitted for each of its levels that has specialists."),
    config: str = typer.Option(None, "--config", "-c", help="Config for the data and folds (default: each level's own)."),
    fold: int = typer.Option(1, "--fold", help="Test fold held out (never read)."),
    data_root: str = typer.Option(None, "--data-root", help="Folder holding the category image folders (overrides data.root)."),
    prefect: bool = typer.Option(True, "--prefect/--no-prefect", metavar="", help="Run as a Prefect flow (local ephemeral API by default)."),
) -> None:
    """Fit the router that picks each page's specialist on the training pages (router/<level stem>.pt)."""
    from . import train as train_mod
    raise typer.Exit(train_mod.train_router(model, config, fold, data_root, prefect))


@app.command()
def upscale(
    src: str = typer.Argument(..., help="An image, a folder (recursive; the tree is mirrored) or a .txt list of paths."),
    out: str = typer.Option(..., "--out", "-o", help="Destination folder (may be inside SRC: it is never rescanned; never SRC itself), or for a single image the output file (x.png)."),
    scale: int = typer.Option(2, "--scale", "-s", help="2, or 4: two exact 2x passes (the second on the first's output; --noise and the category from the first pass)."),
    gpus: str = typer.Option("0", "--gpus", help="GPUs running the network: a count (2) or device ids (0,2; one id: 2,). CPU workers read, convert and write the pages and send Y tiles to one network service per GPU."),
    cpus: int = typer.Option(None, "--cpus", help="CPU workers, one core each (default: the machine's cores)."),
    network_device: str = typer.Option(None, "--network-device", envvar="MCHMC_NETWORK_DEVICE", help="auto (GPU services with --gpus, else the network in each CPU worker) or cpu: the GPU path with one network service on the CPU (a stand-in for checks and CI)."),
    ray_address: str = typer.Option(None, "--ray-address", envvar="MCHMC_RAY_ADDRESS", help="Join this Ray cluster (host:port) instead of starting a local one."),
    tile: int = typer.Option(256, "--tile", help="Tile core size in LR pixels (memory per worker grows with it)."),
    precision: str = typer.Option("auto", "--precision", help="auto (bf16 where the CPU/GPU computes it natively, else fp32), fp32 (the reference) or bf16 (faster where native; on average within half an 8-bit step of fp32, at most 2 steps)."),
    model: str = typer.Option(None, "--model", "-m", help="A tier (fast, quality), a shipped model name or a model file (default: fast = srformc; with --gpus, quality once its weights are installed; the summary says which)."),
    noise: str = typer.Option("auto", "--noise", "-n", help=NOISE_HELP),
    format: str = typer.Option(None, "--format", "-f", help="Output format png|tiff|jpeg|webp|bmp (default: same as input)."),
    quality: int = typer.Option(None, "--quality", help="JPEG / WebP quality 1..100 (default: the source JPEG's estimated quality, else 95)."),
    png_level: int = typer.Option(1, "--png-level", help="PNG deflate level 0..9 (1: ~6x faster than Pillow's default 6, files ~15% larger)."),
    overwrite: bool = typer.Option(False, "--overwrite", metavar="", help="Redo pages whose output exists, and replace files at output names that no run made (default: skip finished pages, leave other files alone)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", metavar="", help="Retry the pages that failed in an earlier run (default: an unchanged input that failed is reported, not retried, and the run exits 3 if nothing else failed)."),
    report: str = typer.Option(None, "--report", help="JSONL report path (default DST/mchmc-upscale-report.jsonl; a CSV is written beside it)."),
    dry_run: bool = typer.Option(False, "--dry-run", metavar="", help="List what would be done (upscale, skip, conflict), do nothing."),
    prefect: bool = typer.Option(False, "--prefect", metavar="", help="Record the run as a Prefect flow run (also when PREFECT_API_URL is set; without it Prefect starts a temporary local API)."),
    binarize: bool = typer.Option(False, "--binarize", metavar="", help="Write 1-bit pages back as 1-bit (default: 8-bit gray)."),
    tta: bool = typer.Option(False, "--tta", metavar="", help="Test-time augmentation: each tile through the network in its 8 flips/rotations, averaged; ~8x slower (8 network passes), smoother and a little more accurate on photos and manga (+0.1-0.3 dB PSNR-Y), but worse on text pages with the shipped models, which learned upright glyphs (-1.2 dB; bench/tta.py). The category report is unchanged."),
    chroma: bool = typer.Option(True, "--chroma/--no-chroma", help="Colour pages upscaled at a JPEG noise level: clean and upsample their chroma with the chroma network, guided by luminance (default), or keep the bicubic of the JPEG's chroma (--no-chroma). Clean and gray pages are never touched."),
    max_pixels: int = typer.Option(500_000_000, "--max-pixels", help="Refuse pages whose header claims more pixels (>= 1)."),
    max_memory: float = typer.Option(None, "--max-memory", help="GB one worker may use for a page (default: the memory available now, shared by the workers); bigger pages are refused before decoding."),
    split_pixels: int = typer.Option(40_000_000, "--split-pixels", help="Split single pages above this many pixels into bands across workers (0: never)."),
) -> None:
    """Upscale every page 2x (or 4x) with the MCH-MC network, with a per-page category report."""
    from . import upscale as up

    raise typer.Exit(up.run(src, out, gpus=gpus, cpus=cpus, ray_address=ray_address, report=report, dry_run=dry_run,
                            prefect=prefect, network_device=network_device, scale=scale,
                            model=model, noise=noise, tile=tile, precision=precision, format=format,
                            quality=quality,
                            png_level=png_level, overwrite=overwrite, retry_failed=retry_failed, binarize=binarize, tta=tta, max_pixels=max_pixels,
                            max_memory=max_memory, chroma=chroma,
                            split_pixels=split_pixels))


@app.command()
def classify(
    src: str = typer.Argument(..., help="An image, a folder (recursive) or a .txt list of paths."),
    report: str = typer.Option(None, "--report", help="JSONL report path (default ./mchmc-classify-report.jsonl; CSV beside it)."),
    gpus: str = typer.Option("0", "--gpus", help="GPUs running conv1/conv2: a count (2) or device ids (0,2)."),
    cpus: int = typer.Option(None, "--cpus", help="CPU workers (default: the machine's cores)."),
    network_device: str = typer.Option(None, "--network-device", envvar="MCHMC_NETWORK_DEVICE", help="As for upscale."),
    ray_address: str = typer.Option(None, "--ray-address", envvar="MCHMC_RAY_ADDRESS", help="Join this Ray cluster instead of starting a local one."),
    tile: int = typer.Option(256, "--tile", help="Tile core size in LR pixels."),
    model: str = typer.Option(None, "--model", "-m", help="As for upscale: a tier (fast, quality), a shipped model name or a model file (default: fast; with --gpus, quality once installed)."),
    noise: str = typer.Option("auto", "--noise", "-n", help="As for upscale: the category comes from the model the page would be upscaled with."),
    max_pixels: int = typer.Option(500_000_000, "--max-pixels", help="Refuse pages whose header claims more pixels (>= 1)."),
    split_pixels: int = typer.Option(40_000_000, "--split-pixels", help="Split single pages above this many pixels into bands across workers (0: never)."),
    prefect: bool = typer.Option(False, "--prefect", metavar="", help="Record the run as a Prefect flow run (also when PREFECT_API_URL is set)."),
) -> None:
    """Category report only (the model's categories: nature / manga / text for the shipped ones): conv1, conv2 and the classifier head, nothing written."""
    from . import upscale as up

    raise typer.Exit(up.run(src, None, classify_only=True, gpus=gpus, cpus=cpus, ray_address=ray_address,
                            network_device=network_device,
                            report=report, prefect=prefect, model=model, noise=noise, tile=tile, max_pixels=max_pixels,
                            split_pixels=split_pixels))


@app.command()
def experiment(
    config: str = typer.Option("cpu", "--config", "-c", help=CONFIG_HELP),
    folds: str = typer.Option(None, "--folds", help="Test folds to run, e.g. 1,2 or 1-3 (default: all)."),
    methods: str = typer.Option(None, "--methods", help="Comma-separated methods (default: SRforNature,SRforManga,SRforText,SRforAll,SRforMC)."),
    runs: str = typer.Option("runs", "--runs", help="Root of the run directories; cells trained there before are reused."),
    data_root: str = typer.Option(None, "--data-root", help="Folder holding the category image folders (overrides data.root)."),
    cache: str = typer.Option(None, "--cache", help="Patch store folder (overrides data.cache_dir)."),
    prefect: bool = typer.Option(True, "--prefect/--no-prefect", metavar="", help="Run as a Prefect flow (local ephemeral API by default)."),
    report: bool = typer.Option(True, "--report/--no-report", metavar="", help="Write the report (<runs>/report-<config>/) at the end."),
    plan: bool = typer.Option(False, "--plan", metavar="", help="Only print the cells, their state and the steps left."),
) -> None:
    """The paper's K-fold experiment: train and score every (method, fold) cell not done yet, then report."""
    from . import experiment as exp

    raise typer.Exit(exp.experiment(config, folds, methods, runs, data_root, cache, prefect, report, plan))


@app.command()
def report(
    runs: str = typer.Argument("runs", help="Runs folder holding the evaluated cells (<method>-fold<k>-<config>/); or an upscale run's DST (or a classify report's .jsonl): its mchmc-report.html is built again."),
    config: str = typer.Option(None, "--config", "-c", help="Config whose cells to report (needed when RUNS holds several)."),
    out: str = typer.Option(None, "--out", "-o", help="Output folder for report.md and the figures (default RUNS/report-<config>/)."),
    prefect: bool = typer.Option(True, "--prefect/--no-prefect", metavar="", help="Also publish the tables as Prefect artifacts."),
) -> None:
    """Write the experiment report: Tables 7-10 in the paper's layout beside its numbers, Figs. 11-13 (or a batch run's HTML page)."""
    from . import experiment as exp
    from .pagesreport import rebuild

    code = rebuild(runs)  # an upscale run's DST, or a report's .jsonl: its HTML page again
    raise typer.Exit(exp.report(runs, config, out, prefect) if code is None else code)


@app.command()
def explain(
    image: str = typer.Argument(..., help="A page (PNG, JPEG, TIFF, WebP, BMP); a multi-page TIFF's first page."),
    out: str = typer.Option(None, "--out", "-o", help="PNG to write (default ./<image stem>-gradcam.png)."),
    model: str = typer.Option(None, "--model", "-m", help="Shipped model name or MCH-MC model file (default: srformc)."),
    tile: int = typer.Option(256, "--tile", help="Tile core size in LR pixels for the pooled statistics."),
    noise: str = typer.Option("auto", "--noise", "-n", help="As for classify: the page is explained with the model it would be classified and upscaled with."),
    method: str = typer.Option("gradcam", "--method", help="gradcam (the paper's Fig. 13: first-order local logits of the head) or window (the head's own answer on a training patch's window around each pixel; stays meaningful for heads refitted with mchmc train-head)."),
) -> None:
    """Heat maps of each category's evidence on F2 overlaid on the page, with the probabilities in the caption."""
    from . import experiment as exp

    raise typer.Exit(exp.explain(image, out, model, tile, method, noise))


schedule_app = typer.Typer(name="schedule", no_args_is_help=True,
                           help="Scheduled retraining served on a Prefect server (PREFECT_API_URL), and model versions.")
app.add_typer(schedule_app, name="schedule")


@schedule_app.command("retrain")
def schedule_retrain(
    config: str = typer.Option("cpu", "--config", "-c", help=CONFIG_HELP),
    cron: str = typer.Option(None, "--cron", help='Cron schedule, e.g. "0 3 * * 0" (Sundays 03:00, in --timezone).'),
    interval: float = typer.Option(None, "--interval", help="Or run every SECONDS."),
    timezone: str = typer.Option("UTC", "--timezone", help="IANA time zone of --cron (e.g. Europe/Berlin)."),
    method: str = typer.Option("SRforMC", "--method", help="SRforNature, SRforManga, SRforText, SRforAll or SRforMC."),
    fold: str = typer.Option("1", "--fold", help="Test fold held out for the evaluation (1..5), or 'all'."),
    models: str = typer.Option("models", "--models", help="Root of the versions folders (<models>/<method>/vNNNN, current.json)."),
    tolerance: float = typer.Option(0.0, "--tolerance", help="Promote a candidate up to this many dB below the model in use (0: not worse)."),
    name: str = typer.Option(None, "--name", help="Deployment name (default retrain-<method>-<config>)."),
    data_root: str = typer.Option(None, "--data-root", help="Folder holding the category image folders (overrides data.root)."),
    cache: str = typer.Option(None, "--cache", help="Patch store folder (overrides data.cache_dir)."),
    once: bool = typer.Option(False, "--once", metavar="", help="Retrain once now and exit (no schedule, no server needed)."),
    data: str = typer.Option(None, "--data", help="Your archive (as mchmc train --data): scanned again at every run, its own validation pages gate the promotion."),
) -> None:
    """Serve the retraining flow on a schedule: prep what changed, train, evaluate, add a new model version."""
    from . import schedule as sched

    raise typer.Exit(sched.retrain(config, method, fold, models, cron, interval, timezone, name, tolerance,
                                   data_root, cache, once, data))


@schedule_app.command("list")
def schedule_list() -> None:
    """The retraining schedules on the Prefect server: schedule, paused or not, served or not, last and next run."""
    from . import schedule as sched

    raise typer.Exit(sched.list_schedules())


@schedule_app.command("remove")
def schedule_remove(name: str = typer.Argument(..., help="Deployment name, as `mchmc schedule list` shows it.")) -> None:
    """Delete a retraining schedule (its deployment and scheduled runs) from the Prefect server."""
    from . import schedule as sched

    raise typer.Exit(sched.remove(name))


@schedule_app.command("versions")
def schedule_versions(
    models: str = typer.Option("models", "--models", help="Root of the versions folders."),
    method: str = typer.Option("SRforMC", "--method", help="Whose versions to show."),
) -> None:
    """The model versions of a method: status, scores against the model in use then, which one is in use."""
    from . import schedule as sched

    raise typer.Exit(sched.versions(models, method))


@schedule_app.command("promote")
def schedule_promote(
    version: str = typer.Argument(..., help="Version to put in use, e.g. v0003 (also a rollback)."),
    models: str = typer.Option("models", "--models", help="Root of the versions folders."),
    method: str = typer.Option("SRforMC", "--method", help="Whose version."),
) -> None:
    """Put a version in use by hand (current.json), e.g. roll back to an earlier one."""
    from . import schedule as sched

    raise typer.Exit(sched.promote(version, models, method))


def main() -> None:
    from .entry import run
    run(app)


if __name__ == "__main__":
    main()
