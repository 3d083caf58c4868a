"""The CES schedule of a whole day with perfect foresight: one MILP over every interval (models/FORMULATION.md §10).

Given each interval's P2P outcome (the surplus S_t and deficit D_t it leaves, and the EV demand
E_t), the schedule chooses the CES flows of all intervals at once under the interval model's
rules (power, SoC window, one mode, grid recharge only at SoC ≤ threshold) to maximise the day's
money against the grid, net of degradation. Built by ``build_foresight_model`` and solved by
``solve_foresight``; what leaves this module is plain data (``ForesightSchedule``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo

from lec_opt.errors import LecOptError
from lec_opt.solver.highs import PyomoHighs

SOC_TOLERANCE = 1e-9  # the grid-recharge test SoC ≤ threshold, as the myopic rule applies it


@dataclass(frozen=True)
class ForesightInputs:
    """One day (or period) of CES decisions: per-interval arrays (kWh, $/kWh) and the CES's data."""

    surplus_kwh: np.ndarray  # S_t: what P2P leaves the sellers
    deficit_kwh: np.ndarray  # D_t: what P2P leaves the buyers
    ev_kwh: np.ndarray  # E_t
    buy: np.ndarray  # π_buy,t
    sell: np.ndarray  # π_sell,t
    capacity_kwh: float
    soc_initial: float
    soc_min: float
    soc_max: float
    soc_end_min: float  # the day must end at least this full (the myopic path's end: no gain by emptying)
    charge_max_kwh: float  # P_ch Δt
    discharge_max_kwh: float
    eta_c: float
    eta_d: float
    grid_recharge_threshold: float
    degradation: float


@dataclass(frozen=True)
class ForesightSchedule:
    """The optimal flows per interval (kWh), the SoC path (n + 1 values) and the day's value ($)."""

    charge_from_peers_kwh: np.ndarray  # c_t
    charge_from_grid_kwh: np.ndarray  # Eg_t
    discharge_to_peers_kwh: np.ndarray  # d_t
    discharge_to_ev_kwh: np.ndarray  # Ev_t
    soc: np.ndarray
    value_usd: float
    status: str


def build_foresight_model(inp: ForesightInputs) -> pyo.ConcreteModel:
    """Sets, variables, constraints and the objective of the day schedule (equations in FORMULATION.md §10).

    T = intervals; for t ∈ T: c_t ∈ [0, S_t], Eg_t ∈ [0, P_ch Δt], d_t ∈ [0, D_t], Ev_t ∈ [0, E_t],
    SoC_t ∈ [soc_min, soc_max] (SoC_0 fixed), binaries zc_t, zd_t, zg_t;
    soc_balance: SoC_{t+1} = SoC_t + (η_c (c_t + Eg_t) − (d_t + Ev_t)/η_d) / Cap;
    charge_mode: c_t + Eg_t ≤ P_ch Δt·zc_t; discharge_mode: d_t ≤ P_dis Δt·zd_t; ces_mode: zc_t + zd_t ≤ 1;
    discharge_power: d_t + Ev_t ≤ P_dis Δt; grid_recharge: Eg_t ≤ P_ch Δt·zg_t;
    grid_recharge_soc: SoC_t ≤ thr + (soc_max − thr)(1 − zg_t); soc_end: SoC_n ≥ soc_end_min;
    obj_day_value: max Σ_t π_sell (S_t − c_t) − π_buy (D_t − d_t + Eg_t + E_t − Ev_t) − d (c_t + Eg_t + d_t + Ev_t).
    """
    n = len(inp.surplus_kwh)
    m = pyo.ConcreteModel(name="foresight")
    m.T = pyo.Set(initialize=range(n), ordered=True, doc="intervals")
    m.T_soc = pyo.Set(initialize=range(n + 1), ordered=True, doc="SoC instants")
    s, r, e = (np.asarray(a, dtype=float) for a in (inp.surplus_kwh, inp.deficit_kwh, inp.ev_kwh))
    m.ces_from_peers = pyo.Var(m.T, bounds=lambda m, t: (0.0, float(s[t])), doc="c_t")
    m.ces_from_grid = pyo.Var(m.T, bounds=(0.0, inp.charge_max_kwh), doc="Eg_t")
    m.ces_to_peers = pyo.Var(m.T, bounds=lambda m, t: (0.0, float(r[t])), doc="d_t")
    m.ces_to_evs = pyo.Var(m.T, bounds=lambda m, t: (0.0, float(e[t])), doc="Ev_t")
    m.soc = pyo.Var(m.T_soc, bounds=(inp.soc_min, inp.soc_max), doc="SoC at the start of t (SoC_n: end of day)")
    m.soc[0].fix(inp.soc_initial)
    m.charge_on = pyo.Var(m.T, domain=pyo.Binary, doc="zc_t")
    m.discharge_on = pyo.Var(m.T, domain=pyo.Binary, doc="zd_t")
    m.grid_on = pyo.Var(m.T, domain=pyo.Binary, doc="zg_t")

    def balance(m, t):
        e_ch = m.ces_from_peers[t] + m.ces_from_grid[t]
        e_dis = m.ces_to_peers[t] + m.ces_to_evs[t]
        return m.soc[t + 1] == m.soc[t] + (inp.eta_c * e_ch - e_dis / inp.eta_d) / inp.capacity_kwh

    m.soc_balance = pyo.Constraint(m.T, rule=balance)
    m.charge_mode = pyo.Constraint(
        m.T, rule=lambda m, t: m.ces_from_peers[t] + m.ces_from_grid[t] <= inp.charge_max_kwh * m.charge_on[t]
    )
    m.discharge_mode = pyo.Constraint(
        m.T, rule=lambda m, t: m.ces_to_peers[t] <= inp.discharge_max_kwh * m.discharge_on[t]
    )
    m.ces_mode = pyo.Constraint(m.T, rule=lambda m, t: m.charge_on[t] + m.discharge_on[t] <= 1)
    m.discharge_power = pyo.Constraint(
        m.T, rule=lambda m, t: m.ces_to_peers[t] + m.ces_to_evs[t] <= inp.discharge_max_kwh
    )
    m.grid_recharge = pyo.Constraint(m.T, rule=lambda m, t: m.ces_from_grid[t] <= inp.charge_max_kwh * m.grid_on[t])
    thr = inp.grid_recharge_threshold + SOC_TOLERANCE
    m.grid_recharge_soc = pyo.Constraint(
        m.T, rule=lambda m, t: m.soc[t] <= thr + max(inp.soc_max - thr, 0.0) * (1 - m.grid_on[t])
    )
    m.soc_end = pyo.Constraint(expr=m.soc[n] >= inp.soc_end_min)
    buy, sell, deg = np.asarray(inp.buy, dtype=float), np.asarray(inp.sell, dtype=float), inp.degradation
    m.obj_day_value = pyo.Objective(
        expr=pyo.quicksum(
            float(sell[t]) * (float(s[t]) - m.ces_from_peers[t])
            - float(buy[t]) * (float(r[t]) - m.ces_to_peers[t] + m.ces_from_grid[t] + float(e[t]) - m.ces_to_evs[t])
            - deg * (m.ces_from_peers[t] + m.ces_from_grid[t] + m.ces_to_peers[t] + m.ces_to_evs[t])
            for t in m.T
        ),
        sense=pyo.maximize,
    )
    return m


def solve_foresight(inp: ForesightInputs, threads: int | None = None) -> ForesightSchedule:
    """Solve the day schedule to optimality with HiGHS; a solver failure raises (never swallowed)."""
    m = build_foresight_model(inp)
    options = {"output_flag": False, "mip_abs_gap": 1e-9, "random_seed": 0}
    if threads:
        options["threads"] = threads
    res = PyomoHighs(1e-9, options).solve(m)  # the solution loaded into m
    if not res.optimal:
        raise LecOptError(f"the foresight CES schedule was not solved to optimality: {res.condition}")
    values = lambda var: np.array([max(pyo.value(var[t]), 0.0) for t in m.T])  # noqa: E731
    return ForesightSchedule(
        charge_from_peers_kwh=values(m.ces_from_peers),
        charge_from_grid_kwh=values(m.ces_from_grid),
        discharge_to_peers_kwh=values(m.ces_to_peers),
        discharge_to_ev_kwh=values(m.ces_to_evs),
        soc=np.array([pyo.value(m.soc[t]) for t in m.T_soc]),
        value_usd=float(pyo.value(m.obj_day_value)),
        status=res.condition,
    )
