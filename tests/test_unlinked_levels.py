"""Levels with a minimum trade on the model without linking rows first (models/FORMULATION.md §4,
"Levels with a minimum trade", step 0): the same optimum as the model with them, every answer a
point of the MILP, and a level no cheap point answers goes on with the linking rows."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lec_opt import build_day, load_scenario
from lec_opt.market.ces import ces_params
from lec_opt.market.pairs import allowed_pairs, candidate_pairs
from lec_opt.market.priorities import PRIORITIES
from lec_opt.model import lexicographic
from lec_opt.model.build import build_interval_model
from lec_opt.model.level4 import share_ces
from lec_opt.model.level_solver import LevelSolver
from lec_opt.model.lexicographic import add_level_constraints, solve_matching, solve_milp
from lec_opt.model.min_trade import window_sweep
from lec_opt.model.min_trade.carry_over import Started
from lec_opt.model.min_trade.levels import MinTradeLevels
from tests.helpers import instances, make_snapshot, with_options

EXAMPLES = settings(
    max_examples=30, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _models_used(monkeypatch) -> list[tuple[bool, tuple[str, ...]]]:
    """Record (with linking rows?, priorities) of every interval model the solve builds."""
    used: list[tuple[bool, tuple[str, ...]]] = []
    on_one_model = lexicographic._on_one_model

    def spy(*args, **kwargs):
        used.append((kwargs["links"], args[6]))
        return on_one_model(*args, **kwargs)

    monkeypatch.setattr(lexicographic, "_on_one_model", spy)
    return used


def _linked_only(monkeypatch) -> None:
    """Every level on the model with linking rows from the start (the path before step 0)."""
    on_one_model = lexicographic._on_one_model
    monkeypatch.setattr(
        lexicographic, "_on_one_model", lambda *args, **kwargs: on_one_model(*args, **(kwargs | {"links": True}))
    )


def _assert_points(snap, scenario, matchings) -> None:
    """Every flow of every matching is a trade of at least m on a pair that may trade, and no peer
    trades more than it has."""
    m = scenario.willingness.min_trade_kwh
    pairs = candidate_pairs(snap, None)
    for priority, matching in matchings.items():
        may = allowed_pairs(snap, pairs, priority == "C")
        allowed = {(int(i), int(j)) for i, j in zip(pairs.seller[may], pairs.buyer[may], strict=True)}
        sold, bought = np.zeros(len(snap.sellers)), np.zeros(len(snap.buyers))
        for i, j, x in matching.flows:
            assert (i, j) in allowed, (priority, i, j)
            assert x >= m - 1e-8, (priority, i, j, x)
            sold[i] += x
            bought[j] += x
        assert np.all(sold <= snap.surplus_kwh + 1e-8) and np.all(bought <= snap.deficit_kwh + 1e-8)


@EXAMPLES
@given(instances(max_peers=8, need_pair=True), st.sampled_from([0.05, 0.1, 0.3]))
def test_the_same_optimum_as_with_linking_rows_from_the_start(case, min_trade):
    """Small models are solved to ``mip_gap``: levels 1 and 3 of every priority end at the same values
    on both paths, and every answer is a point of the MILP."""
    snap, scenario, _ = case
    scenario = with_options(scenario, willingness={"min_trade_kwh": min_trade})
    fast = solve_matching(snap, scenario)
    with pytest.MonkeyPatch.context() as patch:
        _linked_only(patch)
        linked = solve_matching(snap, scenario)
    _assert_points(snap, scenario, fast)
    for priority in PRIORITIES:
        if fast[priority].method != "milp" or linked[priority].method != "milp":
            continue  # a fallback (e.g. an infeasible level) is tested elsewhere
        for ours, theirs in zip(fast[priority].levels[:2], linked[priority].levels[:2], strict=True):
            scale = max(1.0, abs(theirs.objective))
            assert ours.objective == pytest.approx(theirs.objective, abs=2e-6 * scale), (priority, ours, theirs)


def test_both_paths_are_taken(monkeypatch):
    """On the default day at 0.01 kWh: an interval whose every level a cheap point answers stays on the
    model without linking rows; one whose B level needs a search goes on with them for B, and C
    starts on a new model without them."""
    base = load_scenario()
    scenario = with_options(base, willingness={"min_trade_kwh": 0.01})
    day = build_day(base)
    used = _models_used(monkeypatch)
    easy = solve_matching(day.snapshot(day.interval_at(10 * 60)), scenario)
    assert used == [(False, PRIORITIES)]
    used.clear()
    hard_snap = day.snapshot(day.interval_at(12 * 60 + 20))
    hard = solve_matching(hard_snap, scenario)
    assert used == [(False, PRIORITIES), (True, ("B",)), (False, ("C",))]
    assert "search" in hard["B"].levels[1].status
    for matchings, snap in ((easy, day.snapshot(day.interval_at(10 * 60))), (hard, hard_snap)):
        _assert_points(snap, scenario, matchings)
        for matching in matchings.values():
            for record in matching.levels[:2]:
                assert record.gap is not None and record.gap <= 0.01 + 1e-9, record


def _unlinked(snap, scenario) -> tuple[LevelSolver, MinTradeLevels]:
    ces = ces_params(scenario, snap, 0.5)
    m, pairs = build_interval_model(snap, scenario, ces, links=False)
    add_level_constraints(m)
    solver = LevelSolver(m, scenario.seed, tight=True, linked=False)
    return solver, MinTradeLevels(solver, snap, pairs, scenario.willingness.min_trade_kwh)


def _two_by_two(opt_out=()):
    """Sellers 1 (0.5 kWh, ask 0.10) and 2 (0.5 kWh, ask 0.20), buyers 3 and 4 (0.5 kWh each, bid 0.15)."""
    snap = make_snapshot(4, {1: (0.5, 0.10), 2: (0.5, 0.20)}, {3: (0.5, 0.15), 4: (0.5, 0.15)}, opt_out=opt_out)
    return snap, with_options(load_scenario(), willingness={"min_trade_kwh": 0.1, "opt_out": list(opt_out)})


def test_a_flow_below_the_minimum_is_no_point_without_linking_rows():
    """Without the linking rows only ``is_point`` rules out a flow in (0, m): the rows and bounds
    HiGHS holds accept it."""
    snap, scenario = _two_by_two()
    solver, semi = _unlinked(snap, scenario)
    assert not semi.ctx.linked
    solver.solve(1, "p2p", 60.0, 0.0)  # a point of the model: its CES columns, shared below

    def point(flows):
        shared = share_ces(solver, snap, semi.ctx.pairs, flows, solver.x.copy())  # what each peer has left: CES or grid
        return semi.ctx.consistent(flows, shared)

    flows = np.zeros(len(semi.ctx.x))
    flows[0] = 0.05  # below m = 0.1
    small = point(flows)
    assert solver.is_feasible(small)
    assert not semi.ctx.is_point(small)
    flows[0] = 0.1
    assert semi.ctx.is_point(point(flows))


def test_unwilling_peers_and_the_price_rule_close_flows_without_linking_rows():
    """An opted-out peer's pairs stay closed; C's rule closes the pairs with bid < ask while it holds
    and frees them after, never the pairs closed for good."""
    snap, scenario = _two_by_two(opt_out=(4,))
    solver, semi = _unlinked(snap, scenario)
    lp = solver.problem.held_lp
    upper = lambda: np.asarray(lp().col_upper_)[semi.ctx.x]  # noqa: E731
    unwilling = ~snap.willing_buyer[semi.ctx.pairs.buyer]
    bad = ~semi.ctx.pairs.price_ok
    assert unwilling.any() and (bad & ~unwilling).any()
    assert np.all(upper()[unwilling] == 0.0) and np.all(upper()[~unwilling] > 0.0)
    semi.price_rule(True)
    assert np.all(upper()[bad | unwilling] == 0.0) and np.all(semi.ctx.never == (bad | unwilling))
    semi.price_rule(False)
    assert np.all(upper()[unwilling] == 0.0) and np.all(upper()[~unwilling] > 0.0)
    assert np.array_equal(semi.ctx.never, unwilling)


@pytest.mark.parametrize("stall", [False, True])
def test_a_second_window_sweep_only_when_the_first_improves_nothing(monkeypatch, stall):
    """12:00 on the default day at 0.01 kWh, all four levels, B's level 3, where no cheap candidate is
    within 1 % and the windows run: a sweep that improves its start is the last; one that improves
    nothing (``stall``: made so here, it hands its start back) is followed by a sweep from the next
    best candidate, a different point."""
    base = load_scenario()
    scenario = with_options(base, willingness={"min_trade_kwh": 0.01})
    day = build_day(base)
    starts, ends = [], []
    improve = window_sweep.improve_by_windows

    def spy(flows, *args, **kwargs):
        starts.append(flows.copy())
        if stall and len(starts) == 1:
            ends.append(flows.copy())
            return flows, 0.0
        better, seconds = improve(flows, *args, **kwargs)
        ends.append(better.copy())
        return better, seconds

    monkeypatch.setattr(window_sweep, "improve_by_windows", spy)
    noon = day.snapshot(day.interval_at(12 * 60))
    b = solve_milp(noon, scenario, base.ces.soc_initial, ("B",))["B"].levels[2]
    assert "improved window by window" in b.status
    assert not np.allclose(starts[0], ends[0]) or stall  # the first sweep improves its start by itself
    if stall:
        assert len(starts) == 2 and not np.array_equal(starts[0], starts[1])
    else:
        assert len(starts) == 1


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("p2p", [(False, ("A", "B", "C")), (True, ("A", "B")), (False, ("C",)), (True, ("C",))]),
        (
            "priority_a",
            [(False, ("A", "B", "C")), (True, ("A",)), (False, ("B", "C")), (True, ("B",)), (False, ("C",))],
        ),
    ],
)
def test_the_priorities_that_share_a_level_go_on_together(monkeypatch, level, expected):
    """A level of A's that needs the linking rows: level 1 (which A and B share) takes A and B to the
    model with them, so it is searched once; A's level 3 takes A alone, and B starts without them."""
    scenario = with_options(load_scenario(), willingness={"min_trade_kwh": 0.01})
    calls = []

    def model(*args, links, carried=None, spent=0.0):
        priorities = args[6]
        calls.append((links, priorities))
        first = priorities[0]
        needs = level if first == "A" else ("p2p" if first == "C" else f"priority_{first.lower()}")
        if not links and (first != "B" or level != "p2p"):  # the first priority needs the linking rows
            if first == "C" and level != "p2p":
                return {"C": first}, (), None, 0.0
            return {}, priorities, Started(needs, 0.0, np.zeros(0), np.zeros(0), [], False, 0.0, 0.0), 0.0
        return dict.fromkeys(priorities, "done"), (), None, 0.0

    monkeypatch.setattr(lexicographic, "_on_one_model", model)
    out = lexicographic._lexicographic(None, scenario, None, PRIORITIES, False, None, None)
    assert calls == expected
    assert set(out) == set(PRIORITIES)
