"""A level of the peers' totals only on nested pairs, as a small MILP of the totals
(models/FORMULATION.md §4, "Levels with a minimum trade", step 2).

Level 1 (Σx) and priority C's level 3 (Σ (bid_j − ask_i) x_ij) depend on each peer's P2P total
only. When every buyer's allowed sellers are the first ones of one order of the sellers (nested: dense
pairs, C's price rule) a flow is a flow along that chain (``price_rule_optimum``): seller k feeds
node k, node k passes energy on to node k + 1, buyer j draws at the node of its last allowed seller.
With a minimum trade m every peer's total is 0 or at least m (a sum of trades of at least m): one
binary per peer, m·u ≤ total ≤ energy·u. Every point of the level's MILP gives totals that are a
point of this one with the same value, so its optimum bounds the level, usually more tightly than
the relaxation; trades of at least m on its totals (``lec_opt.model.min_trade.totals_search``) attain it.
About two columns and three rows per peer instead of two columns and four rows per pair: HiGHS
solves it in milliseconds, limited by ``CHAIN_NODES`` nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse

from lec_opt.market.pairs import PairData, nested_order
from lec_opt.market.snapshot import IntervalSnapshot
from lec_opt.solver.highs import INF, solve_arrays

CHAIN_NODES = 1000  # branch-and-bound nodes of the totals' MILP


@dataclass(frozen=True)
class ChainTotals:
    """The totals' MILP's answer: each seller's and buyer's total (snapshot order), its proven bound
    and HiGHS's seconds."""

    sold: np.ndarray
    bought: np.ndarray
    bound: float
    seconds: float


def _rows(
    columns: tuple, n: int, node: np.ndarray, supply: np.ndarray, demand: np.ndarray, m: float
) -> tuple[scipy.sparse.csr_matrix, np.ndarray, np.ndarray]:
    """The totals' MILP's rows over its ``columns`` (f, t, g, u, v) and their bounds: node balances
    (= 0), f - s u <= 0, f - m u >= 0, g - r v <= 0, g - m v >= 0, the volume Σ g (free, last)."""
    f, t, g, u, v = columns
    n_s, n_b = len(f), len(g)
    r_bal, r_fu, r_fl = np.arange(n_s), n_s + np.arange(n_s), 2 * n_s + np.arange(n_s)
    r_gu, r_gl, r_vol = 3 * n_s + np.arange(n_b), 3 * n_s + n_b + np.arange(n_b), 3 * n_s + 2 * n_b
    entries = [
        (r_bal, f, 1.0),
        (r_bal[1:], t, 1.0),
        (r_bal[:-1], t, -1.0),
        (node, g, -1.0),
        (r_fu, f, 1.0),
        (r_fu, u, -supply),
        (r_fl, f, 1.0),
        (r_fl, u, -m),
        (r_gu, g, 1.0),
        (r_gu, v, -demand),
        (r_gl, g, 1.0),
        (r_gl, v, -m),
        (np.full(n_b, r_vol), g, 1.0),
    ]
    rows = np.concatenate([np.asarray(r) for r, _, _ in entries])
    cols = np.concatenate([c for _, c, _ in entries])
    vals = np.concatenate([np.broadcast_to(np.asarray(x, dtype=float), len(c)) for _, c, x in entries])
    a = scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(r_vol + 1, n))
    row_lower = np.concatenate(
        [np.zeros(n_s), np.full(n_s, -INF), np.zeros(n_s), np.full(n_b, -INF), np.zeros(n_b), [-INF]]
    )
    row_upper = np.concatenate([np.zeros(n_s), np.zeros(n_s), np.full(n_s, INF), np.zeros(n_b), np.full(n_b, INF)])
    return a, row_lower, np.append(row_upper, INF)


def chain_totals(
    snap: IntervalSnapshot,
    pairs: PairData,
    allowed: np.ndarray,
    min_trade: float,
    name: str,
    volume_at_least: float | None,
    options: dict,
) -> ChainTotals | None:
    """The totals' MILP of level ``name`` ("p2p" or "priority_c") over the ``allowed`` pairs, with
    Σ x >= ``volume_at_least`` when given; None when the allowed sets are not nested or HiGHS ends
    without an answer. ``options``: HiGHS's options (seed, threads, tolerances, limits)."""
    nested = nested_order(snap, pairs, allowed)
    if nested is None:
        return None
    order, count, _ = nested
    buyers = np.flatnonzero(count > 0)
    n_s, n_b = len(order), len(buyers)
    if not n_b:
        return None
    m = min_trade
    supply = snap.surplus_kwh[order].astype(float)
    demand = snap.deficit_kwh[buyers].astype(float)
    # columns: f (seller k's total), t (node k to k + 1), g (buyer's total), u (seller trades), v (buyer trades)
    f, t, g = np.arange(n_s), n_s + np.arange(n_s - 1), 2 * n_s - 1 + np.arange(n_b)
    u, v = 2 * n_s - 1 + n_b + np.arange(n_s), 3 * n_s - 1 + n_b + np.arange(n_b)
    n = 3 * n_s - 1 + 2 * n_b
    a, row_lower, row_upper = _rows((f, t, g, u, v), n, count[buyers] - 1, supply, demand, m)
    r_vol = a.shape[0] - 1
    if volume_at_least is not None:
        row_lower[r_vol] = volume_at_least
    col_lower = np.zeros(n)
    col_upper = np.concatenate([supply, np.full(n_s - 1, INF), demand, np.ones(n_s + n_b)])
    cost = np.zeros(n)
    if name == "p2p":
        cost[g] = 1.0
    elif name == "priority_c":
        cost[f] = -snap.ask[order]
        cost[g] = snap.bid[buyers]
    else:
        raise ValueError(f"{name} is no objective of the peers' totals")
    integer = np.zeros(n, dtype=np.int32)
    integer[np.concatenate([u, v])] = 1
    bounds = (col_lower, col_upper, row_lower, row_upper)
    run = solve_arrays(a, bounds, cost, integer, True, options | {"mip_max_nodes": CHAIN_NODES})
    x = run.x
    if x is None:  # no answer
        return None
    sold = np.zeros(len(snap.sellers))
    sold[order] = np.where(x[u] > 0.5, x[f], 0.0)
    bought = np.zeros(len(snap.buyers))
    bought[buyers] = np.where(x[v] > 0.5, x[g], 0.0)
    return ChainTotals(sold, bought, run.bound, run.highs_seconds)
