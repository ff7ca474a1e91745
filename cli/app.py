"""The ``mchmc`` command (typer). A thin layer: every command parses its
options, imports the library (torch, Prefect, Ray) lazily inside the command so
``mchmc --help`` stays instant, calls one function, and maps errors to exit
codes (0 all done, 1 some page or step failed, 2 usage error)."""
from __future__ import annotations

import typer

app = typer.Typer(
    name="mchmc",
    help="Batch 2x super-resolution for digitised archives with the MCH-MC network.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Batch 2x super-resolution for digitised archives with the MCH-MC network."""


@app.command()
def info(model: str = typer.Option(None, "--model", "-m", help="Also describe this model file or shipped model name.")) -> None:
    """Print the architectures (layers, parameter counts, halo, scale) and the shipped models."""
    from . import info as info_mod

    raise typer.Exit(info_mod.show(model))


@app.command()
def prep(
    config: str = typer.Option("cpu", "--config", "-c", help="Config name in configs/ (paper, cpu, smoke) or a .toml path."),
    data_root: str = typer.Option(None, "--data-root", help="Folder holding the category image folders (overrides data.root)."),
    cache: str = typer.Option(None, "--cache", help="Patch store folder (overrides data.cache_dir; default ~/.cache/mchmc/patches)."),
    prefect: bool = typer.Option(True, "--prefect/--no-prefect", help="Run as a Prefect flow (local ephemeral API by default)."),
) -> None:
    """Build (or find, by content hash) the patch store; print patch counts and class weights alpha."""
    from . import train as train_mod

    raise typer.Exit(train_mod.prep(config, data_root, cache, prefect))


@app.command()
def train(
    config: str = typer.Option("cpu", "--config", "-c", help="Config name in configs/ (paper, cpu, smoke) or a .toml path."),
    method: str = typer.Option("SRforMC", "--method", help="SRforNature, SRforManga, SRforText, SRforAll or SRforMC."),
    fold: str = typer.Option("1", "--fold", help="Test fold held out (1..5), or 'all' to train on every image."),
    runs: str = typer.Option("runs", "--runs", help="Root of the run directories (<runs>/<method>-fold<k>-<config>/)."),
    data_root: str = typer.Option(None, "--data-root", help="Folder holding the category image folders (overrides data.root)."),
    cache: str = typer.Option(None, "--cache", help="Patch store folder (overrides data.cache_dir)."),
    export: str = typer.Option(None, "--export", help="Also copy the final model file here when done (e.g. mchmc/weights/srformc.pt)."),
    prefect: bool = typer.Option(True, "--prefect/--no-prefect", help="Run as a Prefect flow (local ephemeral API by default)."),
) -> None:
    """Train one method on one fold (prep -> Phase 1 -> Phase 2 for SRforMC); resumes a killed run."""
    from . import train as train_mod

    raise typer.Exit(train_mod.train(config, method, fold, runs, data_root, cache, export, prefect))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
