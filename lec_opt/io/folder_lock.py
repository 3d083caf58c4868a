"""The lock of a results folder: one writer at a time (``flock`` on POSIX, with the holder's process
id, host and command in the lock file; elsewhere the process id alone)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path

from lec_opt.errors import LecOptError

try:  # POSIX; elsewhere the lock falls back to the process id in the lock file
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(lock: Path) -> str:
    try:
        info = json.loads(lock.read_text(encoding="utf-8"))
        return f"process {info['pid']} on {info.get('host', '?')} ({info.get('command') or 'lec-opt'})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def acquire(lock: Path, target: Path, command: str | None) -> int:
    """Open and lock ``lock``, recording this process and ``command``; ``LecOptError`` naming the holder
    when another live process has it."""
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise LecOptError(
                        f"{target}: another lec-opt run is writing this folder: {_holder(lock)}; "
                        f"wait for it to finish or stop it (lock file {lock})"
                    ) from None
                if os.fstat(fd).st_ino != os.stat(lock).st_ino:  # the holder removed it just now: lock the new one
                    os.close(fd)
                    continue
            else:  # pragma: no cover - no flock: trust the process id in the file
                with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                    pid = json.loads(lock.read_text(encoding="utf-8"))["pid"]
                    if pid != os.getpid() and _alive(pid):
                        raise LecOptError(f"{target}: another lec-opt run is writing this folder: {_holder(lock)}")
        except BaseException:
            os.close(fd)
            raise
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        return fd
