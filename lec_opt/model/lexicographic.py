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
from pyomo.common.gc_manager import PauseGC

from lec_opt.market.ces import CesParams, ces_params, dispatch
from lec_opt.market.greedy import greedy_matching
from lec_opt.market.outcome import as_fallback, result_from_matching, trades_of
from lec_opt.market.pairs import PairData
from lec_opt.market.priorities import PRIORITIES
from lec_opt.market.result import IntervalResult, LevelRecord, Matching
from lec_opt.market.snapshot import IntervalSnapshot
from lec_opt.model.build import build_interval_model
from lec_opt.model.level4 import DUST_KWH, level_4
from lec_opt.model.level_solver import LOOSE, LevelFailed, LevelSolver
from lec_opt.model.level_strategies import LevelStrategy, ModelVariant, level_strategy
from lec_opt.model.min_trade.carry_over import NeedsLinks, Started
from lec_opt.model.shortcuts import MODES, release_modes
from lec_opt.scenario.schema import Scenario


@dataclass
class _Run:
    """One priority's pass through the levels."""

    levels: list[LevelRecord]
    fixes: list[str]  # names of the level constraints this pass added


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


def _set_level_bound(solver: LevelSolver, name: str, value: float) -> None:
    m = solver.m
    getattr(m, f"level_{name}_bound").set_value(value)  # the Pyomo model states what HiGHS solves
    solver.set_bound(getattr(m, f"level_{name}"), value)


def _fix_level(solver: LevelSolver, name: str, record: LevelRecord, tolerance: float) -> list[str]:
    """Keep level ``name`` within ``tolerance`` (relative) of its optimum for the next levels."""
    if not hasattr(solver.m, f"level_{name}"):  # a constant objective: nothing to keep
        return []
    slack = tolerance * max(1.0, abs(record.objective))
    maximise = solver.maximise[f"obj_{name}"]
    _set_level_bound(solver, name, record.objective - slack if maximise else record.objective + slack)
    return [name]


def _release(solver: LevelSolver, names: list[str]) -> None:
    for name in names:
        if name == MODES:
            release_modes(solver)
            continue
        _set_level_bound(solver, name, -LOOSE if solver.maximise[f"obj_{name}"] else LOOSE)


def _solution_flows(
    solver: LevelSolver, pairs: PairData
) -> tuple[list[tuple[int, int, float]], np.ndarray, np.ndarray]:
    """The trades of the loaded solution, cleaned of solver dust, and the dust per seller and buyer.

    HiGHS accepts rows off by 1e-6 and binaries within 1e-6 of 0 or 1, so a pair whose y is 0 can
    carry a flow of 1e-7 kWh. Flows below ``DUST_KWH`` (or on a pair with y = 0) are not trades;
    the caller moves them to the grid side of the same peer, which keeps every balance exact.
    """
    m = solver.m
    x = np.maximum(solver.values(m.p2p), 0.0)
    dust = (x > 0.0) & (x < DUST_KWH)
    if solver.linked:  # with the matching binaries: a flow on a pair with y = 0 is dust
        dust |= (x > 0.0) & (solver.values(m.transaction) < 0.5)
    dust_s = np.bincount(pairs.seller[dust], weights=x[dust], minlength=len(m.I)).astype(float)
    dust_b = np.bincount(pairs.buyer[dust], weights=x[dust], minlength=len(m.J)).astype(float)
    trade = (x > 0.0) & ~dust
    flows = [(int(i), int(j), float(v)) for i, j, v in zip(pairs.seller[trade], pairs.buyer[trade], x[trade])]
    return flows, dust_s, dust_b


def _read_result(
    solver: LevelSolver,
    pairs: PairData,
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
    m = solver.m
    values = lambda v: np.maximum(solver.values(v), 0.0)  # noqa: E731
    value = lambda v: max(solver.value(v), 0.0)  # noqa: E731
    flows, export, imported = _solution_flows(solver, pairs)
    export += values(m.seller_export)
    imported += values(m.grid_to_buyer)
    c = values(m.seller_to_ces)
    d = values(m.ces_to_buyer)
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
    solver: LevelSolver, snap: IntervalSnapshot, ces: CesParams, record: LevelRecord, opts
) -> LevelRecord:
    """Level 2 against the exact CES optimum for the same P2P volume (``market.ces.dispatch``).

    The piecewise-linear hypograph over-estimates each utility, so the MILP's level-2 value can
    never be below the exact optimum; HiGHS 1.16 has returned 'optimal' values that were. Then the
    level is solved again without presolve, and if still too low it fails (greedy fallback).
    """
    volume = float(solver.values(solver.m.p2p).sum())
    exact = dispatch(ces, snap.total_surplus_kwh - volume, snap.total_deficit_kwh - volume, snap.ev_kwh).objective
    floor = exact - 1e-6 * max(1.0, abs(exact))
    if record.objective is not None and record.objective >= floor:
        return record
    with solver.presolve_off():
        again = solver.solve(2, "ces", opts.level_time_limit_s, opts.mip_gap)
    if again.objective is not None and again.objective >= floor:
        return again.then(
            f" (HiGHS with presolve gave {record.objective:.6g} < exact {exact:.6g}; solved again without presolve)"
        )
    raise LevelFailed(again.then(f" but {again.objective} is below the exact CES optimum {exact:.6g}"))


def _lexicographic(
    snap: IntervalSnapshot,
    scenario: Scenario,
    ces: CesParams,
    priorities: tuple[str, ...],
    ces_level: bool,
    read: Callable[[LevelSolver, PairData, str, list[LevelRecord], float, float], object],
    from_fallback: Callable[[Matching], object],
) -> dict[str, object]:
    """Every requested priority on one model: ``read`` the solution of each; a priority whose level
    fails takes the greedy matching instead, marked as a fallback, through ``from_fallback``.

    With a minimum trade (and no level-4 search) the model is built first without its linking rows:
    a level that no cheap point answers there sends its priority to the model with them, which goes
    on from where that level got (with the priorities that share that level: A and B share levels
    1-2); the priorities after them start on a new model without them (models/FORMULATION.md §4,
    "Levels with a minimum trade", step 0).

    The callers run it with Python's cyclic garbage collector paused (Pyomo's ``PauseGC``, as
    Pyomo's own writers do): the model's many small objects would otherwise trigger collections
    that scan the whole heap; the model's garbage is collected once, after the interval.
    """
    args = (snap, scenario, ces, ces_level, read, from_fallback)
    if scenario.willingness.min_trade_kwh == 0 or scenario.solver.level4_node_limit > 0:
        return _on_one_model(*args, priorities, links=True)[0]
    out: dict[str, object] = {}
    rest = priorities
    while rest:
        done, rest, started, spent = _on_one_model(*args, rest, links=False)
        out |= done
        if rest:  # that priority with the linking rows (with those that share the level), the next without again
            n = 1
            if started.name in ("p2p", "ces") and rest[0] != "C":  # A and B share levels 1-2: solved once
                while n < len(rest) and rest[n] != "C":
                    n += 1
            out |= _on_one_model(*args, rest[:n], links=True, carried=started, spent=spent)[0]
            rest = rest[n:]
    return {p: out[p] for p in priorities}


def _model(
    snap: IntervalSnapshot, scenario: Scenario, ces: CesParams, ces_level: bool, links: bool
) -> tuple[LevelSolver, PairData, ModelVariant]:
    """The interval model, with its level constraints, handed to HiGHS; its variant (``links``: with
    its linking rows, which a minimum trade or a level-4 search needs)."""
    opts = scenario.solver
    lp_levels = scenario.willingness.min_trade_kwh == 0
    # the linking rows: the MILP levels need them; the LP levels only for a node-limited level-4 search
    variant = ModelVariant(lp_levels, links and (not lp_levels or opts.level4_node_limit > 0))
    m, pairs = build_interval_model(snap, scenario, ces, links=variant.links)
    add_level_constraints(m)
    if lp_levels and not ces_level:
        for z in (m.charging, m.discharging):  # the CES is not decided here: its modes need no branching
            z.domain = pyo.UnitInterval
    if lp_levels and variant.links:
        for row in (m.transaction_needs_seller, m.transaction_needs_buyer, m.trade_cap):
            row.deactivate()
    solver = LevelSolver(m, scenario.seed, opts.threads, tight=not lp_levels, linked=variant.links)
    if lp_levels and variant.links:  # no matching binary can bind at levels 1-3 (models/FORMULATION.md §4): LPs
        solver.set_integer((m.transaction, m.willing_seller, m.willing_buyer), False)
    return solver, pairs, variant


@dataclass
class _Pass:
    """The levels before level 3 in the current pass of levels 1-2 (A and B share them), the names
    of what they keep, and the price rule of the pass (None before the first)."""

    shared: list[LevelRecord]
    fixes: list[str]
    price_pairs: bool | None = None


def _levels_1_2(
    solver: LevelSolver,
    strategy: LevelStrategy,
    snap: IntervalSnapshot,
    ces: CesParams,
    opts,
    priority: str,
    ces_level: bool,
    now: _Pass,
) -> NeedsLinks | None:
    """Levels 1 (and 2, ``ces_level``) of the pass, each kept for the next (``now``)."""
    for level, name in ((1, "p2p"), (2, "ces")) if ces_level else ((1, "p2p"),):
        record = strategy.solve(priority, level, name, None)
        if isinstance(record, NeedsLinks):
            return record
        if name == "ces":
            record = _check_ces_level(solver, snap, ces, record, opts)
        now.shared.append(record)
        now.fixes += _fix_level(solver, name, record, opts.lexicographic_tolerance)
        now.fixes += strategy.after_level(name)
    return None


def _on_one_model(
    snap: IntervalSnapshot,
    scenario: Scenario,
    ces: CesParams,
    ces_level: bool,
    read: Callable[[LevelSolver, PairData, str, list[LevelRecord], float, float], object],
    from_fallback: Callable[[Matching], object],
    priorities: tuple[str, ...],
    links: bool,
    carried: Started | None = None,
    spent: float = 0.0,
) -> tuple[dict[str, object], tuple[str, ...], Started | None, float]:
    """The priorities in turn on one interval model (``links``: with its linking rows, which a minimum
    trade or a level-4 search needs); (the results, the priorities left when a level of the model
    without linking rows needs them, where that level got, the seconds spent on that priority).
    ``spent`` is counted with this model's build."""
    opts = scenario.solver
    out: dict[str, object] = {}
    started = time.perf_counter()
    solver, pairs, variant = _model(snap, scenario, ces, ces_level, links)
    build_seconds = time.perf_counter() - started + spent
    strategy = level_strategy(variant, solver, snap, pairs, scenario, carried)
    now = _Pass([], [])
    for k, priority in enumerate(priorities):
        t0 = time.perf_counter()
        price_pairs = priority == "C"
        if price_pairs != now.price_pairs or priority == "C":
            _release(solver, now.fixes)
            now = _Pass([], [], price_pairs)
            strategy.begin_pass(price_pairs)  # the MILP levels keep the price rule as a row, or fixed flows
        strategy.begin_priority(price_pairs)
        run = _Run([], [])
        try:
            needs = None if now.shared else _levels_1_2(solver, strategy, snap, ces, opts, priority, ces_level, now)
            if needs is None:
                run.levels = list(now.shared)
                name = f"priority_{priority.lower()}"
                record = strategy.solve(priority, 3, name, run.levels[0].objective)
                needs = record if isinstance(record, NeedsLinks) else None
            if needs is not None:  # the level's own seconds so far go on in its record; the levels before it again
                return out, priorities[k:], needs.started, time.perf_counter() - t0 - needs.started.seconds
            run.levels.append(record)
            run.fixes += _fix_level(solver, name, record, opts.lexicographic_tolerance)
            run.levels.append(level_4(solver, snap, scenario, pairs, priority, run.levels, strategy.opened))
            out[priority] = read(
                solver, pairs, priority, run.levels, sum(lv.seconds for lv in run.levels), build_seconds
            )
        except LevelFailed as failed:
            greedy = greedy_matching(snap, priority, scenario.willingness.min_trade_kwh)
            matching = as_fallback(greedy, failed.record, run.levels or list(now.shared))
            out[priority] = from_fallback(replace(matching, seconds=time.perf_counter() - t0))
            _release(solver, now.fixes)
            now.shared, now.fixes = [], []
        _release(solver, run.fixes)
    return out, (), None, 0.0


def solve_matching(
    snap: IntervalSnapshot, scenario: Scenario, priorities: tuple[str, ...] = PRIORITIES
) -> dict[str, Matching]:
    """Every requested priority's matching (levels 1, 3, 4), lexicographically, on one Pyomo model.

    The matching does not depend on the CES, whose dispatch depends on the matching only through
    the P2P volume (models/FORMULATION.md §4): the day runner dispatches the CES exactly afterwards.
    """
    ces = ces_params(scenario, snap, scenario.ces.soc_initial)  # the model needs one; levels 1, 3, 4 ignore it

    def read(solver, pairs, priority, levels, seconds, build_seconds):
        flows, _, _ = _solution_flows(solver, pairs)
        return Matching(
            priority, tuple(flows), tuple(levels), "milp", seconds=seconds + build_seconds / len(priorities)
        )

    with PauseGC():
        return _lexicographic(snap, scenario, ces, priorities, False, read, lambda matching: matching)  # type: ignore[return-value]


def solve_milp(
    snap: IntervalSnapshot, scenario: Scenario, soc: float, priorities: tuple[str, ...] = PRIORITIES
) -> dict[str, IntervalResult]:
    """Every requested priority of one interval through all four levels, on one Pyomo model."""
    ces = ces_params(scenario, snap, soc)
    bids = scenario.bids

    def read(solver, pairs, priority, levels, seconds, build_seconds):
        return _read_result(solver, pairs, snap, scenario, ces, priority, levels, seconds, build_seconds)

    def from_fallback(matching: Matching) -> IntervalResult:
        return result_from_matching(snap, ces, matching, bids.mu, bids.price_margin)

    with PauseGC():
        return _lexicographic(snap, scenario, ces, priorities, True, read, from_fallback)  # type: ignore[return-value]
