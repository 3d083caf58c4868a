"""Trades of at least m on given peer totals without a solver (models/FORMULATION.md §4, "Levels with a
minimum trade", step 3(f)): every answer meets the totals, the minimum and the allowed pairs; totals
built from trades of at least m are met; totals that cannot be met give None; on small instances the
search finds what the MILP finds."""

from __future__ import annotations

from types import SimpleNamespace

import highspy
import numpy as np
import pytest

from lec_opt.model.min_trade import totals_search
from lec_opt.model.min_trade.totals_search import flows_on_totals, local_flows_on_totals

M = 0.01


def _dense(n_s: int, n_b: int) -> SimpleNamespace:
    return SimpleNamespace(seller=np.repeat(np.arange(n_s), n_b), buyer=np.tile(np.arange(n_b), n_s))


def _check(flows: np.ndarray, sold, bought, pairs, allowed, m: float = M) -> None:
    np.testing.assert_allclose(np.bincount(pairs.seller, weights=flows, minlength=len(sold)), sold, atol=1e-9)
    np.testing.assert_allclose(np.bincount(pairs.buyer, weights=flows, minlength=len(bought)), bought, atol=1e-9)
    assert not ((flows > 0.0) & (flows < m - 1e-9)).any()
    assert not (flows[~allowed] > 0.0).any()


def _from_trades(seed: int, n_s: int, n_b: int, trades: int, nested: bool):
    """Totals of random trades of m to 3m: a price rule (nested allowed sets) or 40 % random pairs."""
    rng = np.random.default_rng(seed)
    pairs = _dense(n_s, n_b)
    if nested:
        allowed = (rng.random(n_b) + 0.3)[pairs.buyer] >= rng.random(n_s)[pairs.seller]
    else:
        allowed = rng.random(len(pairs.seller)) < 0.4
    x = np.zeros(len(pairs.seller))
    chosen = rng.choice(np.flatnonzero(allowed), size=min(trades, int(allowed.sum())), replace=False)
    x[chosen] = M * (1.0 + 2.0 * rng.random(len(chosen)) ** 2)
    sold = np.bincount(pairs.seller, weights=x, minlength=n_s)
    bought = np.bincount(pairs.buyer, weights=x, minlength=n_b)
    return sold, bought, pairs, allowed


@pytest.mark.parametrize("seed", range(24))
def test_totals_of_trades_of_at_least_m_are_met(seed):
    n_s, n_b = [(10, 10), (30, 30), (47, 53), (20, 60)][seed % 4]
    sold, bought, pairs, allowed = _from_trades(
        seed, n_s, n_b, int((n_s + n_b) * [0.8, 1.2, 2.0][seed % 3]), seed % 2 == 0
    )
    flows = flows_on_totals(sold, bought, pairs, allowed, M)
    assert flows is not None
    _check(flows, sold, bought, pairs, allowed)


def test_by_hand():
    pairs, allowed = _dense(1, 2), np.ones(2, dtype=bool)
    np.testing.assert_allclose(flows_on_totals(np.array([0.03]), np.array([0.015, 0.015]), pairs, allowed, M), 0.015)
    # seller 1 (one m) must sell all to one buyer; seller 0 splits 0.01 + 0.02
    pairs, allowed = _dense(2, 2), np.ones(4, dtype=bool)
    sold, bought = np.array([0.03, 0.01]), np.array([0.02, 0.02])
    _check(flows_on_totals(sold, bought, pairs, allowed, M), sold, bought, pairs, allowed)
    # every seller below 2m serves one buyer, and 0.0114 is no sum of 0.0104, 0.0108, 0.0144
    pairs, allowed = _dense(3, 2), np.ones(6, dtype=bool)
    assert flows_on_totals(np.array([0.0104, 0.0108, 0.0144]), np.array([0.0114, 0.0242]), pairs, allowed, M) is None
    # a total below m, and totals that do not add up
    assert flows_on_totals(np.array([0.005, 0.02]), np.array([0.025]), _dense(2, 1), np.ones(2, bool), M) is None
    assert flows_on_totals(np.array([0.03]), np.array([0.02]), _dense(1, 1), np.ones(1, bool), M) is None


def test_one_plain_depth_first_search_finds_fewer():
    """The perturbed restarts are what find the hard ones: with one search of the same total work
    some instances above are missed."""
    found_runs = found_one = 0
    for seed in range(48):
        n_s, n_b = [(10, 10), (30, 30), (47, 53), (20, 60)][seed % 4]
        case = _from_trades(seed, n_s, n_b, int((n_s + n_b) * [0.8, 1.2, 2.0][seed % 3]), seed % 2 == 0)
        found_runs += flows_on_totals(*case, M) is not None
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(totals_search, "RUNS", 1)
            patch.setattr(totals_search, "RUN_NODES", totals_search.RUNS * totals_search.RUN_NODES)
            found_one += flows_on_totals(*case, M) is not None
    assert found_runs > found_one


def _milp_can(sold, bought, pairs, allowed, m: float) -> bool:
    """Is there any x with these totals, each 0 or in [m, cap] on the allowed pairs? (HiGHS, to optimality)"""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    n = len(pairs.seller)
    cap = np.minimum(sold[pairs.seller], bought[pairs.buyer]) * allowed
    h.addVars(n, np.zeros(n), cap)
    h.addVars(n, np.zeros(n), allowed.astype(float))
    h.changeColsIntegrality(n, np.arange(n, 2 * n, dtype=np.int32), np.full(n, highspy.HighsVarType.kInteger))
    inf = highspy.kHighsInf
    for k in range(n):
        cols = np.array([k, n + k], dtype=np.int32)
        h.addRow(-inf, 0.0, 2, cols, np.array([1.0, -cap[k]]))
        h.addRow(0.0, inf, 2, cols, np.array([1.0, -m]))
    for side, totals in ((pairs.seller, sold), (pairs.buyer, bought)):
        for p, total in enumerate(totals):
            cols = np.flatnonzero(side == p).astype(np.int32)
            h.addRow(total, total, len(cols), cols, np.ones(len(cols)))
    h.run()
    return h.getModelStatus() == highspy.HighsModelStatus.kOptimal


def test_small_instances_against_the_milp():
    """Random totals of m to 4m on 2-5 peers a side: every answer is valid (so never one where the MILP
    has none), and where the MILP has one the search finds one in nearly every instance."""
    rng = np.random.default_rng(1)
    feasible = found = 0
    for _ in range(150):
        n_s, n_b = rng.integers(2, 6, size=2)
        pairs = _dense(n_s, n_b)
        allowed = rng.random(len(pairs.seller)) < 0.7
        sold = M * (1.0 + 3.0 * rng.random(n_s))
        bought = M * (1.0 + 3.0 * rng.random(n_b))
        bought *= sold.sum() / bought.sum()
        flows = flows_on_totals(sold, bought, pairs, allowed, M)
        can = _milp_can(sold, bought, pairs, allowed, M)
        if flows is not None:
            _check(flows, sold, bought, pairs, allowed)
            assert can
        feasible += can
        found += flows is not None
    assert feasible >= 15
    assert found >= 0.9 * feasible


def test_cheapest_pairs_first_with_a_cost():
    """Two sellers and two buyers of 2m each, the relaxation split over all four pairs: both ways of
    pairing them keep the totals, the cost picks the cheap one."""
    pairs, allowed = _dense(2, 2), np.ones(4, dtype=bool)
    flows = np.array([0.015, 0.005, 0.005, 0.015])  # (0,0), (0,1), (1,0), (1,1)
    for cost, expected in (
        ([1.0, 5.0, 5.0, 1.0], [0.02, 0.0, 0.0, 0.02]),
        ([5.0, 1.0, 1.0, 5.0], [0.0, 0.02, 0.02, 0.0]),
    ):
        np.testing.assert_allclose(local_flows_on_totals(flows, pairs, allowed, M, np.array(cost)), expected)


@pytest.mark.parametrize("seed", range(12))
def test_local_search_keeps_every_total_and_the_trades_away_from_small_ones(seed):
    """Trades of at least m made small by moves that keep every total (a cycle of four pairs): the
    local search ends with the same totals, no trade below m, only allowed pairs."""
    n_s, n_b = [(10, 10), (30, 30), (20, 40)][seed % 3]
    sold, bought, pairs, allowed = _from_trades(seed, n_s, n_b, int(1.5 * (n_s + n_b)), seed % 2 == 0)
    flows = flows_on_totals(sold, bought, pairs, allowed, M)
    rng = np.random.default_rng(seed)
    index = np.full((n_s, n_b), -1)
    index[pairs.seller[allowed], pairs.buyer[allowed]] = np.flatnonzero(allowed)
    made = 0
    for ij in rng.permutation(np.flatnonzero(flows > M)):  # x_ij - d, x_kq - d, x_iq + d, x_kj + d
        for kq in rng.permutation(np.flatnonzero(flows > M)):
            i, j, k, q = pairs.seller[ij], pairs.buyer[ij], pairs.seller[kq], pairs.buyer[kq]
            if made == 5 or i == k or j == q or min(index[i, q], index[k, j]) < 0 or min(flows[ij], flows[kq]) <= M:
                continue
            d = float(rng.uniform(0.1, 0.9)) * min(flows[ij] - M, flows[kq] - M, M)
            flows[[ij, kq]] -= d
            flows[[index[i, q], index[k, j]]] += d
            made += 1
    assert ((flows > 1e-12) & (flows < M - 1e-9)).any()
    local = local_flows_on_totals(flows, pairs, allowed, M, rng.random(len(flows)))
    assert local is not None
    _check(local, sold, bought, pairs, allowed)


def test_a_total_below_m_goes_to_a_peer_with_room():
    """Buyer 1 buys 0.5 m in all: no trades keep that total; with the energies it hands it to buyer 0,
    which has room, and the volume stays."""
    pairs, allowed = _dense(1, 2), np.ones(2, dtype=bool)
    flows = np.array([0.025, 0.005])
    assert local_flows_on_totals(flows, pairs, allowed, M) is None
    energies = (np.array([0.03]), np.array([0.05, 0.02]))
    np.testing.assert_allclose(local_flows_on_totals(flows, pairs, allowed, M, None, energies), [0.03, 0.0])
    # a third buyer without a candidate pair (nearest-k pairs) is a peer all the same
    energies = (np.array([0.03]), np.array([0.05, 0.02, 0.04]))
    np.testing.assert_allclose(local_flows_on_totals(flows, pairs, allowed, M, None, energies), [0.03, 0.0])
