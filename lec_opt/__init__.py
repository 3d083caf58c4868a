"""lec-opt: peer-to-peer energy trading in a local energy community as an optimisation model.

Implements Malik et al., "A priority-based approach for peer-to-peer energy trading using
cooperative game theory in local energy community", IJEPES 137 (2022) 107865.

Data flows one way, one sub-package per layer: ``scenario`` -> ``io`` (profiles) ->
``market`` (interval snapshot, greedy matching, CES, result, settlement) and ``model`` (Pyomo +
HiGHS) -> ``day`` (intervals and days) -> ``period`` (days with the SoC carried across midnight)
-> ``analysis`` (game, sweeps) and ``report``; ``engine`` runs independent tasks (serial, local
processes, Dask) for the period and the sweep.

The main jobs, each returning plain data or DataFrames:

>>> import lec_opt
>>> result = lec_opt.solve_interval(interval="12:00", priority="A")      # one interval
>>> run = lec_opt.run_day(lec_opt.load_scenario(), method="greedy")       # a day
>>> folder = lec_opt.write_day(run, "results/day")                         # its files
>>> lec_opt.write_report(folder); checks = lec_opt.check_day(folder)      # figures, core check
>>> summary = lec_opt.solve_period(lec_opt.with_period(lec_opt.load_scenario(), "2025-06-01", 7), "results/week", "greedy")
>>> table = lec_opt.run_sweep([lec_opt.parse_param("ces.k=0.2:1.0:3")], lec_opt.load_scenario(), method="greedy")

Pyomo is imported only when the MILP or the game check is used: the greedy path runs without it.
"""

from importlib import import_module

from lec_opt.errors import InputError, LecOptError
from lec_opt.io.shipped import DEFAULT_SCENARIO
from lec_opt.scenario import Scenario, load_scenario

__version__ = "0.1.0"

# name -> module: imported on first use (PEP 562), so ``import lec_opt`` stays light
_LAZY = {
    "solve_interval": "lec_opt.day.interval",
    "solve_snapshot": "lec_opt.day.interval",
    "run_day": "lec_opt.day.run",
    "DayRun": "lec_opt.day.run",
    "write_day": "lec_opt.day.outputs",
    "check_day": "lec_opt.analysis.stability",
    "run_sweep": "lec_opt.analysis.sweep",
    "parse_param": "lec_opt.analysis.sweep",
    "write_report": "lec_opt.report",
    "build_day": "lec_opt.market.snapshot",
    "DayInputs": "lec_opt.market.snapshot",
    "IntervalSnapshot": "lec_opt.market.snapshot",
    "IntervalResult": "lec_opt.market.result",
    "LevelRecord": "lec_opt.market.result",
    "Matching": "lec_opt.market.result",
    "Trade": "lec_opt.market.result",
    "Profiles": "lec_opt.io.profiles",
    "read_profiles": "lec_opt.io.profiles",
    "read_period": "lec_opt.io.period_profiles",
    "PeriodProfiles": "lec_opt.io.period_profiles",
    "run_period": "lec_opt.period",
    "solve_period": "lec_opt.period",
    "with_period": "lec_opt.period",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lec_opt' has no attribute {name!r}")


__all__ = ["DEFAULT_SCENARIO", "InputError", "LecOptError", "Scenario", "load_scenario", *_LAZY]
