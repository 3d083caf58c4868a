"""Candidate seller-buyer pairs of an interval, with the coefficients every objective needs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lec_opt.market.priorities import weight_a
from lec_opt.market.snapshot import IntervalSnapshot
from lec_opt.market.topology import peer_distance


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


def nested_flows(snap: IntervalSnapshot, pairs: PairData, allowed: np.ndarray) -> np.ndarray | None:
    """A maximum-volume matching (flows in pair order) when the buyers' sets of allowed sellers are
    nested, as on dense pairs (all willing sellers) and under priority C's price rule (the sellers
    with ask_i <= bid_j); None when they are not nested.

    Buyers with the fewest allowed sellers first, each takes all it can from what its sellers have
    left: whatever a buyer takes, every later buyer could have taken too, so serving it fully never
    costs a later buyer more than it gains (models/FORMULATION.md §4).
    """
    reach = np.zeros((len(snap.sellers), len(snap.buyers)), dtype=bool)
    reach[pairs.seller[allowed], pairs.buyer[allowed]] = True
    order = np.argsort(-reach.sum(axis=1), kind="stable")  # sellers reached by the most buyers first
    count = reach.sum(axis=0)  # each buyer's number of allowed sellers
    if not np.array_equal(reach[order], np.arange(len(order))[:, None] < count[None, :]):
        return None  # some buyer's sellers are not the first ones of that order: not nested
    position = np.full(reach.shape, -1)
    position[pairs.seller, pairs.buyer] = np.arange(len(pairs.seller))
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
