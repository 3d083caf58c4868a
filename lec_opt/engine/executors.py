"""Where independent tasks run: in-process (``serial``), a local process pool (``local``) or Dask.

A task is ``function(payload)`` with a plain-data ``payload`` that has a ``"hash"`` naming it;
``function`` is a module-level function (so that a process pool or a Dask worker can import it)
that returns a record and never raises for a problem of its own task (it returns an error record).
Every executor yields ``(hash, record)`` as tasks finish, in the order they finish: callers that
need an order restore it. The sweep runs one point per task, the period the matchings of one day
(or part of one), a day's MILP the matchings of one interval (``lec_opt.day.matching``). The
results do not depend on the executor (the greedy's bit for bit; the MILP's up to what its
wall-clock time limits let HiGHS find on a busy machine).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

from lec_opt.errors import LecOptError

Task = Callable[[dict], dict]

EXECUTORS = ("local", "serial", "dask")
DASK_HINT = 'the dask executor needs dask.distributed: pip install -e ".[dask]"'


class WorkerDied(LecOptError):
    """A worker process of the local pool died (killed, out of memory): the run stops."""


def check_executor(executor: str, scheduler: str | None = None, workers: int | None = None) -> None:
    """LecOptError unless ``executor`` is one of ``EXECUTORS``, ``workers`` (when given) a whole
    number >= 1 and a ``scheduler`` address comes with the dask executor; dask must be installed
    for it."""
    if executor not in EXECUTORS:
        raise LecOptError(f"executor must be one of {', '.join(EXECUTORS)}, not {executor!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise LecOptError(f"workers must be a whole number >= 1, not {workers!r}")
    if scheduler and executor != "dask":
        raise LecOptError("a scheduler address needs the dask executor (--executor dask)")
    if executor == "dask":
        check_dask()


def check_dask() -> None:
    """LecOptError with the install hint when dask.distributed is missing."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise LecOptError(DASK_HINT) from None


def execute(
    function: Task,
    payloads: list[dict],
    executor: str,
    workers: int,
    scheduler: str | None,
    preload: Sequence[str] = (),
) -> Iterator[tuple[str, dict]]:
    """The tasks' records as they finish, from ``executor`` on ``workers`` processes.

    The pool is skipped for one worker or one task; ``dask`` without tasks starts no cluster.
    ``preload``: modules the local pool's fork server imports once (its workers start fast).
    """
    if executor == "dask" and payloads:
        return _dask(function, payloads, workers, scheduler)
    if executor in ("serial", "dask") or workers == 1 or len(payloads) <= 1:
        return _serial(function, payloads)
    return _local(function, payloads, min(workers, len(payloads)), preload)


def _serial(function: Task, payloads: list[dict]) -> Iterator[tuple[str, dict]]:
    for payload in payloads:
        yield payload["hash"], function(payload)


def _pool_context(preload: Sequence[str] = ()):
    """A start method whose workers begin clean: forkserver (else spawn), never a plain fork.

    HiGHS keeps a global thread pool; a process forked from one that has solved a MIP inherits
    the pool's state without its threads and spins forever in its first MIP. The fork server is
    a fresh interpreter that imports lec-opt once (never solves), so workers still start fast.
    As with spawn, a script that starts a sweep needs the ``if __name__ == "__main__":`` guard.
    """
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))
    return context


def _local(function: Task, payloads: list[dict], workers: int, preload: Sequence[str]) -> Iterator[tuple[str, dict]]:
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context(preload))
    broken, finished = None, False
    try:
        futures = {pool.submit(function, p): p["hash"] for p in payloads}
        for future in as_completed(futures):
            try:
                record = future.result()
            except BrokenProcessPool as err:
                broken = err
                continue  # keep collecting the tasks that did finish
            except Exception as err:  # noqa: BLE001 - e.g. the payload could not be sent
                record = {"status": "error", "error": f"{type(err).__name__}: {err}", "metrics": {}}
            yield futures[future], record
        finished = True
    finally:  # interrupted: do not wait for the points still running
        # a broken pool is waited for too (its workers are gone): left running, its manager thread
        # races the interpreter's exit on a closed wake-up pipe and prints a traceback
        pool.shutdown(wait=finished, cancel_futures=True)
    if broken is not None:
        raise WorkerDied(f"a worker process died ({broken})")


def _dask(
    function: Task, payloads: list[dict], workers: int | None, scheduler: str | None
) -> Iterator[tuple[str, dict]]:
    import logging

    import dask
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as err:
            raise LecOptError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
    else:
        # the workers' statistical profiler (for the dashboard, which is off) samples the stack of
        # the running task 100 times a second: about 6 % of a MILP sweep on busy cores
        with dask.config.set({"distributed.worker.profile.enabled": False}):
            cluster = LocalCluster(
                n_workers=workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
        client = Client(cluster)
    try:
        futures = [client.submit(function, p, pure=False) for p in payloads]
        hashes = {f.key: p["hash"] for f, p in zip(futures, payloads, strict=True)}
        for future in as_completed(futures):
            try:
                record = future.result()
            except Exception as err:  # noqa: BLE001 - e.g. KilledWorker: this task kept killing workers
                record = {"status": "error", "error": f"{type(err).__name__}: {err}", "metrics": {}}
            yield hashes[future.key], record
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
