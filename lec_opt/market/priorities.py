"""The three matching priorities of the paper and their level-3 objectives (models/FORMULATION.md §4).

A: biggest surplus meets biggest demand, max Σ (s_i/s_max)(r_j/r_max) x;  B: nearest on the ring
(hops) or along the feeder (cable metres), min Σ dist x;  C: lowest ask meets highest bid, max Σ (bid_j - ask_i) x over pairs with bid >= ask.
The model, the greedy and the day runner all score a matching with ``priority_objective``.
"""

from __future__ import annotations

import numpy as np

from lec_opt.market.snapshot import IntervalSnapshot
from lec_opt.market.topology import peer_distance

PRIORITIES = ("A", "B", "C")
SENSE = {"A": "max", "B": "min", "C": "max"}  # of each priority's level-3 objective


def weight_a(snap: IntervalSnapshot, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Priority A's weight of pairs (i, j) (positions): (s_i / s_max)(r_j / r_max)."""
    s_max = snap.surplus_kwh.max() if len(snap.sellers) else 1.0
    r_max = snap.deficit_kwh.max() if len(snap.buyers) else 1.0
    return (snap.surplus_kwh[i] / s_max) * (snap.deficit_kwh[j] / r_max)


def priority_coefficients(snap: IntervalSnapshot, priority: str, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """The level-3 objective's coefficient of each pair (i, j) (positions in sellers, buyers)."""
    if priority == "A":
        return weight_a(snap, i, j)
    if priority == "B":
        return peer_distance(snap, snap.sellers[i], snap.buyers[j]).astype(float)
    if priority == "C":
        return snap.bid[j] - snap.ask[i]
    raise ValueError(f"unknown priority {priority!r}")


def priority_objective(snap: IntervalSnapshot, priority: str, i: np.ndarray, j: np.ndarray, kwh: np.ndarray) -> float:
    """The level-3 objective of a set of flows (the same formula as the MILP's)."""
    return float(np.sum(priority_coefficients(snap, priority, np.asarray(i, int), np.asarray(j, int)) * kwh))


def unique_priority_a_optimum(snap: IntervalSnapshot, dense_pairs: bool, min_trade_kwh: float) -> bool:
    """Is the level-3 optimum of priority A a single point, so that level 4 has nothing to choose?

    The weights (s_i/s_max)(r_j/r_max) are a product of two sorted sequences: strictly
    inverse-Monge when all willing surpluses are distinct and all willing deficits are distinct.
    Then any solution with a crossing (i < i', j < j' in size order, x[i,j'] > 0 and x[i',j] > 0)
    is strictly improved by uncrossing, and using a smaller seller while a larger one has energy
    left is strictly worse; the only optimum is the north-west-corner solution (the paper's greedy
    A). This holds on dense candidate pairs and without a minimum trade size.
    """
    if not dense_pairs or min_trade_kwh > 0:
        return False
    s = snap.surplus_kwh[snap.willing_seller]
    r = snap.deficit_kwh[snap.willing_buyer]
    return len(np.unique(s)) == len(s) and len(np.unique(r)) == len(r)


def priority_a_face(snap: IntervalSnapshot, i: np.ndarray, j: np.ndarray, optimum: np.ndarray) -> np.ndarray:
    """Which pairs (i, j) may trade at some level-3 optimum of priority A, given one optimum's flows.

    Peers of equal surplus (sellers) or equal deficit (buyers) form groups of equal weight; flows
    summed over pairs of groups are a transportation problem with distinct weights, strictly
    inverse-Monge, whose optimum is unique. Every optimum therefore has the given one's group
    totals, and a pair whose two groups do not trade there trades at no optimum (models/FORMULATION.md
    §4, "Level 4"). Dense candidate pairs, no minimum trade size.
    """
    _, seller_group = np.unique(snap.surplus_kwh, return_inverse=True)
    _, buyer_group = np.unique(snap.deficit_kwh, return_inverse=True)
    g, h = seller_group[i], buyer_group[j]
    width = int(buyer_group.max(initial=0)) + 1
    totals = np.bincount(g * width + h, weights=optimum, minlength=(int(seller_group.max(initial=0)) + 1) * width)
    return totals[g * width + h] > 0
