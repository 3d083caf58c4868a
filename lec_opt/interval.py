"""Solve one trading interval: the entry point a notebook user reaches for first.

>>> from lec_opt import solve_interval
>>> result = solve_interval(interval="12:00", priority="A", method="milp")
>>> result.p2p_kwh, result.transactions
"""

from __future__ import annotations

from pathlib import Path

from lec_opt.ces import ces_params
from lec_opt.errors import LecOptError
from lec_opt.greedy import assemble, solve_greedy
from lec_opt.model import PRIORITIES
from lec_opt.profiles import parse_time
from lec_opt.result import IntervalResult, LevelRecord
from lec_opt.scenario import Scenario, load_scenario
from lec_opt.snapshot import DayInputs, IntervalSnapshot, build_day
from lec_opt.solve import solve_milp

METHODS = ("milp", "greedy")


def solve_snapshot(
    snap: IntervalSnapshot, scenario: Scenario, soc: float, priorities: tuple[str, ...] = PRIORITIES,
    method: str = "milp",
) -> dict[str, IntervalResult]:
    """Every requested priority of one interval with the MILP or the greedy matching.

    An interval without a single candidate pair (no sellers or no buyers) needs no MILP: its only
    decision is the CES dispatch, which is then solved exactly.
    """
    unknown = set(priorities) - set(PRIORITIES)
    if unknown or method not in METHODS:
        raise LecOptError(f"priority must be among {PRIORITIES} and method among {METHODS}")
    if method == "greedy":
        return {p: solve_greedy(snap, scenario, soc, p) for p in priorities}
    willing_pairs = snap.willing_seller.any() and snap.willing_buyer.any()
    if not willing_pairs:
        ces = ces_params(scenario, snap, soc)
        trivial = "trivial: no willing seller-buyer pair"
        empty = (LevelRecord(1, "p2p", trivial, 0.0), LevelRecord(3, "priority", trivial, 0.0),
                 LevelRecord(4, "transactions", trivial, 0.0))
        return {p: assemble(snap, scenario, ces, p, "milp", [], match_levels=empty) for p in priorities}
    return solve_milp(snap, scenario, soc, priorities)


def interval_index(day: DayInputs, interval: int | str) -> int:
    """An interval given as its index or as a time of day ``HH:MM`` (the interval containing it)."""
    if isinstance(interval, str):
        minute = parse_time(interval)
        if minute is None:
            raise LecOptError(f"--time {interval!r} is not HH:MM")
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
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    day = build_day(scenario)
    snap = day.snapshot(interval_index(day, interval))
    soc = scenario.ces.soc_initial if soc is None else soc
    if not scenario.ces.soc_min <= soc <= scenario.ces.soc_max:
        raise LecOptError(f"soc {soc} outside the scenario's window [{scenario.ces.soc_min}, {scenario.ces.soc_max}]")
    priorities = PRIORITIES if priority == "all" else (priority,)
    results = solve_snapshot(snap, scenario, soc, priorities, method)
    return results if priority == "all" else results[priority]
