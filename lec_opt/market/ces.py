"""The community energy storage (CES) of one interval: utilities U01/U02 and their optimum.

U01 (charging) and U02 (discharging) follow the paper's equations 2-3 (models/FORMULATION.md §4): the
quadratic part acts on the totals E_ch = Ec + Eg and E_dis = Ed + Ev, and the price part pays
each source its own price. ``dispatch`` maximises the level-2 objective (the CES utilities plus
the peers' cash flow with the grid) for a given P2P outcome without any solver: it is the greedy
method's CES dispatch, and the exact reference for the MILP's piecewise-linear utilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lec_opt.market.snapshot import IntervalSnapshot
from lec_opt.scenario.schema import Scenario

_EPS = 1e-12


@dataclass(frozen=True)
class CesParams:
    """Everything about the CES that one interval needs (energies in kWh for the interval)."""

    capacity_kwh: float
    soc: float  # state of charge at the start of the interval, fraction
    soc_min: float
    soc_max: float
    charge_max_kwh: float  # charging power x interval length
    discharge_max_kwh: float
    eta_c: float
    eta_d: float
    grid_recharge: bool  # SoC <= threshold: the grid may charge the CES
    k: float
    S: float
    degradation: float  # d
    pc: float  # CES pays prosumers
    pd: float  # consumers pay the CES
    p_ev: float  # EVs pay the CES
    buy: float
    sell: float
    welfare: bool = False  # ces_objective = "welfare": Pc and Pd are transfers, left out

    @property
    def accessible(self) -> float:
        """C of U01: the accessible capacity soc_max - SoC, as a fraction."""
        return self.soc_max - self.soc

    def quad_charge(self, e):
        """The quadratic part of U01: k (E C - S E^2 / 2)."""
        return self.k * (e * self.accessible - 0.5 * self.S * np.square(e))

    def quad_discharge(self, e):
        """The quadratic part of U02: k (E SoC - S E^2 / 2)."""
        return self.k * (e * self.soc - 0.5 * self.S * np.square(e))

    @property
    def charge_limit_kwh(self) -> float:
        """Largest E_ch: power limit and room below soc_max."""
        room = max(self.soc_max - self.soc, 0.0) * self.capacity_kwh / self.eta_c
        return min(self.charge_max_kwh, room)

    @property
    def discharge_limit_kwh(self) -> float:
        """Largest E_dis: power limit and energy above soc_min."""
        room = max(self.soc - self.soc_min, 0.0) * self.capacity_kwh * self.eta_d
        return min(self.discharge_max_kwh, room)

    def tangent_points(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Breakpoints of the charging and discharging hypographs (evenly spaced, 0 included).

        They span the power limits, not the SoC room at the start: EVs may draw while the CES
        charges, so E_ch can exceed the room, and E_dis likewise.
        """
        return np.linspace(0.0, self.charge_max_kwh, n), np.linspace(0.0, self.discharge_max_kwh, n)

    def pwl_error_bound(self, n: int) -> float:
        """Largest gap between a quadratic and its tangent hypograph: k S h^2 / 8 per utility."""
        h_c = self.charge_max_kwh / (n - 1)
        h_d = self.discharge_max_kwh / (n - 1)
        return self.k * self.S * (h_c**2 + h_d**2) / 8.0

    def soc_after(self, e_charge: float, e_discharge: float) -> float:
        """SoC after charging ``e_charge`` and discharging ``e_discharge`` kWh (with efficiencies)."""
        return self.soc + (self.eta_c * e_charge - e_discharge / self.eta_d) / self.capacity_kwh

    def level2_objective(
        self,
        c: float,
        eg: float,
        d: float,
        ev: float,
        residual_surplus: float,
        residual_deficit: float,
        ev_demand: float,
    ) -> float:
        """uc + ud + pi_sell * export - pi_buy * (import + EV import) for aggregate flows."""
        pc = 0.0 if self.welfare else self.pc
        pd = 0.0 if self.welfare else self.pd
        e_ch, e_dis = c + eg, d + ev
        u01 = self.quad_charge(e_ch) - self.degradation * e_ch - pc * c - self.buy * eg
        u02 = self.quad_discharge(e_dis) - self.degradation * e_dis + pd * d + self.p_ev * ev
        grid = self.sell * (residual_surplus - c) - self.buy * (residual_deficit - d) - self.buy * (ev_demand - ev)
        return float(u01 + u02 + grid)


def ces_params(scenario: Scenario, snap: IntervalSnapshot, soc: float) -> CesParams:
    """The CES parameters of one interval: the scenario's CES at state of charge ``soc`` and the interval's prices."""
    ces = scenario.ces
    mid = 0.5 * (snap.buy_price + snap.sell_price)
    return CesParams(
        capacity_kwh=ces.capacity_kwh,
        soc=soc,
        soc_min=ces.soc_min,
        soc_max=ces.soc_max,
        charge_max_kwh=ces.charge_power_kw * snap.hours,
        discharge_max_kwh=ces.discharge_power_kw * snap.hours,
        eta_c=ces.charge_efficiency,
        eta_d=ces.discharge_efficiency,
        grid_recharge=soc <= ces.grid_recharge_threshold + 1e-12,
        k=ces.k,
        S=ces.S,
        degradation=ces.degradation,
        pc=mid if ces.charge_price is None else ces.charge_price,
        pd=mid if ces.discharge_price is None else ces.discharge_price,
        p_ev=mid if ces.ev_price is None else ces.ev_price,
        buy=snap.buy_price,
        sell=snap.sell_price,
        welfare=scenario.solver.ces_objective == "welfare",
    )


@dataclass(frozen=True)
class CesDispatch:
    """Aggregate CES flows of an interval (kWh) and the level-2 objective they reach."""

    charge_from_peers_kwh: float  # sum of c
    charge_from_grid_kwh: float  # Eg
    discharge_to_peers_kwh: float  # sum of d
    discharge_to_ev_kwh: float  # Ev
    ev_from_grid_kwh: float  # Evg
    soc_end: float
    objective: float


def _segment_max(base_slope: float, curvature: float, segments: list[tuple[str, float, float]], hi: float) -> float:
    """argmax over [0, hi] of base_slope*E - curvature*E^2/2 + piecewise-linear gains.

    ``segments`` are (name, length, gain per kWh) sorted by decreasing gain (best source first),
    so the objective is concave; beyond the segments nothing can be charged or discharged.
    """
    start = 0.0
    for _, length, gain in segments:
        end = min(start + length, hi)
        if end <= start + _EPS:
            continue
        # derivative on this segment: base_slope - curvature*E + gain
        if curvature > 0:
            root = (base_slope + gain) / curvature
        else:
            root = np.inf if base_slope + gain > 0 else -np.inf
        if root < end:
            return float(min(max(root, start), end))
        start = end
    return float(start)


def _golden_max(f, lo: float, hi: float, iterations: int = 100) -> float:
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = lo, hi
    x1, x2 = b - ratio * (b - a), a + ratio * (b - a)
    f1, f2 = f(x1), f(x2)
    for _ in range(iterations):
        if f1 < f2:
            a, x1, f1 = x1, x2, f2
            x2 = a + ratio * (b - a)
            f2 = f(x2)
        else:
            b, x2, f2 = x2, x1, f1
            x1 = b - ratio * (b - a)
            f1 = f(x1)
    return 0.5 * (a + b)


def _split(amount: float, segments: list[tuple[str, float, float]]) -> dict[str, float]:
    """How much of ``amount`` each named segment takes, best first."""
    out = {}
    for name, length, _ in segments:
        take = min(length, max(amount, 0.0))
        out[name] = take
        amount -= take
    return out


def _piecewise_value(quad, degradation: float, segments: list[tuple[str, float, float]]):
    def value(e: float) -> float:
        gains = sum(_split(e, segments)[name] * gain for name, _, gain in segments)
        return float(quad(e) - degradation * e + gains)

    return value


def dispatch(p: CesParams, residual_surplus: float, residual_deficit: float, ev_demand: float) -> CesDispatch:
    """The exact optimum of the continuous CES sub-problem for each mode; the best mode wins.

    Modes: charging (c, Eg > 0 allowed), discharging to peers (d > 0 allowed), idle; EVs draw
    from the CES in every mode. Within a mode the objective is separable and concave in
    (E_ch, E_dis); the SoC window couples them, and when it binds the optimum lies on its edge,
    found by a golden-section search on E_ch.
    """
    pc = 0.0 if p.welfare else p.pc
    pd = 0.0 if p.welfare else p.pd
    by_gain = lambda seg: -seg[2]  # noqa: E731
    # charging sources: prosumers' leftover surplus (it is not exported) and the grid
    sources = sorted(
        [
            ("c", max(residual_surplus, 0.0), -(pc + p.sell)),
            ("eg", p.charge_max_kwh if p.grid_recharge else 0.0, -p.buy),
        ],
        key=by_gain,
    )
    peers = ("d", max(residual_deficit, 0.0), pd + p.buy)  # saves the buyers' import
    evs = ("ev", max(ev_demand, 0.0), p.p_ev + p.buy)  # saves the EVs' import
    lo_band = (p.soc_min - p.soc) * p.capacity_kwh
    hi_band = (p.soc_max - p.soc) * p.capacity_kwh
    best: CesDispatch | None = None
    for charging, to_peers in ((True, False), (False, True), (False, False)):
        c_seg = sources if charging else []
        d_seg = sorted([peers, evs] if to_peers else [evs], key=by_gain)
        c_hi = min(p.charge_max_kwh, sum(s[1] for s in c_seg))
        d_hi = min(p.discharge_max_kwh, sum(s[1] for s in d_seg))
        e_ch = _segment_max(p.k * p.accessible - p.degradation, p.k * p.S, c_seg, c_hi)
        e_dis = _segment_max(p.k * p.soc - p.degradation, p.k * p.S, d_seg, d_hi)
        band = p.eta_c * e_ch - e_dis / p.eta_d
        if band > hi_band + 1e-12 or band < lo_band - 1e-12:
            edge = hi_band if band > hi_band else lo_band
            # on the edge: e_dis = eta_d (eta_c e_ch - edge), with both inside their boxes
            lo_c = max(0.0, edge / p.eta_c)
            hi_c = min(c_hi, (d_hi / p.eta_d + edge) / p.eta_c)
            if lo_c > hi_c + 1e-12:
                continue
            f_ch = _piecewise_value(p.quad_charge, p.degradation, c_seg)
            f_dis = _piecewise_value(p.quad_discharge, p.degradation, d_seg)
            e_ch = _golden_max(lambda e: f_ch(e) + f_dis(p.eta_d * (p.eta_c * e - edge)), lo_c, max(lo_c, hi_c))
            e_dis = max(p.eta_d * (p.eta_c * e_ch - edge), 0.0)
        charge = _split(e_ch, c_seg)
        discharge = _split(e_dis, d_seg)
        c, eg = charge.get("c", 0.0), charge.get("eg", 0.0)
        d, ev = discharge.get("d", 0.0), discharge.get("ev", 0.0)
        value = p.level2_objective(c, eg, d, ev, residual_surplus, residual_deficit, ev_demand)
        if best is None or value > best.objective + 1e-12:
            best = CesDispatch(c, eg, d, ev, max(ev_demand - ev, 0.0), p.soc_after(c + eg, d + ev), value)
    assert best is not None  # idle mode with E = 0 is always feasible
    return best
