"""A whole day: matchings per interval, then the CES in time order with the SoC carried over.

models/FORMULATION.md §4: the P2P matching of an interval (levels 1, 3, 4) does not depend on the
state of charge, and the CES dispatch (level 2) depends on the matching only through the P2P
volume. So phase 1 solves every interval's matchings independently (``lec_opt.day.matching``, in
parallel for the MILP), and phase 2 walks the day in order: for each priority it dispatches the
CES exactly from the current SoC, settles, scores, lets the aggregator choose, and carries the
chosen priority's SoC forward. Each priority is also run alone all day (its own SoC path) for the
comparison the paper makes. With ``ces.policy = "foresight"`` the followed path's CES is then
re-scheduled over the whole day at once (``lec_opt.day.foresight``); the myopic path is kept.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from lec_opt.day.matching import Progress, all_matchings
from lec_opt.day.selection import choose, score_vector
from lec_opt.errors import LecOptError
from lec_opt.market.ces import ces_params
from lec_opt.market.outcome import result_from_matching
from lec_opt.market.priorities import PRIORITIES
from lec_opt.market.result import IntervalResult, Matching
from lec_opt.market.settlement import IntervalSettlement, settle
from lec_opt.market.snapshot import DayInputs, IntervalSnapshot, build_day
from lec_opt.scenario.schema import Scenario

DAY_PRIORITIES = ("best", *PRIORITIES)  # "best": the aggregator's choice in each interval
METHODS = ("milp", "greedy")


class NetworkGuard(Protocol):
    """What ``walk`` needs of the network's limits (``lec_opt.day.network_limits.IntervalLimits``)."""

    def keep(
        self,
        step: Step,
        matchings: dict[str, Matching],
        soc: float,
        priorities: tuple[str, ...],
        again: Callable[[IntervalSnapshot, dict[str, Matching], tuple[float, float]], Step],
    ) -> Step:
        """``step`` if its flow keeps the limits, else the interval solved again within them."""
        ...


def check_method_priority(method: str, priority: str) -> None:
    """LecOptError unless ``method`` is one of ``METHODS`` and ``priority`` one of ``DAY_PRIORITIES``."""
    if method not in METHODS:
        raise LecOptError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if priority not in DAY_PRIORITIES:
        raise LecOptError(f"priority must be one of {', '.join(DAY_PRIORITIES)}, not {priority!r}")


@dataclass(frozen=True)
class Step:
    """One interval of a SoC path: every priority dispatched from the same SoC, and the choice."""

    index: int
    results: dict[str, IntervalResult]
    settlements: dict[str, IntervalSettlement]
    scores: dict[str, float]
    chosen: str
    network: object | None = None  # with [network] limits enforced: its IntervalNetwork (lec_opt.day.network_limits)

    @property
    def result(self) -> IntervalResult:
        """The chosen priority's interval result."""
        return self.results[self.chosen]

    @property
    def settlement(self) -> IntervalSettlement:
        """The chosen priority's settlement."""
        return self.settlements[self.chosen]


def _step(
    day: DayInputs,
    t: int,
    matchings: dict[str, Matching],
    soc: float,
    priorities: tuple[str, ...],
    priority: str,
    snap: IntervalSnapshot | None = None,
    band: tuple[float, float] | None = None,
) -> Step:
    """Every priority of interval ``t`` dispatched from ``soc``, settled and scored, and the choice.
    ``snap``: the interval as the market sees it (default: the day's; a curtailed one under network
    limits); ``band``: the CES net charge's band the network's limits leave (kWh; default: none)."""
    scenario = day.scenario
    snap = snap if snap is not None else day.snapshot(t)
    ces = ces_params(scenario, snap, soc)
    if band is not None:
        ces = replace(ces, net_min_kwh=band[0], net_max_kwh=band[1])
    results, money, vectors = {}, {}, {}
    for p in priorities:
        results[p] = result_from_matching(snap, ces, matchings[p], scenario.bids.mu, scenario.bids.price_margin)
        money[p] = settle(results[p], ces)
        vectors[p] = score_vector(results[p], money[p], scenario.selection, ces)
    chosen = choose(vectors) if priority == "best" else priority  # ties go A, B, C
    return Step(t, results, money, {p: v[0] for p, v in vectors.items()}, chosen)


def step_interval(
    day: DayInputs, t: int, matchings: dict[str, Matching], soc: float, priorities: tuple[str, ...], priority: str
) -> Step:
    """One interval of a SoC path, as ``walk`` takes it: every priority in ``priorities`` dispatched
    from ``soc``, settled and scored, and ``priority`` followed ("best": the aggregator's choice).
    The aggregator service (``lec_opt.service``) clears a live interval with it."""
    return _step(day, t, matchings, soc, priorities, priority)


def walk(
    day: DayInputs,
    matchings: list[dict[str, Matching]],
    priority: str,
    priorities: tuple[str, ...] = PRIORITIES,
    soc_start: float | None = None,
    guard: NetworkGuard | None = None,
    done: Callable[[], None] | None = None,
) -> list[Step]:
    """Phase 2: the day in order from ``soc_start`` (default: the scenario's initial SoC; a period
    passes the previous day's end), following ``priority`` (best or one priority). ``guard``: the
    network's limits kept in every interval (``lec_opt.day.network_limits``)."""
    soc = day.scenario.ces.soc_initial if soc_start is None else soc_start
    steps = []
    for t in range(day.n_intervals):
        step = _step(day, t, matchings[t], soc, priorities, priority)
        if guard is not None:

            def again(snap, curtailed_matchings, band, t=t, soc=soc):
                return _step(day, t, curtailed_matchings, soc, priorities, priority, snap, band)

            step = guard.keep(step, matchings[t], soc, priorities, again)
        steps.append(step)
        if done:
            done()
        soc = step.result.soc_end
    return steps


@dataclass(frozen=True)
class DayRun:
    """A solved day: the followed path, each priority alone, and how long it took."""

    day: DayInputs
    method: str
    priority: str  # "best" or one priority all day
    steps: list[Step]
    single: dict[str, list[Step]]  # each priority followed all day
    matching_seconds: float
    solve_seconds: float
    myopic_steps: list[Step] | None = None  # with ces.policy = "foresight": the same path, CES myopic


def run_day(
    scenario: Scenario,
    method: str = "milp",
    priority: str = "best",
    workers: int | None = None,
    progress: Progress | None = None,
) -> DayRun:
    """Solve a scenario's day: every interval, the SoC carried over, settlement.

    ``priority`` is "best" (the aggregator's choice per interval) or A, B or C all day;
    ``workers`` processes solve the MILP matchings (default: 2 or the cores).

    >>> run = run_day(load_scenario(), method="greedy")
    >>> run.steps[144].chosen, run.steps[144].result.p2p_kwh
    """
    check_method_priority(method, priority)
    started = time.perf_counter()
    day = build_day(scenario)
    guard = None
    if scenario.network is not None and scenario.network.limits == "enforced":
        from lec_opt.day.network_limits import IntervalLimits  # pandapower and the flows only then

        guard = IntervalLimits(day, method)  # the feeder and the band checked before any work
    workers = workers or min(os.cpu_count() or 1, 2 if method == "milp" else 1)
    matchings = all_matchings(day, method, workers, progress)
    matched = time.perf_counter()
    walks = len(PRIORITIES) + (priority == "best")
    ticks = iter(range(1, walks * day.n_intervals + 1))
    done = (lambda: progress("network", next(ticks), walks * day.n_intervals)) if guard and progress else None
    single = {p: walk(day, matchings, p, (p,), guard=guard, done=done) for p in PRIORITIES}
    steps = walk(day, matchings, "best", guard=guard, done=done) if priority == "best" else single[priority]
    myopic = None
    if scenario.ces.policy == "foresight":
        from lec_opt.day.foresight import foresight_path

        myopic = steps
        steps, _ = foresight_path(day, steps, matchings)
    if progress:
        progress("dispatch", day.n_intervals, day.n_intervals)
    return DayRun(day, method, priority, steps, single, matched - started, time.perf_counter() - started, myopic)
