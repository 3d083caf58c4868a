"""The lexicographic solve of one interval: levels on one Pyomo model (models/FORMULATION.md §4).

Levels: 1 max P2P volume, 2 CES dispatch, 3 the priority's rule, 4 fewest transactions. After
each level the optimum is kept with a relative tolerance (a ``level_*`` constraint) and only the
objective changes; the model is never rebuilt. A and B share levels 1-2; C then releases them,
keeps only pairs with bid >= ask and solves its own.

``solve_matching`` solves levels 1, 3 and 4 (the matching does not depend on the CES) and
returns matchings; ``solve_milp`` solves all four levels and returns results. Failures are never
silent: a level that ends infeasible, in error, or at a time limit with no incumbent makes that
priority fall back to the greedy matching, and the result says so. Level 4 is warm-started from
the level-3 solution (a feasible incumbent), so its limit can only cost optimality, never the answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pyomo.environ as pyo

from lec_opt.market.ces import CesParams, ces_params, dispatch
from lec_opt.market.greedy import greedy_matching
from lec_opt.market.outcome import as_fallback, result_from_matching, trades_of
from lec_opt.market.pairs import allowed_pairs, max_volume_closed_form
from lec_opt.market.priorities import PRIORITIES
from lec_opt.market.result import IntervalResult, LevelRecord, Matching
from lec_opt.market.snapshot import IntervalSnapshot
from lec_opt.model.build import build_interval_model
from lec_opt.model.level4 import DUST_KWH, FLOW_EPS, level_4, solution_vars
from lec_opt.model.level_solver import LevelFailed, LevelSolver
from lec_opt.model.open_pairs import OpenPairs
from lec_opt.scenario.schema import Scenario

CLOSED_FORM = "optimal: closed form min(Σs, Σr) over the willing peers"


@dataclass
class _Run:
    """One priority's pass through the levels."""

    levels: list[LevelRecord]
    fixes: list[str]  # names of the level constraints this pass added


LOOSE = 1e20  # HiGHS's infinite bound: a released level constraint binds nothing
LEVELS = ("p2p", "ces", "priority_a", "priority_b", "priority_c")


def add_level_constraints(m) -> None:
    """``level_<name>``: objective >= ``level_<name>_bound`` (<= for a minimised one), released.

    Built once, before the first solve, with mutable bounds: keeping or releasing a level changes
    a bound, not the model's structure, so HiGHS is never handed a new row (models/FORMULATION.md §4).
    A constant objective (no candidate pair) gets none.
    """
    for name in LEVELS:
        obj = getattr(m, f"obj_{name}")
        if pyo.is_constant(obj.expr):
            continue
        maximise = obj.sense == pyo.maximize
        bound = pyo.Param(mutable=True, initialize=-LOOSE if maximise else LOOSE)
        m.add_component(f"level_{name}_bound", bound)
        m.add_component(f"level_{name}", pyo.Constraint(expr=obj.expr >= bound if maximise else obj.expr <= bound))


def _fix_level(m, name: str, record: LevelRecord, tolerance: float) -> list[str]:
    """Keep level ``name`` within ``tolerance`` (relative) of its optimum for the next levels."""
    bound = getattr(m, f"level_{name}_bound", None)
    if bound is None:  # a constant objective: nothing to keep
        return []
    slack = tolerance * max(1.0, abs(record.objective))
    maximise = getattr(m, f"obj_{name}").sense == pyo.maximize
    bound.set_value(record.objective - slack if maximise else record.objective + slack)
    return [name]


def _release(m, names: list[str]) -> None:
    for name in names:
        bound = getattr(m, f"level_{name}_bound")
        bound.set_value(-LOOSE if getattr(m, f"obj_{name}").sense == pyo.maximize else LOOSE)


def _check_min_trade(m, min_trade: float) -> bool:
    """True when some flow lies strictly between 0 and min_trade (the semi-continuous MILP is needed)."""
    if min_trade <= 0 or m.min_trade.active:
        return False
    return any(FLOW_EPS < (m.p2p[p].value or 0.0) < min_trade - 1e-9 for p in m.P)


def _solve_with_min_trade(m, solver: LevelSolver, scenario, level, name, limit, gap) -> LevelRecord:
    """Solve without x >= min_trade y first; only if a flow falls below it, solve the MILP with it."""
    record = solver.solve(m, level, name, limit, gap)
    if _check_min_trade(m, scenario.willingness.min_trade_kwh):
        m.min_trade.activate()
        solver.structure_changed()
        record = solver.solve(m, level, name, limit, gap)
    return record


def _solution_flows(m) -> tuple[list[tuple[int, int, float]], np.ndarray, np.ndarray]:
    """The trades of the loaded solution, cleaned of solver dust, and the dust per seller and buyer.

    HiGHS accepts rows off by 1e-6 and binaries within 1e-6 of 0 or 1, so a pair whose y is 0 can
    carry a flow of 1e-7 kWh. Flows below ``DUST_KWH`` (or on a pair with y = 0) are not trades;
    the caller moves them to the grid side of the same peer, which keeps every balance exact.
    """
    dust_s, dust_b = np.zeros(len(m.I)), np.zeros(len(m.J))
    flows = []
    for i, j in m.P:
        x = max(m.p2p[i, j].value or 0.0, 0.0)
        if x <= 0.0:
            continue
        if x < DUST_KWH or (m.transaction[i, j].value or 0.0) < 0.5:
            dust_s[i] += x
            dust_b[j] += x
        else:
            flows.append((i, j, x))
    return flows, dust_s, dust_b


def _read_result(
    m,
    snap: IntervalSnapshot,
    scenario: Scenario,
    ces: CesParams,
    priority: str,
    levels: list[LevelRecord],
    seconds: float,
    build_seconds: float,
) -> IntervalResult:
    """Plain data from the whole solution (levels 1-4), cleaned of solver dust.

    Dust flows go to the grid side of their peers (``_solution_flows``); so do CES flows below
    ``DUST_KWH`` and CES flows of the mode that is off (HiGHS may 'discharge' 1e-6 kWh while charging).
    """
    value = lambda v: max(v.value or 0.0, 0.0)  # noqa: E731
    flows, export, imported = _solution_flows(m)
    export += np.array([value(m.seller_export[i]) for i in m.I])
    imported += np.array([value(m.grid_to_buyer[j]) for j in m.J])
    c = np.array([value(m.seller_to_ces[i]) for i in m.I])
    d = np.array([value(m.ces_to_buyer[j]) for j in m.J])
    charging = c.sum() + value(m.grid_to_ces) >= d.sum()
    dust_c = (c < DUST_KWH) | (not charging)
    dust_d = (d < DUST_KWH) | charging
    export[dust_c] += c[dust_c]
    c[dust_c] = 0.0
    imported[dust_d] += d[dust_d]
    d[dust_d] = 0.0
    grid_to_ces = value(m.grid_to_ces) if charging and value(m.grid_to_ces) >= DUST_KWH else 0.0
    return IntervalResult(
        snapshot=snap,
        priority=priority,
        method="milp",
        trades=trades_of(snap, priority, flows, scenario.bids.mu, scenario.bids.price_margin),
        seller_to_ces_kwh=c,
        seller_export_kwh=export,
        ces_to_buyer_kwh=d,
        grid_to_buyer_kwh=imported,
        grid_to_ces_kwh=grid_to_ces,
        ces_to_ev_kwh=value(m.ces_to_ev),
        grid_to_ev_kwh=value(m.grid_to_ev),
        soc_start=ces.soc,
        soc_end=ces.soc_after(c.sum() + grid_to_ces, d.sum() + value(m.ces_to_ev)),
        levels=tuple(levels),
        solve_seconds=seconds,
        utility_error_bound=ces.pwl_error_bound(scenario.solver.utility_breakpoints),
        build_seconds=build_seconds,
    )


def _check_ces_level(
    m, solver: LevelSolver, snap: IntervalSnapshot, ces: CesParams, record: LevelRecord, opts
) -> LevelRecord:
    """Level 2 against the exact CES optimum for the same P2P volume (``market.ces.dispatch``).

    The piecewise-linear hypograph over-estimates each utility, so the MILP's level-2 value can
    never be below the exact optimum; HiGHS 1.16 has returned 'optimal' values that were. Then the
    level is solved again without presolve, and if still too low it fails (greedy fallback).
    """
    volume = sum(m.p2p[p].value or 0.0 for p in m.P)
    exact = dispatch(ces, snap.total_surplus_kwh - volume, snap.total_deficit_kwh - volume, snap.ev_kwh).objective
    floor = exact - 1e-6 * max(1.0, abs(exact))
    if record.objective is not None and record.objective >= floor:
        return record
    with solver.presolve_off():
        again = solver.solve(m, 2, "ces", opts.level_time_limit_s, opts.mip_gap)
    if again.objective is not None and again.objective >= floor:
        return replace(
            again,
            status=f"{again.status} (HiGHS with presolve gave {record.objective:.6g} < exact "
            f"{exact:.6g}; solved again without presolve)",
        )
    raise LevelFailed(
        replace(again, status=f"{again.status} but {again.objective} is below the exact CES optimum {exact:.6g}")
    )


def _lexicographic(
    snap: IntervalSnapshot,
    scenario: Scenario,
    ces: CesParams,
    priorities: tuple[str, ...],
    ces_level: bool,
    read: Callable[[object, str, list[LevelRecord], float, float], object],
    from_fallback: Callable[[Matching], object],
) -> dict[str, object]:
    """Every requested priority on one model: ``read`` the solution of each; a priority whose level
    fails takes the greedy matching instead, marked as a fallback, through ``from_fallback``."""
    opts = scenario.solver
    out: dict[str, object] = {}
    started = time.perf_counter()
    lp_levels = scenario.willingness.min_trade_kwh == 0
    m, pairs = build_interval_model(snap, scenario, ces, links=not lp_levels)
    add_level_constraints(m)
    build_seconds = time.perf_counter() - started
    solver = LevelSolver(scenario.seed, opts.threads, tight=not lp_levels)
    if lp_levels and not ces_level:
        for z in (m.charging, m.discharging):  # the CES is not decided here: its modes need no branching
            z.domain = pyo.UnitInterval
    if lp_levels:  # the matching binaries are fixed: load only what a result is read from
        solver.load = solution_vars(m)
    opened = OpenPairs(m, solver, pairs) if lp_levels else None
    pass_price_pairs = None  # the price rule of the current pass of levels 1-2
    shared: list[LevelRecord] = []  # the levels before level 3 in the current pass (A and B share them)
    shared_fixes: list[str] = []
    for priority in priorities:
        t0 = time.perf_counter()
        price_pairs = priority == "C"
        if price_pairs != pass_price_pairs or priority == "C":
            _release(m, shared_fixes)
            shared, shared_fixes, pass_price_pairs = [], [], price_pairs
            if opened is None:  # the MILP levels keep the price rule as a row
                m.price_pairs_only.activate() if price_pairs else m.price_pairs_only.deactivate()
                solver.structure_changed()
        if opened is not None:  # every priority: the previous one's level 4 left its incumbent in y
            allowed = allowed_pairs(snap, pairs, price_pairs).tolist()
            opened.open(dict(zip(m.P, allowed, strict=True)), price_pairs)
        run = _Run([], [])
        try:
            if not shared:
                for level, name in ((1, "p2p"), (2, "ces")) if ces_level else ((1, "p2p"),):
                    if name == "p2p" and lp_levels and not price_pairs and opts.candidate_pairs == "dense":
                        record = LevelRecord(1, "p2p", CLOSED_FORM, max_volume_closed_form(snap))
                    else:
                        record = _solve_with_min_trade(
                            m, solver, scenario, level, name, opts.level_time_limit_s, opts.mip_gap
                        )
                    if name == "ces":
                        record = _check_ces_level(m, solver, snap, ces, record, opts)
                    shared.append(record)
                    shared_fixes += _fix_level(m, name, record, opts.lexicographic_tolerance)
            run.levels = list(shared)
            name = f"priority_{priority.lower()}"
            record = _solve_with_min_trade(m, solver, scenario, 3, name, opts.level_time_limit_s, opts.mip_gap)
            run.levels.append(record)
            run.fixes += _fix_level(m, name, record, opts.lexicographic_tolerance)
            run.levels.append(level_4(m, solver, snap, scenario, pairs, priority, run.levels, opened))
            out[priority] = read(m, priority, run.levels, sum(lv.seconds for lv in run.levels), build_seconds)
        except LevelFailed as failed:
            greedy = greedy_matching(snap, priority, scenario.willingness.min_trade_kwh)
            matching = as_fallback(greedy, failed.record, run.levels or list(shared))
            out[priority] = from_fallback(replace(matching, seconds=time.perf_counter() - t0))
            _release(m, shared_fixes)
            shared, shared_fixes = [], []
        _release(m, run.fixes)
    return out


def solve_matching(
    snap: IntervalSnapshot, scenario: Scenario, priorities: tuple[str, ...] = PRIORITIES
) -> dict[str, Matching]:
    """Every requested priority's matching (levels 1, 3, 4), lexicographically, on one Pyomo model.

    The matching does not depend on the CES, whose dispatch depends on the matching only through
    the P2P volume (models/FORMULATION.md §4): the day runner dispatches the CES exactly afterwards.
    """
    ces = ces_params(scenario, snap, scenario.ces.soc_initial)  # the model needs one; levels 1, 3, 4 ignore it

    def read(m, priority, levels, seconds, build_seconds):
        flows, _, _ = _solution_flows(m)
        return Matching(
            priority, tuple(flows), tuple(levels), "milp", seconds=seconds + build_seconds / len(priorities)
        )

    return _lexicographic(snap, scenario, ces, priorities, False, read, lambda matching: matching)  # type: ignore[return-value]


def solve_milp(
    snap: IntervalSnapshot, scenario: Scenario, soc: float, priorities: tuple[str, ...] = PRIORITIES
) -> dict[str, IntervalResult]:
    """Every requested priority of one interval through all four levels, on one Pyomo model."""
    ces = ces_params(scenario, snap, soc)
    bids = scenario.bids

    def read(m, priority, levels, seconds, build_seconds):
        return _read_result(m, snap, scenario, ces, priority, levels, seconds, build_seconds)

    def from_fallback(matching: Matching) -> IntervalResult:
        return result_from_matching(snap, ces, matching, bids.mu, bids.price_margin)

    return _lexicographic(snap, scenario, ces, priorities, True, read, from_fallback)  # type: ignore[return-value]
