"""Sizing the CES at its price: the annualised cost of a capacity against what the community saves.

A sweep over ``ces.capacity_kwh`` (a day or a period) runs the paper's operating rules at every
capacity; with ``[ces.cost]`` in the scenario each point also gets

    annualised cost  = capital · CRF(r, n) + O&M · capital,     capital = c_E · E + c_P · P
    CRF(r, n)        = r (1 + r)^n / ((1 + r)^n − 1)             (1 / n when r = 0)
    saving per year  = the period's community saving · 365 / days
    net benefit      = saving per year − annualised cost

with E the capacity, P the larger of the charge and discharge power, n the lifetime in years and r
the discount rate. The best capacity is the sweep point of the largest net benefit; ``refine``
places further points by golden-section search between its neighbours.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

DAYS_PER_YEAR = 365
NET_BENEFIT = "net_benefit_per_year_usd"
SIZING_COLUMNS = (
    "year_scale",
    "community_saving_per_year_usd",
    "ces_capital_usd",
    "ces_annualised_cost_usd",
    NET_BENEFIT,
    "ev_share_of_ces_discharge",
)
GOLDEN = (math.sqrt(5) - 1) / 2


def capital_recovery_factor(rate: float, years: float) -> float:
    """The share of a capital paid back each year over ``years`` at the discount ``rate``."""
    if rate == 0:
        return 1.0 / years
    grow = (1.0 + rate) ** years
    return rate * grow / (grow - 1.0)


def annualised_cost_usd(ces) -> tuple[float, float]:
    """(capital, annualised cost) in $ of a scenario's CES (``ces.cost`` must be given)."""
    cost = ces.cost
    capital = cost.energy_usd_per_kwh * ces.capacity_kwh + cost.power_usd_per_kw * max(
        ces.charge_power_kw, ces.discharge_power_kw
    )
    yearly = capital * capital_recovery_factor(cost.discount_rate, cost.lifetime_years)
    return capital, yearly + cost.om_fraction_per_year * capital


def sizing_metrics(scenario, metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The sizing columns of one sweep point ({} when the scenario's CES has no cost)."""
    if scenario.ces.cost is None:
        return {}
    days = metrics.get("days") or 1
    scale = DAYS_PER_YEAR / days
    capital, yearly = annualised_cost_usd(scenario.ces)
    saving = metrics["community_saving_usd"] * scale
    discharge = metrics.get("ces_discharge_kwh") or 0.0
    return {
        "year_scale": scale,
        "community_saving_per_year_usd": saving,
        "ces_capital_usd": capital,
        "ces_annualised_cost_usd": yearly,
        NET_BENEFIT: saving - yearly,
        "ev_share_of_ces_discharge": (metrics.get("ev_from_ces_kwh") or 0.0) / discharge if discharge else None,
    }


def best_point(frame: pd.DataFrame) -> pd.Series | None:
    """The ok row of the largest net benefit (the first of equals), or None without sizing columns."""
    if NET_BENEFIT not in frame.columns:
        return None
    ok = frame[(frame["status"] == "ok") if "status" in frame.columns else slice(None)]
    ok = ok[ok[NET_BENEFIT].notna()]
    return None if ok.empty else ok.loc[ok[NET_BENEFIT].idxmax()]


def golden_bracket(values: list[float], benefits: list[float]) -> tuple[float, float] | None:
    """The bracket [a, b] around the best of ``values`` (sorted, distinct): its two neighbours, or
    the edge and the next point; None for fewer than three points."""
    if len(values) < 3:
        return None
    k = max(range(len(values)), key=lambda i: (benefits[i], -i))
    return values[max(k - 1, 0)], values[min(k + 1, len(values) - 1)]


def golden_points(a: float, b: float) -> tuple[float, float]:
    """The two interior points of a golden-section step on [a, b]."""
    return b - GOLDEN * (b - a), a + GOLDEN * (b - a)


def refine(run, field: str, frame: pd.DataFrame, steps: int) -> pd.DataFrame:
    """A golden-section search for the largest net benefit between the best point's neighbours.

    ``run(values)`` runs the sweep again over ``values`` (the points so far and the new ones; the
    finished points are resumed, not solved again) and returns its table. Each step adds one point
    (two at the first) and keeps the half of the bracket that holds the better one. Returns the
    last table.
    """

    def benefits(table: pd.DataFrame) -> dict[float, float]:
        ok = table[table["status"] == "ok"]
        return dict(zip(ok[field].astype(float), ok[NET_BENEFIT]))

    known = benefits(frame)
    values = sorted(known)
    bracket = golden_bracket(values, [known[v] for v in values])
    if bracket is None or steps <= 0:
        return frame
    a, b = bracket
    c, d = (round(x, 6) for x in golden_points(a, b))
    for _ in range(steps):
        wanted = [x for x in (c, d) if x not in known]
        if wanted:
            frame = run(sorted({*known, *wanted}))
            known = benefits(frame)
        if c not in known or d not in known:  # a point failed: its bracket cannot be narrowed
            break
        if known[c] >= known[d]:
            b, d = d, c
            c = round(b - GOLDEN * (b - a), 6)
        else:
            a, c = c, d
            d = round(a + GOLDEN * (b - a), 6)
    return frame
