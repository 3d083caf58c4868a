"""Path arguments of the command line, each checked the same way before any work.

Every ``Path`` parameter of every command takes one of the parsers below (``typer``'s
``parser=``), which names its role: an input file, an input folder, a results folder lec-opt
wrote (read, or updated by ``report`` and ``game``), or an output folder. A file where a folder is
expected (or the reverse), a missing path, a location below a file, a missing parent of ``--out``
or a folder that cannot be written is a ``LecOptError`` naming the path: ``lec-opt`` prints it and
exits with status 2. Writing itself goes through ``lec_opt.io.results_folder``: ``claim`` at the
start of a command (the ``--out`` rules and the lock), ``writing`` for the folder's files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lec_opt.io.paths import check_input_path, check_out_path
from lec_opt.io.shipped import shipped_scenario


def input_file(value: str | Path) -> Path:
    """An existing file (a scenario, a sweep file)."""
    return check_input_path(value, "file")


def scenario_file(value: str | Path) -> Path:
    """A scenario TOML: an existing file, or the bare name of a shipped scenario (``paper_30min.toml``
    or ``paper_30min``) when no such file is in the current folder."""
    shipped = shipped_scenario(value) if not Path(value).exists() else None
    return shipped if shipped is not None else input_file(value)


def input_dir(value: str | Path) -> Path:
    """An existing folder (a data folder, a folder of load profiles)."""
    return check_input_path(value, "folder")


def results_dir(value: str | Path) -> Path:
    """An existing results folder; whether it is complete is checked when it is read."""
    return check_input_path(value, "folder", "a results folder")


def out_dir(value: str | Path) -> Path:
    """A folder to write: not a file, not below a file, its parent existing and writable."""
    return check_out_path(value, parents=False)


PATH_ROLES = {input_file: "file", scenario_file: "file", input_dir: "folder", results_dir: "results", out_dir: "out"}

OverwriteOpt = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="replace a non-empty --out folder that lec-opt did not write (everything in it goes)",
    ),
]
