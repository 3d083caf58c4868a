"""The trade counts with a minimum trade (models/FORMULATION.md §4, "Levels with a minimum trade",
step 1): at most ⌊E / m⌋ trades per peer, as rows in the flows. They cut no point of the MILP, the
rows left out are implied, and they tighten the relaxation where peers hold a few m."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from lec_opt import build_day, load_scenario
from lec_opt.market.pairs import BELOW, allowed_pairs, candidate_pairs
from lec_opt.market.priorities import PRIORITIES
from lec_opt.model import build
from lec_opt.model.lexicographic import solve_matching
from tests.helpers import instances, with_options

EXAMPLES = settings(
    max_examples=30, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def test_trade_counts_by_hand():
    """m = 0.01. Seller 0 (0.025) with buyers of 0.012, 0.012, 0.03: two full small caps fit and
    0.001 of the third, 2.04 > ⌊2.5⌋ = 2, so its row is kept. Seller 1 (0.015) whose pairs all cap at
    0.015 can put at most 1 on the left, ⌊1.5⌋ = 1: left out. Seller 2 (0.03) with caps 0.012 ×2 and
    0.03: 2 + 0.006 / 0.03 = 2.2 ≤ 3: left out."""
    energy = np.array([0.025, 0.015, 0.03])
    owner = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    cap = np.array([0.012, 0.012, 0.025, 0.015, 0.015, 0.012, 0.012, 0.03])
    assert build.trade_counts(energy, owner, cap, 0.01) == {0: 2}
    assert build.trade_counts(np.array([0.025]), np.zeros(3, int), np.full(3, 0.01), 0.01) == {0: 2}
    # three trades of m within the tolerance fit in 0.03 - 1e-12: no row (⌊E / m⌋ = 2 would cut them)
    assert build.trade_counts(np.array([0.03 - 1e-12]), np.zeros(4, int), np.full(4, 0.01), 0.01) == {}


def _rows(snap, pairs, min_trade: float) -> tuple[list[np.ndarray], list[int]]:
    """The trade-count rows over the pairs that can trade, as the model builds them: (rows, right sides)."""
    ok = pairs.cap >= min_trade - BELOW
    rows, bounds = [], []
    for energy, owner in ((snap.surplus_kwh, pairs.seller), (snap.deficit_kwh, pairs.buyer)):
        for peer, k in build.trade_counts(energy, owner[ok], pairs.cap[ok], min_trade).items():
            rows.append(np.where(ok & (owner == peer), 1.0 / pairs.cap, 0.0))
            bounds.append(k)
    return rows, bounds


def _balances(snap, pairs) -> tuple[np.ndarray, np.ndarray]:
    """Σ_j x <= s_i and Σ_i x <= r_j over the pairs: (A, right sides)."""
    sellers = np.array([pairs.seller == i for i in range(len(snap.sellers))], dtype=float)
    buyers = np.array([pairs.buyer == j for j in range(len(snap.buyers))], dtype=float)
    return np.vstack([sellers, buyers]), np.concatenate([snap.surplus_kwh, snap.deficit_kwh])


@EXAMPLES
@given(instances(max_peers=9, need_pair=True), st.sampled_from([0.05, 0.1, 0.3]))
def test_the_rows_cut_no_optimum(case, min_trade):
    """Small models are searched to ``mip_gap``: levels 1 and 3 of every priority end at the same
    values with the trade-count rows as without them."""
    snap, scenario, _ = case
    scenario = with_options(scenario, willingness={"min_trade_kwh": min_trade})
    with_rows = solve_matching(snap, scenario)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(build, "add_trade_counts", lambda *args: None)
        without = solve_matching(snap, scenario)
    for priority in PRIORITIES:
        if with_rows[priority].method != "milp" or without[priority].method != "milp":
            continue
        for a, b in zip(with_rows[priority].levels, without[priority].levels, strict=True):
            if a.level in (1, 3):
                assert a.objective == pytest.approx(b.objective, rel=1e-5, abs=1e-8), (priority, a.level)


@EXAMPLES
@given(
    st.lists(st.floats(0.01, 0.5).map(lambda v: round(v, 4)), min_size=1, max_size=8),
    st.floats(0.005, 0.5).map(lambda v: round(v, 4)),
    st.sampled_from([0.01, 0.05, 0.1]),
)
def test_a_row_is_left_out_exactly_when_the_balance_implies_it(caps, energy, min_trade):
    """One peer of energy E with pairs of caps ≥ m: the LP max of Σ x / cap under Σ x <= E and
    x <= cap (its balance) is <= ⌊E / m⌋ exactly when ``trade_counts`` leaves its row out."""
    cap = np.array([c for c in caps if c >= min_trade] or [min_trade])
    cap = np.minimum(cap, max(energy, min_trade))  # min(s_i, r_j): never above the peer's own energy
    best = linprog(
        -1.0 / cap, A_ub=np.ones((1, cap.size)), b_ub=[energy], bounds=list(zip(np.zeros(cap.size), cap, strict=True))
    )
    assert best.status == 0
    allowed = int(np.floor(energy / (min_trade - BELOW)))
    counts = build.trade_counts(np.array([energy]), np.zeros(cap.size, int), cap, min_trade)
    assert (counts == {}) == (-best.fun <= allowed + 1e-9), (-best.fun, allowed, counts)
    assert counts in ({}, {0: allowed})


def test_the_rows_tighten_the_relaxation_at_dawn():
    """05:00 on the default day, m = 0.01, priority B's level 3 on the flows (Σ dist x at the
    maximum volume with trades of at least m): the rows close most of the gap between the LP
    relaxation and the MILP optimum, and the optimum meets them."""
    m = 0.01
    day = build_day(load_scenario())
    snap = day.snapshot(day.interval_at(5 * 60))
    pairs = candidate_pairs(snap)
    ok = allowed_pairs(snap, pairs, False) & (pairs.cap >= m - BELOW)
    n = pairs.cap.size
    cap = np.where(ok, pairs.cap, 0.0)
    base, ub = _balances(snap, pairs)
    rows, bounds = _rows(snap, pairs, m)
    assert rows, "no trade-count row at 05:00"
    # the MILP on (x, y): m y <= x <= cap y, the balances, and level 1's volume
    eye = np.eye(n)
    rows_xy = [
        LinearConstraint(np.hstack([base, np.zeros((base.shape[0], n))]), -np.inf, ub),
        LinearConstraint(np.hstack([eye, -np.diag(cap)]), -np.inf, 0.0),
        LinearConstraint(np.hstack([eye, -m * eye]), 0.0, np.inf),
    ]
    integrality = np.concatenate([np.zeros(n), np.ones(n)])
    box = Bounds(np.zeros(2 * n), np.concatenate([cap, ok.astype(float)]))
    volume = milp(np.concatenate([-np.ones(n), np.zeros(n)]), constraints=rows_xy, integrality=integrality, bounds=box)
    assert volume.status == 0
    keep = LinearConstraint(np.concatenate([np.ones(n), np.zeros(n)])[None, :], -volume.fun - 1e-9, np.inf)
    cost = np.concatenate([pairs.distance, np.zeros(n)])
    optimum = milp(cost, constraints=[*rows_xy, keep], integrality=integrality, bounds=box)
    assert optimum.status == 0
    relaxations = []
    for with_rows in (False, True):
        a = np.vstack([base, *rows]) if with_rows else base
        b = np.concatenate([ub, bounds]) if with_rows else ub
        res = linprog(
            pairs.distance,
            A_ub=np.vstack([a, -np.ones(n)]),
            b_ub=np.concatenate([b, [volume.fun + 1e-9]]),
            bounds=list(zip(np.zeros(n), cap, strict=True)),
            method="highs",
        )
        assert res.status == 0
        relaxations.append(res.fun)
    without, with_ = relaxations
    x = optimum.x[:n]
    for row, k in zip(rows, bounds, strict=True):
        assert row @ x <= k + 1e-6
    assert without < with_ <= optimum.fun + 1e-7
    assert with_ - without > 0.5 * (optimum.fun - without)
