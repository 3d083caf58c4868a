"""The paper's own sorted matching for priorities A, B and C (models/FORMULATION.md §5), no solver.

It is the cross-check of every MILP result and the fallback when HiGHS gives no answer. Like
every matching it becomes a result through ``lec_opt.market.outcome`` (exact CES dispatch).
"""

from __future__ import annotations

import time

import numpy as np

from lec_opt.market.priorities import priority_objective
from lec_opt.market.result import LevelRecord, LevelStatus, Matching, Status
from lec_opt.market.snapshot import IntervalSnapshot
from lec_opt.market.topology import peer_distance

_TINY = 1e-12


def _two_pointer(sell_order, buy_order, s, r, min_trade, keep_going=lambda i, j: True):
    """Pair the heads of two ordered lists, trade min(remaining), advance whichever is used up."""
    s, r = s.tolist(), r.tolist()  # Python floats: the same IEEE arithmetic, no numpy scalars
    sell_order, buy_order = [int(i) for i in sell_order], [int(j) for j in buy_order]
    floor = max(min_trade, _TINY)
    flows = []
    a = b = 0
    while a < len(sell_order) and b < len(buy_order):
        i, j = sell_order[a], buy_order[b]
        if not keep_going(i, j):
            break
        delta = min(s[i], r[j])
        if delta >= floor:
            flows.append((i, j, delta))
            s[i] -= delta
            r[j] -= delta
            a += s[i] <= _TINY
            b += r[j] <= _TINY
        elif s[i] <= r[j]:  # too small to trade: the smaller side goes to the CES or the grid
            a += 1
        else:
            b += 1
    return flows


def match(snap: IntervalSnapshot, priority: str, min_trade: float = 0.0) -> list[tuple[int, int, float]]:
    """(seller index, buyer index, kWh) in the order the paper's matching makes them."""
    sellers = np.flatnonzero(snap.willing_seller)
    buyers = np.flatnonzero(snap.willing_buyer)
    s, r = snap.surplus_kwh, snap.deficit_kwh
    if priority == "A":  # biggest surplus meets biggest demand
        sell_order = sorted(sellers, key=lambda i: (-s[i], snap.sellers[i]))
        buy_order = sorted(buyers, key=lambda j: (-r[j], snap.buyers[j]))
        return _two_pointer(sell_order, buy_order, s, r, min_trade)
    if priority == "C":  # lowest ask meets highest bid while bid >= ask
        sell_order = sorted(sellers, key=lambda i: (snap.ask[i], -s[i], snap.sellers[i]))
        buy_order = sorted(buyers, key=lambda j: (-snap.bid[j], -r[j], snap.buyers[j]))
        return _two_pointer(sell_order, buy_order, s, r, min_trade, lambda i, j: snap.bid[j] >= snap.ask[i])
    if priority == "B":  # nearest first: on the ring, or along the cables of a feeder
        if not len(sellers) or not len(buyers):
            return []
        si, bj = (a.ravel() for a in np.meshgrid(sellers, buyers, indexing="ij"))
        dist = peer_distance(snap, snap.sellers[si], snap.buyers[bj])
        order = np.lexsort((snap.buyers[bj], snap.sellers[si], -r[bj], -s[si], dist))
        s_left, r_left = s.tolist(), r.tolist()  # Python floats: the same IEEE arithmetic, no numpy scalars
        # a pair trades only while both sides have more than _TINY left: stop when one side has none
        sellers_left = sum(s_left[i] > _TINY for i in sellers.tolist())
        buyers_left = sum(r_left[j] > _TINY for j in buyers.tolist())
        flows = []
        for i, j in zip(si[order].tolist(), bj[order].tolist()):
            if not (sellers_left and buyers_left):
                break
            a, b = s_left[i], r_left[j]
            delta = b if b < a else a
            if delta > _TINY and delta >= min_trade:
                flows.append((i, j, delta))
                s_left[i] = a - delta
                r_left[j] = b - delta
                sellers_left -= s_left[i] <= _TINY
                buyers_left -= r_left[j] <= _TINY
        return flows
    raise ValueError(f"unknown priority {priority!r}")


def greedy_matching(snap: IntervalSnapshot, priority: str, min_trade: float = 0.0) -> Matching:
    """The paper's matching for ``priority`` with its own level-1, 3 and 4 values."""
    started = time.perf_counter()
    flows = match(snap, priority, min_trade)
    return Matching(
        priority,
        tuple(flows),
        matching_levels(snap, priority, flows, Status(LevelStatus.GREEDY)),
        "greedy",
        seconds=time.perf_counter() - started,
    )


def matching_levels(
    snap: IntervalSnapshot, priority: str, flows: list[tuple[int, int, float]], status: Status
) -> tuple[LevelRecord, ...]:
    """Records of levels 1, 3 and 4 of a set of flows: P2P volume, priority objective, transactions."""
    i = np.array([f[0] for f in flows], dtype=int)
    j = np.array([f[1] for f in flows], dtype=int)
    kwh = np.array([f[2] for f in flows], dtype=float)
    return (
        LevelRecord(1, "p2p", status, float(kwh.sum())),
        LevelRecord(3, f"priority_{priority.lower()}", status, priority_objective(snap, priority, i, j, kwh)),
        LevelRecord(4, "transactions", status, float(len(flows))),
    )
