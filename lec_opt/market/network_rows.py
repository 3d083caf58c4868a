"""The network's limits as linear rows over one interval's two levers, and the greedy rule that
keeps them (models/FORMULATION.md §13).

The levers: ``c`` (kWh), the PV each seller curtails, 0 <= c_i <= s_i, and ``n`` (kWh), the CES's net
charge E_ch - E_dis. The network layer writes every limit the interval could break as a row
``a_c · c + a_n n <= b`` around the interval's operating point (``lec_opt.network.limits``): voltage
rows in p.u., loading rows in hundredths of a rating. This module holds those rows (``LimitRows``),
what the CES can reach whatever the matching (``CesReach``), the band of n they leave once c is
decided, and the greedy path's rule: the CES first, then the most sensitive seller, step by step.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

ROW_TOLERANCE = 1e-9  # a row is kept when it is broken by no more than this (p.u.)
_GRID, _ZOOMS = 33, 6  # the CES's least-violating net charge: a grid of 33, zoomed 6 times (to 16^-6 of the range)


class CurtailmentRule(StrEnum):
    """How the curtailment that keeps the limits is shared (``[network] curtailment``)."""

    LEAST = "least"  # the least total: it falls where a kWh helps most
    EQUAL_SHARE = "equal_share"  # every seller curtails the same share of its surplus


@dataclass(frozen=True)
class LimitRows:
    """``a_c · c + a_n n <= b``: one row per limit the interval could break (``a_c``: [row, seller])."""

    a_c: np.ndarray
    a_n: np.ndarray
    b: np.ndarray

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return self.b.size

    def residual(self, c: np.ndarray, n: float) -> np.ndarray:
        """How far each row is broken at (c, n): positive where it is."""
        return self.a_c @ c + self.a_n * n - self.b

    def band(self, c: np.ndarray, slack: float = 0.0) -> tuple[float, float]:
        """The net charges n that keep every row that depends on n, given c (each row up to ``slack``)."""
        room = self.b + slack - self.a_c @ c
        up, down = self.a_n > 0, self.a_n < 0
        hi = float(np.min(room[up] / self.a_n[up])) if up.any() else np.inf
        lo = float(np.max(room[down] / self.a_n[down])) if down.any() else -np.inf
        return lo, hi


@dataclass(frozen=True)
class CesReach:
    """The CES's net charges any matching of the interval leaves possible (kWh).

    Charging is bounded by power and room (``charge_max``) and by what it can charge from:
    the grid (``grid_charge_max``, at low SoC) and the surplus the peers leave unsold. Curtailment
    takes from that leftover first (``leftover_surplus``: Σs minus the most P2P the unconstrained
    matching trades). Discharging is bounded by power, energy and who can take it (``discharge_max``).
    """

    charge_max: float
    grid_charge_max: float
    leftover_surplus: float
    discharge_max: float

    @property
    def n_min(self) -> float:
        """The lowest net charge: discharging all it can."""
        return -self.discharge_max

    def n_max(self, curtailed_kwh: float) -> float:
        """The highest net charge once ``curtailed_kwh`` of the sellers' surplus is curtailed."""
        return min(self.charge_max, max(self.leftover_surplus - curtailed_kwh, 0.0) + self.grid_charge_max)


@dataclass(frozen=True)
class CurtailmentPlan:
    """What the first level decided: each seller's curtailment, the CES's net charge that goes with
    it, the band the later levels keep n in, and the largest row still broken (0 when all hold)."""

    curtailed_kwh: np.ndarray  # per seller (snapshot order)
    net_charge_kwh: float
    band: tuple[float, float]
    violation: float

    @property
    def met(self) -> bool:
        """Every row holds."""
        return self.violation <= ROW_TOLERANCE


def plan_of(rows: LimitRows, reach: CesReach, c: np.ndarray, n: float) -> CurtailmentPlan:
    """The plan (c, n) with its band (the rows' band within the CES's reach, widened to the rows'
    own violation when they cannot all hold) and its violation."""
    violation = max(float(rows.residual(c, n).max(initial=0.0)), 0.0)
    lo, hi = rows.band(c, violation + ROW_TOLERANCE)
    lo, hi = max(lo, reach.n_min), min(hi, reach.n_max(float(c.sum())))
    lo, hi = min(lo, n), max(hi, n)  # n itself, whatever rounding did to the band
    return CurtailmentPlan(c, n, (lo, hi), violation)


def best_net_charge(rows: LimitRows, reach: CesReach, c: np.ndarray, preferred: float) -> float:
    """The CES's net charge for curtailment c: the one nearest ``preferred`` (the market's own) among
    those that keep every row, or, when none does, the one that breaks the worst row least."""
    lo, hi = reach.n_min, reach.n_max(float(c.sum()))
    band_lo, band_hi = rows.band(c)
    if max(lo, band_lo) <= min(hi, band_hi):
        return float(np.clip(preferred, max(lo, band_lo), min(hi, band_hi)))
    base = rows.a_c @ c - rows.b
    for _ in range(_ZOOMS):  # the worst row over a grid of n, zooming in on the best cell: convex in n
        grid = np.linspace(lo, hi, _GRID)
        worst = np.max(base[:, None] + rows.a_n[:, None] * grid[None, :], axis=0, initial=0.0)
        k = int(np.argmin(worst))
        lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, _GRID - 1)]
    return float(0.5 * (lo + hi))


def greedy_curtailment(
    rows: LimitRows, surplus_kwh: np.ndarray, reach: CesReach, market_net_kwh: float, rule: CurtailmentRule
) -> CurtailmentPlan:
    """The greedy path's rule: the CES moves first (``best_net_charge``); while a row is broken, the
    seller whose curtailment lowers the worst row most curtails what that row needs or all it has
    (``least``), or every seller the share the worst row needs (``equal_share``)."""
    c = np.zeros(surplus_kwh.size)
    n = best_net_charge(rows, reach, c, market_net_kwh)
    for _ in range(20 * (surplus_kwh.size + 1)):
        res = rows.residual(c, n)
        w = int(np.argmax(res)) if res.size else 0
        if not res.size or res[w] <= ROW_TOLERANCE:
            break
        helps = -rows.a_c[w]  # > 0: curtailing that seller lowers the worst row
        if rule is CurtailmentRule.LEAST:
            can = (helps > 0) & (c < surplus_kwh - 1e-12)
            if not can.any():
                break
            i = int(np.argmax(np.where(can, helps, -np.inf)))  # the most sensitive seller; ties: the first
            c[i] += min(surplus_kwh[i] - c[i], res[w] / helps[i])
        else:
            per_share = float(helps @ surplus_kwh)
            share = float(c @ surplus_kwh) / max(float(surplus_kwh @ surplus_kwh), 1e-300)
            if per_share <= 0 or share >= 1.0 - 1e-12:
                break
            c = min(share + res[w] / per_share, 1.0) * surplus_kwh
        n = best_net_charge(rows, reach, c, market_net_kwh)
    return plan_of(rows, reach, c, n)
