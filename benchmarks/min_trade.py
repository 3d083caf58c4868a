"""Case ``min-trade``: the default day with a minimum trade size (0.005, 0.01, 0.02 kWh) against the same day without.

Measured in one run, so that the ratios see the same machine state:

- 12:00, all priorities, ``solve_milp`` wall with the minimum 0.01, and its ratio to the greedy's;
- for each minimum, every interval of the day through ``solve_matching`` (levels 1, 3, 4, as the
  day runs them): the wall time and its ratio to the same day without the minimum, the P2P energy
  against the greedy with the same minimum (intervals where it is below, the day's totals), and
  each level's gap (largest, and intervals above 1 %), with the statuses counted.
"""

from __future__ import annotations

import os
import time
from collections import Counter

from benchmarks.common import save, timed
from lec_opt import build_day, load_scenario
from lec_opt.day.interval import solve_snapshot
from lec_opt.market.greedy import greedy_matching
from lec_opt.market.priorities import PRIORITIES
from lec_opt.model.lexicographic import solve_matching, solve_milp

MINIMUMS = (0.005, 0.01, 0.02)


def _with_min(scenario, min_trade: float):
    return scenario.model_copy(
        update={"willingness": scenario.willingness.model_copy(update={"min_trade_kwh": min_trade})}
    )


def _day(scenario, snaps) -> dict:
    min_trade = scenario.willingness.min_trade_kwh
    wall = 0.0
    p2p = {p: 0.0 for p in PRIORITIES}
    greedy = {p: 0.0 for p in PRIORITIES}
    below, largest_gap, over_1pct = 0, {}, Counter()
    statuses: Counter = Counter()
    for snap in snaps:
        start = time.perf_counter()
        matchings = solve_matching(snap, scenario)
        wall += time.perf_counter() - start
        for p, matching in matchings.items():
            volume = sum(x for *_, x in matching.flows)
            g = greedy_matching(snap, p, min_trade).levels[0].objective
            p2p[p] += volume
            greedy[p] += g
            # level 1 >= the greedy; later levels keep it within the lexicographic tolerance
            slack = scenario.solver.lexicographic_tolerance * max(1.0, matching.levels[0].objective)
            below += matching.levels[0].objective < g - 1e-9 or volume < g - slack - 1e-9
            for lv in matching.levels:
                key = f"level_{lv.level}"
                largest_gap[key] = max(largest_gap.get(key, 0.0), lv.gap or 0.0)
                over_1pct[key] += (lv.gap or 0.0) > 0.01
                statuses[f"{key}: {lv.state.value}"] += 1
    return {
        "wall_seconds": wall,
        "p2p_kwh": p2p,
        "greedy_p2p_kwh": greedy,
        "intervals_below_greedy": below,
        "largest_gap": largest_gap,
        "intervals_gap_over_1pct": dict(over_1pct),
        "statuses": dict(statuses),
    }


def run(every: int = 1) -> dict:
    """``every``: solve every n-th interval only (1 = the whole day, as ``python -m benchmarks`` does)."""
    base = load_scenario()
    day = build_day(base)
    noon = day.snapshot(day.interval_at(12 * 60))
    at_001 = _with_min(base, 0.01)
    milp_stats, milp = timed(lambda: solve_milp(noon, at_001, base.ces.soc_initial), 1)
    greedy_stats, _ = timed(lambda: solve_snapshot(noon, at_001, base.ces.soc_initial, PRIORITIES, "greedy"), 20)
    snaps = [s for s in day.snapshots() if s.willing_seller.any() and s.willing_buyer.any()][::every]
    without = _day(base, snaps)
    days = {str(m): _day(_with_min(base, m), snaps) for m in MINIMUMS}
    for d in days.values():
        d["over_no_minimum"] = d["wall_seconds"] / without["wall_seconds"]
    return {
        "noon_min_trade_0.01": {
            "milp_seconds": milp_stats["median"],
            "greedy_seconds": greedy_stats["median"],
            "milp_over_greedy": milp_stats["median"] / greedy_stats["median"],
            "levels": {
                p: [{"level": lv.level, "status": lv.status, "gap": lv.gap} for lv in r.levels] for p, r in milp.items()
            },
            "p2p_kwh": {p: r.p2p_kwh for p, r in milp.items()},
        },
        "intervals": len(snaps),
        "every": every,
        "no_minimum": without,
        "minimums": days,
    }


def report(payload: dict) -> str:
    noon = payload["noon_min_trade_0.01"]
    lines = [
        f"12:00, min 0.01, all priorities: MILP {noon['milp_seconds']:.2f} s, "
        f"greedy {noon['greedy_seconds'] * 1e3:.2f} ms ({noon['milp_over_greedy']:.0f}x)",
        f"day ({payload['intervals']} intervals): no minimum {payload['no_minimum']['wall_seconds']:.1f} s",
    ]
    for m, d in payload["minimums"].items():
        lines.append(
            f"  min {m}: {d['wall_seconds']:.1f} s ({d['over_no_minimum']:.2f}x), below greedy in "
            f"{d['intervals_below_greedy']} interval-priorities, largest gaps {d['largest_gap']}, "
            f"P2P {sum(d['p2p_kwh'].values()):.3f} vs greedy {sum(d['greedy_p2p_kwh'].values()):.3f} kWh"
        )
    return "\n".join(lines)


def main() -> dict:
    """``LEC_OPT_BENCH_MIN_TRADE_EVERY=12``: every 12th busy interval only (a few minutes instead of an hour)."""
    payload = run(int(os.environ.get("LEC_OPT_BENCH_MIN_TRADE_EVERY", "1")))
    save("min-trade", payload)
    print(report(payload))
    return payload
