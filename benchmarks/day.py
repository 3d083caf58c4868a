"""Case ``day``: the default day with the MILP and with the greedy, all priorities plus selection.

Reports wall time (median/min/max over repeats for the greedy; one MILP run, it takes minutes),
the per-interval matching time distribution, and MILP-vs-greedy differences in transactions and
aggregator score over the day.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.common import save, stats, timed
from lec_opt import load_scenario
from lec_opt.day.outputs import summary
from lec_opt.day.run import run_day


def _per_interval(run) -> dict:
    seconds = [max((r.solve_seconds for r in s.results.values()), default=0.0) for s in run.steps]
    busy = [x for x in seconds if x > 0.02]
    return {"all": stats(seconds), "nontrivial": stats(busy) if busy else None, "nontrivial_count": len(busy)}


def run(milp_workers: int = 2) -> dict:
    scenario = load_scenario()
    greedy_stats, greedy = timed(lambda: run_day(scenario, "greedy", "best"), 3)
    start = time.perf_counter()
    milp = run_day(scenario, "milp", "best", workers=milp_workers)
    milp_wall = time.perf_counter() - start
    g_sum, m_sum = summary(greedy), summary(milp)
    tx_diff = [
        sum(s_m.results[p].transactions for p in "ABC") - sum(s_g.results[p].transactions for p in "ABC")
        for s_m, s_g in zip(milp.steps, greedy.steps, strict=True)
    ]
    level4 = {}
    for p in "ABC":
        statuses = [s.results[p].levels[-1].status for s in milp.steps]
        level4[p] = {st: statuses.count(st) for st in sorted(set(statuses))}
    return {
        "greedy_day_seconds": greedy_stats,
        "milp_day_seconds": milp_wall,
        "milp_workers": milp_workers,
        "milp_matching_seconds": milp.matching_seconds,
        "milp_per_interval_seconds": _per_interval(milp),
        "milp_over_greedy_wall": milp_wall / greedy_stats["median"],
        "transactions": {"milp": m_sum["transactions"], "greedy": g_sum["transactions"]},
        "transactions_all_priorities_diff_per_interval": stats([float(x) for x in tx_diff]),
        "score": {"milp": m_sum["score"], "greedy": g_sum["score"]},
        "single_priority_score": {
            p: {
                "milp": m_sum["single_priority_totals"][p]["score"],
                "greedy": g_sum["single_priority_totals"][p]["score"],
            }
            for p in "ABC"
        },
        "priority_counts": {"milp": m_sum["priority_counts"], "greedy": g_sum["priority_counts"]},
        "level4_statuses": level4,
        "fallbacks": m_sum["fallbacks"],
        "ratios": {
            k: m_sum[k] for k in ("prosumer_revenue_ratio", "consumer_bill_ratio", "ces_soc_min", "ces_soc_max")
        },
        "intervals_with_fewer_milp_transactions": int(np.sum(np.array(tx_diff) < 0)),
    }


def report(p: dict) -> str:
    pi = p["milp_per_interval_seconds"]
    return "\n".join(
        [
            f"greedy day: median {p['greedy_day_seconds']['median']:.2f} s; MILP day: {p['milp_day_seconds']:.1f} s on "
            f"{p['milp_workers']} workers (matchings {p['milp_matching_seconds']:.1f} s) -> {p['milp_over_greedy_wall']:.0f}x",
            f"MILP per non-trivial interval ({pi['nontrivial_count']}): median {pi['nontrivial']['median']:.2f} s, "
            f"max {pi['nontrivial']['max']:.2f} s",
            f"transactions MILP {p['transactions']['milp']} vs greedy {p['transactions']['greedy']} "
            f"(fewer in {p['intervals_with_fewer_milp_transactions']} intervals); score MILP {p['score']['milp']:.3f} vs "
            f"greedy {p['score']['greedy']:.3f} $",
            f"priority counts MILP {p['priority_counts']['milp']}, greedy {p['priority_counts']['greedy']}; "
            f"fallbacks {p['fallbacks']}",
            f"level-4 statuses: {p['level4_statuses']}",
        ]
    )


def main() -> dict:
    payload = run()
    save("day", payload)
    print(report(payload))
    return payload
