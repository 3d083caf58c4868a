"""Path arguments checked before any work: an input file or folder that exists, an output folder
lec-opt may write. Errors name the path as the user gave it (``lec_opt.errors``)."""

from __future__ import annotations

import os
from pathlib import Path

from lec_opt.errors import InputError, LecOptError


def _existing_ancestor(path: Path) -> Path:
    for parent in path.parents:
        if parent.exists() or parent.is_symlink():
            return parent
    return Path(path.anchor or ".")


def _below_a_file(path: Path) -> Path | None:
    """The file that ``path`` would have to be below, if any."""
    ancestor = _existing_ancestor(path)
    return ancestor if not ancestor.is_dir() else None


def check_input_path(path: str | Path, kind: str, what: str = "") -> Path:
    """An existing file (``kind="file"``) or folder (``"folder"``); ``InputError`` naming the path otherwise."""
    path = Path(path)
    what = what or kind
    if path.exists():
        if kind == "file" and path.is_dir():
            raise InputError(path, f"is a folder, but {what} must be a file")
        if kind == "folder" and not path.is_dir():
            raise InputError(path, f"is a file, but {what} must be a folder")
        return path
    blocker = _below_a_file(path)
    if blocker is not None:
        raise InputError(path, f"not found: {blocker} is a file, so nothing can be below it")
    raise InputError(path, f"{what} not found")


def check_out_path(path: str | Path, *, parents: bool = True) -> Path:
    """A folder lec-opt may write: not a file, not below a file, in a folder it can write.

    ``parents=False`` (the command line's ``--out``): the parent folder must exist already.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise LecOptError(f"{path}: is a file, not a folder; lec-opt writes a folder there and never replaces a file")
    if path.is_dir():
        if not path.absolute().name or path.resolve().parent == path.resolve():
            raise LecOptError(f"{path}: cannot write results into the root of a file system")
        parent = path.resolve().parent
    else:
        blocker = _below_a_file(path)
        if blocker is not None:
            raise LecOptError(f"{path}: cannot be written: {blocker} is a file, so no folder can be below it")
        if not path.parent.is_dir() and not parents:
            raise LecOptError(f"{path}: its parent folder {path.parent} does not exist; create it first")
        parent = _existing_ancestor(path)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise LecOptError(f"{path}: cannot be written: no permission to write in {parent}")
    return path
