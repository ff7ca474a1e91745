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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
