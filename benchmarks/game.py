"""Case ``game``: the core check of one 100-peer interval and of a whole default day.

Times the separation MILP (one 100-peer interval, repeated), the full per-interval check
(separation, least-core ε, Shapley by sampling) and ``check_day`` over all 288 intervals of the
greedy default day; reports the Shapley sampling error with its sample count.
"""

from __future__ import annotations

import tempfile
import time

from benchmarks.common import save, timed
from lec_opt import load_scenario
from lec_opt.analysis.game import interval_game, most_violated, shapley_sampled
from lec_opt.analysis.stability import check_day, check_interval, executed_results
from lec_opt.day.outputs import write_day
from lec_opt.day.run import run_day
from lec_opt.market.ces import ces_params


def run(samples: int = 500) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_day(run_day(load_scenario(), "greedy", "best"), tmp)
        day, results = executed_results(folder)
        busiest = max(results, key=lambda r: len(r.snapshot.sellers) * len(r.snapshot.buyers))
        game, phi = interval_game(busiest, ces_params(day.scenario, busiest.snapshot, busiest.soc_start))
        sep, _ = timed(lambda: most_violated(game, phi), 5)
        one, check = timed(lambda: check_interval(busiest, day, samples=samples), 3)
        _, stderr = shapley_sampled(game, samples, 0)
        start = time.perf_counter()
        checks = check_day(folder, samples=samples)
        whole_day = time.perf_counter() - start
    return {
        "interval": busiest.snapshot.index,
        "players": game.n,
        "separation_seconds": sep,
        "interval_check_seconds": one,
        "day_check_seconds": whole_day,
        "intervals": len(checks),
        "intervals_in_core": int(sum(c.in_core for c in checks)),
        "max_core_violation": float(max(c.max_violation for c in checks)),
        "shapley_samples": samples,
        "shapley_stderr_max_usd": float(stderr.max()),
        "shapley_stderr_mean_usd": float(stderr.mean()),
        "interval_violation_usd": check.max_violation,
        "interval_grand_value_usd": game.grand_value,
    }


def report(p: dict) -> str:
    return "\n".join(
        [
            f"interval {p['interval']} ({p['players']} players): separation MILP median {p['separation_seconds']['median']:.3f} s; "
            f"full check (separation, least-core ε, Shapley) {p['interval_check_seconds']['median']:.3f} s",
            f"whole day ({p['intervals']} intervals): {p['day_check_seconds']:.1f} s; {p['intervals_in_core']} in the core; "
            f"largest violation ${p['max_core_violation']:.4f}",
            f"Shapley by {p['shapley_samples']} permutations: standard error max ${p['shapley_stderr_max_usd']:.5f}, "
            f"mean ${p['shapley_stderr_mean_usd']:.5f} (grand value ${p['interval_grand_value_usd']:.4f})",
        ]
    )


def main() -> dict:
    payload = run()
    save("game", payload)
    print(report(payload))
    return payload
