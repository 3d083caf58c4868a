"""Candidate seller-buyer pairs of an interval, with the coefficients every objective needs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lec_opt.market.priorities import weight_a
from lec_opt.market.snapshot import IntervalSnapshot
from lec_opt.market.topology import peer_distance

DRAW_EPS = 1e-12  # kWh: what the chain decomposition of ``price_rule_optimum`` leaves as rounding
BELOW = 1e-9  # kWh: a flow below m - BELOW breaks the minimum trade (HiGHS's feasibility tolerance is 1e-9 there)


@dataclass(frozen=True)
class PairData:
    """Candidate pairs of an interval with what the objectives need, aligned arrays."""

    seller: np.ndarray  # position in snapshot.sellers
    buyer: np.ndarray  # position in snapshot.buyers
    cap: np.ndarray  # min(s_i, r_j)
    weight_a: np.ndarray  # (s_i / s_max)(r_j / r_max)
    distance: np.ndarray  # ring hops, or cable metres on a feeder
    margin_c: np.ndarray  # bid_j - ask_i
    price_ok: np.ndarray  # bid_j >= ask_i: allowed under priority C


def candidate_pairs(snap: IntervalSnapshot, sparse_k: int | None = None) -> PairData:
    """All seller-buyer pairs, or (``sparse_k``) each seller's ``sparse_k`` nearest buyers (ring hops or cable metres)."""
    n_s, n_b = len(snap.sellers), len(snap.buyers)
    si, bj = np.meshgrid(np.arange(n_s), np.arange(n_b), indexing="ij")
    si, bj = si.ravel(), bj.ravel()
    dist = peer_distance(snap, snap.sellers[si], snap.buyers[bj])
    if sparse_k is not None and n_b > sparse_k:
        keep = np.zeros(si.size, dtype=bool)
        nearest = np.argsort(dist.reshape(n_s, n_b), axis=1, kind="stable")[:, :sparse_k]
        keep.reshape(n_s, n_b)[np.arange(n_s)[:, None], nearest] = True
        si, bj, dist = si[keep], bj[keep], dist[keep]
    margin = snap.bid[bj] - snap.ask[si]
    cap = np.minimum(snap.surplus_kwh[si], snap.deficit_kwh[bj])
    return PairData(si, bj, cap, weight_a(snap, si, bj), dist.astype(float), margin, margin >= 0)


def allowed_pairs(snap: IntervalSnapshot, pairs: PairData, price_pairs: bool) -> np.ndarray:
    """Which candidate pairs may trade: both peers willing and, under priority C, bid >= ask."""
    ok = snap.willing_seller[pairs.seller] & snap.willing_buyer[pairs.buyer]
    return ok & pairs.price_ok if price_pairs else ok


def max_volume_closed_form(snap: IntervalSnapshot) -> float:
    """Level 1 on dense pairs without price restriction: min(Σ willing s, Σ willing r).

    Every willing seller can reach every willing buyer, so the transportation problem's maximum
    flow is the smaller side's total (models/FORMULATION.md §4).
    """
    return float(min(snap.surplus_kwh[snap.willing_seller].sum(), snap.deficit_kwh[snap.willing_buyer].sum()))


def nested_order(snap: IntervalSnapshot, pairs: PairData, allowed: np.ndarray) -> tuple | None:
    """(sellers in order, each buyer's number of allowed sellers, pair position of each (seller,
    buyer)) when every buyer's allowed sellers are the first ones of that order (nested); else None."""
    reach = np.zeros((len(snap.sellers), len(snap.buyers)), dtype=bool)
    reach[pairs.seller[allowed], pairs.buyer[allowed]] = True
    order = np.argsort(-reach.sum(axis=1), kind="stable")  # sellers reached by the most buyers first
    count = reach.sum(axis=0)  # each buyer's number of allowed sellers
    if not np.array_equal(reach[order], np.arange(len(order))[:, None] < count[None, :]):
        return None  # some buyer's sellers are not the first ones of that order: not nested
    position = np.full(reach.shape, -1)
    position[pairs.seller, pairs.buyer] = np.arange(len(pairs.seller))
    return order, count, position


def nested_flows(snap: IntervalSnapshot, pairs: PairData, allowed: np.ndarray) -> np.ndarray | None:
    """A maximum-volume matching (flows in pair order) when the buyers' sets of allowed sellers are
    nested, as on dense pairs (all willing sellers) and under priority C's price rule (the sellers
    with ask_i <= bid_j); None when they are not nested.

    Buyers with the fewest allowed sellers first, each takes all it can from what its sellers have
    left: whatever a buyer takes, every later buyer could have taken too, so serving it fully never
    costs a later buyer more than it gains (models/FORMULATION.md §4).
    """
    nested = nested_order(snap, pairs, allowed)
    if nested is None:
        return None
    order, count, position = nested
    left = snap.surplus_kwh[order].astype(float)
    flows = np.zeros(len(pairs.seller))
    first = 0  # sellers before it have nothing left (every buyer so far reached them all)
    for j in np.argsort(count, kind="stable"):
        need = float(snap.deficit_kwh[j])
        while need > 0.0 and first < count[j]:
            take = min(need, left[first])
            flows[position[order[first], j]] += take
            need -= take
            left[first] -= take
            if left[first] <= 0.0:
                first += 1
    return flows


def price_rule_optimum(
    snap: IntervalSnapshot, pairs: PairData, allowed: np.ndarray, volume: float
) -> np.ndarray | None:
    """Level 3 of C on nested allowed pairs: flows (pair order) moving ``volume`` kWh with the most
    Σ (bid_j - ask_i) x; None when the buyers' sets of allowed sellers are not nested.

    The margin is additive, so the objective sees only what each peer sells or buys, and on nested
    sets a flow is a flow along the sellers in order (a chain): seller k feeds chain node k, the
    chain carries energy forward, buyer j draws at the node of its last allowed seller. That network
    has one arc per peer and per chain link instead of one per pair: its min-cost flow (an LP)
    gives every peer's total, and drawing the earliest energy first turns the chain flow back into
    pair flows, a forest of trades (models/FORMULATION.md §4).
    """
    from scipy.sparse import coo_array

    from lec_opt.solver.highs import linprog  # HiGHS only when the chain's LP is solved

    nested = nested_order(snap, pairs, allowed)
    if nested is None:
        return None
    order, count, position = nested
    buyers = np.flatnonzero(count > 0)
    if volume <= 0.0 or not len(buyers):
        return np.zeros(len(pairs.seller))
    n_s, n_b = len(order), len(buyers)
    # columns: f (seller k's energy into node k), t (node k to k + 1), g (buyer's draw at node count - 1)
    f, t, g = np.arange(n_s), n_s + np.arange(n_s - 1), 2 * n_s - 1 + np.arange(n_b)
    rows = np.concatenate([np.arange(n_s), np.arange(n_s - 1), np.arange(1, n_s), count[buyers] - 1, np.full(n_b, n_s)])
    cols = np.concatenate([f, t, t, g, g])
    vals = np.concatenate([np.ones(n_s), -np.ones(n_s - 1), np.ones(n_s - 1), -np.ones(n_b), np.ones(n_b)])
    a_eq = coo_array((vals, (rows, cols)), shape=(n_s + 1, 2 * n_s - 1 + n_b)).tocsr()
    b_eq = np.zeros(n_s + 1)
    b_eq[n_s] = volume
    cost = np.concatenate([snap.ask[order], np.zeros(n_s - 1), -snap.bid[buyers]])
    upper = np.concatenate([snap.surplus_kwh[order], np.full(n_s - 1, np.inf), snap.deficit_kwh[buyers]])
    x = linprog(cost, a_eq, b_eq, np.column_stack([np.zeros(upper.size), upper]))
    if x is None:
        return None
    sold, drawn = np.clip(x[f], 0.0, None), np.clip(x[g], 0.0, None)
    flows = np.zeros(len(pairs.seller))
    first, left = 0, sold.copy()  # the earliest chain energy not yet drawn
    for b in np.argsort(count[buyers], kind="stable"):
        need, last = drawn[b], count[buyers[b]]
        while need > DRAW_EPS and first < last:
            take = min(need, left[first])
            if take > 0.0:
                flows[position[order[first], buyers[b]]] += take
            need -= take
            left[first] -= take
            if left[first] <= DRAW_EPS:
                first += 1
    return flows


def transactions_lower_bound(
    snap: IntervalSnapshot, pairs: PairData, allowed: np.ndarray, volume: float, slack: float
) -> int:
    """A proven lower bound on level 4 for any matching that moves at least ``volume - slack`` kWh.

    A seller with an allowed pair can sell at most s_i, so when the volume equals the sellers'
    tradeable total every seller with s_i > slack must trade at least once (and likewise the
    buyers); any positive volume needs one transaction (models/FORMULATION.md §4).
    """
    if volume <= slack:
        return 0
    bound = 1
    for side, amounts in ((pairs.seller[allowed], snap.surplus_kwh), (pairs.buyer[allowed], snap.deficit_kwh)):
        tradeable = np.unique(side)
        if volume >= amounts[tradeable].sum() - slack:
            bound = max(bound, int(np.sum(amounts[tradeable] > slack)))
    return bound
