"""Where a sweep's points run: in-process (``serial``), a local process pool (``local``) or Dask.

Every executor yields ``(hash, record)`` as points finish. The results do not depend on which
(the greedy's bit for bit; the MILP's up to what its wall-clock time limits let HiGHS find on a
busy machine, e.g. a few transactions of the fewest-transactions level).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from lec_opt.analysis.sweep.worker import run_point
from lec_opt.errors import LecOptError

EXECUTORS = ("local", "serial", "dask")
DASK_HINT = 'the dask executor needs dask.distributed: pip install -e ".[dask]"'


class WorkerDied(LecOptError):
    """A worker process of the local pool died (killed, out of memory): the sweep stops."""


def check_dask() -> None:
    """LecOptError with the install hint when dask.distributed is missing."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise LecOptError(DASK_HINT) from None


def execute(payloads: list[dict], executor: str, workers: int, scheduler: str | None) -> Iterator[tuple[str, dict]]:
    """The points' records as they finish, from ``executor`` on ``workers`` processes.

    The pool is skipped for one worker or one point; ``dask`` without points starts no cluster.
    """
    if executor == "dask" and payloads:
        return _dask(payloads, workers, scheduler)
    if executor in ("serial", "dask") or workers == 1 or len(payloads) <= 1:
        return _serial(payloads)
    return _local(payloads, min(workers, len(payloads)))


def _serial(payloads: list[dict]) -> Iterator[tuple[str, dict]]:
    for payload in payloads:
        yield payload["hash"], run_point(payload)


def _pool_context():
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
    context.set_forkserver_preload(["lec_opt.analysis.sweep.worker", "lec_opt.day.run", "lec_opt.day.outputs"])
    return context


def _local(payloads: list[dict], workers: int) -> Iterator[tuple[str, dict]]:
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context())
    broken, finished = None, False
    try:
        futures = {pool.submit(run_point, p): p["hash"] for p in payloads}
        for future in as_completed(futures):
            try:
                record = future.result()
            except BrokenProcessPool as err:
                broken = err
                continue  # keep collecting the points that did finish
            except Exception as err:  # noqa: BLE001 - e.g. the payload could not be sent
                record = {"status": "error", "error": f"{type(err).__name__}: {err}", "metrics": {}}
            yield futures[future], record
        finished = True
    finally:  # interrupted: do not wait for the points still running
        pool.shutdown(wait=finished and broken is None, cancel_futures=True)
    if broken is not None:
        raise WorkerDied(f"a worker process died ({broken})")


def _dask(payloads: list[dict], workers: int | None, scheduler: str | None) -> Iterator[tuple[str, dict]]:
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
        # the running point 100 times a second: about 6 % of a MILP sweep on busy cores
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
        futures = [client.submit(run_point, p, pure=False) for p in payloads]
        hashes = {f.key: p["hash"] for f, p in zip(futures, payloads, strict=True)}
        for future in as_completed(futures):
            try:
                record = future.result()
            except Exception as err:  # noqa: BLE001 - e.g. KilledWorker: this point kept killing workers
                record = {"status": "error", "error": f"{type(err).__name__}: {err}", "metrics": {}}
            yield hashes[future.key], record
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
