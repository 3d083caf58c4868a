"""The feasible set of one CES mode: its boxes, the SoC window and a network band on the net charge.

Within a mode the CES takes in E_ch = c + Eg in [0, ch_hi] and gives out E_dis = d + Ev in
[0, dis_hi]; the SoC window asks lo_window <= eta_c E_ch - E_dis / eta_d <= hi_window (kWh of
stored energy, relative to the start) and the band net_min <= E_ch - E_dis <= net_max. For a fixed
E_ch = e every constraint on E_dis is a line in e, so the feasible E_dis is the interval

    L(e) = max(0, eta_d (eta_c e - hi_window), e - net_max)          (convex in e)
    U(e) = min(dis_hi, eta_d (eta_c e - lo_window), e - net_min)     (concave in e)

and the feasible E_ch form the interval where L(e) <= U(e): one linear inequality per (lower,
upper) pair of lines, intersected with [0, ch_hi]. ``lec_opt.market.ces`` maximises over it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# slack on the feasibility of E_ch's interval (kWh): rounding in the lines' intersections must not
# drop a mode whose feasible set is a single point (a band pinned at the reachable net charge)
TOL = 1e-10

Line = tuple[float, float]  # (slope, intercept): a e + b


@dataclass(frozen=True)
class ModeBounds:
    """E_dis in [L(e), U(e)] for E_ch = e in [ch_lo, ch_hi] (a non-empty interval)."""

    lower: tuple[Line, ...]
    upper: tuple[Line, ...]
    ch_lo: float
    ch_hi: float
    dis_hi: float

    def dis_range(self, e: float) -> tuple[float, float]:
        """[L(e), U(e)]: the E_dis that E_ch = e allows."""
        return max(a * e + b for a, b in self.lower), min(a * e + b for a, b in self.upper)

    def clip_dis(self, e: float, target: float) -> float:
        """The E_dis nearest ``target`` that E_ch = e allows (the box wins over rounding)."""
        lo, hi = self.dis_range(e)
        return min(max(min(max(target, lo), hi), 0.0), self.dis_hi)

    def net_range(self) -> tuple[float, float]:
        """min and max of E_ch - E_dis over the mode's feasible set.

        e - L(e) and e - U(e) are non-decreasing (every line has slope 0, eta_c eta_d <= 1 or 1),
        so the largest net charge is at E_ch = ch_hi with E_dis = L, the smallest at ch_lo with U.
        """
        lo_dis_at_hi, _ = self.dis_range(self.ch_hi)
        _, hi_dis_at_lo = self.dis_range(self.ch_lo)
        lo = self.ch_lo - min(max(hi_dis_at_lo, 0.0), self.dis_hi)
        hi = self.ch_hi - min(max(lo_dis_at_hi, 0.0), self.dis_hi)
        return lo, hi


def mode_bounds(
    ch_hi: float,
    dis_hi: float,
    eta_c: float,
    eta_d: float,
    window: tuple[float, float],
    band: tuple[float, float] = (-np.inf, np.inf),
) -> ModeBounds | None:
    """The feasible set of a mode as ``ModeBounds``, or None when it is empty.

    ``window`` is (lo_window, hi_window) and ``band`` (net_min, net_max); an infinite band side
    adds no line.
    """
    lo_window, hi_window = window
    net_min, net_max = band
    eta = eta_c * eta_d
    lower: list[Line] = [(0.0, 0.0), (eta, -eta_d * hi_window)]
    upper: list[Line] = [(0.0, dis_hi), (eta, -eta_d * lo_window)]
    if np.isfinite(net_max):
        lower.append((1.0, -net_max))
    if np.isfinite(net_min):
        upper.append((1.0, -net_min))
    lo, hi = 0.0, ch_hi
    for a_l, b_l in lower:
        for a_u, b_u in upper:
            # a_l e + b_l <= a_u e + b_u  <=>  (a_l - a_u) e <= b_u - b_l
            coef, rhs = a_l - a_u, b_u - b_l
            if coef > 0:
                hi = min(hi, rhs / coef)
            elif coef < 0:
                lo = max(lo, rhs / coef)
            elif rhs < -TOL:
                return None
    if lo > hi + TOL:
        return None
    if lo > hi:  # a point, up to rounding: take it inside the box
        lo = hi = min(max(0.5 * (lo + hi), 0.0), ch_hi)
    return ModeBounds(tuple(lower), tuple(upper), lo, hi, dis_hi)
