"""The lexicographic MILP solve of one interval with HiGHS through Pyomo's persistent APPSI interface.

Levels on one model object (MODEL.md §3): 1 max P2P volume, 2 CES dispatch, 3 the priority's
rule, 4 fewest transactions. After each level the optimum is kept with a relative tolerance
(a ``level_*`` constraint) and only the objective changes; the model is never rebuilt. A and B
share levels 1-2; C then releases them, keeps only pairs with bid >= ask and solves its own.

Failures are never silent: a level that ends infeasible, in error, or at a time limit with no
incumbent makes that priority fall back to the greedy result, and the result says so. Level 4
is warm-started from the level-3 solution (a feasible incumbent), so its time limit can only
cost optimality, never the answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.appsi.base import TerminationCondition
from pyomo.contrib.appsi.solvers import Highs

from lec_opt.ces import CesParams, ces_params, dispatch
from lec_opt.greedy import assemble, match
from lec_opt.model import PRIORITIES, build_interval_model
from lec_opt.result import IntervalResult, LevelRecord
from lec_opt.scenario import Scenario
from lec_opt.snapshot import IntervalSnapshot

_FLOW_EPS = 1e-9
DUST_KWH = 1e-6  # flows below this are solver tolerance, not trades
_PRIORITY_OBJECTIVE = {"A": "obj_priority_a", "B": "obj_priority_b", "C": "obj_priority_c"}


_SUSPECT = (TerminationCondition.infeasible, TerminationCondition.infeasibleOrUnbounded,
            TerminationCondition.unknown, TerminationCondition.error)


class LevelFailed(Exception):
    def __init__(self, record: LevelRecord):
        super().__init__(f"level {record.level} ({record.name}): {record.status}")
        self.record = record


@dataclass
class _Run:
    """One priority's pass through the levels."""

    levels: list[LevelRecord]
    fixes: list[str]  # names of the level constraints this pass added


def _solver(scenario: Scenario) -> Highs:
    solver = Highs()
    solver.config.load_solution = False
    solver.config.stream_solver = False
    solver.highs_options = {"random_seed": scenario.seed, "output_flag": False}
    if scenario.solver.threads is not None:
        # HiGHS keeps one thread pool per process: mixing thread counts in a process breaks later solves
        solver.highs_options["threads"] = scenario.solver.threads
    return solver


def _relative_gap(best: float | None, bound: float | None) -> float | None:
    if best is None or bound is None or not np.isfinite(bound):
        return None
    return abs(best - bound) / max(1.0, abs(best))


def _solve_level(m, solver: Highs, level: int, name: str, time_limit: float, gap: float, warm: bool = False) -> LevelRecord:
    for obj in m.component_objects(pyo.Objective, active=True):
        obj.deactivate()
    getattr(m, f"obj_{name}").activate()
    solver.config.time_limit = time_limit
    solver.config.mip_gap = gap
    solver.config.warmstart = warm
    started = time.perf_counter()
    res = solver.solve(m)
    seconds = time.perf_counter() - started
    tc = res.termination_condition
    if tc in _SUSPECT and not getattr(solver, "retrying", False):
        # HiGHS 1.16's MIP presolve has declared feasible small models infeasible: try once without it
        solver.retrying = True
        solver.highs_options["presolve"] = "off"
        try:
            record = _solve_level(m, solver, level, name, time_limit, gap, warm)
            return replace(record, status=f"{record.status} (after {tc.name} with presolve; retried without)")
        finally:
            solver.retrying = False
            solver.highs_options["presolve"] = "choose"  # HiGHS's default (APPSI never resets an option)
    best = res.best_feasible_objective
    status = tc.name
    highs_total = res.wallclock_time or 0.0  # HiGHS reports its run time summed over this model's solves
    highs_seconds = highs_total - getattr(solver, "highs_seconds_so_far", 0.0)
    solver.highs_seconds_so_far = highs_total
    record = LevelRecord(
        level, name, status, best, res.best_objective_bound, _relative_gap(best, res.best_objective_bound), seconds,
        highs_seconds,
    )
    if tc == TerminationCondition.optimal or (tc == TerminationCondition.maxTimeLimit and best is not None):
        res.solution_loader.load_vars()
        return record
    raise LevelFailed(record)


def _fix_level(m, name: str, record: LevelRecord, tolerance: float) -> list[str]:
    """Keep level ``name`` within ``tolerance`` (relative) of its optimum for the next levels."""
    obj = getattr(m, f"obj_{name}")
    slack = tolerance * max(1.0, abs(record.objective))
    expr = obj.expr >= record.objective - slack if obj.sense == pyo.maximize else obj.expr <= record.objective + slack
    if isinstance(expr, bool):  # a constant objective (no pairs): nothing to keep
        return []
    cname = f"level_{name}"
    m.add_component(cname, pyo.Constraint(expr=expr))
    return [cname]


def _release(m, names: list[str]) -> None:
    for cname in names:
        m.del_component(cname)


def _check_min_trade(m, min_trade: float) -> bool:
    """True when some flow lies strictly between 0 and min_trade (the semi-continuous MILP is needed)."""
    if min_trade <= 0 or m.min_trade.active:
        return False
    return any(_FLOW_EPS < (m.p2p[p].value or 0.0) < min_trade - 1e-9 for p in m.P)


def _solve_with_min_trade(m, solver, scenario, level, name, limit, gap) -> LevelRecord:
    """Solve without x >= min_trade y first; only if a flow falls below it, solve the MILP with it."""
    record = _solve_level(m, solver, level, name, limit, gap)
    if _check_min_trade(m, scenario.willingness.min_trade_kwh):
        m.min_trade.activate()
        record = _solve_level(m, solver, level, name, limit, gap)
    return record


def _set_incumbent(m, flows: dict[tuple[int, int], float]) -> None:
    """Set x to ``flows`` and y, W consistently (y = 1 exactly where x > 0): a level-4 incumbent."""
    for p in m.P:
        x = flows.get(p, 0.0)
        m.p2p[p].set_value(x, skip_validation=True)
        m.transaction[p].set_value(1 if x > _FLOW_EPS else 0)
    used_i = {i for (i, _), x in flows.items() if x > _FLOW_EPS}
    used_j = {j for (_, j), x in flows.items() if x > _FLOW_EPS}
    for i in m.I:
        if not m.willing_seller[i].fixed:
            m.willing_seller[i].set_value(1 if i in used_i else 0)
    for j in m.J:
        if not m.willing_buyer[j].fixed:
            m.willing_buyer[j].set_value(1 if j in used_j else 0)


def _share_ces(m, snap: IntervalSnapshot, flows: dict[tuple[int, int], float]) -> None:
    """Keep the CES totals of the current solution, split over what each peer has left after ``flows``."""
    sold = np.zeros(len(snap.sellers))
    bought = np.zeros(len(snap.buyers))
    for (i, j), x in flows.items():
        sold[i] += x
        bought[j] += x
    for side, left, ces_var, grid_var in (
        (m.I, snap.surplus_kwh - sold, m.ces_charge, m.export),
        (m.J, snap.deficit_kwh - bought, m.ces_discharge, m.grid_import),
    ):
        total = sum(ces_var[k].value or 0.0 for k in side)
        left = np.clip(left, 0.0, None)
        share = left * (total / left.sum()) if left.sum() > 0 else np.zeros_like(left)
        for k in side:
            ces_var[k].set_value(float(share[k]), skip_validation=True)
            grid_var[k].set_value(float(left[k] - share[k]), skip_validation=True)


def _greedy_reaches_levels(m, run: _Run, flows: dict[tuple[int, int], float], tolerance: float) -> bool:
    """Does the greedy allocation keep every fixed level (1 and 3; 2 depends on the volume only)?"""
    if any(p not in m.P for p in flows):
        return False
    current = {p: m.p2p[p].value or 0.0 for p in m.P}
    for p in m.P:
        m.p2p[p].set_value(flows.get(p, 0.0), skip_validation=True)
    try:
        for record in run.levels:
            if record.name not in ("p2p",) and not record.name.startswith("priority_"):
                continue
            obj = getattr(m, f"obj_{record.name}")
            value = pyo.value(obj.expr)
            slack = tolerance * max(1.0, abs(record.objective))
            ok = value >= record.objective - slack if obj.sense == pyo.maximize else value <= record.objective + slack
            if not ok:
                return False
        return True
    finally:
        for p, x in current.items():
            m.p2p[p].set_value(x, skip_validation=True)


def unique_priority_a_optimum(snap: IntervalSnapshot, scenario: Scenario) -> bool:
    """Is the level-3 optimum of priority A a single point, so that level 4 has nothing to choose?

    The weights (s_i/s_max)(r_j/r_max) are a product of two sorted sequences: strictly
    inverse-Monge when all willing surpluses are distinct and all willing deficits are distinct.
    Then any solution with a crossing (i < i', j < j' in size order, x[i,j'] > 0 and x[i',j] > 0)
    is strictly improved by uncrossing, and using a smaller seller while a larger one has energy
    left is strictly worse; the only optimum is the north-west-corner solution (the paper's greedy
    A). This holds on dense candidate pairs and without a minimum trade size.
    """
    if scenario.solver.candidate_pairs != "dense" or scenario.willingness.min_trade_kwh > 0:
        return False
    s = snap.surplus_kwh[snap.willing_seller]
    r = snap.deficit_kwh[snap.willing_buyer]
    return len(np.unique(s)) == len(s) and len(np.unique(r)) == len(r)


def _levels_3_4(m, solver, snap: IntervalSnapshot, scenario: Scenario, priority: str, run: _Run) -> None:
    opts = scenario.solver
    name = _PRIORITY_OBJECTIVE[priority].removeprefix("obj_")
    record = _solve_with_min_trade(m, solver, scenario, 3, name, opts.level_time_limit_s, opts.mip_gap)
    run.levels.append(record)
    run.fixes += _fix_level(m, name, record, opts.lexicographic_tolerance)
    if priority == "A" and unique_priority_a_optimum(snap, scenario):
        # the solver's vertex may differ from that point by slack-sized flows: take the point itself
        greedy = {(i, j): x for i, j, x in match(snap, "A", 0.0)}
        _share_ces(m, snap, greedy)
        _set_incumbent(m, greedy)
        run.levels.append(LevelRecord(
            4, "transactions", "optimal: the level-3 optimum is unique (strict inverse-Monge), no search needed",
            float(len(greedy)),
        ))
        return
    # level-4 incumbent: the level-3 vertex, or the greedy allocation when it keeps levels 1-3 with fewer trades
    vertex = {p: m.p2p[p].value or 0.0 for p in m.P if (m.p2p[p].value or 0.0) > _FLOW_EPS}
    greedy = {(i, j): x for i, j, x in match(snap, priority, scenario.willingness.min_trade_kwh)}
    start = vertex
    if len(greedy) < len(vertex) and _greedy_reaches_levels(m, run, greedy, opts.lexicographic_tolerance):
        start = greedy
        _share_ces(m, snap, greedy)
    _set_incumbent(m, start)
    saved = [(v, v.value) for v in m.component_data_objects(pyo.Var)]
    try:
        record = _solve_level(m, solver, 4, "transactions", opts.level4_time_limit_s, opts.level4_mip_gap, warm=True)
    except LevelFailed as failed:  # cannot happen with a good warm start, but never lose the answer
        for v, value in saved:
            v.set_value(value, skip_validation=True)
        record = LevelRecord(4, "transactions", f"{failed.record.status}: kept the incumbent",
                             float(len(start)), seconds=failed.record.seconds)
    run.levels.append(record)


def _read_result(m, snap: IntervalSnapshot, scenario: Scenario, ces: CesParams, priority: str,
                 levels: list[LevelRecord], seconds: float, build_seconds: float) -> IntervalResult:
    """Plain data from the solution, cleaned of solver dust.

    HiGHS accepts rows off by 1e-6 and binaries within 1e-6 of 0 or 1, so a pair whose y is 0 can
    carry a flow of 1e-7 kWh, or the CES can 'discharge' 1e-6 kWh while charging. Flows below
    ``DUST_KWH`` (or on a pair with y = 0) are moved to the grid side of the same peer (export for a
    seller, import for a buyer), which keeps every balance exact; so are CES flows of the mode
    that is off.
    """
    from lec_opt.result import Trade, trade_prices

    value = lambda v: max(v.value or 0.0, 0.0)  # noqa: E731
    export = np.array([value(m.export[i]) for i in m.I])
    imported = np.array([value(m.grid_import[j]) for j in m.J])
    flows = []
    for i, j in m.P:
        x = value(m.p2p[i, j])
        if x <= 0.0:
            continue
        if x < DUST_KWH or (m.transaction[i, j].value or 0.0) < 0.5:
            export[i] += x
            imported[j] += x
        else:
            flows.append((i, j, x))
    c = np.array([value(m.ces_charge[i]) for i in m.I])
    d = np.array([value(m.ces_discharge[j]) for j in m.J])
    charging = c.sum() + value(m.grid_to_ces) >= d.sum()
    dust_c = (c < DUST_KWH) | (not charging)
    dust_d = (d < DUST_KWH) | charging
    export[dust_c] += c[dust_c]
    c[dust_c] = 0.0
    imported[dust_d] += d[dust_d]
    d[dust_d] = 0.0
    grid_to_ces = value(m.grid_to_ces) if charging and value(m.grid_to_ces) >= DUST_KWH else 0.0
    si = np.array([f[0] for f in flows], dtype=int)
    bj = np.array([f[1] for f in flows], dtype=int)
    prices = trade_prices(snap, scenario, priority, si, bj)
    trades = tuple(
        Trade(int(snap.sellers[i]), int(snap.buyers[j]), float(x), float(p))
        for (i, j, x), p in zip(flows, prices, strict=True)
    )
    e_ch = c.sum() + grid_to_ces
    e_dis = d.sum() + value(m.ces_to_ev)
    return IntervalResult(
        snapshot=snap,
        priority=priority,
        method="milp",
        trades=trades,
        ces_charge_kwh=c,
        export_kwh=export,
        ces_discharge_kwh=d,
        import_kwh=imported,
        grid_to_ces_kwh=grid_to_ces,
        ces_to_ev_kwh=value(m.ces_to_ev),
        grid_to_ev_kwh=value(m.grid_to_ev),
        soc_start=ces.soc,
        soc_end=ces.soc_after(e_ch, e_dis),
        levels=tuple(levels),
        solve_seconds=seconds,
        utility_error_bound=ces.pwl_error_bound(scenario.solver.utility_breakpoints),
        build_seconds=build_seconds,
    )


def _check_ces_level(m, solver, snap: IntervalSnapshot, ces: CesParams, record: LevelRecord, opts) -> LevelRecord:
    """Level 2 against the exact CES optimum for the same P2P volume (``ces.dispatch``).

    The piecewise-linear hypograph over-estimates each utility, so the MILP's level-2 value can
    never be below the exact optimum; HiGHS 1.16 has returned 'optimal' values that were. Then the
    level is solved again without presolve, and if still too low it fails (greedy fallback).
    """
    volume = sum(m.p2p[p].value or 0.0 for p in m.P)
    exact = dispatch(ces, snap.total_surplus_kwh - volume, snap.total_deficit_kwh - volume, snap.ev_kwh).objective
    floor = exact - 1e-6 * max(1.0, abs(exact))
    if record.objective is not None and record.objective >= floor:
        return record
    solver.highs_options["presolve"] = "off"
    try:
        again = _solve_level(m, solver, 2, "ces", opts.level_time_limit_s, opts.mip_gap)
    finally:
        solver.highs_options["presolve"] = "choose"  # HiGHS's default (APPSI never resets an option)
    if again.objective is not None and again.objective >= floor:
        return replace(again, status=f"{again.status} (HiGHS with presolve gave {record.objective:.6g} < exact "
                                     f"{exact:.6g}; solved again without presolve)")
    raise LevelFailed(replace(again, status=f"{again.status} but {again.objective} is below the exact CES optimum {exact:.6g}"))


def _fallback(snap, scenario, ces, priority, failed: LevelFailed, levels: list[LevelRecord], started) -> IntervalResult:
    greedy = assemble(snap, scenario, ces, priority, "greedy", match(snap, priority, scenario.willingness.min_trade_kwh),
                      started=started)
    return replace(
        greedy,
        levels=(*levels, failed.record, *greedy.levels),
        fallback=True,
        fallback_reason=f"HiGHS level {failed.record.level} ({failed.record.name}) ended {failed.record.status} "
        f"after {failed.record.seconds:.2f} s; greedy allocation used",
    )


def solve_milp(
    snap: IntervalSnapshot, scenario: Scenario, soc: float, priorities: tuple[str, ...] = PRIORITIES,
    ces_level: bool = True,
) -> dict[str, IntervalResult]:
    """Every requested priority of one interval, lexicographically, on one Pyomo model.

    ``ces_level=False`` skips level 2: the matching (levels 1, 3, 4) does not depend on the CES,
    whose dispatch depends on the matching only through the P2P volume (MODEL.md §3). The day
    runner uses this to solve matchings without the SoC and dispatch the CES exactly afterwards;
    the CES flows of such a result are not optimised and must be replaced.
    """
    ces = ces_params(scenario, snap, soc)
    opts = scenario.solver
    results: dict[str, IntervalResult] = {}
    started = time.perf_counter()
    m, pairs = build_interval_model(snap, scenario, ces)
    build_seconds = time.perf_counter() - started
    solver = _solver(scenario)
    shared: list[LevelRecord] = []  # levels 1-2 of the current pass (A and B share them)
    shared_fixes: list[str] = []
    for priority in priorities:
        t0 = time.perf_counter()
        price_pairs = priority == "C"
        if price_pairs != m.price_pairs_only.active or priority == "C":
            _release(m, shared_fixes)
            shared, shared_fixes = [], []
            m.price_pairs_only.activate() if price_pairs else m.price_pairs_only.deactivate()
        run = _Run([], [])
        try:
            if not shared:
                for level, name in ((1, "p2p"), (2, "ces")) if ces_level else ((1, "p2p"),):
                    record = _solve_with_min_trade(m, solver, scenario, level, name, opts.level_time_limit_s, opts.mip_gap)
                    if name == "ces":
                        record = _check_ces_level(m, solver, snap, ces, record, opts)
                    shared.append(record)
                    shared_fixes += _fix_level(m, name, record, opts.lexicographic_tolerance)
            run.levels = list(shared)
            _levels_3_4(m, solver, snap, scenario, priority, run)
            results[priority] = _read_result(
                m, snap, scenario, ces, priority, run.levels, sum(lv.seconds for lv in run.levels), build_seconds
            )
        except LevelFailed as failed:
            results[priority] = _fallback(snap, scenario, ces, priority, failed, run.levels or list(shared), t0)
            _release(m, shared_fixes)
            shared, shared_fixes = [], []
        _release(m, run.fixes)
    return results
