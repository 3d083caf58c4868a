"""Case ``day``: the default day with the MILP and the greedy, in-process and through the CLI, in one run.

Measured in one run, so that the ratios see the same machine state:

- in-process ``run_day`` (all priorities plus the aggregator's choice): the greedy (median of
  ``greedy_repeat``) and the MILP on 2 and on 1 worker processes; ``milp_over_greedy`` and the
  speed-up of 2 workers over 1 for the MILP matchings (``matching_seconds``);
- the CLI, as a user runs it (subprocess, default workers): ``lec-opt solve-day`` and
  ``lec-opt solve-day --method greedy``, each writing its files;
- from the MILP's level records: HiGHS's own time per level and priority, and level 4 over the
  day (intervals where the incumbent meets its proven bound, mean and largest gap, transactions
  per priority against the greedy's);
- determinism: the MILP day's files (in-process on 2 workers, the CLI on its default 2, and
  in-process on 1 worker) must be identical apart from ``solve_seconds`` and
  ``matching_seconds`` in summary.json (``lec-opt.json``, the folder's manifest, names the command
  that wrote it and is left out).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import save, source, stats, timed
from lec_opt import load_scenario
from lec_opt.day.outputs import summary, write_day
from lec_opt.day.run import run_day
from lec_opt.io.schema import MANIFEST_FILE, SUMMARY_FILE, TIMING
from lec_opt.market.priorities import PRIORITIES
from lec_opt.market.result import LevelStatus

TIMING_FIELDS = TIMING


def _cli() -> list[str]:
    exe = shutil.which("lec-opt") or str(Path(sys.executable).with_name("lec-opt"))
    return [exe, "solve-day"]


def cli_day(out: Path, *args: str) -> float:
    """Wall seconds of ``lec-opt solve-day [args] --out out`` in a subprocess."""
    start = time.perf_counter()
    subprocess.run([*_cli(), *args, "--out", str(out)], check=True, capture_output=True)
    return time.perf_counter() - start


def same_files(a: Path, b: Path) -> dict:
    """Compare two day folders byte by byte, summary.json without its timing fields."""
    # lec-opt.json, the folder's manifest, records the command that wrote it (in-process or the CLI)
    names = sorted(({p.name for p in a.iterdir()} | {p.name for p in b.iterdir()}) - {MANIFEST_FILE})
    differing = {}
    for name in names:
        pa, pb = a / name, b / name
        if not (pa.exists() and pb.exists()):
            differing[name] = "only in one folder"
        elif name == SUMMARY_FILE:
            ja, jb = (json.loads(p.read_text()) for p in (pa, pb))
            for key in TIMING_FIELDS:
                ja.pop(key, None), jb.pop(key, None)
            if ja != jb:
                differing[name] = sorted(k for k in ja.keys() | jb.keys() if ja.get(k) != jb.get(k))
        elif pa.read_bytes() != pb.read_bytes():
            la, lb = pa.read_text().splitlines(), pb.read_text().splitlines()
            diff = [n for n, (x, y) in enumerate(zip(la, lb)) if x != y]
            first = diff[0] if diff else min(len(la), len(lb))
            differing[name] = {
                "lines": len(diff) + abs(len(la) - len(lb)),
                "first": [la[first] if first < len(la) else None, lb[first] if first < len(lb) else None],
            }
    return {"identical": not differing, "files": names, "differing": differing}


def level_stats(run, greedy) -> dict:
    """HiGHS time per level and level-4 statistics over the MILP day's intervals with a MILP matching."""
    highs: dict[str, float] = {}
    wall: dict[str, float] = {}
    level4 = {p: {"intervals": 0, "proven_optimal": 0, "gaps": [], "statuses": {}} for p in PRIORITIES}
    trades = {p: 0 for p in PRIORITIES}
    mismatch = 0  # level-4 objective differs from the number of trades reported
    for step in run.steps:
        for p in PRIORITIES:
            r = step.results[p]
            trades[p] += r.transactions
            if r.method != "milp" or r.fallback or not any(lv.level == 3 and lv.highs_seconds for lv in r.levels):
                continue  # trivial interval (no willing pair) or greedy fallback
            for lv in r.levels:
                if lv.level == 1 and p == "B" and lv == step.results["A"].levels[0]:
                    continue  # A and B share level 1
                key = f"L{lv.level} {lv.name} ({p})"
                highs[key] = highs.get(key, 0.0) + (lv.highs_seconds or 0.0)
                wall[key] = wall.get(key, 0.0) + lv.seconds
            l4 = r.levels[-1]
            s = level4[p]
            s["intervals"] += 1
            s["proven_optimal"] += int(l4.bound is not None and l4.objective <= l4.bound + 1e-9)
            s["gaps"].append(l4.gap or 0.0)
            kind = l4.state.value if l4.state is LevelStatus.OPTIMAL else l4.status
            s["statuses"][kind] = s["statuses"].get(kind, 0) + 1
            mismatch += int(round(l4.objective) != r.transactions)
    for p, s in level4.items():
        gaps = s.pop("gaps")
        s["mean_gap"] = float(np.mean(gaps)) if gaps else None
        s["max_gap"] = float(np.max(gaps)) if gaps else None
        s["transactions"] = trades[p]
        s["greedy_transactions"] = sum(step.results[p].transactions for step in greedy.steps)
    return {
        "highs_seconds_per_level": highs,
        "wall_seconds_per_level": wall,
        "highs_seconds_total": sum(highs.values()),
        "level4": level4,
        "level4_objective_not_trade_count": mismatch,
    }


def run(greedy_repeat: int = 3, cli_greedy_repeat: int = 3) -> dict:
    started_at = source()  # the lec_opt commit this run imports (compare machine.source at the end)
    scenario = load_scenario()
    load = {"start": os.getloadavg()}  # 1/5/15-minute load: other work on the 2 cores skews the worker speed-up
    greedy_stats, greedy = timed(lambda: run_day(scenario, "greedy", "best"), greedy_repeat)
    with tempfile.TemporaryDirectory(prefix="lec-day-bench-") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        milp = run_day(scenario, "milp", "best", workers=2)
        milp_wall = time.perf_counter() - start
        load["after_milp_2_workers"] = os.getloadavg()
        write_day(milp, tmp / "milp-2")
        print(f"  MILP day on 2 workers: {milp_wall:.1f} s", flush=True)
        start = time.perf_counter()
        milp1 = run_day(scenario, "milp", "best", workers=1)
        milp1_wall = time.perf_counter() - start
        load["after_milp_1_worker"] = os.getloadavg()
        write_day(milp1, tmp / "milp-1")
        print(f"  MILP day on 1 worker: {milp1_wall:.1f} s", flush=True)
        cli_milp = cli_day(tmp / "cli-milp")
        print(f"  CLI MILP day: {cli_milp:.1f} s", flush=True)
        load["after_cli_milp"] = os.getloadavg()
        cli_greedy = [cli_day(tmp / "cli-greedy", "--method", "greedy") for _ in range(cli_greedy_repeat)]
        determinism = {
            "written_twice_2_workers": same_files(tmp / "milp-2", tmp / "cli-milp"),
            "1_vs_2_workers": same_files(tmp / "milp-2", tmp / "milp-1"),
        }
    g_sum, m_sum = summary(greedy), summary(milp)
    tx_diff = [
        sum(s_m.results[p].transactions - s_g.results[p].transactions for p in PRIORITIES)
        for s_m, s_g in zip(milp.steps, greedy.steps, strict=True)
    ]
    return {
        "source_at_start": started_at,
        "ratios": {
            "milp_over_greedy_in_process": milp_wall / greedy_stats["median"],
            "milp_over_greedy_cli": cli_milp / statistics.median(cli_greedy),
            "milp_matchings_2_workers_speedup": milp1.matching_seconds / milp.matching_seconds,
            "milp_day_2_workers_speedup": milp1_wall / milp_wall,
        },
        "seconds": {
            "greedy_in_process": greedy_stats,
            "milp_in_process_2_workers": milp_wall,
            "milp_in_process_1_worker": milp1_wall,
            "milp_matchings_2_workers": milp.matching_seconds,
            "milp_matchings_1_worker": milp1.matching_seconds,
            "cli_milp": cli_milp,
            "cli_greedy": stats(cli_greedy),
        },
        "load_average": load,
        "determinism": determinism,
        "deterministic": all(d["identical"] for d in determinism.values()),
        **level_stats(milp, greedy),
        "transactions": {"milp": m_sum["transactions"], "greedy": g_sum["transactions"]},
        "intervals_with_fewer_milp_transactions": int(np.sum(np.array(tx_diff) < 0)),
        "intervals_with_more_milp_transactions": int(np.sum(np.array(tx_diff) > 0)),
        "score": {"milp": m_sum["score"], "greedy": g_sum["score"]},
        "priority_counts": {"milp": m_sum["priority_counts"], "greedy": g_sum["priority_counts"]},
        "fallbacks": m_sum["fallbacks"],
    }


def report(p: dict) -> str:
    r, s = p["ratios"], p["seconds"]
    lines = [
        f"MILP / greedy day: in-process {r['milp_over_greedy_in_process']:.0f}x "
        f"({s['milp_in_process_2_workers']:.1f} s / {s['greedy_in_process']['median']:.2f} s), "
        f"CLI {r['milp_over_greedy_cli']:.1f}x ({s['cli_milp']:.1f} s / {s['cli_greedy']['median']:.2f} s)",
        f"2 workers over 1: matchings {r['milp_matchings_2_workers_speedup']:.2f}x "
        f"({s['milp_matchings_1_worker']:.1f} s -> {s['milp_matchings_2_workers']:.1f} s), "
        f"day {r['milp_day_2_workers_speedup']:.2f}x; load average (1 min) "
        + ", ".join(f"{k} {v[0]:.1f}" for k, v in p["load_average"].items()),
        f"HiGHS per level over the day (s, total {p['highs_seconds_total']:.1f}): "
        + ", ".join(f"{k} {v:.1f}" for k, v in p["highs_seconds_per_level"].items()),
    ]
    for pr, l4 in p["level4"].items():
        gap = "n/a" if l4["mean_gap"] is None else f"mean gap {l4['mean_gap']:.1%}, max {l4['max_gap']:.1%}"
        lines.append(
            f"level 4 {pr}: proven optimal in {l4['proven_optimal']}/{l4['intervals']} intervals, {gap}; "
            f"transactions {l4['transactions']} (greedy {l4['greedy_transactions']}); {l4['statuses']}"
        )
    lines.append(
        f"chosen path: transactions MILP {p['transactions']['milp']} vs greedy {p['transactions']['greedy']}; "
        f"score MILP {p['score']['milp']:.3f} vs greedy {p['score']['greedy']:.3f} $; fallbacks {p['fallbacks']}"
    )
    for name, d in p["determinism"].items():
        lines.append(f"determinism {name}: {'identical' if d['identical'] else 'DIFFERENT ' + str(d['differing'])}")
    return "\n".join(lines)


def main() -> dict:
    payload = run()
    save("day", payload)
    print(report(payload))
    return payload
