"""From a matching to an interval's result: the exact CES dispatch, shared among the peers.

The P2P matching of an interval (levels 1, 3, 4) leaves each seller some surplus and each buyer
some deficit; the CES dispatch (level 2) depends on the matching only through those totals
(models/FORMULATION.md §4), so it is solved exactly by ``lec_opt.market.ces.dispatch`` and
shared among the sellers and buyers in proportion to what each has left.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from lec_opt.market.ces import CesDispatch, CesParams, dispatch
from lec_opt.market.greedy import matching_levels
from lec_opt.market.pricing import trade_prices
from lec_opt.market.result import IntervalResult, LevelRecord, LevelStatus, Matching, Status, Trade
from lec_opt.market.snapshot import IntervalSnapshot

_TINY = 1e-12
EXACT_DISPATCH = Status(LevelStatus.EXACT_DISPATCH)
TRIVIAL = Status(LevelStatus.TRIVIAL, ": no willing seller-buyer pair")


def share_in_proportion(total: float, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` over ``weights`` in proportion (all zero when the weights are)."""
    w = float(weights.sum())
    return weights * (total / w) if w > _TINY else np.zeros_like(weights, dtype=float)


def has_willing_pair(snap: IntervalSnapshot) -> bool:
    """Is there at least one willing seller and one willing buyer (else no P2P decision is left)?"""
    return bool(snap.willing_seller.any() and snap.willing_buyer.any())


def trivial_matching(snap: IntervalSnapshot, priority: str) -> Matching:
    """The only matching of an interval without a willing pair: no trade, optimal by definition."""
    return Matching(priority, (), matching_levels(snap, priority, [], TRIVIAL), "milp")


def _trade_arrays(snap: IntervalSnapshot, priority: str, flows, mu: str, price_margin: float):
    """Seller and buyer positions, kWh and $/kWh of flows given by position."""
    table = np.array(flows, dtype=float).reshape(len(flows), 3)  # positions are small integers: exact
    i, j, kwh = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), np.ascontiguousarray(table[:, 2])
    prices = np.asarray(trade_prices(snap, priority, i, j, mu, price_margin), dtype=float)
    return i, j, kwh, prices


def _trades(snap: IntervalSnapshot, arrays) -> tuple[Trade, ...]:
    i, j, kwh, prices = arrays
    return tuple(
        Trade(a, b, e, p)
        for a, b, e, p in zip(snap.sellers[i].tolist(), snap.buyers[j].tolist(), kwh.tolist(), prices.tolist())
    )


def trades_of(snap: IntervalSnapshot, priority: str, flows, mu: str, price_margin: float) -> tuple[Trade, ...]:
    """Trades (peer numbers, kWh, price) of flows given by position."""
    return _trades(snap, _trade_arrays(snap, priority, flows, mu, price_margin))


def result_from_matching(
    snap: IntervalSnapshot,
    ces: CesParams,
    matching: Matching,
    mu: str,
    price_margin: float,
    ces_out: CesDispatch | None = None,
    ces_status: Status = EXACT_DISPATCH,
) -> IntervalResult:
    """A matching plus the exact CES dispatch from the CES state in ``ces`` (or the given ``ces_out``,
    e.g. the day's foresight schedule, with ``ces_status`` in its level record).

    ``solve_seconds`` counts the matching's own time and the dispatch.
    """
    started = time.perf_counter()
    flows = matching.flows
    n_s, n_b = len(snap.sellers), len(snap.buyers)
    arrays = _trade_arrays(snap, matching.priority, flows, mu, price_margin)
    i, j, kwh, _ = arrays
    sold = np.bincount(i, kwh, minlength=n_s) if flows else np.zeros(n_s)
    bought = np.bincount(j, kwh, minlength=n_b) if flows else np.zeros(n_b)
    left_s = np.clip(snap.surplus_kwh - sold, 0.0, None)
    left_r = np.clip(snap.deficit_kwh - bought, 0.0, None)
    if ces_out is None:
        ces_out = dispatch(ces, float(left_s.sum()), float(left_r.sum()), snap.ev_kwh)
    c = share_in_proportion(ces_out.charge_from_peers_kwh, left_s)
    d = share_in_proportion(ces_out.discharge_to_peers_kwh, left_r)
    ces_level = LevelRecord(2, "ces", ces_status, ces_out.objective)
    at = next((n for n, lv in enumerate(matching.levels) if lv.level >= 2), len(matching.levels))
    result = IntervalResult(
        snapshot=snap,
        priority=matching.priority,
        method=matching.method,
        trades=_trades(snap, arrays),
        seller_to_ces_kwh=c,
        seller_export_kwh=left_s - c,
        ces_to_buyer_kwh=d,
        grid_to_buyer_kwh=left_r - d,
        grid_to_ces_kwh=ces_out.charge_from_grid_kwh,
        ces_to_ev_kwh=ces_out.discharge_to_ev_kwh,
        grid_to_ev_kwh=ces_out.ev_from_grid_kwh,
        soc_start=ces.soc,
        soc_end=ces_out.soc_end,
        levels=(*matching.levels[:at], ces_level, *matching.levels[at:]),
        solve_seconds=matching.seconds + time.perf_counter() - started,
        fallback=matching.fallback,
        fallback_reason=matching.fallback_reason,
    )
    result.__dict__["trade_arrays"] = arrays  # IntervalResult.trade_arrays of these very trades, known already
    return result


def as_fallback(matching: Matching, failed: LevelRecord, solved: list[LevelRecord]) -> Matching:
    """The greedy ``matching`` standing in for a MILP whose level ``failed``; the records say so."""
    return replace(
        matching,
        levels=(*solved, failed, *matching.levels),
        fallback=True,
        fallback_reason=f"HiGHS level {failed.level} ({failed.name}) ended {failed.status} after "
        f"{failed.seconds:.2f} s; greedy allocation used",
    )
