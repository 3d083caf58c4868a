"""Swapping a folder whole: a complete new folder takes the place of the old one, so that a reader
sees the one or the other and never a mixture (``lec_opt.io.results_folder`` writes through it).

On Linux one ``renameat2(RENAME_EXCHANGE)`` exchanges the two folders atomically; elsewhere the old
folder is renamed to ``.<name>.lec-opt.old`` and the new one into place. The siblings of a folder
``<parent>/<name>`` are ``<parent>/.<name>.lec-opt.<what>``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import shutil
from pathlib import Path


def sibling(target: Path, what: str) -> Path:
    """``<parent>/.<name>.lec-opt.<what>`` beside ``target`` (its lock, partial or old folder)."""
    return target.parent / f".{target.name}.lec-opt.{what}"


def remove(path: Path) -> None:
    """Delete a folder (whole) or a file or link."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=False)
    elif path.exists() or path.is_symlink():
        path.unlink()


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries to disk (a rename in it lasts); quietly nothing where that is not possible."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def link_or_copy(src: str, dst: str) -> None:
    """A hard link of ``src`` at ``dst``, or a copy where links are not possible."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


_RENAME_EXCHANGE = 2


def exchange(a: Path, b: Path) -> bool:
    """Exchange two folders atomically (Linux ``renameat2``); False where that is not available."""
    if not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if done == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # the file system cannot exchange: rename in two steps
    raise OSError(code, os.strerror(code), str(b))


def swap(partial: Path, target: Path) -> None:
    """Put the complete ``partial`` folder at ``target``; the previous folder goes, never half of it."""
    old = sibling(target, "old")
    if old.exists():
        remove(old)
    if target.exists():
        if exchange(partial, target):
            os.rename(partial, old)
        else:
            os.rename(target, old)
            os.rename(partial, target)
    else:
        os.rename(partial, target)
    fsync_dir(target.parent)
    remove(old)
