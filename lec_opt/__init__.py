"""lec-opt: peer-to-peer energy trading in a local energy community as an optimisation model.

Implements Malik et al., "A priority-based approach for peer-to-peer energy trading using
cooperative game theory in local energy community", IJEPES 137 (2022) 107865.

Data flows one way: scenario -> profiles -> interval snapshot -> model/greedy -> result ->
settlement -> reports.
"""

from lec_opt.errors import InputError, LecOptError
from lec_opt.interval import solve_interval, solve_snapshot
from lec_opt.result import IntervalResult, LevelRecord, Trade
from lec_opt.profiles import Profiles, read_profiles
from lec_opt.scenario import DEFAULT_SCENARIO, Scenario, load_scenario
from lec_opt.snapshot import DayInputs, IntervalSnapshot, build_day

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_SCENARIO",
    "DayInputs",
    "InputError",
    "IntervalResult",
    "IntervalSnapshot",
    "LevelRecord",
    "LecOptError",
    "Profiles",
    "Scenario",
    "build_day",
    "load_scenario",
    "read_profiles",
    "solve_interval",
    "solve_snapshot",
    "Trade",
]
