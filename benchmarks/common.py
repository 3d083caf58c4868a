"""Machine facts, repeated timing and atomic result files shared by the benchmark cases."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import time
from importlib.metadata import version
from pathlib import Path

from lec_opt.io.atomic import write_json

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "highspy": version("highspy"),
        "pyomo": version("pyomo"),
        "numpy": version("numpy"),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "source": source(),
    }


def source() -> dict:
    """The lec_opt commit measured and whether lec_opt/ or models/ differ from it (read-only git)."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode:
        return {"commit": None, "dirty": None}
    dirty = git("diff", "--no-ext-diff", "--quiet", "HEAD", "--", "lec_opt", "models").returncode != 0
    return {"commit": head.stdout.strip(), "dirty": dirty}


def stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def timed(fn, repeat: int) -> tuple[dict, object]:
    """Run ``fn`` ``repeat`` times; wall-time statistics and the last result."""
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return stats(times), out


def save(case: str, payload: dict) -> Path:
    path = RESULTS / f"{case}.json"
    write_json(path, {"case": case, "machine": machine(), **payload})
    return path


def timed_run(command: list[str], what: str) -> dict:
    """Run ``command`` as a subprocess: its wall seconds, the CPU seconds of all its processes (what
    a shared machine cannot inflate), the peak RSS of its largest process and the load around it;
    RuntimeError naming ``what`` when it fails."""
    load_before = os.getloadavg()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{what} failed: {done.stderr[-2000:]}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "wall_seconds": wall,
        "cpu_seconds_all_processes": (usage.ru_utime + usage.ru_stime) - (before.ru_utime + before.ru_stime),
        "peak_rss_gib": usage.ru_maxrss / 2**20,  # the largest single process (the client or a worker)
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }
