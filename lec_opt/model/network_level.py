"""Level 0 of a feeder interval with the network's limits enforced: the least curtailment that keeps
every limit, before the paper's levels (models/FORMULATION.md §13).

One LP over the levers (each seller's curtailment c_i, or one share θ of every seller's surplus, and
the CES's net charge n) with the limits' rows (``lec_opt.market.network_rows.LimitRows``):

    least:        min Σ c_i          s.t.  a_c c + a_n n <= b,  0 <= c_i <= s_i
    equal_share:  min θ              s.t.  θ a_c s + a_n n <= b,  0 <= θ <= 1
    both:         -discharge_max <= n <= charge_max,  and the CES charges from the grid and the
                  leftover surplus only: n <= grid + max(leftover - Σc, 0), as two LPs (the leftover
                  spent on the CES, or on curtailment beyond it) of which the lower wins.

When no point keeps every row, a first LP finds the least violation σ (every row relaxed by σ) and
the curtailment LP then keeps the rows up to σ: the interval is recorded as infeasible for the
network, with σ. HiGHS runs through ``lec_opt.solver.highs``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from lec_opt.market.network_rows import CesReach, CurtailmentPlan, CurtailmentRule, LimitRows, plan_of
from lec_opt.market.result import LevelStatus
from lec_opt.solver.highs import INF, solve_arrays, swallow_banner

OPTIONS = {
    "output_flag": False,
    "random_seed": 0,
    # no "threads": HiGHS's scheduler is one per process, made by its first run; a later other value fails the run
    "primal_feasibility_tolerance": 1e-9,  # rows in p.u.: 1e-7 would be 1e-4 kWh of curtailment
    "dual_feasibility_tolerance": 1e-9,
}
# the LP's parts as models/FORMULATION.md §13 names them (tests/test_formulation.py checks the names)
COLUMNS = ("curtailed", "net_charge", "violation")
ROWS = ("network_limit", "ces_from_leftover")
OBJECTIVES = {
    CurtailmentRule.LEAST: "obj_least_curtailment",
    CurtailmentRule.EQUAL_SHARE: "obj_equal_share",
    None: "obj_least_violation",
}


def _columns(rows: LimitRows, surplus: np.ndarray, rule: CurtailmentRule) -> np.ndarray:
    """The rows' coefficients on the curtailment columns: per seller, or one per share θ."""
    if rule is CurtailmentRule.EQUAL_SHARE:
        return (rows.a_c @ surplus)[:, None]
    return rows.a_c


def _lp(rows, surplus, reach: CesReach, rule, spend_leftover: bool, slack: float | None):
    """One LP: columns (curtailment..., n, σ); ``slack`` None: σ is free and minimised; else σ <= slack
    and the curtailment is minimised. ``spend_leftover``: the CES may charge from the leftover surplus
    (n + Σc <= leftover + grid), else only from the grid (n <= grid)."""
    a_curt = _columns(rows, surplus, rule)
    k = a_curt.shape[1]
    swallow_banner()
    equal = rule is CurtailmentRule.EQUAL_SHARE
    curtailed = np.array([surplus.sum()]) if equal else np.ones(k)  # Σc per unit of each column
    limits = np.hstack([a_curt, rows.a_n[:, None], -np.ones((rows.n_rows, 1))])
    coupling = np.hstack([curtailed if spend_leftover else np.zeros(k), [1.0, 0.0]])
    upper = reach.grid_charge_max + (reach.leftover_surplus if spend_leftover else 0.0)
    a = scipy.sparse.csr_matrix(np.vstack([limits, coupling[None, :]]))
    col_lo = np.hstack([np.zeros(k), [reach.n_min, 0.0]])
    col_hi = np.hstack([[1.0] if equal else surplus, [reach.charge_max, INF if slack is None else slack]])
    cost = np.hstack([np.zeros(k + 1), [1.0]]) if slack is None else np.hstack([curtailed, [0.0, 0.0]])
    bounds = (col_lo, col_hi, np.full(rows.n_rows + 1, -INF), np.hstack([rows.b, [upper]]))
    return solve_arrays(a, bounds, cost, np.zeros(k + 2, dtype=np.int32), False, OPTIONS)


def least_violation(rows: LimitRows, surplus: np.ndarray, reach: CesReach, rule: CurtailmentRule) -> float:
    """The least σ such that every row can hold up to σ (0 when all can hold)."""
    best, states = INF, []
    for spend in (True, False):
        run = _lp(rows, surplus, reach, rule, spend, None)
        states.append(run.state)
        if run.state is LevelStatus.OPTIMAL and run.x is not None:
            best = min(best, float(run.x[-1]))
    if best == INF:
        raise RuntimeError(
            f"the least-violation LP of the network level ended {[str(s) for s in states]} "
            f"({rows.n_rows} rows, {surplus.size} sellers, reach {reach}); it has no empty feasible set"
        )
    return best


def network_level(rows: LimitRows, surplus: np.ndarray, reach: CesReach, rule: CurtailmentRule) -> CurtailmentPlan:
    """Level 0 of one interval: the least curtailment under ``rule`` that keeps every row (or, when no
    point can, every row up to the least violation), and the CES band it leaves."""
    slack = 0.0
    candidates = []
    for attempt in range(2):
        for spend in (True, False):
            run = _lp(rows, surplus, reach, rule, spend, slack)
            if run.state is LevelStatus.OPTIMAL and run.x is not None:
                candidates.append(run.x)
        if candidates or attempt:
            break
        slack = least_violation(rows, surplus, reach, rule) * (1.0 + 1e-9) + 1e-12
    if not candidates:
        raise RuntimeError("the network level found no point within the least violation it computed")
    k = _columns(rows, surplus, rule).shape[1]
    x = min(candidates, key=lambda v: float(v[:k].sum()))  # the lower curtailment; ties: the leftover spent
    c = x[0] * surplus if rule is CurtailmentRule.EQUAL_SHARE else np.clip(x[:k], 0.0, surplus)
    return plan_of(rows, reach, c, float(x[k]))
