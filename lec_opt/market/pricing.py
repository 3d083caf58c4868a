"""The P2P trading price of each trade (models/FORMULATION.md §6)."""

from __future__ import annotations

import numpy as np

from lec_opt.market.snapshot import IntervalSnapshot


def trade_prices(
    snap: IntervalSnapshot, priority: str, seller_idx: np.ndarray, buyer_idx: np.ndarray, mu: str, price_margin: float
) -> np.ndarray:
    """$/kWh of each trade: mid-market for A and B; for C, TP = mu (bid + ask) / 2, clipped.

    ``mu`` = "community": the community surplus/demand ratio of the interval; "pair": s_i / r_j.
    The clip to [sell + margin, buy - margin] keeps BP > TP > SP (paper §4.3).
    """
    mid = 0.5 * (snap.buy_price + snap.sell_price)
    if len(seller_idx) == 0:
        return np.zeros(0)
    if priority != "C":
        return np.full(len(seller_idx), mid)
    if mu == "pair":
        factor = snap.surplus_kwh[seller_idx] / snap.deficit_kwh[buyer_idx]
    else:
        factor = np.full(len(seller_idx), snap.total_surplus_kwh / snap.total_deficit_kwh)
    price = factor * 0.5 * (snap.bid[buyer_idx] + snap.ask[seller_idx])
    return np.clip(price, snap.sell_price + price_margin, snap.buy_price - price_margin)
