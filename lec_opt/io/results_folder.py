"""Results folders: recognisable, written whole, one writer at a time, path arguments checked.

Every folder lec-opt writes (a day, a sweep, a data folder, and what ``report`` and ``game`` add
to a day) carries ``lec-opt.json`` (``RESULTS_MANIFEST``): the lec-opt version, the kind of folder,
the scenario hash, the command, the files, and ``state = "complete"``; also the versions of
lec-opt, Pyomo and HiGHS that wrote it and when (``software``, ``written_utc``: the run's, kept
when ``report`` or ``game`` update the folder; the only wall-clock value, outside the results). It is written last, and
readers (``lec_opt.io.results``, a sweep's ``resume``) take only folders whose manifest says
complete (``require_complete``), naming the reason otherwise.

A folder ``<parent>/<name>`` is written through :func:`writing`, the one entry point:

1. :func:`check_out_path`: an existing file, a location below a file, a missing parent (unless
   ``parents``) or a folder that cannot be written stop the run before any work.
2. :func:`claim` takes ``<parent>/.<name>.lec-opt.lock`` (an ``flock`` held for the whole run, the
   file holding the process id and command; the kernel releases it when a process dies, so a
   stale lock is taken over), finishes or rolls back a swap a killed run left half-done, and
   refuses a non-empty folder without a manifest unless ``overwrite``.
3. The new folder is written into ``<parent>/.<name>.lec-opt.partial/`` (for an update, a
   hard-linked copy of the complete folder: files there are only ever *replaced*, as
   ``lec_opt.io.atomic`` does, never changed in place), the manifest last.
4. The swap: on Linux one ``renameat2(RENAME_EXCHANGE)`` exchanges the two folders atomically;
   elsewhere the old folder is renamed to ``.<name>.lec-opt.old`` and the new one into place.
   Then the old folder is removed.

A reader therefore sees the previous complete folder or the new complete one, never a mixture,
whenever the writer is killed. A failed write (a full disk: ``ENOSPC``) is a ``LecOptError``
naming the folder, and the previous folder is left as it was. A sweep's partial folder keeps its
checkpoints when the run stops, so ``resume`` continues from them (``keep_partial``).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lec_opt.errors import InputError, LecOptError
from lec_opt.io.folder_lock import acquire
from lec_opt.io.folder_swap import fsync_dir, link_or_copy, remove, sibling, swap
from lec_opt.io.paths import check_out_path
from lec_opt.io.provenance import lec_opt_version, now_utc, scenario_hash, software_versions
from lec_opt.io.schema import MANIFEST_FILE

RESULTS_MANIFEST = MANIFEST_FILE
FORMAT = "lec-opt results folder, version 1"
COMPLETE = "complete"
WRITING = "writing"
KINDS = ("day", "sweep", "period", "power-flow", "data")

_COMMAND: contextvars.ContextVar[str | None] = contextvars.ContextVar("lec_opt_command", default=None)
_HELD: dict[str, list] = {}  # lock path -> [fd, depth]: a process may claim a folder it holds again


# --- the manifest -----------------------------------------------------------------------------


def set_command(command: str | None) -> None:
    """The command line recorded in manifests written by this process (``lec-opt`` sets it)."""
    _COMMAND.set(command)


def _files(folder: Path) -> list[str]:
    return sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != RESULTS_MANIFEST
    )


def read_manifest(folder: str | Path) -> dict | None:
    """``folder/lec-opt.json``, or None when the folder has none (or it is not lec-opt's)."""
    path = Path(folder) / RESULTS_MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def require_complete(folder: str | Path, kinds: tuple[str, ...] | None = None) -> dict:
    """The manifest of a complete lec-opt folder; ``InputError`` naming why the folder is not one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "results folder not found" if not folder.exists() else "not a folder")
    manifest = read_manifest(folder)
    again = "write it again with the command that makes it (e.g. `lec-opt solve-day --out FOLDER`)"
    if manifest is None:
        reason = (
            "is not a complete lec-opt results folder: it has no readable lec-opt.json, which lec-opt writes last "
            "(a run that did not finish, a folder written before lec-opt kept manifests, or files lec-opt did not "
            f"write); {again}"
        )
        raise InputError(folder, reason)
    if manifest.get("state") != COMPLETE:
        raise InputError(
            folder / RESULTS_MANIFEST,
            f"the folder is not complete (state {manifest.get('state')!r}): the run writing it did not finish; {again}",
            field="state",
        )
    if kinds is not None and manifest.get("kind") not in kinds:
        raise InputError(
            folder / RESULTS_MANIFEST,
            f"holds a {manifest.get('kind')} folder, but this needs a {' or '.join(kinds)} folder",
            field="kind",
        )
    return manifest


def write_manifest(
    folder: Path,
    kind: str,
    *,
    state: str,
    scenario_hash: str | None,
    command: str,
    previous: dict | None = None,
    foreign: list[str] | tuple[str, ...] = (),
) -> dict:
    """Write ``folder/lec-opt.json`` (atomically); ``previous`` is the manifest an update extends, and
    ``foreign`` the user's files it carried over, which the manifest does not list."""
    from lec_opt.io.atomic import write_json  # pandas: imported when a folder is written, not by ``--help``

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    manifest = {
        "format": FORMAT,
        "kind": kind,
        "state": state,
        "lec_opt_version": lec_opt_version(),
        "scenario_hash": scenario_hash,
        "command": command,
        "software": software_versions(),
        "written_utc": now_utc(),
    }
    if previous is not None:  # an update (report, game) keeps who made the folder, with what and when, and adds itself
        manifest.update(scenario_hash=previous.get("scenario_hash"), command=previous.get("command"))
        for key in ("software", "written_utc"):
            if key in previous:
                manifest[key] = previous[key]
        manifest["updated_by"] = [*previous.get("updated_by", []), command]
    manifest["files"] = [f for f in _files(folder) if f not in foreign] if state == COMPLETE else []
    write_json(folder / RESULTS_MANIFEST, manifest)
    return manifest


# --- one writer at a time ---------------------------------------------------------------------


def partial_dir(target: str | Path) -> Path:
    """Where a run writes ``target`` before the swap (a sweep's checkpoints live there until it ends)."""
    return sibling(_target(target), "partial")


def _target(path: str | Path) -> Path:
    return Path(os.path.realpath(Path(path)))


def _recover(target: Path) -> None:
    """Finish (or roll back) a swap that a killed run left half-done, and drop the old folder."""
    old, partial = sibling(target, "old"), sibling(target, "partial")
    if not target.exists() and old.is_dir():
        manifest = read_manifest(partial) if partial.is_dir() else None
        if manifest is not None and manifest.get("state") == COMPLETE:
            os.rename(partial, target)  # the new folder was complete: finish the swap
        else:
            os.rename(old, target)  # roll back to the previous folder
        fsync_dir(target.parent)
    if old.exists():
        remove(old)


def foreign_files(folder: str | Path, manifest: dict | None = None) -> list[str]:
    """The files inside a lec-opt folder that its manifest (read when not given) does not list: the
    user's own (a spreadsheet put beside the results). [] for a folder without a manifest."""
    manifest = manifest if manifest is not None else read_manifest(folder)
    if manifest is None:
        return []
    return sorted(set(_files(Path(folder))) - set(manifest.get("files", [])))


def _check_replaceable(target: Path, overwrite: bool, shown: Path, update: bool = False) -> None:
    if not target.is_dir():
        return
    manifest = read_manifest(target)
    if manifest is not None:
        foreign = [] if overwrite or update else foreign_files(target, manifest)
        if foreign:
            listed = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise LecOptError(
                f"{shown}: holds files lec-opt did not write ({listed}); writing the folder again would delete "
                "them. Move them out of the folder, choose another --out, or give --overwrite to replace the folder "
                "and them"
            )
        return
    entries = sorted(p.name for p in target.iterdir())
    if entries and not overwrite:
        listed = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise LecOptError(
            f"{shown}: the folder holds files lec-opt did not write ({listed}); lec-opt replaces a folder only when "
            f"its {RESULTS_MANIFEST} says lec-opt wrote it. Choose another --out, or give --overwrite to replace the "
            "folder and everything in it"
        )


@contextlib.contextmanager
def claim(out: str | Path, *, overwrite: bool = False, parents: bool = True, update: bool = False) -> Iterator[Path]:
    """Check ``out`` and hold its lock for the block (a process may claim a folder it holds again).

    Refuses a file, a location below a file, a folder lec-opt cannot write, a missing parent
    (``parents=False``), a non-empty folder without a lec-opt manifest and a lec-opt folder that
    holds files its manifest does not list (the user's own; both unless ``overwrite``, and the
    second unless ``update``: report and game keep such files), and a folder another live process
    is writing. Yields the folder's real path.
    """
    shown = check_out_path(out, parents=parents)  # messages name the folder as the user gave it
    target = _target(out)
    lock = sibling(target, "lock")
    key = str(lock)
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            _check_replaceable(target, overwrite, shown, update)
            yield target
        finally:
            _HELD[key][1] -= 1
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = acquire(lock, shown, _COMMAND.get())
    except OSError as err:
        raise _write_error(shown, err) from None
    _HELD[key] = [fd, 1]
    try:
        try:
            _recover(target)
        except OSError as err:
            raise _write_error(shown, err) from None
        _check_replaceable(target, overwrite, shown, update)
        yield target
    finally:
        del _HELD[key]
        with contextlib.suppress(OSError):
            lock.unlink()
        os.close(fd)


# --- writing a folder whole -------------------------------------------------------------------


def _write_error(shown: Path, err: OSError) -> LecOptError:
    where = f" ({err.filename})" if err.filename else ""
    return LecOptError(
        f"{shown}: could not write the folder: {err.strerror or err}{where}; "
        f"{'the previous folder is unchanged' if shown.exists() else 'nothing was written'}"
    )


def _continues(partial: Path, kind: str | None) -> bool:
    """Is ``partial`` a folder of ``kind`` that a stopped run was writing (a sweep to resume)?"""
    left = read_manifest(partial) if partial.is_dir() else None
    return left is not None and left.get("kind") == kind and left.get("state") == WRITING


@contextlib.contextmanager
def writing(
    out: str | Path,
    kind: str | None = None,
    *,
    scenario: Any = None,
    overwrite: bool = False,
    update: bool = False,
    resume: bool = False,
    keep_partial: bool = False,
    parents: bool = True,
    command: str | None = None,
) -> Iterator[Path]:
    """Write the folder ``out`` whole: yields the partial folder to write into; swaps it in at the end.

    >>> with writing("results/day", "day", scenario=sc) as folder:
    ...     write_csv(folder / "intervals.csv", table)

    ``kind``: one of ``KINDS``. ``scenario``: recorded as ``scenario_hash``. ``overwrite``: replace
    a non-empty folder lec-opt did not write. ``update``: start from a copy of the complete folder
    ``out`` (``report``, ``game``: the kind and scenario stay). ``resume``: continue a partial
    folder a stopped run left (else start from a copy of the complete ``out`` when it has the same
    kind, else empty). ``keep_partial``: keep the partial folder when the block fails (a sweep's
    checkpoints). ``command``: recorded when the process has none (``set_command``).
    """
    if update:
        require_complete(out)  # before the lock: a bad folder is named as given, and nothing is created
    elif resume and not _continues(partial_dir(out), kind) and Path(out).is_dir() and any(Path(out).iterdir()):
        require_complete(out, (kind,))  # resume reads only a complete folder of its kind
    shown = Path(out)
    with claim(out, overwrite=overwrite, parents=parents, update=update) as target:
        previous = require_complete(target) if update else None
        foreign = foreign_files(target, previous) if update else []  # the user's files: carried over, never listed
        kind = previous["kind"] if previous is not None else kind
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        partial = sibling(target, "partial")
        recorded = _COMMAND.get() or command or f"python: lec_opt ({kind})"
        try:
            continuing = resume and _continues(partial, kind)
            if resume and not continuing and target.is_dir() and any(target.iterdir()):
                require_complete(target, (kind,))
            if not continuing:
                if partial.exists():
                    remove(partial)
                base = read_manifest(target) if (update or resume) else None
                if base is not None and base.get("state") == COMPLETE and base.get("kind") == kind:
                    shutil.copytree(target, partial, copy_function=link_or_copy, symlinks=True)
                else:
                    partial.mkdir()
                write_manifest(partial, kind, state=WRITING, scenario_hash=scenario_hash(scenario), command=recorded)
        except OSError as err:
            with contextlib.suppress(OSError):
                remove(partial)
            raise _write_error(shown, err) from None
        try:
            yield partial
            write_manifest(
                partial,
                kind,
                state=COMPLETE,
                scenario_hash=scenario_hash(scenario),
                command=recorded,
                previous=previous,
                foreign=foreign,
            )
            swap(partial, target)
        except BaseException as err:
            if not keep_partial:
                with contextlib.suppress(OSError):
                    remove(partial)
            if isinstance(err, OSError):
                raise _write_error(shown, err) from None
            raise
