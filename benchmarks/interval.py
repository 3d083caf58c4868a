"""Case ``interval``: the default day at 12:00 (the paper's busiest figure), all priorities, MILP vs greedy.

Reports the wall time of the three priorities together, its split between HiGHS and Pyomo
(model build, hand-over and updates), each level's gap, and the greedy's time per priority.
"""

from __future__ import annotations

import time

from benchmarks.common import save, stats, timed
from lec_opt import build_day, load_scenario
from lec_opt.day.interval import solve_snapshot
from lec_opt.market.priorities import PRIORITIES
from lec_opt.model.lexicographic import solve_milp


def run(repeat: int = 5) -> dict:
    scenario = load_scenario()
    day = build_day(scenario)
    busiest = day.interval_at(12 * 60)
    snap = day.snapshot(busiest)
    soc = scenario.ces.soc_initial
    walls, highs, builds = [], [], []
    last = None
    for _ in range(repeat):
        start = time.perf_counter()
        last = solve_milp(snap, scenario, soc, PRIORITIES)
        walls.append(time.perf_counter() - start)
        unique = {id(lv): lv for res in last.values() for lv in res.levels}  # A and B share levels 1-2
        total_highs = sum(lv.highs_seconds or 0.0 for lv in unique.values())
        highs.append(total_highs)
        builds.append(last["A"].build_seconds)
    greedy = {}
    for p in PRIORITIES:
        g_stats, g = timed(lambda p=p: solve_snapshot(snap, scenario, soc, (p,), "greedy")[p], 200)
        greedy[p] = {
            "seconds": g_stats,
            "p2p_kwh": g.p2p_kwh,
            "transactions": g.transactions,
            "level3": g.levels[2].objective,
        }
    milp = {
        p: {
            "p2p_kwh": r.p2p_kwh,
            "transactions": r.transactions,
            "levels": [
                {
                    "level": lv.level,
                    "name": lv.name,
                    "status": lv.status,
                    "objective": lv.objective,
                    "gap": lv.gap,
                    "seconds": lv.seconds,
                    "highs_seconds": lv.highs_seconds,
                }
                for lv in r.levels
            ],
            "fallback": r.fallback,
        }
        for p, r in last.items()
    }
    wall = stats(walls)
    highs_share = stats([h / w for h, w in zip(highs, walls, strict=True)])
    payload = {
        "interval": busiest,
        "start": snap.start,
        "sellers": len(snap.sellers),
        "buyers": len(snap.buyers),
        "pairs": len(snap.sellers) * len(snap.buyers),
        "milp_all_priorities_seconds": wall,
        "highs_share_of_wall": highs_share,
        "pyomo_share_of_wall": {k: (1 - v if k != "n" else v) for k, v in highs_share.items()},
        "model_build_seconds": stats(builds),
        "milp": milp,
        "greedy": greedy,
        "milp_over_greedy_wall": wall["median"] / sum(g["seconds"]["median"] for g in greedy.values()),
        "level4_time_limit_s": scenario.solver.level4_time_limit_s,
    }
    return payload


def report(payload: dict) -> str:
    lines = [
        f"interval {payload['interval']} ({payload['start']}): {payload['sellers']} sellers x {payload['buyers']} buyers",
        f"MILP, all three priorities: median {payload['milp_all_priorities_seconds']['median']:.3f} s "
        f"(min {payload['milp_all_priorities_seconds']['min']:.3f}, max {payload['milp_all_priorities_seconds']['max']:.3f}); "
        f"HiGHS {payload['highs_share_of_wall']['median']:.0%} of it, Pyomo (build {payload['model_build_seconds']['median']:.3f} s, "
        f"hand-over, updates) the rest",
        f"{'prio':4} {'MILP kWh':>9} {'trades':>6} {'L4 status':>13} {'L4 gap':>7} | {'greedy kWh':>10} {'trades':>6} {'ms':>6}",
    ]
    for p, r in payload["milp"].items():
        g = payload["greedy"][p]
        l4 = r["levels"][-1]
        gap = "" if l4["gap"] is None else f"{l4['gap']:.1%}"
        lines.append(
            f"{p:4} {r['p2p_kwh']:9.4f} {r['transactions']:6d} {l4['status']:>13} {gap:>7} | "
            f"{g['p2p_kwh']:10.4f} {g['transactions']:6d} {g['seconds']['median'] * 1000:6.2f}"
        )
    lines.append(f"MILP / greedy wall ratio: {payload['milp_over_greedy_wall']:.0f}x")
    return "\n".join(lines)


def main() -> dict:
    payload = run()
    save("interval", payload)
    print(report(payload))
    return payload
