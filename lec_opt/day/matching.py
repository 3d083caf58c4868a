"""Phase 1 of a day: every interval's P2P matchings, one process per core for the MILP.

The matching of an interval does not depend on the CES state of charge (models/FORMULATION.md
§3), so the intervals are independent: the MILP matchings run as tasks of ``lec_opt.engine``'s
local process pool, busiest first, and are put back in interval order.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable

from lec_opt.engine.executors import execute
from lec_opt.errors import LecOptError
from lec_opt.market.greedy import greedy_matching
from lec_opt.market.outcome import has_willing_pair, trivial_matching
from lec_opt.market.priorities import PRIORITIES
from lec_opt.market.result import Matching
from lec_opt.market.snapshot import DayInputs, IntervalSnapshot, build_day
from lec_opt.scenario.schema import Scenario

Progress = Callable[[str, int, int], None]  # (phase, done, total)


def match_interval(
    snap: IntervalSnapshot, scenario: Scenario, method: str, priorities: tuple[str, ...] = PRIORITIES
) -> dict[str, Matching]:
    """Every requested priority's matching of one interval (no CES, no SoC).

    Without a willing seller-buyer pair the empty matching is the only one: no solver is needed.
    """
    if method == "greedy":
        return {p: greedy_matching(snap, p, scenario.willingness.min_trade_kwh) for p in priorities}
    if not has_willing_pair(snap):
        return {p: trivial_matching(snap, p) for p in priorities}
    from lec_opt.model.lexicographic import solve_matching  # Pyomo only when the MILP is asked for

    return solve_matching(snap, scenario, priorities)


def match_task(payload: dict) -> dict:
    """The MILP matchings of interval ``payload["interval"]`` of ``payload["scenario"]``'s day: a
    record ``{"status": "ok", "matchings": {priority: Matching}}`` or an error record."""
    try:
        scenario, t = payload["scenario"], payload["interval"]
        return {"status": "ok", "matchings": match_interval(_worker_day(scenario).snapshot(t), scenario, "milp")}
    except Exception as err:  # noqa: BLE001 - the day stops and names the interval
        return {"status": "error", "error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}


_DAY_CACHE: dict[int, DayInputs] = {}


def _worker_day(scenario: Scenario) -> DayInputs:
    key = hash(scenario.model_dump_json())
    if key not in _DAY_CACHE:
        _DAY_CACHE.clear()
        _DAY_CACHE[key] = build_day(scenario)
    return _DAY_CACHE[key]


def all_matchings(
    day: DayInputs, method: str, workers: int = 1, progress: Progress | None = None
) -> list[dict[str, Matching]]:
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
    payloads = [{"hash": str(t), "scenario": scenario, "interval": t} for t in order]
    stream = execute(match_task, payloads, "local", workers, None, preload=("lec_opt.day.matching",))
    try:
        for done, (name, record) in enumerate(stream, start=1):
            if record.get("status") != "ok":
                raise LecOptError(
                    f"the matchings of interval {name} failed: {record.get('error')}\n{record.get('traceback', '')}"
                )
            out[int(name)] = record["matchings"]
            if progress:
                progress("matching", done, day.n_intervals)
    finally:
        stream.close()
    return out  # type: ignore[return-value]
