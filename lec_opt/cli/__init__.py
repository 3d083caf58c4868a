"""The ``lec-opt`` command line: a thin layer over the library (typer + rich).

One module per command group, each registering on the ``app`` of :mod:`lec_opt.cli.app`:
:mod:`~lec_opt.cli.data` (``data ...``), :mod:`~lec_opt.cli.solve` (``solve-interval``,
``solve-day``), :mod:`~lec_opt.cli.results` (``report``, ``game``), :mod:`~lec_opt.cli.sweep` and
:mod:`~lec_opt.cli.network` (``network info``, ``power-flow``).
Heavy imports stay inside the command functions, so ``lec-opt --help`` is fast.
"""

from __future__ import annotations

import shlex
import sys

from rich.console import Console

# the command modules register in this order, which is the order of ``lec-opt --help``
from lec_opt.cli import data, solve, period, results, sweep, network, serve  # noqa: F401  isort: skip
from lec_opt.cli.app import DataOpt, JsonOpt, ScenarioOpt, _scenario, app, console, data_app
from lec_opt.errors import LecOptError

__all__ = ["DataOpt", "JsonOpt", "ScenarioOpt", "_scenario", "app", "console", "data_app", "main"]


def main() -> None:
    """``lec-opt``: a user's error (bad input, a path that cannot be used, a failed write) is one
    ``error:`` line on stderr and exit status 2, never a traceback."""
    from lec_opt.io.results_folder import set_command

    set_command(shlex.join(["lec-opt", *sys.argv[1:]]))  # recorded in the manifests this run writes
    try:
        app()
    except LecOptError as err:
        _fail(str(err))
    except OSError as err:  # a file system refusal outside the checked writes (permissions, a vanished file)
        _fail(f"{err.filename}: {err.strerror}" if err.filename else str(err))


def _fail(message: str) -> None:
    stderr = Console(stderr=True)
    stderr.print("[red]error:[/red] ", end="", highlight=False)
    stderr.print(message, markup=False, emoji=False, highlight=False, soft_wrap=True)
    sys.exit(2)
