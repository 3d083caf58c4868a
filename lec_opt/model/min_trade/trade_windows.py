"""Trades improved window by window: the MILP of a few neighbouring sellers' trades, every other
trade fixed (models/FORMULATION.md §4, "Levels with a minimum trade", step 3(g)).

The local moves (``lec_opt.model.min_trade.trade_moves``) change a few trades by one step δ; the better points
of priorities A and B often differ from the repaired relaxation in dozens of trades of different
sizes at once. A *window* is ``WINDOW_SELLERS`` sellers whose costs to the buyers are alike (for
priority B: sellers close to each other) and the buyers they trade with or could trade with most
cheaply (``WINDOW_BUYERS`` per seller). Its sub-problem is the level's MILP on the window's pairs
alone: each seller and buyer with what the fixed trades leave it, the window's P2P volume kept
exactly (so level 1, and level 2, which depends on the volume only, stay as they are), every trade
0 or in [m, min(s_i, r_j)]. HiGHS solves it from the current trades (a feasible start), limited by
``WINDOW_NODES`` nodes; its answer is never worse. Windows are taken around every
``WINDOW_SELLERS // 2``-th seller in order, once each, until the point reaches a target.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse

from lec_opt.market.pairs import PairData
from lec_opt.solver.highs import INF, solve_arrays

WINDOW_SELLERS = 8  # sellers of one window (6 was too few at 13:00, 10 slower everywhere)
WINDOW_BUYERS = 5  # the cheapest buyers of each window seller that join its window
WINDOW_NODES = 200  # branch-and-bound nodes of one window's MILP
# HiGHS's RENS and RINS sub-MIPs take two thirds of a window's time and find nothing its warm start
# and its own tree do not: off in the windows
WINDOW_OPTIONS = {"mip_max_nodes": WINDOW_NODES, "mip_heuristic_run_rens": False, "mip_heuristic_run_rins": False}


def window_sellers(cost_rows: np.ndarray, seed: int, size: int) -> np.ndarray:
    """The ``size`` sellers whose cost rows (sellers × buyers, to be minimised) are nearest to the
    ``seed``'s in L1, the seed first; ties by seller order."""
    spread = np.abs(cost_rows - cost_rows[seed]).sum(axis=1)
    return np.argsort(spread, kind="stable")[:size]


def _window_milp(
    x: np.ndarray,
    window: np.ndarray,
    pairs: PairData,
    energies: tuple[np.ndarray, np.ndarray],
    cost: np.ndarray,
    min_trade: float,
    options: dict,
) -> tuple[np.ndarray, float]:
    """The flows ``x`` with the ``window`` pairs' trades the best HiGHS finds for them, the others
    fixed; (flows, HiGHS s). ``x`` itself where HiGHS ends without an answer."""
    surplus, deficit = energies
    k = np.flatnonzero(window)
    n = k.size
    rest = np.where(window, 0.0, x)
    sellers, seller_row = np.unique(pairs.seller[k], return_inverse=True)
    buyers, buyer_row = np.unique(pairs.buyer[k], return_inverse=True)
    n_s, n_b = sellers.size, buyers.size
    sold = np.bincount(pairs.seller, weights=rest, minlength=len(surplus))[sellers]
    bought = np.bincount(pairs.buyer, weights=rest, minlength=len(deficit))[buyers]
    volume = float(x[k].sum())
    # columns: the window's flows, then their y; rows: sellers, buyers, the volume, x - cap y <= 0, x - m y >= 0
    arange = np.arange(n)
    r_cap, r_min = n_s + n_b + 1 + arange, n_s + n_b + 1 + n + arange
    rows = np.concatenate([seller_row, n_s + buyer_row, np.full(n, n_s + n_b), r_cap, r_cap, r_min, r_min])
    cols = np.concatenate([arange, arange, arange, arange, n + arange, arange, n + arange])
    vals = np.concatenate([np.ones(3 * n), np.ones(n), -pairs.cap[k], np.ones(n), np.full(n, -min_trade)])
    a = scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(n_s + n_b + 1 + 2 * n, 2 * n))
    row_lower = np.concatenate([np.full(n_s + n_b, -INF), [volume], np.full(n, -INF), np.zeros(n)])
    row_upper = np.concatenate(
        [np.maximum(surplus[sellers] - sold, 0.0), np.maximum(deficit[buyers] - bought, 0.0), [volume], np.zeros(n)]
    )
    row_upper = np.append(row_upper, np.full(n, INF))
    bounds = (np.zeros(2 * n), np.concatenate([pairs.cap[k], np.ones(n)]), row_lower, row_upper)
    run = solve_arrays(
        a,
        bounds,
        np.concatenate([cost[k], np.zeros(n)]),
        np.concatenate([np.zeros(n, dtype=np.int32), np.ones(n, dtype=np.int32)]),
        False,
        options | WINDOW_OPTIONS,
        start=np.concatenate([x[k], (x[k] > 0.0).astype(float)]),
    )
    if run.x is None:  # no answer
        return x, run.highs_seconds
    out = x.copy()
    out[k] = np.where(run.x[n:] > 0.5, run.x[:n], 0.0)
    return out, run.highs_seconds


def improve_by_windows(
    flows: np.ndarray,
    pairs: PairData,
    energies: tuple[np.ndarray, np.ndarray],
    allowed: np.ndarray,
    cost: np.ndarray,
    min_trade: float,
    target: float,
    options: dict,
) -> tuple[np.ndarray, float]:
    """``flows`` (trades that all keep the minimum) improved window by window (see the module's
    docstring) until Σ cost·x <= ``target`` or every window was tried once; (flows, HiGHS s).
    ``cost``: the level's objective per kWh of each pair, to be minimised; ``options``: HiGHS's."""
    n_s, n_b = (len(energy) for energy in energies)
    allowed = allowed & (pairs.cap >= min_trade)
    rows = np.full((n_s, n_b), np.nan)
    rows[pairs.seller, pairs.buyer] = np.where(allowed, cost, np.nan)
    rows = np.where(np.isnan(rows), np.nanmax(rows, initial=0.0), rows)  # a pair that cannot trade: the dearest
    x, seconds = flows.copy(), 0.0
    value = math.fsum(cost * x)  # correctly rounded: the same comparisons on every machine
    for seed in range(0, n_s, max(1, WINDOW_SELLERS // 2)):
        if value <= target:
            break
        sellers = np.zeros(n_s, dtype=bool)
        sellers[window_sellers(rows, seed, WINDOW_SELLERS)] = True
        in_sellers = sellers[pairs.seller] & allowed
        buyers = np.zeros(n_b, dtype=bool)
        buyers[pairs.buyer[in_sellers & (x > 0.0)]] = True
        for i in np.flatnonzero(sellers):
            own = np.flatnonzero((pairs.seller == i) & allowed)
            buyers[pairs.buyer[own[np.argsort(cost[own], kind="stable")[:WINDOW_BUYERS]]]] = True
        window = in_sellers & buyers[pairs.buyer]
        if not window.any():
            continue
        better, s = _window_milp(x, window, pairs, energies, cost, min_trade, options)
        seconds += s
        new_value = math.fsum(cost * better)
        if new_value < value - 1e-12:
            x, value = better, new_value
    return x, seconds
