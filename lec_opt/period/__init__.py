"""Periods of days (a week, a season, a year): the CES state of charge carried across midnight.

``matching``: phase 1, every (day, interval) matched independently on an executor of
``lec_opt.engine``, checkpointed per day. ``run``: phase 2, the day layer's walk in date order in
the client, and the whole run (``run_period``, ``solve_period``). ``outputs``: days.csv,
intervals.parquet, trades.parquet, summary.json and figures. models/FORMULATION.md §12.
"""

from lec_opt.period.matching import MatchingStore, matching_key
from lec_opt.period.outputs import PeriodOutputs
from lec_opt.period.run import period_dates, period_days, run_period, solve_period, with_period

__all__ = [
    "MatchingStore",
    "PeriodOutputs",
    "matching_key",
    "period_dates",
    "period_days",
    "run_period",
    "solve_period",
    "with_period",
]
