"""Sensitivity sweeps: how a day's results move with k, S, d, tariffs, capacity ... (paper §3.2).

A sweep takes a base scenario and one or more *axes*: a scenario field named by its dotted path
(``ces.k``, ``tariffs.buy``) and the values it takes, from a list (``0.01,0.05``), a linspace
(``start:stop:num``) or a logspace (``start:stop:num:log``) (``spec``). The points are the
cartesian product of the axes (or, in ``zip`` mode, the axes side by side), each validated
before anything is solved (``points``). Every point is a whole day (``worker``), run in-process,
in a process pool or on a Dask cluster (``executors``); ``run`` checkpoints each point and
writes ``sweep.csv`` (``table``) and ``figures/sweep_<group>_<field>.png`` (``figures``).
"""

from lec_opt.analysis.sweep.executors import WorkerDied
from lec_opt.analysis.sweep.figures import write_sweep_figures
from lec_opt.analysis.sweep.points import SWEEP_MODES, Point, build_points, point_hash
from lec_opt.analysis.sweep.run import POINTS_DIR, run_sweep
from lec_opt.analysis.sweep.spec import (
    Axis,
    SweepSpec,
    load_spec,
    parse_param,
    parse_values,
)
from lec_opt.io.schema import SWEEP_FILE, TIMING, swept_columns

__all__ = [
    "POINTS_DIR",
    "SWEEP_FILE",
    "SWEEP_MODES",
    "TIMING",
    "Axis",
    "Point",
    "SweepSpec",
    "WorkerDied",
    "build_points",
    "load_spec",
    "parse_param",
    "parse_values",
    "point_hash",
    "run_sweep",
    "swept_columns",
    "write_sweep_figures",
]
