"""A whole day: matchings per interval, then the CES in time order with the SoC carried over.

MODEL.md §3: the P2P matching of an interval (levels 1, 3, 4) does not depend on the state of
charge, and the CES dispatch (level 2) depends on the matching only through the P2P volume. So
phase 1 solves every interval's matchings independently (in parallel for the MILP), and phase 2
walks the day in order: for each priority it dispatches the CES exactly from the current SoC,
settles, scores, lets the aggregator choose, and carries the chosen priority's SoC forward.
Each priority is also run alone all day (its own SoC path) for the comparison the paper makes.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from lec_opt.ces import CesParams, ces_params
from lec_opt.errors import LecOptError
from lec_opt.greedy import assemble, flows_of, match, priority_objective
from lec_opt.model import PRIORITIES, ring_distance
from lec_opt.result import IntervalResult, LevelRecord
from lec_opt.scenario import Scenario
from lec_opt.settlement import IntervalSettlement, settle
from lec_opt.snapshot import DayInputs, IntervalSnapshot, build_day
from lec_opt.solve import solve_milp

MODES = ("best", *PRIORITIES)
Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass(frozen=True)
class Matching:
    """One priority's P2P matching of one interval, before the CES."""

    priority: str
    flows: tuple[tuple[int, int, float], ...]  # (seller index, buyer index, kWh)
    levels: tuple[LevelRecord, ...]  # levels 1, 3, 4
    method: str
    fallback: bool = False
    fallback_reason: str | None = None
    seconds: float = 0.0


def _greedy_matchings(snap: IntervalSnapshot, scenario: Scenario) -> dict[str, Matching]:
    out = {}
    for p in PRIORITIES:
        started = time.perf_counter()
        flows = match(snap, p, scenario.willingness.min_trade_kwh)
        i, j, x = (np.array(v) for v in zip(*flows, strict=True)) if flows else (np.zeros(0, int),) * 2 + (np.zeros(0),)
        levels = (
            LevelRecord(1, "p2p", "greedy", float(x.sum())),
            LevelRecord(3, f"priority_{p.lower()}", "greedy", priority_objective(snap, p, i, j, x)),
            LevelRecord(4, "transactions", "greedy", float(len(flows))),
        )
        out[p] = Matching(p, tuple(flows), levels, "greedy", seconds=time.perf_counter() - started)
    return out


def match_interval(snap: IntervalSnapshot, scenario: Scenario, method: str) -> dict[str, Matching]:
    """Every priority's matching of one interval (no CES, no SoC)."""
    if method == "greedy" or not (snap.willing_seller.any() and snap.willing_buyer.any()):
        matchings = _greedy_matchings(snap, scenario)
        if method == "milp":  # nothing to match: the empty matching is optimal
            trivial = "trivial: no willing seller-buyer pair"
            matchings = {
                p: Matching(p, m.flows, tuple(replace(lv, status=trivial) for lv in m.levels), "milp")
                for p, m in matchings.items()
            }
        return matchings
    results = solve_milp(snap, scenario, scenario.ces.soc_initial, PRIORITIES, ces_level=False)
    return {
        p: Matching(
            p, tuple(flows_of(r)), tuple(lv for lv in r.levels if lv.name != "ces"), r.method,
            r.fallback, r.fallback_reason, r.solve_seconds,
        )
        for p, r in results.items()
    }


def _match_worker(args: tuple[Scenario, int]) -> tuple[int, dict[str, Matching]]:
    scenario, t = args
    return t, match_interval(_worker_day(scenario).snapshot(t), scenario, "milp")


_DAY_CACHE: dict[int, DayInputs] = {}


def _worker_day(scenario: Scenario) -> DayInputs:
    key = hash(scenario.model_dump_json())
    if key not in _DAY_CACHE:
        _DAY_CACHE.clear()
        _DAY_CACHE[key] = build_day(scenario)
    return _DAY_CACHE[key]


def all_matchings(day: DayInputs, method: str, workers: int = 1, progress: Progress | None = None) -> list[dict[str, Matching]]:
    """Phase 1: the matchings of every interval, in interval order (parallel for the MILP)."""
    scenario = day.scenario
    out: list[dict[str, Matching] | None] = [None] * day.n_intervals
    if method == "greedy" or workers <= 1:
        for t in range(day.n_intervals):
            out[t] = match_interval(day.snapshot(t), scenario, method)
            if progress:
                progress("matching", t + 1, day.n_intervals)
        return out  # type: ignore[return-value]
    # busy intervals first so that the pool ends together
    order = sorted(range(day.n_intervals), key=lambda t: -len(day.snapshot(t).sellers) * len(day.snapshot(t).buyers))
    # forkserver: a forked child inherits HiGHS's thread-pool state without its threads and hangs
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
        for done, (t, matchings) in enumerate(pool.map(_match_worker, [(scenario, t) for t in order]), start=1):
            out[t] = matchings
            if progress:
                progress("matching", done, day.n_intervals)
    return out  # type: ignore[return-value]


@dataclass(frozen=True)
class Step:
    """One interval of a SoC path: every priority dispatched from the same SoC, and the choice."""

    index: int
    results: dict[str, IntervalResult]
    settlements: dict[str, IntervalSettlement]
    scores: dict[str, float]
    chosen: str

    @property
    def result(self) -> IntervalResult:
        return self.results[self.chosen]

    @property
    def settlement(self) -> IntervalSettlement:
        return self.settlements[self.chosen]


def score(result: IntervalResult, money: IntervalSettlement, scenario: Scenario, ces: CesParams) -> float:
    """The aggregator's criterion (MODEL.md §5); larger is better.

    community_saving counts the CES as a member of the community: energy it stores (or draws)
    in the interval is valued at what it will sell for, η_d·Pd per kWh stored, so that a
    priority does not look better merely by draining the storage.
    """
    sel = scenario.selection
    if sel.criterion == "community_saving":
        hops = sum(float(ring_distance(t.seller, t.buyer, result.snapshot.n_peers)) * t.kwh for t in result.trades)
        stored = ces.eta_c * result.ces_charge_total_kwh - result.ces_discharge_total_kwh / ces.eta_d
        return (
            money.community_saving + ces.eta_d * ces.pd * stored
            - sel.network_fee * hops - sel.transaction_cost * result.transactions
        )
    if sel.criterion == "consumer_savings":
        return float((money.bill_grid_only - money.bill).sum())
    if sel.criterion == "prosumer_revenue":
        return float((money.revenue - money.revenue_grid_only).sum())
    if sel.criterion == "transactions":
        return -float(result.transactions)
    # fairness: Jain's index of the savings of the peers who trade in this interval
    saving = money.saving[money.is_seller | money.is_buyer]
    if saving.size == 0 or not np.any(saving):
        return 1.0
    return float(saving.sum() ** 2 / (saving.size * np.square(saving).sum()))


def _step(day: DayInputs, t: int, matchings: dict[str, Matching], soc: float, priorities: tuple[str, ...],
          choose: str) -> Step:
    scenario = day.scenario
    snap = day.snapshot(t)
    ces = ces_params(scenario, snap, soc)
    results, money, scores = {}, {}, {}
    for p in priorities:
        m = matchings[p]
        results[p] = assemble(snap, scenario, ces, p, m.method, list(m.flows), match_levels=m.levels,
                              started=time.perf_counter() - m.seconds,  # matching time + dispatch time
                              fallback=m.fallback, fallback_reason=m.fallback_reason)
        money[p] = settle(results[p], ces)
        scores[p] = score(results[p], money[p], scenario, ces)
    if choose == "best":
        best = max(scores.values())
        chosen = next(p for p in priorities if scores[p] >= best - 1e-12)  # ties go A, B, C
    else:
        chosen = choose
    return Step(t, results, money, scores, chosen)


def walk(day: DayInputs, matchings: list[dict[str, Matching]], choose: str, priorities: tuple[str, ...] = PRIORITIES) -> list[Step]:
    """Phase 2: the day in order from the initial SoC, following ``choose`` (best or one priority)."""
    soc = day.scenario.ces.soc_initial
    steps = []
    for t in range(day.n_intervals):
        step = _step(day, t, matchings[t], soc, priorities, choose)
        steps.append(step)
        soc = step.result.soc_end
    return steps


@dataclass(frozen=True)
class DayRun:
    """A solved day: the followed path, each priority alone, and how long it took."""

    day: DayInputs
    method: str
    mode: str
    steps: list[Step]
    single: dict[str, list[Step]]  # each priority followed all day
    matching_seconds: float
    solve_seconds: float


def run_day(
    scenario: Scenario, method: str = "milp", mode: str = "best", workers: int | None = None,
    progress: Progress | None = None,
) -> DayRun:
    """Solve a scenario's day (``mode``: best per interval, or one priority all day)."""
    if method not in ("milp", "greedy") or mode not in MODES:
        raise LecOptError(f"method must be milp or greedy and priority one of {MODES}")
    started = time.perf_counter()
    day = build_day(scenario)
    workers = workers or min(os.cpu_count() or 1, 2 if method == "milp" else 1)
    matchings = all_matchings(day, method, workers, progress)
    matched = time.perf_counter()
    single = {p: walk(day, matchings, p, (p,)) for p in PRIORITIES}
    steps = walk(day, matchings, "best") if mode == "best" else single[mode]
    if progress:
        progress("dispatch", day.n_intervals, day.n_intervals)
    return DayRun(day, method, mode, steps, single, matched - started, time.perf_counter() - started)
