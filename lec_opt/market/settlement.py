"""Money of one interval: P2P, CES and grid payments per peer, the grid-only baseline, the CES account.

models/FORMULATION.md §6: seller revenue = Σ TP·x + Pc·c + π_sell·e; buyer bill = Σ TP·x + Pd·d + π_buy·g;
EV bill = P_ev·Ev + π_buy·Evg; CES cash = Pd·Σd + P_ev·Ev − Pc·Σc − π_buy·Eg (its degradation
d·(E_ch + E_dis) is reported beside it). Grid-only: π_sell·s and π_buy·r. Every interval must
balance in energy and in money; a violation raises (it is a bug, never a warning).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lec_opt.errors import LecOptError
from lec_opt.market.ces import CesParams
from lec_opt.market.result import IntervalResult

ENERGY_TOL_KWH = 1e-6
MONEY_TOL_USD = 1e-6


class BalanceError(LecOptError):
    """Energy or money does not add up in an interval: a bug in the model or the settlement."""


@dataclass(frozen=True)
class IntervalSettlement:
    """Per-peer money ($) and energy (kWh) of one interval; arrays indexed by peer - 1."""

    index: int
    revenue_usd: np.ndarray  # sellers: P2P + CES + export
    revenue_grid_only_usd: np.ndarray
    bill_usd: np.ndarray  # buyers: P2P + CES + import
    bill_grid_only_usd: np.ndarray
    sold_p2p_kwh: np.ndarray
    bought_p2p_kwh: np.ndarray
    to_ces_kwh: np.ndarray
    from_ces_kwh: np.ndarray
    export_kwh: np.ndarray
    import_kwh: np.ndarray
    is_seller: np.ndarray
    is_buyer: np.ndarray
    ev_bill_usd: float
    ev_bill_grid_only_usd: float
    ces_cash_usd: float
    ces_degradation_usd: float
    grid_cash_usd: float  # what the community pays the grid: π_buy (Σg + Eg + Evg) − π_sell Σe

    @property
    def saving_usd(self) -> np.ndarray:
        """Each peer's gain over grid-only: extra revenue plus smaller bill."""
        return (self.revenue_usd - self.revenue_grid_only_usd) + (self.bill_grid_only_usd - self.bill_usd)

    @property
    def community_saving_usd(self) -> float:
        """Money the community (peers and EVs, the CES included) keeps against grid-only."""
        grid_only = float(self.bill_grid_only_usd.sum() + self.ev_bill_grid_only_usd - self.revenue_grid_only_usd.sum())
        return grid_only - self.grid_cash_usd


def settle(result: IntervalResult, ces: CesParams) -> IntervalSettlement:
    """Settle one interval and check that energy and money balance."""
    snap = result.snapshot
    n = snap.n_peers
    residual = result.balance_residual_kwh()
    if residual > ENERGY_TOL_KWH:
        raise BalanceError(
            f"interval {snap.index} ({result.priority}, {result.method}): energy off by {residual:.3g} kWh"
        )
    s_idx, b_idx = snap.sellers - 1, snap.buyers - 1
    i, j, kwh, price = result.trade_arrays
    paid = price * kwh
    # summed in trade order, as a loop of += would
    p2p_revenue = np.bincount(s_idx[i], paid, minlength=n)
    p2p_bill = np.bincount(b_idx[j], paid, minlength=n)

    def per_peer(idx, values):
        out = np.zeros(n)
        out[idx] = values
        return out

    to_ces = per_peer(s_idx, result.seller_to_ces_kwh)
    export = per_peer(s_idx, result.seller_export_kwh)
    from_ces = per_peer(b_idx, result.ces_to_buyer_kwh)
    imported = per_peer(b_idx, result.grid_to_buyer_kwh)
    revenue = p2p_revenue + ces.pc * to_ces + snap.sell_price * export
    bill = p2p_bill + ces.pd * from_ces + snap.buy_price * imported
    ev_bill = ces.p_ev * result.ces_to_ev_kwh + snap.buy_price * result.grid_to_ev_kwh
    ces_cash = (
        ces.pd * result.ces_to_buyer_kwh.sum()
        + ces.p_ev * result.ces_to_ev_kwh
        - ces.pc * result.seller_to_ces_kwh.sum()
        - snap.buy_price * result.grid_to_ces_kwh
    )
    grid_cash = snap.buy_price * result.grid_import_kwh - snap.sell_price * result.grid_export_kwh
    gap = bill.sum() + ev_bill - revenue.sum() - ces_cash - grid_cash
    if abs(gap) > MONEY_TOL_USD:
        raise BalanceError(f"interval {snap.index} ({result.priority}, {result.method}): money off by ${gap:.3g}")
    return IntervalSettlement(
        index=snap.index,
        revenue_usd=revenue,
        revenue_grid_only_usd=per_peer(s_idx, snap.sell_price * snap.surplus_kwh),
        bill_usd=bill,
        bill_grid_only_usd=per_peer(b_idx, snap.buy_price * snap.deficit_kwh),
        sold_p2p_kwh=per_peer(s_idx, result.sold_kwh()),
        bought_p2p_kwh=per_peer(b_idx, result.bought_kwh()),
        to_ces_kwh=to_ces,
        from_ces_kwh=from_ces,
        export_kwh=export,
        import_kwh=imported,
        is_seller=per_peer(s_idx, 1.0).astype(bool),
        is_buyer=per_peer(b_idx, 1.0).astype(bool),
        ev_bill_usd=float(ev_bill),
        ev_bill_grid_only_usd=float(snap.buy_price * snap.ev_kwh),
        ces_cash_usd=float(ces_cash),
        ces_degradation_usd=float(ces.degradation * (result.ces_charge_kwh + result.ces_discharge_kwh)),
        grid_cash_usd=float(grid_cash),
    )
