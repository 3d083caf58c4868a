"""The network's limits: the voltage band and the cable and transformer ratings, how far a flow breaks
them, and their linear rows around one interval's operating point (models/FORMULATION.md §13).

Around a point where the AC flow gave voltages V⁰ and loadings L⁰ with curtailment c⁰ and CES net
charge n⁰, with S = ∂V/∂P (per kW injected; ``lec_opt.network.sensitivity``) and Δt the interval:

    V(c, n) = V⁰ - Σ_i S_i (c_i - c⁰_i) / Δt - S_ces (n - n⁰) / Δt        (curtailing and charging draw)

and likewise each loading. Each limit is one row ``a_c · c + a_n n <= b`` over the levers
(``lec_opt.market.network_rows.LimitRows``): V <= v_max, -V <= -v_min, and L <= L_max in hundredths.
A row that no lever within its range can break is left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lec_opt.errors import LecOptError
from lec_opt.market.network_rows import CesReach, LimitRows
from lec_opt.network.engine import FlowResults
from lec_opt.network.sensitivity import Sensitivities

VOLTAGE_TOLERANCE_PU = 1e-3  # what the linearisation may miss: a flow within it keeps the band
LOADING_TOLERANCE_PERCENT = 0.1  # likewise for the cable and transformer loadings


@dataclass(frozen=True)
class Limits:
    """The band and ratings an interval must keep (``[network]`` v_min_pu, v_max_pu, cable_max_percent,
    trafo_max_percent)."""

    v_min_pu: float
    v_max_pu: float
    cable_max_percent: float
    trafo_max_percent: float

    @classmethod
    def of(cls, network) -> Limits:
        """The limits of a scenario's ``[network]`` section."""
        return cls(network.v_min_pu, network.v_max_pu, network.cable_max_percent, network.trafo_max_percent)


@dataclass(frozen=True)
class Excess:
    """How far one interval's AC flow breaks each limit (0 where it keeps it; inf: no convergence)."""

    voltage_pu: float
    cable_percent: float
    trafo_percent: float

    @property
    def within(self) -> bool:
        """Within every limit, up to what the linearisation may miss."""
        return (
            self.voltage_pu <= VOLTAGE_TOLERANCE_PU
            and self.cable_percent <= LOADING_TOLERANCE_PERCENT
            and self.trafo_percent <= LOADING_TOLERANCE_PERCENT
        )


def excess(results: FlowResults, limits: Limits) -> list[Excess]:
    """Each interval's ``Excess`` over ``limits``."""
    out = []
    for t in range(results.converged.size):
        if not results.converged[t]:
            out.append(Excess(np.inf, np.inf, np.inf))
            continue
        v = results.v_pu[t]
        volt = max(float(np.nanmax(v)) - limits.v_max_pu, limits.v_min_pu - float(np.nanmin(v)), 0.0)
        cable = max(float(np.nanmax(results.line_loading_percent[t], initial=0.0)) - limits.cable_max_percent, 0.0)
        trafo = results.trafo_loading_percent[t]
        over = 0.0 if np.isnan(trafo) else max(float(trafo) - limits.trafo_max_percent, 0.0)
        out.append(Excess(volt, cable, over))
    return out


def headroom(results: FlowResults, limits: Limits, t: int = 0) -> float:
    """How close interval ``t``'s flow comes to its nearest limit, in p.u. of voltage or hundredths of
    a rating (negative: a limit is broken; -inf: no convergence)."""
    if not results.converged[t]:
        return -np.inf
    v = results.v_pu[t]
    room = [limits.v_max_pu - float(np.nanmax(v)), float(np.nanmin(v)) - limits.v_min_pu]
    if results.line_loading_percent[t].size:
        room.append((limits.cable_max_percent - float(np.nanmax(results.line_loading_percent[t]))) / 100.0)
    if not np.isnan(results.trafo_loading_percent[t]):
        room.append((limits.trafo_max_percent - float(results.trafo_loading_percent[t])) / 100.0)
    return min(room)


def check_no_load(results: FlowResults, limits: Limits, where: str) -> None:
    """LecOptError when the feeder with no load at all already breaks the band (``results``: that flow)."""
    v = results.v_pu[0]
    if not results.converged[0]:
        raise LecOptError(f"{where}: the feeder's flow with no load does not converge")
    lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
    if lo < limits.v_min_pu - VOLTAGE_TOLERANCE_PU or hi > limits.v_max_pu + VOLTAGE_TOLERANCE_PU:
        raise LecOptError(
            f"{where}: network.v_min_pu..v_max_pu = {limits.v_min_pu}..{limits.v_max_pu} p.u., but the feeder "
            f"with no load at all shows {lo:.4f}..{hi:.4f} p.u.: no curtailment or CES can keep that band"
        )


@dataclass(frozen=True)
class OperatingPoint:
    """One interval's AC flow at curtailment ``curtailed_kwh`` (per seller) and CES net charge ``net_kwh``."""

    v_pu: np.ndarray  # [bus, phase]
    line_percent: np.ndarray  # [line]
    trafo_percent: float
    curtailed_kwh: np.ndarray
    net_kwh: float


def limit_rows(
    point: OperatingPoint,
    slopes: Sensitivities,
    seller_controls: np.ndarray,
    ces_control: int,
    hours: float,
    limits: Limits,
    bounds: tuple[np.ndarray, CesReach],
) -> LimitRows:
    """The limits' rows around ``point``: ``seller_controls`` are the sellers' positions on the slopes'
    control axis, ``ces_control`` the CES's; ``bounds`` (each seller's surplus, the CES's reach) drop
    the rows no lever can break."""
    per_kwh = -1.0 / hours  # a kWh curtailed or charged is 1/Δt kW less injected
    cols = np.append(seller_controls, ces_control)
    x0 = np.append(point.curtailed_kwh, point.net_kwh)
    dv = slopes.dv_dkw.reshape(-1, slopes.dv_dkw.shape[-1])[:, cols] * per_kwh  # dV per kWh of each lever
    v_at_zero = point.v_pu.reshape(-1) - dv @ x0
    dl = slopes.dloading_dkw[:, cols] * per_kwh / 100.0
    l_at_zero = point.line_percent / 100.0 - dl @ x0
    a = [dv, -dv, dl]
    b = [limits.v_max_pu - v_at_zero, v_at_zero - limits.v_min_pu, limits.cable_max_percent / 100.0 - l_at_zero]
    if not np.isnan(point.trafo_percent) and slopes.dtrafo_dkw is not None:
        dt = slopes.dtrafo_dkw[cols] * per_kwh / 100.0
        a.append(dt[None, :])
        b.append(np.atleast_1d(limits.trafo_max_percent / 100.0 - (point.trafo_percent / 100.0 - dt @ x0)))
    a_all, b_all = np.vstack(a), np.concatenate(b)
    surplus, reach = bounds
    hi = np.append(surplus, reach.n_max(0.0))
    lo = np.append(np.zeros_like(surplus), reach.n_min)
    reachable = np.maximum(a_all * hi, a_all * lo).sum(axis=1)  # the most each row's left side can be
    keep = np.flatnonzero(reachable > b_all - 1e-12)
    return LimitRows(a_all[keep, :-1], a_all[keep, -1], b_all[keep])
