"""Solve one trading interval: the entry point a notebook user reaches for first.

>>> from lec_opt import solve_interval
>>> result = solve_interval(interval="12:00", priority="A", method="milp")
>>> result.p2p_kwh, result.transactions
"""

from __future__ import annotations

from pathlib import Path

from lec_opt.day.matching import match_interval
from lec_opt.day.run import METHODS
from lec_opt.errors import LecOptError
from lec_opt.io.profiles import parse_time
from lec_opt.market.ces import ces_params
from lec_opt.market.outcome import has_willing_pair, result_from_matching
from lec_opt.market.priorities import PRIORITIES
from lec_opt.market.result import IntervalResult
from lec_opt.market.snapshot import DayInputs, IntervalSnapshot, build_day
from lec_opt.scenario import Scenario, load_scenario


def solve_snapshot(
    snap: IntervalSnapshot,
    scenario: Scenario,
    soc: float,
    priorities: tuple[str, ...] = PRIORITIES,
    method: str = "milp",
) -> dict[str, IntervalResult]:
    """Every requested priority of one interval with the MILP (all four levels) or the greedy matching.

    The greedy matching, and an interval without a willing seller-buyer pair, take the exact CES
    dispatch (``lec_opt.market.outcome``); no solver is involved.
    """
    unknown = set(priorities) - set(PRIORITIES)
    if unknown or method not in METHODS:
        raise LecOptError(f"priorities must be among {PRIORITIES} and method among {METHODS}")
    if method == "milp" and has_willing_pair(snap):
        from lec_opt.model.lexicographic import solve_milp  # Pyomo only when the MILP is asked for

        return solve_milp(snap, scenario, soc, priorities)
    ces = ces_params(scenario, snap, soc)
    return {
        p: result_from_matching(snap, ces, m, scenario.bids.mu, scenario.bids.price_margin)
        for p, m in match_interval(snap, scenario, method, priorities).items()
    }


def interval_index(day: DayInputs, interval: int | str) -> int:
    """An interval given as its index or as a time of day ``HH:MM`` (the interval containing it)."""
    if isinstance(interval, str):
        minute = parse_time(interval)
        if minute is None:
            raise LecOptError(f"interval {interval!r} is neither an index nor a time HH:MM")
        return day.interval_at(minute)
    if not 0 <= interval < day.n_intervals:
        raise LecOptError(f"interval {interval} outside 0..{day.n_intervals - 1}")
    return interval


def solve_interval(
    scenario: Scenario | str | Path | None = None,
    interval: int | str = "12:00",
    priority: str = "A",
    method: str = "milp",
    soc: float | None = None,
) -> IntervalResult | dict[str, IntervalResult]:
    """Solve one interval of a scenario (default: the shipped paper_5min) for one priority.

    ``interval`` is an index or ``HH:MM``; ``priority`` is A, B, C or "all" (then a dict by
    priority is returned); ``soc`` is the CES state of charge at the start (default: the
    scenario's initial SoC).

    >>> result = solve_interval(interval="12:00", priority="A", method="milp")
    >>> result.p2p_kwh, result.transactions, result.trades[:3]
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if scenario.network is not None and scenario.network.limits == "enforced":
        raise LecOptError(
            f"{scenario.origin('network')}: network.limits = 'enforced' is kept by a whole day (solve-day, run_day), "
            "whose power flows check every interval; one interval alone is solved without the limits: set limits = 'off'"
        )
    day = build_day(scenario)
    snap = day.snapshot(interval_index(day, interval))
    soc = scenario.ces.soc_initial if soc is None else soc
    if not scenario.ces.soc_min <= soc <= scenario.ces.soc_max:
        raise LecOptError(f"soc {soc} outside the scenario's window [{scenario.ces.soc_min}, {scenario.ces.soc_max}]")
    priorities = PRIORITIES if priority == "all" else (priority,)
    results = solve_snapshot(snap, scenario, soc, priorities, method)
    return results if priority == "all" else results[priority]
