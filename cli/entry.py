"""The ``mchmc`` entry point: a usage error is one line on stderr and exit 2, as every other error is.

Why: in standalone mode click (typer's bundled copy) answers an unknown option, a missing argument or a
value of the wrong type with a usage line, a hint and a drawn box: five lines where every other refusal of
the CLI is one (``error: ...``), which scripts over an archive grep for. So the app runs with
``standalone_mode=False`` and the error is printed here: ``error: mchmc upscale: No such option: --bogus
(see 'mchmc upscale -h')``. ``mchmc`` or ``mchmc schedule`` alone still print their help (exit 2, as before).
"""
from __future__ import annotations

import sys


def run(app) -> None:
    """Run the typer ``app`` on ``sys.argv`` and exit with its code."""
    try:
        code = app(standalone_mode=False, prog_name="mchmc")
    except Exception as err:  # typer bundles its own click, so its errors are recognised by their shape
        if type(err).__name__ == "Abort":  # a prompt interrupted
            print("aborted", file=sys.stderr)
            raise SystemExit(1) from None
        if not callable(getattr(err, "format_message", None)) or not isinstance(getattr(err, "exit_code", None), int):
            raise
        if type(err).__name__ == "NoArgsIsHelpError":  # `mchmc` (or a command group) alone: its help
            err.show()
        else:
            ctx = getattr(err, "ctx", None)
            where = ctx.command_path if ctx is not None else "mchmc"
            message = " ".join(err.format_message().split())
            print(f"error: {where}: {message} (see '{where} -h')", file=sys.stderr)
        raise SystemExit(err.exit_code) from None
    raise SystemExit(code if isinstance(code, int) else 0)
