"""Where independent pieces of work run: in-process, in a local process pool or on Dask.

Shared by the sweep (one point per task) and the period (the matchings of a day per task).
"""

from lec_opt.engine.executors import DASK_HINT, EXECUTORS, WorkerDied, check_dask, check_executor, execute

__all__ = ["DASK_HINT", "EXECUTORS", "WorkerDied", "check_dask", "check_executor", "execute"]
