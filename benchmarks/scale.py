"""Case ``scale``: one interval (the default day's 12:00) at 100, 250, 500 and 1000 peers, all priorities.

The bigger communities are the default one tiled: peer p of the n-peer ring is default peer
((p - 1) mod 100) + 1 (load, PV, willingness, ask and bid), so 250 peers are two copies and
half of a third around one ring of 250. The EV demand and the CES are scaled by n / 100 (capacity
and both power limits times n/100, the satisfaction factor S divided by it, so U01/U02 of the
scaled CES at n/100 times the energy are n/100 times the default ones): for a whole number of
copies the dense optimum of levels 1-3 is exactly that many times the default one, which the
case checks.

Each size is solved with ``lec_opt.model.lexicographic.solve_milp`` (all three priorities): dense candidate pairs
up to 100 peers, ``solver.candidate_pairs = "nearest"`` (``nearest_k`` buyers per seller) above.
Reported per size: wall (median/min/max), model size counted on the Pyomo model of
``build_interval_model`` (pairs, variables, active constraints), each level's status, and the
time split (Pyomo build, APPSI hand-over, HiGHS per level, the rest). The loss from sparsity in
the level-1 and level-3 objectives is measured against a dense solve of the same snapshot, also
at 100 peers (nearest there too, for reference); dense is solved up to ``dense_max_peers``.

Goal: 1000 peers, dense pairs, all priorities, <= 30 s on a 2-core machine.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from dataclasses import replace

import numpy as np
import pyomo.environ as pyo

from benchmarks.common import save, stats
from benchmarks.pyomo_overhead import run_pyomo
from lec_opt import build_day, load_scenario
from lec_opt.market.ces import ces_params
from lec_opt.market.priorities import PRIORITIES
from lec_opt.market.snapshot import DayInputs, IntervalSnapshot
from lec_opt.model.build import build_interval_model
from lec_opt.model.lexicographic import solve_milp
from lec_opt.scenario.schema import Scenario

SIZES = (100, 250, 500, 1000)
GOAL_PEERS, GOAL_SECONDS = 1000, 30.0
_LEVEL3 = {"A": "priority_a", "B": "priority_b", "C": "priority_c"}


def tiled(day: DayInputs, scenario: Scenario, n: int) -> tuple[DayInputs, Scenario]:
    """The default community tiled around a ring of n peers, its CES and EVs scaled by n / base."""
    base = day.n_peers
    idx = np.arange(n) % base
    k = n / base
    big = replace(
        day,
        prosumer=day.prosumer[idx],
        pv_kwp=day.pv_kwp[idx],
        willing=day.willing[idx],
        load_kwh=day.load_kwh[:, idx],
        pv_kwh=day.pv_kwh[:, idx],
        ev_kwh=day.ev_kwh * k,
        ask=day.ask[idx],
        bid=day.bid[idx],
        load_peak_kw_native=day.load_peak_kw_native * k,
    )
    ces = scenario.ces.model_copy(
        update={
            "capacity_kwh": scenario.ces.capacity_kwh * k,
            "charge_power_kw": scenario.ces.charge_power_kw * k,
            "discharge_power_kw": scenario.ces.discharge_power_kw * k,
            "S": scenario.ces.S / k,
        }
    )
    community = scenario.community.model_copy(update={"n_peers": n})
    return big, scenario.model_copy(update={"ces": ces, "community": community})


def with_pairs(scenario: Scenario, mode: str) -> Scenario:
    return scenario.model_copy(update={"solver": scenario.solver.model_copy(update={"candidate_pairs": mode})})


def model_size(snap: IntervalSnapshot, scenario: Scenario, soc: float) -> dict:
    m, pairs = build_interval_model(snap, scenario, ces_params(scenario, snap, soc))
    binaries = sum(1 for v in m.component_data_objects(pyo.Var) if v.is_binary())
    return {
        "pairs": len(pairs.seller),
        "variables": m.nvariables(),
        "binaries": binaries,
        "constraints": m.nconstraints(),  # active at level 1 (min_trade, price_pairs_only off)
        "constraints_declared": sum(1 for _ in m.component_data_objects(pyo.Constraint, active=None)),
    }


def _levels(results: dict) -> dict:
    return {
        p: [
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
        ]
        for p, r in results.items()
    }


def _per_level_time(results: dict) -> dict:
    """Wall and HiGHS seconds per level; A and B share levels 1-2, counted once."""
    out, seen = {}, set()
    for p, r in results.items():
        for lv in r.levels:
            key = (lv.level, lv.name) if (p in "AB" and lv.level <= 2) else (p, lv.level, lv.name)
            if key in seen:
                continue
            seen.add(key)
            label = f"L{lv.level} {lv.name}" + ("" if key[0] != p else f" ({p})")
            out[label] = {"wall": lv.seconds, "highs": lv.highs_seconds or 0.0}
    return out


def solve_size(snap: IntervalSnapshot, scenario: Scenario, soc: float, repeat: int) -> dict:
    walls, splits, last = [], [], None
    for _ in range(repeat):
        results, split = run_pyomo(snap, scenario, soc)
        walls.append(split["wall"])
        splits.append(split)
        last = results
    keys = ("build", "handover", "solve", "other")
    return {
        "wall": stats(walls),
        "split": {k: stats([s[k] for s in splits]) for k in keys},
        "handover_detail": {k: stats([s["handover_detail"][k] for s in splits]) for k in splits[0]["handover_detail"]},
        "per_level_last_run": _per_level_time(last),
        "levels": _levels(last),
        "statuses": {p: [lv.status for lv in r.levels] for p, r in last.items()},
        "fallbacks": {p: r.fallback_reason for p, r in last.items() if r.fallback},
        "p2p_kwh": {p: r.p2p_kwh for p, r in last.items()},
        "transactions": {p: r.transactions for p, r in last.items()},
        "_objectives": {p: {lv.name: lv.objective for lv in r.levels} for p, r in last.items()},
    }


def _loss(sparse: dict, dense: dict) -> dict:
    """Relative loss of the sparse optimum against the dense one (positive = sparse is worse)."""
    out = {}
    for p in PRIORITIES:
        s, d = sparse["_objectives"][p], dense["_objectives"][p]
        l3 = _LEVEL3[p]
        l1_loss = (d["p2p"] - s["p2p"]) / max(abs(d["p2p"]), 1e-12)
        sign = -1.0 if p == "B" else 1.0  # B minimises distance x kWh
        l3_loss = sign * (d[l3] - s[l3]) / max(abs(d[l3]), 1e-12)
        out[p] = {
            "level1": {"dense": d["p2p"], "sparse": s["p2p"], "loss": l1_loss},
            "level3": {"dense": d[l3], "sparse": s[l3], "loss": l3_loss},
        }
    return out


def _profile(snap: IntervalSnapshot, scenario: Scenario, soc: float, top: int = 15) -> list[dict]:
    """cProfile of one solve_milp: the functions with the most own time."""
    prof = cProfile.Profile()
    prof.enable()
    solve_milp(snap, scenario, soc)
    prof.disable()
    st = pstats.Stats(prof, stream=io.StringIO())
    rows = []
    for (file, line, func), (_, ncalls, tottime, cumtime, _) in st.stats.items():
        rows.append(
            {
                "function": f"{file.split('site-packages/')[-1]}:{line}({func})",
                "calls": ncalls,
                "tottime": tottime,
                "cumtime": cumtime,
            }
        )
    rows.sort(key=lambda r: -r["tottime"])
    return rows[:top]


def run(sizes=SIZES, repeat: int = 5, dense_max_peers: int = 1000, dense_repeat_above_250: int = 1) -> dict:
    scenario = load_scenario()
    day = build_day(scenario)
    t = day.interval_at(12 * 60)
    soc = scenario.ces.soc_initial
    solve_milp(day.snapshot(t), scenario, soc)  # warm-up: imports, HiGHS thread pool
    rows, dense_ref = [], {}
    for n in sizes:
        big, sc = tiled(day, scenario, n)
        snap = big.snapshot(t)
        mode = "dense" if n <= 100 else "nearest"
        sc_main = with_pairs(sc, mode)
        started = time.perf_counter()
        size = model_size(snap, sc_main, soc)
        size["count_seconds"] = time.perf_counter() - started
        row = {
            "n_peers": n,
            "pairs_mode": mode,
            "nearest_k": sc.solver.nearest_k,
            "sellers": len(snap.sellers),
            "buyers": len(snap.buyers),
            "model": size,
            **solve_size(snap, sc_main, soc, repeat),
        }
        # sparsity loss against dense (at 100 the main run is the dense one: solve nearest for reference)
        if n <= dense_max_peers:
            if mode == "dense":
                dense, sparse = row, solve_size(snap, with_pairs(sc, "nearest"), soc, 1)
                row["nearest_reference"] = {k: sparse[k] for k in ("wall", "statuses", "p2p_kwh", "transactions")}
                row["nearest_reference"]["model"] = model_size(snap, with_pairs(sc, "nearest"), soc)
            else:
                sc_dense = with_pairs(sc, "dense")
                dense = solve_size(snap, sc_dense, soc, repeat if n <= 250 else dense_repeat_above_250)
                sparse = row
                row["dense"] = {
                    k: dense[k]
                    for k in (
                        "wall",
                        "split",
                        "handover_detail",
                        "per_level_last_run",
                        "statuses",
                        "fallbacks",
                        "p2p_kwh",
                        "transactions",
                    )
                }
                row["dense"]["model"] = model_size(snap, sc_dense, soc)
            row["sparsity_loss"] = _loss(sparse, dense)
            dense_ref[n] = dense["_objectives"]
        if n == GOAL_PEERS:
            row["profile_top_tottime"] = _profile(snap, sc_main, soc)
        rows.append(row)
        print(f"  {n} peers done: {row['wall']['median']:.2f} s", flush=True)
    # tiling check: for a whole number of copies the dense optimum is that many copies of the default one
    tiling = {}
    base = min(dense_ref) if dense_ref else None
    for n, obj in dense_ref.items():
        if base is None or n % base or n == base:
            continue
        k = n // base
        tiling[n] = {
            p: {name: obj[p][name] / (k * dense_ref[base][p][name]) for name in ("p2p", "ces", _LEVEL3[p])}
            for p in PRIORITIES
        }
    for row in rows:
        for part in (row, row.get("dense", {})):
            part.pop("_objectives", None)
    goal_row = next((r for r in rows if r["n_peers"] == GOAL_PEERS), None)
    return {
        "interval": t,
        "start": day.start(t),
        "sizes": list(sizes),
        "repeat": repeat,
        "dense_max_peers": dense_max_peers,
        "dense_repeat_above_250": dense_repeat_above_250,
        "scaling": "default peers tiled around the larger ring; EV demand, CES capacity and powers x n/100, S / (n/100)",
        "rows": rows,
        "tiling_check_dense_over_k_copies": tiling,
        "goal": {
            "peers": GOAL_PEERS,
            "seconds": GOAL_SECONDS,
            "measured_median": goal_row["wall"]["median"] if goal_row else None,
            "measured_max": goal_row["wall"]["max"] if goal_row else None,
            "met": bool(goal_row and goal_row["wall"]["max"] <= GOAL_SECONDS),
        },
    }


def report(p: dict) -> str:
    lines = [f"interval {p['interval']} ({p['start']}), default community tiled; {p['repeat']} repeats per size"]
    lines.append(
        "statuses per level 1/2/3/4: opt optimal, opt* level 4 not searched (A's unique optimum), TL time limit"
    )
    lines.append(
        f"{'peers':>5} {'S x B':>7} {'mode':>7} {'pairs#':>7} {'vars':>7} {'cons':>7} {'wall med':>8} {'min':>6} "
        f"{'max':>6} | {'build':>6} {'hand':>6} {'HiGHS':>6} {'other':>6} | statuses"
    )
    for r in p["rows"]:
        m, s = r["model"], r["split"]
        st = " ".join(f"{pr}:" + "/".join(_short(x) for x in v) for pr, v in r["statuses"].items())
        lines.append(
            f"{r['n_peers']:5d} {str(r['sellers']) + 'x' + str(r['buyers']):>7} {r['pairs_mode']:>7} {m['pairs']:7d} {m['variables']:7d} "
            f"{m['constraints']:7d} {r['wall']['median']:8.2f} {r['wall']['min']:6.2f} {r['wall']['max']:6.2f} | "
            f"{s['build']['median']:6.2f} {s['handover']['median']:6.2f} {s['solve']['median']:6.2f} "
            f"{s['other']['median']:6.2f} | {st}"
        )
        if "dense" in r:
            d, dm = r["dense"], r["dense"]["model"]
            st = " ".join(f"{pr}:" + "/".join(_short(x) for x in v) for pr, v in d["statuses"].items())
            lines.append(
                f"{'':5} {'':7} {'dense':>7} {dm['pairs']:7d} {dm['variables']:7d} {dm['constraints']:7d} "
                f"{d['wall']['median']:8.2f} {d['wall']['min']:6.2f} {d['wall']['max']:6.2f} | "
                f"{d['split']['build']['median']:6.2f} {d['split']['handover']['median']:6.2f} "
                f"{d['split']['solve']['median']:6.2f} {d['split']['other']['median']:6.2f} | {st}"
            )
        if "nearest_reference" in r:
            nr = r["nearest_reference"]
            lines.append(
                f"{'':5} {'':7} {'nearest':>7} {nr['model']['pairs']:7d} {nr['model']['variables']:7d} "
                f"{nr['model']['constraints']:7d} {nr['wall']['median']:8.2f}  (reference for the loss)"
            )
    lines.append("sparsity loss (nearest vs dense, relative; positive = nearest worse):")
    lines.append(f"{'peers':>5} " + " ".join(f"{pr + ' L1':>8} {pr + ' L3':>8}" for pr in PRIORITIES))
    for r in p["rows"]:
        if "sparsity_loss" in r:
            sl = r["sparsity_loss"]
            lines.append(
                f"{r['n_peers']:5d} "
                + " ".join(
                    f"{round(sl[pr]['level1']['loss'], 9) + 0.0:8.2%} {round(sl[pr]['level3']['loss'], 9) + 0.0:8.2%}"
                    for pr in PRIORITIES
                )
            )
    for n, chk in p["tiling_check_dense_over_k_copies"].items():
        worst = max(abs(v - 1.0) for per in chk.values() for v in per.values())
        lines.append(f"dense at {n} peers / ({int(n) // 100} x dense at 100): levels 1-3 within {worst:.1e}")
    g = p["goal"]
    if g["measured_median"] is not None:
        lines.append(
            f"goal {g['peers']} peers, all priorities <= {g['seconds']:.0f} s: median {g['measured_median']:.2f} s, "
            f"max {g['measured_max']:.2f} s -> {'met' if g['met'] else 'MISSED'}"
        )
    for r in p["rows"]:
        if r["n_peers"] == GOAL_PEERS:
            for label, part in (("nearest", r), ("dense", r.get("dense"))):
                if not part:
                    continue
                lvl = ", ".join(f"{k} {v['wall']:.2f}/{v['highs']:.2f}" for k, v in part["per_level_last_run"].items())
                hd = ", ".join(f"{k} {v['median']:.2f}" for k, v in part["handover_detail"].items())
                lines.append(f"{GOAL_PEERS} peers {label}: per level wall/HiGHS s: {lvl}")
                lines.append(f"{GOAL_PEERS} peers {label}: APPSI hand-over: {hd}")
    return "\n".join(lines)


def _short(status: str) -> str:
    if status.startswith("optimal"):
        return "opt" if ":" not in status else "opt*"
    return {"maxTimeLimit": "TL"}.get(status, status[:12])


def main() -> dict:
    payload = run()
    save("scale", payload)
    print(report(payload))
    return payload
