"""Case ``pyomo-overhead``: what Pyomo costs on the day's path (``solve_matching``), busy intervals of the default day.

``lec_opt.model.lexicographic.solve_matching`` (levels 1, 3 and 4 of A, B and C on one Pyomo model,
compiled once and handed to HiGHS by ``LevelSolver``) is written out again here straight against highspy, without Pyomo, solving the
same levels the same way:

- the same LP handed to HiGHS (no minimum trade: lec_opt's LP levels): the balances, CES rows and
  ``level_*`` rows (built once, loose until kept) of ``build_interval_model`` without the rows
  linking x to y and W, x fixed to 0 on the pairs that may not trade, the CES modes relaxed;
  bound changes sent at the next solve. The benchmark asserts that both HiGHS objects hold the same
  LP after the last solve (columns matched by variable name, rows compared as a set);
- the same options (simplex, seed, threads, time limit, gap, node limit) and the same sequence of
  solves: level 1 in closed form for A and B (``max_volume_closed_form``), an LP for C; level 3 an
  LP; level 4 without a tree search (``level4_node_limit = 0``): the level-3 vertex or the greedy
  (when it keeps levels 1 and 3 with fewer trades) against ``transactions_lower_bound``; while
  above it, the LP relaxation min Σ x / cap (a bound and a candidate) and up to
  ``THINNING_ROUNDS`` LPs restricted to the best candidate's trades; A's unique optimum is the greedy A.

The numpy helpers of lec_opt (candidate pairs, greedy, priority coefficients, bounds) are reused.
Both sides run alternately ``repeat`` times per interval of ``TIMES``, then once over every busy
interval of the day; the flows, the level objectives and the level-4 bounds are asserted equal. ``ratio`` = Pyomo wall / direct wall; the Pyomo side is split
by timing lec_opt's model build, its ``LevelSolver`` (compile and hand-over, the changes between
levels, HiGHS's runs; ``instrumented`` wraps the methods with ``perf_counter`` calls only).
"""

from __future__ import annotations

import math
import statistics
import time
from contextlib import contextmanager

import highspy
import numpy as np
import pyomo.environ as pyo
import scipy.sparse

import lec_opt.model.level_solver as level_solver
import lec_opt.model.lexicographic as lex
import lec_opt.solver.problem as highs_problem
from benchmarks.common import save, source, stats
from lec_opt import build_day, load_scenario
from lec_opt.market.ces import ces_params
from lec_opt.market.greedy import match
from lec_opt.market.outcome import has_willing_pair
from lec_opt.market.pairs import allowed_pairs, candidate_pairs, max_volume_closed_form, transactions_lower_bound
from lec_opt.market.priorities import PRIORITIES, unique_priority_a_optimum
from lec_opt.market.result import LevelRecord, LevelStatus, Matching, Status
from lec_opt.market.snapshot import IntervalSnapshot
from lec_opt.model.level4 import DUST_KWH, FLOW_EPS, THINNING_ROUNDS
from lec_opt.scenario.schema import Scenario

TIMES = ("07:00", "09:00", "10:00", "12:00", "13:00", "15:00", "16:00", "18:00")
LEVEL3 = {"A": "priority_a", "B": "priority_b", "C": "priority_c"}
MAXIMISE = {"p2p": True, "ces": True, "priority_a": True, "priority_b": False, "priority_c": True}
RELAXED = "transactions_relaxed"  # level 4's LP relaxation: min Σ x / min(s_i, r_j), no level row


# ---------------------------------------------------------------------------------------------
# Pyomo side: lec_opt unchanged, its model build and LevelSolver timed
# ---------------------------------------------------------------------------------------------


@contextmanager
def instrumented():
    """Time lec_opt's model build, its hand-over (compile + passModel in ``LevelSolver.__init__``, the
    changes between levels in ``LevelSolver.solve``) and HiGHS's runs; yields the clock, whose
    ``solvers`` are the LevelSolver objects made meanwhile. Only ``perf_counter`` calls are added."""
    clock = {"build": 0.0, "compile": 0.0, "solve_calls": 0.0, "highs": 0.0, "solvers": []}
    cls = level_solver.LevelSolver
    problem = highs_problem.Problem
    saved = (lex.build_interval_model, lex.add_level_constraints, cls.__init__, cls.solve, problem.run)
    depth = {"solve": 0}

    def timed(fn, key):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                clock[key] += time.perf_counter() - t

        return wrapper

    def init(self, *args, **kwargs):
        t = time.perf_counter()
        saved[2](self, *args, **kwargs)
        clock["compile"] += time.perf_counter() - t
        clock["solvers"].append(self)

    def solve(self, *args, **kwargs):  # outermost calls only (a retry without presolve calls solve again)
        depth["solve"] += 1
        t = time.perf_counter()
        try:
            return saved[3](self, *args, **kwargs)
        finally:
            depth["solve"] -= 1
            if depth["solve"] == 0:
                clock["solve_calls"] += time.perf_counter() - t

    def run(self, *args, **kwargs):
        before = self.run_time()
        try:
            return saved[4](self, *args, **kwargs)
        finally:
            clock["highs"] += self.run_time() - before  # HiGHS's own clock, as the direct side's

    lex.build_interval_model, lex.add_level_constraints = timed(saved[0], "build"), timed(saved[1], "build")
    cls.__init__, cls.solve, problem.run = init, solve, run
    try:
        yield clock
    finally:
        lex.build_interval_model, lex.add_level_constraints = saved[0], saved[1]
        cls.__init__, cls.solve, problem.run = saved[2], saved[3], saved[4]


def timed_pyomo(fn) -> tuple[object, dict]:
    """Run ``fn`` (a lec_opt solve) instrumented: (its result, wall split into build, hand-over, HiGHS, rest)."""
    with instrumented() as clock:
        start = time.perf_counter()
        out = fn()
        wall = time.perf_counter() - start
    detail = {"compile": clock["compile"], "changes_between_levels": clock["solve_calls"] - clock["highs"]}
    split = {"wall": wall, "build": clock["build"], "handover": sum(detail.values()), "highs": clock["highs"]}
    split["other"] = wall - split["build"] - split["handover"] - split["highs"]
    return out, {**split, "handover_detail": detail, "solver": clock["solvers"][-1]}


# ---------------------------------------------------------------------------------------------
# Direct side: the same LP and the same loop on highspy
# ---------------------------------------------------------------------------------------------


class DirectMatching:
    """``solve_matching``'s interval LP built with numpy and handed to one highspy object.

    With no minimum trade lec_opt builds no row linking x to y and W, so y and W are no columns:
    HiGHS gets the balances, the CES rows, the level rows and the bounds, x fixed to 0 on the
    pairs that may not trade. Columns: each seller's x in pair order followed by its c and e; each
    buyer's d and g; Ev, Evg, zc, zd (relaxed to [0, 1]), Eg, u01, u02 (``names`` says which Pyomo
    variable each is). Bound changes reach HiGHS at the next solve.
    """

    def __init__(self, snap: IntervalSnapshot, scenario: Scenario):
        t0 = time.perf_counter()
        self.snap, self.scenario, opts = snap, scenario, scenario.solver
        self.pairs = p = candidate_pairs(snap, opts.nearest_k if opts.candidate_pairs == "nearest" else None)
        ces = ces_params(scenario, snap, scenario.ces.soc_initial)
        n_p, n_s, n_b = len(p.seller), len(snap.sellers), len(snap.buyers)
        assert n_p, "an interval without candidate pairs has no level rows"
        s, r = snap.surplus_kwh, snap.deficit_kwh
        # columns in the order Pyomo's standard-form compiler gives them (first appearance in the
        # objectives, then the rows): x in pair order, u01, c, Eg, u02, d, Ev, e, g, Evg, zc, zd
        x = np.arange(n_p)
        U1 = n_p
        c = U1 + 1 + np.arange(n_s)
        EG = U1 + 1 + n_s
        U2 = EG + 1
        d = U2 + 1 + np.arange(n_b)
        EV = U2 + 1 + n_b
        e = EV + 1 + np.arange(n_s)
        g = EV + 1 + n_s + np.arange(n_b)
        EVG = EV + 1 + n_s + n_b
        ZC, ZD = EVG + 1, EVG + 2
        n = ZD + 1
        self.n, self.x, self.cap = n, x, p.cap
        names = [""] * n  # the Pyomo variable of each column (``same_lp`` matches columns by it)
        for k, (i, j) in enumerate(zip(p.seller.tolist(), p.buyer.tolist(), strict=True)):
            names[x[k]] = f"p2p[{i},{j}]"
        for cols, var in ((c, "seller_to_ces"), (e, "seller_export"), (d, "ces_to_buyer"), (g, "grid_to_buyer")):
            for k, col in enumerate(cols.tolist()):
                names[col] = f"{var}[{k}]"
        scalars = ("ces_to_ev", "grid_to_ev", "charging", "discharging", "grid_to_ces", "u01_quad", "u02_quad")
        for col, var in zip((EV, EVG, ZC, ZD, EG, U1, U2), scalars, strict=True):
            names[col] = var
        self.names = names
        lo, up = np.zeros(n), np.zeros(n)
        up[x], up[c], up[e], up[d], up[g] = p.cap, s, s, r, r
        up[EG], up[EV], up[EVG], up[ZC], up[ZD] = ces.charge_max_kwh, snap.ev_kwh, snap.ev_kwh, 1.0, 1.0
        lo[[U1, U2]], up[[U1, U2]] = -highspy.kHighsInf, highspy.kHighsInf

        blocks: list[tuple] = []  # rows: (entries per row, columns, values, lower, upper)

        def rows(lengths, cols, vals, lower=-highspy.kHighsInf, upper=highspy.kHighsInf):
            lengths = np.atleast_1d(lengths)
            lower, upper = (np.broadcast_to(np.asarray(b, dtype=float), lengths.shape) for b in (lower, upper))
            blocks.append((lengths, np.asarray(cols).ravel(), np.asarray(vals, dtype=float).ravel(), lower, upper))

        def balance(owner, count, own, extra, rhs):  # each owner's x in pair order, then its own two columns
            sizes = np.bincount(owner, minlength=count)
            start = np.concatenate([[0], np.cumsum(sizes + 2)[:-1]])
            order = np.argsort(owner, kind="stable")
            rank = np.arange(n_p) - np.repeat(np.cumsum(sizes) - sizes, sizes)
            cols = np.empty(n_p + 2 * count, dtype=np.int64)
            cols[start[owner[order]] + rank] = x[order]
            cols[start + sizes], cols[start + sizes + 1] = own, extra
            rows(sizes + 2, cols, np.ones(cols.size), rhs, rhs)

        balance(p.seller, n_s, c, e, s)
        balance(p.buyer, n_b, d, g, r)
        rows(2, [EV, EVG], [1.0, 1.0], snap.ev_kwh, snap.ev_kwh)
        rows(2, [ZC, ZD], [1.0, 1.0], upper=1.0)
        charge, discharge = np.append(c, EG), np.append(d, EV)
        rows(n_s + 2, np.append(charge, ZC), np.append(np.ones(n_s + 1), -ces.charge_max_kwh), upper=0.0)
        rows(n_b + 1, np.append(d, ZD), np.append(np.ones(n_b), -ces.discharge_max_kwh), upper=0.0)
        rows(n_b + 1, discharge, np.ones(n_b + 1), upper=ces.discharge_max_kwh)
        rows(1, [EG], [1.0], upper=ces.charge_max_kwh if ces.grid_recharge else 0.0)
        soc_cols = np.concatenate([charge, discharge])
        soc_vals = np.concatenate([np.full(n_s + 1, ces.eta_c), np.full(n_b + 1, -(1 / ces.eta_d))])
        stored = ces.soc * ces.capacity_kwh
        rows(soc_cols.size, soc_cols, soc_vals, lower=ces.soc_min * ces.capacity_kwh - stored)
        rows(soc_cols.size, soc_cols, soc_vals, upper=ces.soc_max * ces.capacity_kwh - stored)
        a_ch, a_dis = ces.tangent_points(scenario.solver.utility_breakpoints)
        for u, points, base, quad, energy in (
            (U1, a_ch, ces.accessible, ces.quad_charge, charge),
            (U2, a_dis, ces.soc, ces.quad_discharge, discharge),
        ):
            for a in points:  # u <= q(a) + q'(a)(E - a), as Pyomo's standard form: u - q'(a) E <= q(a) - q'(a) a
                slope = ces.k * (base - ces.S * a)
                energy_vals = np.append(1.0, np.full(energy.size, -slope))
                rows(energy.size + 1, np.append(u, energy), energy_vals, upper=float(quad(a)) - slope * a)
        # objectives as cost vectors, then one level row each (loose bounds until the level is kept)
        cost = {name: np.zeros(n) for name in MAXIMISE}
        cost["p2p"][x] = 1.0
        pc, pd = (0.0, 0.0) if ces.welfare else (ces.pc, ces.pd)
        ces_cost = cost["ces"]
        ces_cost[[U1, U2]] = 1.0
        ces_cost[c], ces_cost[e], ces_cost[d], ces_cost[g] = (
            -ces.degradation - pc,
            ces.sell,
            -ces.degradation + pd,
            -ces.buy,
        )
        ces_cost[EG], ces_cost[EV], ces_cost[EVG] = -ces.degradation - ces.buy, -ces.degradation + ces.p_ev, -ces.buy
        cost["priority_a"][x], cost["priority_b"][x], cost["priority_c"][x] = p.weight_a, p.distance, p.margin_c
        self.level_row = {}
        n_rows = sum(b[0].size for b in blocks)
        for name, vec in cost.items():
            nz = np.flatnonzero(vec)
            self.level_row[name] = n_rows
            n_rows += 1
            loose = (-lex.LOOSE, highspy.kHighsInf) if MAXIMISE[name] else (-highspy.kHighsInf, lex.LOOSE)
            rows(nz.size, nz, vec[nz], *loose)
        cost[RELAXED] = np.zeros(n)
        cost[RELAXED][x] = 1.0 / p.cap
        self.cost, self.n_rows = cost, n_rows
        lengths = np.concatenate([b[0] for b in blocks])
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int32)
        index = np.concatenate([b[1] for b in blocks]).astype(np.int32)
        values = np.concatenate([b[2] for b in blocks])
        lower = np.concatenate([b[3] for b in blocks])
        upper = np.concatenate([b[4] for b in blocks])
        self.build_seconds = time.perf_counter() - t0

        t1 = time.perf_counter()
        self.h = h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.addVars(n, lo, up)
        h.addRows(self.n_rows, lower, upper, len(index), starts, index, values)
        self.options = {
            "log_to_console": True,
            "random_seed": scenario.seed,
            "output_flag": False,
            "solver": "simplex",
            **({"threads": opts.threads} if opts.threads is not None else {}),
            "mip_max_nodes": level_solver._NO_NODE_LIMIT,
        }
        self.closed = np.zeros(n_p, dtype=bool)  # x fixed to 0 (OpenPairs)
        self.run_total, self.pending_rows, self.pending_x = 0.0, {}, None
        self.handover_seconds, self.highs_seconds = time.perf_counter() - t1, 0.0

    def fix_x(self, zero: np.ndarray) -> None:
        """x fixed to 0 where ``zero``, free in [0, cap] elsewhere; HiGHS sees it at the next solve."""
        self.pending_x = zero.copy()

    def keep(self, name: str, objective: float | None) -> None:
        """``_fix_level`` (objective given) or ``_release`` (None) of level ``name``; sent at the next solve."""
        tol = self.scenario.solver.lexicographic_tolerance
        if objective is None:
            bound = -lex.LOOSE if MAXIMISE[name] else lex.LOOSE
        else:
            slack = tol * max(1.0, abs(objective))
            bound = objective - slack if MAXIMISE[name] else objective + slack
        row = self.level_row[name]
        self.pending_rows[row] = (bound, highspy.kHighsInf) if MAXIMISE[name] else (-highspy.kHighsInf, bound)

    def flush(self) -> None:
        """Send HiGHS the bound changes made since the last solve."""
        h = self.h
        for row, (lower, upper) in self.pending_rows.items():
            h.changeRowBounds(row, lower, upper)
        self.pending_rows.clear()
        if self.pending_x is not None:
            changed = np.flatnonzero(self.pending_x != self.closed)
            if changed.size:
                up = np.where(self.pending_x[changed], 0.0, self.cap[changed])
                h.changeColsBounds(changed.size, self.x[changed].astype(np.int32), np.zeros(changed.size), up)
            self.closed, self.pending_x = self.pending_x, None

    def solve(self, level: int, name: str, time_limit: float, gap: float) -> tuple[LevelRecord, np.ndarray]:
        """One LP level, as ``LevelSolver.solve``: the record and the flows x."""
        h = self.h
        t = time.perf_counter()
        self.flush()
        maximise = MAXIMISE.get(name, False)
        h.changeObjectiveSense(highspy.ObjSense.kMaximize if maximise else highspy.ObjSense.kMinimize)
        h.changeObjectiveOffset(0.0)
        h.changeColsCost(self.n, np.arange(self.n, dtype=np.int32), self.cost[name])
        h.setOptionValue("time_limit", float(time_limit))
        h.setOptionValue("mip_rel_gap", float(gap))
        for key, value in self.options.items():
            h.setOptionValue(key, value)
        t_run = time.perf_counter()
        h.run()
        t_done = time.perf_counter()
        status, info = h.getModelStatus(), h.getInfo()
        assert status == highspy.HighsModelStatus.kOptimal, (
            f"direct level {level} ({name}): {h.modelStatusToString(status)}"
        )
        flows = np.array(h.getSolution().col_value)[self.x]
        run, self.run_total = h.getRunTime() - self.run_total, h.getRunTime()
        best = info.objective_function_value
        bound = best if info.mip_node_count == -1 else info.mip_dual_bound
        gap = abs(best - bound) / max(1.0, abs(best))
        self.highs_seconds += run
        self.handover_seconds += (t_run - t) + (time.perf_counter() - t_done)
        record = LevelRecord(level, name, Status(LevelStatus.OPTIMAL), best, bound, gap, time.perf_counter() - t, run)
        return record, flows


def _level4(
    dm: DirectMatching, priority: str, levels: list[LevelRecord], x: np.ndarray
) -> tuple[LevelRecord, np.ndarray]:
    """``lec_opt.model.level4.level_4`` without a tree search: (the record, the flows per pair).

    The incumbent is the level-3 vertex or the greedy; while it is above its structural bound,
    the LP relaxation (min Σ x / cap) gives a bound and a candidate, and up to ``THINNING_ROUNDS``
    LPs restricted to the best candidate's trades thin it.
    """
    snap, p = dm.snap, dm.pairs
    opts, min_trade = dm.scenario.solver, dm.scenario.willingness.min_trade_kwh
    at = np.full((len(snap.sellers), len(snap.buyers)), -1)
    at[p.seller, p.buyer] = np.arange(len(p.seller))

    def vector(flows) -> np.ndarray:
        out = np.zeros(len(p.seller))
        out[at[[f[0] for f in flows], [f[1] for f in flows]]] = [f[2] for f in flows]
        return out

    if priority == "A" and unique_priority_a_optimum(snap, opts.candidate_pairs == "dense", min_trade):
        greedy = match(snap, "A", 0.0)
        return LevelRecord(
            4, "transactions", Status(LevelStatus.OPTIMAL, ": unique"), len(greedy), len(greedy), 0.0
        ), vector(greedy)
    best = np.where(x > FLOW_EPS, x, 0.0)
    count, origin = int(np.sum(x >= DUST_KWH)), "the level-3 vertex"  # trades as the result counts them
    greedy = match(snap, priority, min_trade)
    if len(greedy) < count and all(at[i, j] >= 0 for i, j, _ in greedy):
        g = vector(greedy)
        keeps = True  # _keeps_levels: levels 1 and 3 within the lexicographic slack
        for record in levels:
            full = np.zeros(dm.n)
            full[dm.x] = g
            value = math.fsum(dm.cost[record.name] * full)  # as lec_opt evaluates it: over every column
            slack = opts.lexicographic_tolerance * max(1.0, abs(record.objective))
            keeps &= value >= record.objective - slack if MAXIMISE[record.name] else value <= record.objective + slack
        if keeps:
            best, count, origin = g, len(greedy), "the greedy matching"
    volume = levels[0].objective or 0.0
    slack = opts.lexicographic_tolerance * max(1.0, volume)
    bound = float(transactions_lower_bound(snap, p, allowed_pairs(snap, p, priority == "C"), volume, slack))
    seconds = highs_seconds = 0.0
    if count > bound:  # _relaxations
        relaxed, x_lp = dm.solve(4, RELAXED, opts.level4_time_limit_s, 0.0)
        seconds, highs_seconds = relaxed.seconds, relaxed.highs_seconds
        bound = max(bound, float(np.ceil(relaxed.objective - 1e-6)))
        if np.sum(x_lp >= DUST_KWH) < count:
            best, count, origin = (
                np.where(x_lp > FLOW_EPS, x_lp, 0.0),
                int(np.sum(x_lp >= DUST_KWH)),
                "its LP relaxation",
            )
        closed = dm.closed.copy()
        for _ in range(THINNING_ROUNDS):
            dm.fix_x(closed | (best <= 0))  # the LP on the trades of the best so far
            within, x_lp = dm.solve(4, RELAXED, opts.level4_time_limit_s, 0.0)
            dm.fix_x(closed)
            seconds, highs_seconds = seconds + within.seconds, highs_seconds + within.highs_seconds
            if np.sum(x_lp >= DUST_KWH) >= count:
                break
            best, count, origin = np.where(x_lp > FLOW_EPS, x_lp, 0.0), int(np.sum(x_lp >= DUST_KWH)), "thinned"
    status = Status(LevelStatus.INCUMBENT, f" {origin}")
    if count <= bound:
        status = Status(LevelStatus.OPTIMAL, f": {status}")
    gap = (count - bound) / max(1.0, count)
    return LevelRecord(4, "transactions", status, count, bound, gap, seconds, highs_seconds), best


def solve_direct(snap: IntervalSnapshot, scenario: Scenario, priorities=PRIORITIES) -> tuple[dict[str, Matching], dict]:
    """``solve_matching`` on the DirectMatching model: (matchings, wall split)."""
    assert scenario.willingness.min_trade_kwh == 0 and scenario.solver.level4_node_limit == 0, "the LP path only"
    started = time.perf_counter()
    dm = DirectMatching(snap, scenario)
    opts = scenario.solver
    dense = opts.candidate_pairs == "dense"
    out, shared, pass_price = {}, [], None
    for priority in priorities:
        price = priority == "C"
        if price != pass_price or price:  # a new pass of level 1 (C always solves its own)
            if shared:
                dm.keep("p2p", None)
            shared, pass_price = [], price
        dm.fix_x(~allowed_pairs(snap, dm.pairs, price))
        if not shared:
            if dense and not price:
                shared = [LevelRecord(1, "p2p", Status(LevelStatus.CLOSED_FORM), max_volume_closed_form(snap))]
            else:
                shared = [dm.solve(1, "p2p", opts.level_time_limit_s, opts.mip_gap)[0]]
            dm.keep("p2p", shared[0].objective)
        name = LEVEL3[priority]
        record, x = dm.solve(3, name, opts.level_time_limit_s, opts.mip_gap)
        dm.keep(name, record.objective)
        levels = [*shared, record]
        l4, flows = _level4(dm, priority, levels, x)
        dm.keep(name, None)
        keep = flows >= lex.DUST_KWH
        trades = zip(dm.pairs.seller[keep].tolist(), dm.pairs.buyer[keep].tolist(), flows[keep].tolist(), strict=True)
        out[priority] = Matching(priority, tuple(trades), (*levels, l4), "direct")
    wall = time.perf_counter() - started
    split = {"wall": wall, "build": dm.build_seconds, "handover": dm.handover_seconds, "highs": dm.highs_seconds}
    split["other"] = wall - split["build"] - split["handover"] - split["highs"]
    return out, {**split, "model": dm}


# ---------------------------------------------------------------------------------------------
# Agreement and the case
# ---------------------------------------------------------------------------------------------


def same_lp(solver: level_solver.LevelSolver, dm: DirectMatching) -> dict:
    """lec_opt's HiGHS object and the direct one hold the same LP: columns matched by variable name,
    then bounds, costs and integrality per column and the rows as a set (asserted)."""
    dm.flush()  # lec_opt sends a change at once, the direct side at its next solve
    a, b = solver.problem.held_lp(), dm.h.getLp()
    assert (a.num_col_, a.num_row_) == (b.num_col_, b.num_row_), ((a.num_col_, a.num_row_), (b.num_col_, b.num_row_))
    name_of = {solver.column[id(v)]: v.name for v in solver.m.component_data_objects(pyo.Var) if id(v) in solver.column}
    col = {name: k for k, name in name_of.items()}
    perm = np.array([col[name] for name in dm.names])  # direct column k is lec_opt's column perm[k]
    out = {"columns": a.num_col_, "rows": a.num_row_}
    for key in ("col_cost_", "col_lower_", "col_upper_"):
        u, v = np.asarray(getattr(a, key))[perm], np.asarray(getattr(b, key))
        finite = np.isfinite(u) | np.isfinite(v)
        assert np.array_equal(np.isinf(u), np.isinf(v)), key
        out[key.strip("_")] = float(np.max(np.abs(u[finite] - v[finite]), initial=0.0))
    continuous = highspy.HighsVarType.kContinuous  # an LP may list no integrality at all
    ia = np.array([t != continuous for t in a.integrality_ or [continuous] * a.num_col_])[perm]
    ib = np.array([t != continuous for t in b.integrality_ or [continuous] * b.num_col_])
    assert np.array_equal(ia, ib), "integrality"

    def rows(lp, names) -> list[tuple]:
        m = lp.a_matrix_
        csc = scipy.sparse.csc_array((m.value_, m.index_, m.start_), shape=(lp.num_row_, lp.num_col_)).tocsr()
        csc.eliminate_zeros()
        out = []
        for r in range(lp.num_row_):
            lo, hi = csc.indptr[r], csc.indptr[r + 1]
            entries = tuple(
                sorted((names[c], round(float(v), 12)) for c, v in zip(csc.indices[lo:hi], csc.data[lo:hi]))
            )
            out.append((entries, round(float(lp.row_lower_[r]), 9), round(float(lp.row_upper_[r]), 9)))
        return sorted(out, key=repr)

    ra, rb = rows(a, name_of), rows(b, dict(enumerate(dm.names)))
    differ = [(x, y) for x, y in zip(ra, rb, strict=True) if x != y]
    assert not differ, differ[:3]
    worst = max(v for k, v in out.items() if k not in ("columns", "rows"))
    assert worst <= 1e-12, out
    return out


def compare(pyomo: dict[str, Matching], direct: dict[str, Matching]) -> dict:
    """Assert the same flows, level objectives and level-4 bound; return the largest differences."""
    out = {}
    for pr, a in pyomo.items():
        b = direct[pr]
        assert a.method == "milp" and not a.fallback, f"{pr}: lec_opt fell back ({a.fallback_reason})"
        assert [(f[0], f[1]) for f in a.flows] == [(f[0], f[1]) for f in b.flows], f"{pr}: different trades"
        flow = max((abs(fa[2] - fb[2]) for fa, fb in zip(a.flows, b.flows, strict=True)), default=0.0)
        assert flow <= 1e-9, f"{pr}: flows differ by {flow}"
        levels = 0.0
        for la, lb in zip(a.levels, b.levels, strict=True):
            assert (la.level, la.name) == (lb.level, lb.name), (la, lb)
            levels = max(levels, abs(la.objective - lb.objective) / max(1.0, abs(la.objective)))
        assert levels <= 1e-9, f"{pr}: level objectives differ by {levels}"
        assert a.levels[-1].bound == b.levels[-1].bound, (pr, a.levels[-1], b.levels[-1])
        out[pr] = {"trades": len(a.flows), "max_flow_diff_kwh": flow, "max_level_rel_diff": levels}
    return out


def _level4_summary(matchings: dict[str, Matching]) -> dict:
    return {
        p: {"transactions": m.levels[-1].objective, "bound": m.levels[-1].bound, "status": m.levels[-1].status}
        for p, m in matchings.items()
    }


def whole_day(day, scenario) -> dict:
    """One pass over every interval with a willing pair: both sides, agreement asserted, walls summed."""
    walls = {"pyomo": 0.0, "direct": 0.0}
    busy = [t for t in range(day.n_intervals) if has_willing_pair(day.snapshot(t))]
    for t in busy:
        snap = day.snapshot(t)
        start = time.perf_counter()
        py = lex.solve_matching(snap, scenario)
        walls["pyomo"] += time.perf_counter() - start
        start = time.perf_counter()
        d, _ = solve_direct(snap, scenario)
        walls["direct"] += time.perf_counter() - start
        compare(py, d)
    return {"intervals": len(busy), "seconds": walls, "ratio": walls["pyomo"] / walls["direct"], "agree": len(busy)}


def run(times=TIMES, repeat: int = 5, check_whole_day: bool = True) -> dict:
    started_at = source()  # the lec_opt commit this run imports (compare machine.source at the end)
    scenario = load_scenario()
    day = build_day(scenario)
    snaps = {hhmm: day.snapshot(day.interval_at(int(hhmm[:2]) * 60 + int(hhmm[3:]))) for hhmm in times}
    first = next(iter(snaps.values()))
    lex.solve_matching(first, scenario)  # warm-up: imports, HiGHS's thread pool
    solve_direct(first, scenario)
    rows = {}
    totals = {"pyomo": [0.0] * repeat, "direct": [0.0] * repeat}
    for hhmm, snap in snaps.items():
        py_splits, d_splits = [], []
        for k in range(repeat):  # alternate, so that both see the same machine state
            py, py_split = timed_pyomo(lambda snap=snap: lex.solve_matching(snap, scenario))
            if k == 0:  # untimed: both HiGHS objects hold the same LP after the last solve
                lp = same_lp(py_split["solver"], solve_direct(snap, scenario)[1]["model"])
            d, d_split = solve_direct(snap, scenario)
            agreement = compare(py, d)
            py_splits.append(py_split)
            d_splits.append(d_split)
            totals["pyomo"][k] += py_split["wall"]
            totals["direct"][k] += d_split["wall"]
        ratios = [a["wall"] / b["wall"] for a, b in zip(py_splits, d_splits, strict=True)]
        keys = ("wall", "build", "handover", "highs", "other")
        rows[hhmm] = {
            "interval": snap.index,
            "sellers": len(snap.sellers),
            "buyers": len(snap.buyers),
            "lp": lp,
            "ratio": stats(ratios),
            "pyomo": {k: stats([s[k] for s in py_splits]) for k in keys},
            "pyomo_handover_detail": {
                k: stats([s["handover_detail"][k] for s in py_splits]) for k in py_splits[0]["handover_detail"]
            },
            "direct": {k: stats([s[k] for s in d_splits]) for k in keys},
            "agreement": agreement,
            "level4": _level4_summary(py),
        }
        print(f"  {hhmm}: ratio {rows[hhmm]['ratio']['median']:.2f}", flush=True)
    total_ratios = [a / b for a, b in zip(totals["pyomo"], totals["direct"], strict=True)]
    day_pass = whole_day(day, scenario) if check_whole_day else None
    return {
        "source_at_start": started_at,
        "times": list(times),
        "repeat": repeat,
        "path": "solve_matching (levels 1, 3, 4 of A, B, C; min_trade 0: LP levels, y and W fixed open; "
        "level 4: incumbent, structural bound, LP relaxation, no tree search)",
        "ratio": statistics.median(total_ratios),
        "ratio_per_repeat": stats(total_ratios),
        "ratio_median_of_intervals": statistics.median(r["ratio"]["median"] for r in rows.values()),
        "pyomo_seconds_per_repeat": stats(totals["pyomo"]),
        "direct_seconds_per_repeat": stats(totals["direct"]),
        "agreement": "identical LP handed to HiGHS (first repeat of each interval); same trades (flows within "
        "1e-9 kWh), level objectives within 1e-9 relative and level-4 bounds in every repeat",
        "whole_day_once": day_pass,
        "intervals": rows,
    }


def report(p: dict) -> str:
    r = p["ratio_per_repeat"]
    lines = [
        f"ratio Pyomo / direct wall over {len(p['times'])} busy intervals: {p['ratio']:.2f} "
        f"(min {r['min']:.2f}, max {r['max']:.2f} over {p['repeat']} repeats); median of the intervals' ratios "
        f"{p['ratio_median_of_intervals']:.2f}; totals Pyomo {p['pyomo_seconds_per_repeat']['median']:.2f} s, "
        f"direct {p['direct_seconds_per_repeat']['median']:.2f} s",
        f"{'time':5} {'SxB':>6} {'ratio':>5} {'(min-max)':>11} | {'Pyomo':>6} {'build':>6} {'hand':>6} {'HiGHS':>6} "
        f"{'other':>6} | {'direct':>6} {'build':>6} {'hand':>6} {'HiGHS':>6} {'other':>6} | trades A/B/C",
    ]
    for hhmm, row in p["intervals"].items():
        py, d, ra = row["pyomo"], row["direct"], row["ratio"]
        parts = " ".join(f"{py[k]['median']:6.3f}" for k in ("wall", "build", "handover", "highs", "other"))
        dparts = " ".join(f"{d[k]['median']:6.3f}" for k in ("wall", "build", "handover", "highs", "other"))
        trades = "/".join(str(a["trades"]) for a in row["agreement"].values())
        lines.append(
            f"{hhmm:5} {row['sellers']:>3}x{row['buyers']:<2} {ra['median']:5.2f} ({ra['min']:.2f}-{ra['max']:.2f}) | "
            f"{parts} | {dparts} | {trades}"
        )
    detail = {
        k: statistics.median(r["pyomo_handover_detail"][k]["median"] for r in p["intervals"].values())
        for k in next(iter(p["intervals"].values()))["pyomo_handover_detail"]
    }
    lines.append("hand-over per interval (median): " + ", ".join(f"{k} {v:.3f} s" for k, v in detail.items()))
    lines.append(p["agreement"])
    if p.get("whole_day_once"):
        w = p["whole_day_once"]
        lines.append(
            f"whole day once: {w['agree']} of {w['intervals']} busy intervals agree; ratio {w['ratio']:.2f} "
            f"(Pyomo {w['seconds']['pyomo']:.1f} s, direct {w['seconds']['direct']:.1f} s)"
        )
    for hhmm, row in p["intervals"].items():
        lines.append(
            f"  {hhmm} level 4 transactions/bound: "
            + ", ".join(f"{pr} {a['transactions']:.0f}/{a['bound']:.0f}" for pr, a in row["level4"].items())
        )
    return "\n".join(lines)


def main() -> dict:
    payload = run()
    save("pyomo-overhead", payload)
    print(report(payload))
    return payload
