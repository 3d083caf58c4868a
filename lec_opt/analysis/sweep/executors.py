"""Where a sweep's points run: the executors of ``lec_opt.engine`` with ``run_point`` as the task."""

from __future__ import annotations

from collections.abc import Iterator

from lec_opt.analysis.sweep.worker import run_point
from lec_opt.engine.executors import WorkerDied
from lec_opt.engine.executors import execute as execute_tasks

__all__ = ["WorkerDied", "execute"]

PRELOAD = ("lec_opt.analysis.sweep.worker", "lec_opt.day.run", "lec_opt.day.outputs", "lec_opt.period.run")


def execute(payloads: list[dict], executor: str, workers: int, scheduler: str | None) -> Iterator[tuple[str, dict]]:
    """The points' records as they finish, from ``executor`` on ``workers`` processes."""
    return execute_tasks(run_point, payloads, executor, workers, scheduler, PRELOAD)
