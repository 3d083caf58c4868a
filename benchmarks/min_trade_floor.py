"""Case ``min-trade-floor``: what HiGHS alone needs to prove level 3 within 1 % with a minimum trade, against lec-opt.

The floor of any method whose proofs come from HiGHS's branch and bound: for chosen intervals of
the default day at ``min_trade_kwh`` 0.01, each priority's level 3 on the flows alone (no CES, grid
or EV columns; x, y with m·y <= x <= min(s_i, r_j)·y, the balances as <= rows, the trade-count rows of
models/FORMULATION.md §4, step 1, and level 1's volume kept), handed to HiGHS whole with
lec-opt's options (seed, feasibility tolerances 1e-9, threads), ``mip_rel_gap`` 0.01, from no incumbent: its wall time, status and gap (``TIME_CAP`` seconds at most,
a measurement cap). Level 1 is solved first the same way, to ``mip_rel_gap`` 1e-6. Beside it, in the
same run, lec-opt's ``solve_matching`` on the whole interval model: the level-3 record's wall time and gap.

``LEC_OPT_BENCH_FLOOR_TIMES``: the intervals' start times (``HH:MM,HH:MM,...``), default the dawn and
the intervals whose level 3 searched longest on the default day.
"""

from __future__ import annotations

import os
import time

import highspy
import numpy as np

from benchmarks.common import save
from benchmarks.min_trade import _with_min
from lec_opt import build_day, load_scenario
from lec_opt.market.pairs import BELOW, allowed_pairs, candidate_pairs
from lec_opt.market.priorities import PRIORITIES
from lec_opt.model.build import trade_counts
from lec_opt.model.lexicographic import solve_matching

MIN_TRADE = 0.01
TIME_CAP = 60.0  # seconds: HiGHS's search is stopped here (a cap on the measurement, reported as such)
DEFAULT_TIMES = "05:00,05:05,05:10,05:15,08:05,12:00,14:40"


def _flows_model(snap, priority: str, level: int, volume: float | None, options: dict) -> highspy.Highs:
    """Level ``level`` (1 or 3) of ``priority`` on the flows alone, as the module docstring says."""
    pairs = candidate_pairs(snap)
    ok = allowed_pairs(snap, pairs, priority == "C") & (pairs.cap >= MIN_TRADE - BELOW)
    seller, buyer, cap = pairs.seller[ok], pairs.buyer[ok], pairs.cap[ok]
    n = int(ok.sum())
    if level == 1:
        cost = -np.ones(n)
    else:
        cost = {"A": -pairs.weight_a, "B": pairs.distance, "C": -pairs.margin_c}[priority][ok]
    h = highspy.Highs()
    for key, value in options.items():
        h.setOptionValue(key, value)
    inf = highspy.kHighsInf
    h.addVars(2 * n, np.zeros(2 * n), np.concatenate([cap, np.ones(n)]))
    h.changeColsCost(n, np.arange(n, dtype=np.int32), cost)
    h.changeColsIntegrality(n, np.arange(n, 2 * n, dtype=np.int32), np.full(n, highspy.HighsVarType.kInteger))
    for k in range(n):
        both = np.array([k, n + k], dtype=np.int32)
        h.addRow(-inf, 0.0, 2, both, np.array([1.0, -cap[k]]))  # x <= cap y
        h.addRow(0.0, inf, 2, both, np.array([1.0, -MIN_TRADE]))  # x >= m y
    for owner, energy in ((seller, snap.surplus_kwh), (buyer, snap.deficit_kwh)):
        counts = trade_counts(energy, owner, cap, MIN_TRADE)
        for peer in np.unique(owner).tolist():
            idx = np.flatnonzero(owner == peer).astype(np.int32)
            h.addRow(-inf, float(energy[peer]), idx.size, idx, np.ones(idx.size))
            if peer in counts:
                h.addRow(-inf, float(counts[peer]), idx.size, idx, 1.0 / cap[idx])
    if volume is not None:
        h.addRow(volume, inf, n, np.arange(n, dtype=np.int32), np.ones(n))
    return h


def _highs_alone(snap, priority: str, options: dict) -> dict:
    first = _flows_model(snap, priority, 1, None, options | {"mip_rel_gap": 1e-6, "time_limit": TIME_CAP})
    if first.run() != highspy.HighsStatus.kOk:
        raise RuntimeError(
            f"level 1 of {priority} at interval {snap.index}: {first.modelStatusToString(first.getModelStatus())}"
        )
    volume = -first.getInfo().objective_function_value
    third = _flows_model(
        snap, priority, 3, volume - 1e-6 * max(1.0, volume), options | {"mip_rel_gap": 0.01, "time_limit": TIME_CAP}
    )
    start = time.perf_counter()
    if third.run() == highspy.HighsStatus.kError:
        raise RuntimeError(f"level 3 of {priority} at interval {snap.index}: HiGHS error")
    seconds = time.perf_counter() - start
    info = third.getInfo()
    return {
        "seconds": seconds,
        "status": third.modelStatusToString(third.getModelStatus()),
        "gap": info.mip_gap,
        "volume_kwh": volume,
    }


def run(times: list[str]) -> dict:
    base = load_scenario()
    day = build_day(base)
    scenario = _with_min(base, MIN_TRADE)
    # as ``LevelSolver`` sets them (HiGHS keeps one thread pool per process: the same threads setting)
    options = {"output_flag": False, "random_seed": scenario.seed}
    options |= {"mip_feasibility_tolerance": 1e-9, "primal_feasibility_tolerance": 1e-9}
    if scenario.solver.threads is not None:
        options["threads"] = scenario.solver.threads
    rows = []
    for hhmm in times:
        hours, minutes = map(int, hhmm.split(":"))
        snap = day.snapshot(day.interval_at(60 * hours + minutes))
        matchings = solve_matching(snap, scenario)
        for priority in PRIORITIES:
            level_3 = next(lv for lv in matchings[priority].levels if lv.level == 3)
            rows.append(
                {
                    "time": hhmm,
                    "priority": priority,
                    "highs": _highs_alone(snap, priority, options),
                    "lec_opt": {"seconds": level_3.seconds, "gap": level_3.gap, "status": level_3.status},
                }
            )
    return {"min_trade_kwh": MIN_TRADE, "time_cap_s": TIME_CAP, "levels": rows}


def report(payload: dict) -> str:
    lines = [f"{'time':>5} pr  HiGHS alone, level 3 to 1 %          lec-opt level 3"]
    for r in payload["levels"]:
        h, lo = r["highs"], r["lec_opt"]
        lines.append(
            f"{r['time']:>5} {r['priority']}   {h['seconds']:6.1f} s  gap {100 * h['gap']:5.2f} %  {h['status'][:22]:<22}"
            f"  {lo['seconds']:6.1f} s  gap {100 * (lo['gap'] or 0.0):5.2f} %"
        )
    highs = sum(r["highs"]["seconds"] for r in payload["levels"])
    ours = sum(r["lec_opt"]["seconds"] for r in payload["levels"])
    lines.append(
        f"total: HiGHS alone {highs:.1f} s (capped at {payload['time_cap_s']:.0f} s a level), lec-opt {ours:.1f} s"
    )
    return "\n".join(lines)


def main() -> dict:
    times = os.environ.get("LEC_OPT_BENCH_FLOOR_TIMES", DEFAULT_TIMES).split(",")
    payload = run([t.strip() for t in times if t.strip()])
    save("min-trade-floor", payload)
    print(report(payload))
    return payload
