"""Trades improved window by window (models/FORMULATION.md §4, "Levels with a minimum trade", step
3(g)): every answer is a point of the level's MILP with the same P2P volume and never worse; a window
that holds every pair finds the optimum that brute force over every set of trades finds; the windows
are the sellers with the most alike costs."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.optimize import linprog

from lec_opt.model.min_trade.trade_windows import improve_by_windows, window_sellers

M = 0.01
OPTIONS = {
    "output_flag": False,
    "random_seed": 0,
    "mip_rel_gap": 1e-9,
    "mip_feasibility_tolerance": 1e-9,
    "primal_feasibility_tolerance": 1e-9,
}


def _instance(seed: int, n_s: int, n_b: int, density: float = 1.0):
    """Random trades of m to 3m on a line of peers (cost: distance), the peers' energies their totals
    plus some room."""
    rng = np.random.default_rng(seed)
    seller, buyer = np.repeat(np.arange(n_s), n_b), np.tile(np.arange(n_b), n_s)
    at_s, at_b = rng.permutation(n_s + n_b)[:n_s], rng.permutation(n_s + n_b)[:n_b]
    cost = np.abs(at_s[seller] - at_b[buyer]).astype(float) + 1.0
    allowed = rng.random(seller.size) < density
    x = np.zeros(seller.size)
    chosen = rng.choice(np.flatnonzero(allowed), size=min(n_s + n_b, int(allowed.sum())), replace=False)
    x[chosen] = M * (1.0 + 2.0 * rng.random(chosen.size))
    surplus = np.bincount(seller, weights=x, minlength=n_s) + M * rng.random(n_s) * (rng.random(n_s) < 0.5)
    deficit = np.bincount(buyer, weights=x, minlength=n_b) + M * rng.random(n_b) * (rng.random(n_b) < 0.5)
    pairs = SimpleNamespace(seller=seller, buyer=buyer, cap=np.minimum(surplus[seller], deficit[buyer]))
    return x, pairs, (surplus, deficit), allowed, cost


def _check(before: np.ndarray, after: np.ndarray, pairs, energies, allowed, cost) -> None:
    surplus, deficit = energies
    assert after.sum() == pytest.approx(before.sum(), abs=1e-8)
    assert (np.bincount(pairs.seller, weights=after, minlength=len(surplus)) <= surplus + 1e-8).all()
    assert (np.bincount(pairs.buyer, weights=after, minlength=len(deficit)) <= deficit + 1e-8).all()
    trades = after > 0.0
    assert (after[trades] >= M - 1e-8).all() and (after <= pairs.cap + 1e-8).all()
    assert not trades[~allowed].any()
    assert cost @ after <= cost @ before + 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_windows_keep_a_point_of_the_milp_and_never_worsen_it(seed):
    x, pairs, energies, allowed, cost = _instance(seed, 12, 16, density=[1.0, 0.5][seed % 2])
    if seed % 3 == 2:  # a weight to maximise (priority A): more volume would pay, the window keeps it
        cost = -1.0 / cost
    better, _ = improve_by_windows(x, pairs, energies, allowed, cost, M, -np.inf, OPTIONS)
    _check(x, better, pairs, energies, allowed, cost)
    assert cost @ better < cost @ x - 1e-6  # random trades are far from the best
    again, _ = improve_by_windows(x, pairs, energies, allowed, cost, M, -np.inf, OPTIONS)
    np.testing.assert_array_equal(again, better)  # same input, same output


def test_windows_stop_at_the_target():
    x, pairs, energies, allowed, cost = _instance(3, 12, 16)
    target = float(cost @ x) - 1e-9  # any improvement reaches it: one window only
    first, _ = improve_by_windows(x, pairs, energies, allowed, cost, M, target, OPTIONS)
    every, _ = improve_by_windows(x, pairs, energies, allowed, cost, M, -np.inf, OPTIONS)
    assert cost @ first <= target and cost @ every < cost @ first - 1e-9


def _brute_force(pairs, energies, allowed, cost, volume: float) -> float:
    """The cheapest point with this volume: an LP for every set of trades (each in [m, cap])."""
    surplus, deficit = energies
    n = len(cost)
    a_ub = np.vstack([np.eye(len(surplus))[pairs.seller].T, np.eye(len(deficit))[pairs.buyer].T])
    b_ub = np.concatenate([surplus, deficit])
    best = np.inf
    for support in itertools.product((False, True), repeat=n):
        support = np.array(support)
        if (support & ~allowed).any() or (support & (pairs.cap < M)).any():
            continue
        bounds = [(M, pairs.cap[k]) if support[k] else (0.0, 0.0) for k in range(n)]
        lp = linprog(cost, A_ub=a_ub, b_ub=b_ub, A_eq=np.ones((1, n)), b_eq=[volume], bounds=bounds, method="highs")
        if lp.status == 0:
            best = min(best, lp.fun)
    return best


@pytest.mark.parametrize("seed", range(10))
def test_one_window_over_every_pair_finds_the_brute_force_optimum(seed):
    x, pairs, energies, allowed, cost = _instance(100 + seed, 3, 3)
    better, _ = improve_by_windows(x, pairs, energies, allowed, cost, M, -np.inf, OPTIONS)
    _check(x, better, pairs, energies, allowed, cost)
    assert cost @ better == pytest.approx(_brute_force(pairs, energies, allowed, cost, x.sum()), abs=1e-9)


def test_a_window_is_the_sellers_with_the_most_alike_costs():
    at_s, at_b = np.arange(8) * 2.0, np.arange(9) * 2.0 - 1.0  # a line: sellers and buyers in turn
    rows = np.abs(at_s[:, None] - at_b[None, :])
    assert list(window_sellers(rows, 5, 3)) == [5, 4, 6]
    assert list(window_sellers(rows, 0, 3)) == [0, 1, 2]
