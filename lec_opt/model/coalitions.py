"""The Pyomo models of the cooperative game check (models/FORMULATION.md §9), solved with HiGHS.

- ``Separator``: the separation MILP max_T v(T) − φ(T) over proper coalitions T, the oracle of
  core membership, the least core, the nucleolus and the stable prices.
- ``LeastCoreLP``: min ε with φ(T) ≥ v(T) − ε for the generated coalitions, φ(N) = v(N).
- ``stable_price_lp``: the trades' P2P gains that minimise the largest excess, or the money moved.

The game itself (``lec_opt.market.interval_game.IntervalGame``) is plain numpy; these models only read
its players' supply and demand, its gains and ``value``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyomo.environ as pyo

from lec_opt.errors import LecOptError
from lec_opt.solver.highs import PyomoHighs

if TYPE_CHECKING:
    from lec_opt.market.interval_game import IntervalGame


def _highs() -> PyomoHighs:
    """Exact HiGHS (gap 0, absolute 1e-9) that loads a solution only once it is checked."""
    return PyomoHighs(0.0, {"output_flag": False, "mip_abs_gap": 1e-9}, load_solution=False)


class Separator:
    """The separation MILP, built once per game: max_T v(T) − Σ_{k∈T} w_k over proper coalitions T.

    The weights are mutable parameters and excluded coalitions are added as no-good cuts, so the
    persistent HiGHS interface only updates coefficients between calls.
    """

    def __init__(self, game: IntervalGame):
        self.game = game
        m = pyo.ConcreteModel()
        m.K = pyo.RangeSet(0, game.n - 1)
        m.weight = pyo.Param(m.K, mutable=True, initialize=0.0)
        m.member = pyo.Var(m.K, domain=pyo.Binary)
        m.traded = pyo.Var(bounds=(0, None))  # min(S_T, D_T)
        s = sum(float(game.supply[k]) * m.member[k] for k in m.K)
        d = sum(float(game.demand[k]) * m.member[k] for k in m.K)
        m.traded_le_supply = pyo.Constraint(expr=m.traded <= s)
        m.traded_le_demand = pyo.Constraint(expr=m.traded <= d)
        value = game.spread * m.traded
        if game.ces is not None:
            m.from_ces = pyo.Var(bounds=(0, game.ces_discharge_kwh))
            m.to_ces = pyo.Var(bounds=(0, game.ces_charge_kwh))
            m.from_ces_rule = pyo.Constraint(expr=m.from_ces <= d - m.traded)
            m.to_ces_rule = pyo.Constraint(expr=m.to_ces <= s - m.traded)
            m.from_ces_member = pyo.Constraint(expr=m.from_ces <= game.ces_discharge_kwh * m.member[game.ces])
            m.to_ces_member = pyo.Constraint(expr=m.to_ces <= game.ces_charge_kwh * m.member[game.ces])
            value = value + game.ces_discharge_gain * m.from_ces + game.ces_charge_gain * m.to_ces
        size = sum(m.member[k] for k in m.K)
        m.proper = pyo.Constraint(expr=pyo.inequality(1, size, max(game.n - 1, 1)))
        m.excluded = pyo.ConstraintList()
        m.obj = pyo.Objective(expr=value - sum(m.weight[k] * m.member[k] for k in m.K), sense=pyo.maximize)
        self.model = m
        self.solver = _highs()

    def exclude(self, mask: np.ndarray) -> None:
        """Forbid one coalition (a mask) from being found again."""
        m = self.model
        m.excluded.add(sum(1 - m.member[k] for k in m.K if mask[k]) + sum(m.member[k] for k in m.K if not mask[k]) >= 1)

    def __call__(self, weights: np.ndarray) -> tuple[float, np.ndarray]:
        """The most violated coalition for payoffs ``weights``: (violation, mask)."""
        m = self.model
        for k in m.K:
            m.weight[k] = float(weights[k])
        res = self.solver.solve(m)
        if not res.optimal:
            raise LecOptError(f"separation MILP ended {res.condition}")
        self.solver.load()
        mask = np.array([pyo.value(m.member[k]) > 0.5 for k in m.K])
        return self.game.value(mask) - float(np.asarray(weights)[mask].sum()), mask


class LeastCoreLP:
    """min ε s.t. φ(T) ≥ v(T) − ε for the generated T, fixed excesses, φ(N) = v(N); cuts are added."""

    def __init__(self, game: IntervalGame):
        self.game = game
        m = pyo.ConcreteModel()
        m.K = pyo.RangeSet(0, game.n - 1)
        m.phi = pyo.Var(m.K)
        m.eps = pyo.Var()
        m.efficiency = pyo.Constraint(expr=sum(m.phi[k] for k in m.K) == game.grand_value)
        m.cuts = pyo.ConstraintList()
        m.fixed = pyo.ConstraintList()
        m.obj = pyo.Objective(expr=m.eps)
        self.model = m
        self.solver = _highs()
        self.fixed: list[tuple[np.ndarray, float]] = []  # (coalition, its pinned excess)

    def cut(self, mask: np.ndarray) -> None:
        """Add the core row of one coalition (a mask)."""
        m = self.model
        m.cuts.add(sum(m.phi[k] for k in m.K if mask[k]) >= self.game.value(mask) - m.eps)

    def drop_cuts(self) -> None:
        """Switch off every generated cut (the next nucleolus stage starts anew)."""
        for con in self.model.cuts.values():
            con.deactivate()

    def fix(self, mask: np.ndarray, excess: float) -> None:
        """Fix a coalition's excess (a finished nucleolus stage)."""
        m = self.model
        m.fixed.add(sum(m.phi[k] for k in m.K if mask[k]) == self.game.value(mask) - excess)
        self.fixed.append((mask, excess))

    def unique_solution(self) -> np.ndarray | None:
        """φ when the fixed coalitions and efficiency determine it, else None."""
        rows = np.array([mask for mask, _ in self.fixed] + [np.ones(self.game.n, dtype=bool)], dtype=float)
        if np.linalg.matrix_rank(rows) < self.game.n:
            return None
        rhs = np.array([self.game.value(mask) - e for mask, e in self.fixed] + [self.game.grand_value])
        return np.linalg.lstsq(rows, rhs, rcond=None)[0]

    def solve(self) -> tuple[float, np.ndarray]:
        """Solve the LP; returns (ε, φ). A non-optimal end is raised, not returned."""
        m = self.model
        res = self.solver.solve(m)
        if not res.optimal:
            raise LecOptError(f"least-core LP ended {res.condition}")
        self.solver.load()
        return float(pyo.value(m.eps)), np.array([pyo.value(m.phi[k]) for k in m.K])

    def slack_is_forced(self, mask: np.ndarray, eps: float) -> bool:
        """Is φ(T) − (v(T) − ε) = 0 on the whole optimal face (ε fixed)?"""
        m = self.model
        m.eps.fix(eps)
        m.obj.deactivate()
        m.slack = pyo.Objective(expr=sum(m.phi[k] for k in m.K if mask[k]), sense=pyo.maximize)
        try:
            res = self.solver.solve(m)
            forced = res.optimal and res.objective - (self.game.value(mask) - eps) <= 1e-8
        finally:
            m.del_component(m.slack)
            m.obj.activate()
            m.eps.unfix()
        return forced


def stable_price_lp(
    game: IntervalGame,
    trades: Sequence[tuple[int, int, float]],
    phi0: np.ndarray,
    coalitions: Sequence[np.ndarray],
    eps_fixed: float | None,
) -> tuple[float, np.ndarray, np.ndarray]:
    """The P2P gain of every trade (seller's player index, buyer's, kWh), the game without the CES.

    A trade's gain g ∈ [0, Δπ·x] goes to its seller and Δπ·x − g to its buyer. With ``eps_fixed``
    None: min ε (+ 1e-6 · Σ|φ − φ0|) over φ(T) ≥ v(T) − ε for ``coalitions``; else min Σ|φ − φ0|
    at ε = ``eps_fixed``. Returns ε, the gains and the players' φ.
    """
    m = pyo.ConcreteModel()
    m.K = pyo.RangeSet(0, game.n - 1)
    m.R = pyo.RangeSet(0, len(trades) - 1) if trades else pyo.Set(initialize=[])
    m.gain = pyo.Var(m.R, bounds=lambda m, r: (0.0, game.spread * trades[r][2]))
    m.eps = pyo.Var()
    m.dev = pyo.Var(m.K, bounds=(0, None))
    phi = {k: 0.0 for k in m.K}
    for r, (seller, buyer, kwh) in enumerate(trades):
        phi[seller] += m.gain[r]
        phi[buyer] += game.spread * kwh - m.gain[r]
    m.cuts = pyo.ConstraintList()
    for mask in coalitions:
        m.cuts.add(sum(phi[k] for k in m.K if mask[k]) >= game.value(mask) - m.eps)
    m.dev_pos = pyo.Constraint(m.K, rule=lambda m, k: m.dev[k] >= phi[k] - float(phi0[k]))
    m.dev_neg = pyo.Constraint(m.K, rule=lambda m, k: m.dev[k] >= float(phi0[k]) - phi[k])
    if eps_fixed is None:
        m.obj = pyo.Objective(expr=m.eps + 1e-6 * sum(m.dev[k] for k in m.K))
    else:
        m.eps.fix(eps_fixed)
        m.obj = pyo.Objective(expr=sum(m.dev[k] for k in m.K))
    solver = _highs()
    res = solver.solve(m)
    if not res.optimal:
        raise LecOptError(f"stable-price LP ended {res.condition}")
    solver.load()
    gains = np.array([pyo.value(m.gain[r]) for r in m.R])
    return float(pyo.value(m.eps)), gains, np.array([pyo.value(phi[k]) for k in m.K])
