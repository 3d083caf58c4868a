"""What a day with the network's limits enforced adds to its files (models/FORMULATION.md §13).

intervals.csv gets the schema's ``INTERVAL_LIMITS`` columns, settlement.csv ``SETTLEMENT_LIMITS``
(each peer's curtailment and what it cost in revenue), curtailment.csv one row per peer and interval
with curtailment, and summary.json a ``network_limits`` block. A day without limits has none of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lec_opt.io.schema import CURTAILMENT_COLUMNS, INTERVAL_LIMITS, SETTLEMENT_LIMITS, ordered


def enforced(run) -> bool:
    """Did the day keep the network's limits (every step carries its ``IntervalNetwork``)?"""
    return bool(run.steps) and run.steps[0].network is not None


def interval_columns(step) -> dict:
    """intervals.csv's ``INTERVAL_LIMITS`` values of one step."""
    net = step.network
    values = {
        "curtailed_kwh": net.total_curtailed_kwh,
        "network_status": str(net.status),
        "network_rounds": net.rounds,
        "voltage_excess_pu": net.excess.voltage_pu,
        "loading_excess_percent": max(net.excess.cable_percent, net.excess.trafo_percent),
    }
    return ordered(INTERVAL_LIMITS, values)


def settlement_columns(run) -> dict:
    """settlement.csv's ``SETTLEMENT_LIMITS`` columns: per peer over the day."""
    curtailed = np.sum([s.network.curtailed_kwh for s in run.steps], axis=0)
    lost = np.sum([s.network.lost_revenue_usd for s in run.steps], axis=0)
    return ordered(SETTLEMENT_LIMITS, {"curtailed_kwh": curtailed, "limits_cost_usd": lost})


def curtailment_table(run) -> pd.DataFrame:
    """curtailment.csv: every (interval, peer) with curtailment, its kWh and the revenue it cost."""
    rows = [
        (s.index, s.result.snapshot.start, peer + 1, float(kwh), float(s.network.lost_revenue_usd[peer]))
        for s in run.steps
        for peer, kwh in enumerate(s.network.curtailed_kwh)
        if kwh > 0.0
    ]
    frame = pd.DataFrame.from_records(rows, columns=list(CURTAILMENT_COLUMNS))
    return frame.astype({"interval": int, "peer": int, "curtailed_kwh": float, "lost_revenue_usd": float})


def summary_block(run) -> dict:
    """summary.json's ``network_limits``: the rule, the limits, the intervals by status, the energy and
    money curtailment took, and the largest excess left."""
    network = run.day.scenario.network
    nets = [s.network for s in run.steps]
    statuses = [str(n.status) for n in nets]
    curtailed = float(sum(n.total_curtailed_kwh for n in nets))
    pv = float(run.day.pv_kwh.sum())
    return {
        "curtailment": network.curtailment,
        "v_min_pu": network.v_min_pu,
        "v_max_pu": network.v_max_pu,
        "cable_max_percent": network.cable_max_percent,
        "trafo_max_percent": network.trafo_max_percent,
        "intervals": {k: statuses.count(k) for k in ("within", "kept", "residual", "infeasible")},
        "rounds": int(sum(n.rounds for n in nets)),
        "curtailed_kwh": curtailed,
        "curtailed_percent_of_pv": 100.0 * curtailed / pv if pv > 0 else 0.0,
        "limits_cost_usd": float(sum(n.lost_revenue_usd.sum() for n in nets)),
        "voltage_excess_max_pu": float(max(n.excess.voltage_pu for n in nets)),
        "loading_excess_max_percent": float(max(max(n.excess.cable_percent, n.excess.trafo_percent) for n in nets)),
    }
