"""The community energy storage (CES) of one interval: utilities U01/U02 and their optimum.

U01 (charging) and U02 (discharging) follow the paper's equations 2-3 (models/FORMULATION.md §4): the
quadratic part acts on the totals E_ch = Ec + Eg and E_dis = Ed + Ev, and the price part pays
each source its own price. ``dispatch`` maximises the level-2 objective (the CES utilities plus
the peers' cash flow with the grid) for a given P2P outcome without any solver: it is the greedy
method's CES dispatch, and the exact reference for the MILP's piecewise-linear utilities. A network
band net_min <= E_ch - E_dis <= net_max (``CesParams.net_min_kwh``, ``net_max_kwh``; infinite by
default) is kept exactly too (``lec_opt.market.ces_band``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from lec_opt.market.ces_band import ModeBounds, mode_bounds
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
    net_min_kwh: float = -np.inf  # network band on the net charge E_ch - E_dis
    net_max_kwh: float = np.inf

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

    @property
    def window_kwh(self) -> tuple[float, float]:
        """The SoC window as stored energy relative to the start: lo <= eta_c E_ch - E_dis / eta_d <= hi."""
        return (self.soc_min - self.soc) * self.capacity_kwh, (self.soc_max - self.soc) * self.capacity_kwh

    def in_band(self, net: float) -> bool:
        """Whether the net charge E_ch - E_dis meets the network band (to 1e-12 kWh)."""
        return self.net_min_kwh - 1e-12 <= net <= self.net_max_kwh + 1e-12

    def net_range(self, residual_surplus: float, residual_deficit: float, ev_demand: float) -> tuple[float, float]:
        """(min, max) of the net charge E_ch - E_dis the CES can reach in the interval, band left out.

        Over every mode: power limits, what the peers have left, EV demand, grid recharge and the
        SoC window. Every mode contains E = 0 when the SoC starts inside its window, so every value
        in between is reachable too; (inf, -inf) when no dispatch keeps the SoC window.
        """
        lo, hi = np.inf, -np.inf
        for _, _, c_hi, d_hi in _modes(self, residual_surplus, residual_deficit, ev_demand):
            bounds = mode_bounds(c_hi, d_hi, self.eta_c, self.eta_d, self.window_kwh)
            if bounds is not None:
                mode_lo, mode_hi = bounds.net_range()
                lo, hi = min(lo, mode_lo), max(hi, mode_hi)
        return float(lo), float(hi)

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
    band_met: bool = True  # False: no dispatch meets the network band; this one misses it least


Segments = list[tuple[str, float, float]]


def _modes(
    p: CesParams, residual_surplus: float, residual_deficit: float, ev_demand: float
) -> list[tuple[Segments, Segments, float, float]]:
    """(charging segments, discharging segments, E_ch limit, E_dis limit) of each mode.

    Modes: charging (c, Eg > 0 allowed), discharging to peers (d > 0 allowed), idle; EVs draw
    from the CES in every mode. Segments are (name, length, gain per kWh), best gain first.
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
    modes = []
    for charging, to_peers in ((True, False), (False, True), (False, False)):
        c_seg = sources if charging else []
        d_seg = sorted([peers, evs] if to_peers else [evs], key=by_gain)
        c_hi = min(p.charge_max_kwh, sum(s[1] for s in c_seg))
        d_hi = min(p.discharge_max_kwh, sum(s[1] for s in d_seg))
        modes.append((c_seg, d_seg, c_hi, d_hi))
    return modes


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


def _in_band_max(p: CesParams, c_seg: Segments, d_seg: Segments, bounds: ModeBounds) -> tuple[float, float]:
    """argmax of the mode's objective over its boxes, the SoC window and the band.

    For a fixed E_ch the best E_dis is the unconstrained argmax of the concave U02 part clipped
    into [L(E_ch), U(E_ch)]; h(E_ch) = f_ch(E_ch) + f_dis(that E_dis) is a partial maximum of a
    jointly concave function over a convex set, hence concave: golden-section search on E_ch.
    """
    f_ch = _piecewise_value(p.quad_charge, p.degradation, c_seg)
    f_dis = _piecewise_value(p.quad_discharge, p.degradation, d_seg)
    free_dis = _segment_max(p.k * p.soc - p.degradation, p.k * p.S, d_seg, bounds.dis_hi)
    e_ch = _golden_max(lambda e: f_ch(e) + f_dis(bounds.clip_dis(e, free_dis)), bounds.ch_lo, bounds.ch_hi)
    return float(e_ch), float(bounds.clip_dis(e_ch, free_dis))


def _best_mode(p: CesParams, residual_surplus: float, residual_deficit: float, ev_demand: float) -> CesDispatch | None:
    """The best mode's optimum; None when no mode can keep the SoC window and the band."""
    lo_window, hi_window = p.window_kwh
    best: CesDispatch | None = None
    for c_seg, d_seg, c_hi, d_hi in _modes(p, residual_surplus, residual_deficit, ev_demand):
        e_ch = _segment_max(p.k * p.accessible - p.degradation, p.k * p.S, c_seg, c_hi)
        e_dis = _segment_max(p.k * p.soc - p.degradation, p.k * p.S, d_seg, d_hi)
        stored = p.eta_c * e_ch - e_dis / p.eta_d
        if stored > hi_window + 1e-12 or stored < lo_window - 1e-12:
            edge = hi_window if stored > hi_window else lo_window
            # on the edge: e_dis = eta_d (eta_c e_ch - edge), with both inside their boxes
            lo_c = max(0.0, edge / p.eta_c)
            hi_c = min(c_hi, (d_hi / p.eta_d + edge) / p.eta_c)
            if lo_c > hi_c + 1e-12:
                continue
            f_ch = _piecewise_value(p.quad_charge, p.degradation, c_seg)
            f_dis = _piecewise_value(p.quad_discharge, p.degradation, d_seg)
            e_ch = _golden_max(lambda e: f_ch(e) + f_dis(p.eta_d * (p.eta_c * e - edge)), lo_c, max(lo_c, hi_c))
            e_dis = max(p.eta_d * (p.eta_c * e_ch - edge), 0.0)
        if not p.in_band(e_ch - e_dis):
            # optimum over boxes and window breaks the band: the optimum with it lies on its edge
            bounds = mode_bounds(c_hi, d_hi, p.eta_c, p.eta_d, (lo_window, hi_window), (p.net_min_kwh, p.net_max_kwh))
            if bounds is None:
                continue
            e_ch, e_dis = _in_band_max(p, c_seg, d_seg, bounds)
        charge = _split(e_ch, c_seg)
        discharge = _split(e_dis, d_seg)
        c, eg = charge.get("c", 0.0), charge.get("eg", 0.0)
        d, ev = discharge.get("d", 0.0), discharge.get("ev", 0.0)
        value = p.level2_objective(c, eg, d, ev, residual_surplus, residual_deficit, ev_demand)
        if best is None or value > best.objective + 1e-12:
            best = CesDispatch(c, eg, d, ev, max(ev_demand - ev, 0.0), p.soc_after(c + eg, d + ev), value)
    return best


def dispatch(p: CesParams, residual_surplus: float, residual_deficit: float, ev_demand: float) -> CesDispatch:
    """The exact optimum of the continuous CES sub-problem for each mode; the best mode wins.

    Within a mode the objective is separable and concave in (E_ch, E_dis); the SoC window couples
    them, and when it binds the optimum lies on its edge, found by a golden-section search on
    E_ch; when the network band binds too, ``_in_band_max`` solves the mode under both.
    No mode can meet the band: the dispatch of least band violation (the reachable net charge
    nearest the band, and the best objective there), with ``band_met`` False.
    """
    flows = (residual_surplus, residual_deficit, ev_demand)
    best = _best_mode(p, *flows)
    if best is not None:
        return best
    lo, hi = p.net_range(residual_surplus, residual_deficit, ev_demand)
    unbanded = replace(p, net_min_kwh=-np.inf, net_max_kwh=np.inf)
    for slack in (0.0, 1e-9):  # pinned at the nearest reachable net charge (slack against rounding)
        if best is None and p.net_min_kwh > hi:  # the band lies above everything reachable
            best = _best_mode(replace(p, net_min_kwh=hi - slack * max(1.0, abs(hi))), *flows)
        elif best is None and p.net_max_kwh < lo:  # below it
            best = _best_mode(replace(p, net_max_kwh=lo + slack * max(1.0, abs(lo))), *flows)
    if best is None:  # rounding, or a SoC outside its window: the band is dropped rather than failing
        best = _best_mode(unbanded, *flows)
    if best is None:
        raise ValueError(f"no CES dispatch keeps the SoC window: SoC {p.soc} outside [{p.soc_min}, {p.soc_max}]")
    return replace(best, band_met=False)
