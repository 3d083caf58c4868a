"""The paper's own sorted matching for priorities A, B and C (MODEL.md §4), no solver.

It is the cross-check of every MILP result and the fallback when HiGHS gives no answer. The
CES then takes the exact optimum of the level-2 objective (``lec_opt.ces.dispatch``), shared
among sellers and buyers in proportion to what each has left after P2P.
"""

from __future__ import annotations

import time

import numpy as np

from lec_opt.ces import CesParams, ces_params, dispatch
from lec_opt.model import ring_distance
from lec_opt.result import IntervalResult, LevelRecord, Trade, trade_prices
from lec_opt.scenario import Scenario
from lec_opt.snapshot import IntervalSnapshot

_TINY = 1e-12


def _two_pointer(sell_order, buy_order, s, r, min_trade, keep_going=lambda i, j: True):
    """Pair the heads of two ordered lists, trade min(remaining), advance whichever is used up."""
    s, r = s.copy(), r.copy()
    flows = []
    a = b = 0
    while a < len(sell_order) and b < len(buy_order):
        i, j = sell_order[a], buy_order[b]
        if not keep_going(i, j):
            break
        delta = min(s[i], r[j])
        if delta >= max(min_trade, _TINY):
            flows.append((int(i), int(j), float(delta)))
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
    if priority == "B":  # nearest on the ring first
        if not len(sellers) or not len(buyers):
            return []
        si, bj = (a.ravel() for a in np.meshgrid(sellers, buyers, indexing="ij"))
        dist = ring_distance(snap.sellers[si], snap.buyers[bj], snap.n_peers)
        order = np.lexsort((snap.buyers[bj], snap.sellers[si], -r[bj], -s[si], dist))
        s_left, r_left = s.copy(), r.copy()
        flows = []
        for n in order:
            i, j = si[n], bj[n]
            delta = min(s_left[i], r_left[j])
            if delta > _TINY and delta >= min_trade:
                flows.append((int(i), int(j), float(delta)))
                s_left[i] -= delta
                r_left[j] -= delta
        return flows
    raise ValueError(f"unknown priority {priority!r}")


def priority_objective(snap: IntervalSnapshot, priority: str, i: np.ndarray, j: np.ndarray, kwh: np.ndarray) -> float:
    """The level-3 objective of a set of flows (same formula as the MILP's)."""
    if priority == "A":
        s_max = snap.surplus_kwh.max() if len(snap.sellers) else 1.0
        r_max = snap.deficit_kwh.max() if len(snap.buyers) else 1.0
        return float(np.sum(snap.surplus_kwh[i] / s_max * snap.deficit_kwh[j] / r_max * kwh))
    if priority == "B":
        return float(np.sum(ring_distance(snap.sellers[i], snap.buyers[j], snap.n_peers) * kwh))
    return float(np.sum((snap.bid[j] - snap.ask[i]) * kwh))


def _share(total: float, weights: np.ndarray) -> np.ndarray:
    w = weights.sum()
    return weights * (total / w) if w > _TINY else np.zeros_like(weights)


def assemble(
    snap: IntervalSnapshot, scenario: Scenario, ces: CesParams, priority: str, method: str,
    flows: list[tuple[int, int, float]], *, match_levels: tuple[LevelRecord, ...] | None = None,
    started: float | None = None, **extra,
) -> IntervalResult:
    """A result from P2P flows: dispatch the CES exactly and share it among the peers.

    ``flows`` are (seller index, buyer index, kWh). ``match_levels`` are the records of the
    matching's levels 1, 3 and 4 when a solver made them; without them the levels are the greedy's
    own objective values. Level 2 is always the exact CES dispatch.
    """
    started = time.perf_counter() if started is None else started
    i = np.array([f[0] for f in flows], dtype=int)
    j = np.array([f[1] for f in flows], dtype=int)
    kwh = np.array([f[2] for f in flows], dtype=float)
    sold = np.bincount(i, kwh, minlength=len(snap.sellers)) if len(flows) else np.zeros(len(snap.sellers))
    bought = np.bincount(j, kwh, minlength=len(snap.buyers)) if len(flows) else np.zeros(len(snap.buyers))
    left_s = np.clip(snap.surplus_kwh - sold, 0.0, None)
    left_r = np.clip(snap.deficit_kwh - bought, 0.0, None)
    ces_out = dispatch(ces, float(left_s.sum()), float(left_r.sum()), snap.ev_kwh)
    c = _share(ces_out.charge_from_peers_kwh, left_s)
    d = _share(ces_out.discharge_to_peers_kwh, left_r)
    prices = trade_prices(snap, scenario, priority, i, j)
    trades = tuple(
        Trade(int(snap.sellers[a]), int(snap.buyers[b]), float(q), float(p))
        for a, b, q, p in zip(i, j, kwh, prices, strict=True)
    )
    ces_level = LevelRecord(2, "ces", "exact dispatch", ces_out.objective)
    if match_levels is None:
        match_levels = (
            LevelRecord(1, "p2p", method, float(kwh.sum())),
            LevelRecord(3, f"priority_{priority.lower()}", method, priority_objective(snap, priority, i, j, kwh)),
            LevelRecord(4, "transactions", method, float(len(flows))),
        )
    levels = extra.pop("levels", None) or (match_levels[0], ces_level, *match_levels[1:])
    return IntervalResult(
        snapshot=snap,
        priority=priority,
        method=method,
        trades=trades,
        ces_charge_kwh=c,
        export_kwh=left_s - c,
        ces_discharge_kwh=d,
        import_kwh=left_r - d,
        grid_to_ces_kwh=ces_out.charge_from_grid_kwh,
        ces_to_ev_kwh=ces_out.discharge_to_ev_kwh,
        grid_to_ev_kwh=ces_out.ev_from_grid_kwh,
        soc_start=ces.soc,
        soc_end=ces_out.soc_end,
        levels=levels,
        solve_seconds=time.perf_counter() - started,
        **extra,
    )


def flows_of(result: IntervalResult) -> list[tuple[int, int, float]]:
    """A result's trades as (seller index, buyer index, kWh) in its snapshot."""
    seller_pos = {p: n for n, p in enumerate(result.snapshot.sellers.tolist())}
    buyer_pos = {p: n for n, p in enumerate(result.snapshot.buyers.tolist())}
    return [(seller_pos[t.seller], buyer_pos[t.buyer], t.kwh) for t in result.trades]


def solve_greedy(snap: IntervalSnapshot, scenario: Scenario, soc: float, priority: str) -> IntervalResult:
    """The paper's matching for ``priority`` plus the exact CES dispatch."""
    started = time.perf_counter()
    flows = match(snap, priority, scenario.willingness.min_trade_kwh)
    return assemble(snap, scenario, ces_params(scenario, snap, soc), priority, "greedy", flows, started=started)
