"""The network's limits enforced (``python -m benchmarks network`` runs it after the engines).

On ``models/ieee_lv_high_pv.toml`` (55 prosumers of 10 kWp on the IEEE European LV feeder, whose
noon voltage leaves EN 50160's band), in one run:

- as a user runs it: ``lec-opt solve-day --method greedy --power-flow`` with the limits off, then
  with them enforced (``ieee_lv_high_pv_limits.toml``), each a fresh process (wall and CPU seconds);
- the solve alone, in one warm process (the feeder read once): the greedy day plus its 288 flows,
  off and enforced, alternated twice, the faster of each;
- every level 0 of the enforced day solved also by the LP on the very same rows, so the LP's
  curtailment can be compared with the greedy rule's interval by interval (models/FORMULATION.md
  §13: it must never be more).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import timed_run
from lec_opt.day import network_limits
from lec_opt.day.run import run_day
from lec_opt.io.shipped import MODELS_DIR
from lec_opt.model.network_level import network_level
from lec_opt.network.period_flows import FeederFlows
from lec_opt.network.tables import network_totals
from lec_opt.scenario import load_scenario

OFF = MODELS_DIR / "ieee_lv_high_pv.toml"
ENFORCED = MODELS_DIR / "ieee_lv_high_pv_limits.toml"


def _day_with_flows(path) -> tuple[float, object, dict]:
    scenario = load_scenario(path)
    start = time.perf_counter()
    run = run_day(scenario, "greedy")
    frame = FeederFlows(scenario, run.day).day(run.day, run).intervals
    return time.perf_counter() - start, run, network_totals(frame)


def _comparing(pairs: list):
    """A level 0 that also runs the LP on the same rows (the day follows its own rule); it records
    (the LP's curtailment, the rule's)."""
    rule = network_limits.IntervalLimits._level0

    def both(self, rows, surplus, reach, market_net):
        plan = rule(self, rows, surplus, reach, market_net)
        lp = network_level(rows, surplus, reach, self.rule)
        pairs.append((lp.curtailed_kwh.sum(), plan.curtailed_kwh.sum()))
        return plan

    return rule, both


def _cli(path: Path, out: Path) -> dict:
    command = [sys.executable, "-m", "lec_opt", "solve-day", "--scenario", str(path), "--method", "greedy"]
    return timed_run([*command, "--power-flow", "--out", str(out)], f"solve-day {path.name}")


def limits_case() -> dict:
    """The limits-off and enforced greedy days with flows, and the LP against the rule."""
    with tempfile.TemporaryDirectory() as tmp:
        cli = {"off": _cli(OFF, Path(tmp) / "off"), "enforced": _cli(ENFORCED, Path(tmp) / "on")}
    warm = {"off": [], "enforced": []}
    _day_with_flows(OFF)  # the feeder read and every import once
    for _ in range(2):
        warm["off"].append(_day_with_flows(OFF)[0])
        warm["enforced"].append(_day_with_flows(ENFORCED)[0])
    off_s, _, off = _day_with_flows(OFF)
    pairs: list = []
    rule, both = _comparing(pairs)
    network_limits.IntervalLimits._level0 = both
    try:
        on_s, run, on = _day_with_flows(ENFORCED)
    finally:
        network_limits.IntervalLimits._level0 = rule
    lp, rule = (np.array(v) for v in zip(*pairs, strict=True)) if pairs else (np.zeros(0), np.zeros(0))
    statuses = [str(s.network.status) for s in run.steps]
    return {
        "cli": cli,
        "cli_enforced_over_off": cli["enforced"]["wall_seconds"] / cli["off"]["wall_seconds"],
        "warm_off_s": min(warm["off"]),
        "warm_enforced_s": min(warm["enforced"]),
        "warm_enforced_over_off": min(warm["enforced"]) / min(warm["off"]),
        "off": {k: off[k] for k in ("v_max_pu", "v_min_pu", "line_loading_max_percent")},
        "enforced": {k: on[k] for k in ("v_max_pu", "v_min_pu", "line_loading_max_percent")},
        "intervals_by_status": {k: statuses.count(k) for k in ("within", "kept", "residual", "infeasible")},
        "curtailed_kwh": float(sum(s.network.total_curtailed_kwh for s in run.steps)),
        "level0_compared": int(lp.size),
        "lp_minus_rule_max_kwh": float((lp - rule).max()) if lp.size else 0.0,
        "lp_total_kwh": float(lp.sum()),
        "rule_total_kwh": float(rule.sum()),
    }


def report(payload: dict) -> str:
    """Two lines: the ratio, and the LP against the rule."""
    cli = payload["cli"]
    return (
        f"limits: solve-day --power-flow of the high-PV day {cli['off']['wall_seconds']:.1f} s off, "
        f"{cli['enforced']['wall_seconds']:.1f} s enforced (x{payload['cli_enforced_over_off']:.2f}); the solve "
        f"alone (warm) {payload['warm_off_s']:.1f} s off, {payload['warm_enforced_s']:.1f} s enforced "
        f"(x{payload['warm_enforced_over_off']:.2f}); "
        f"v_max {payload['off']['v_max_pu']:.4f} -> {payload['enforced']['v_max_pu']:.4f} p.u., "
        f"{payload['curtailed_kwh']:.1f} kWh curtailed; {payload['intervals_by_status']}\n"
        f"level 0 on the same rows in {payload['level0_compared']} cases: LP {payload['lp_total_kwh']:.2f} kWh, "
        f"rule {payload['rule_total_kwh']:.2f} kWh, LP - rule at most {payload['lp_minus_rule_max_kwh']:.2e} kWh"
    )
