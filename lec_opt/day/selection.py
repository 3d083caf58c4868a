"""The aggregator's choice of priority in each interval: the selection criteria (models/FORMULATION.md §7)."""

from __future__ import annotations

import numpy as np

from lec_opt.market.ces import CesParams
from lec_opt.market.result import IntervalResult
from lec_opt.market.settlement import IntervalSettlement
from lec_opt.market.topology import fee_distance
from lec_opt.scenario.schema import Selection


def score(result: IntervalResult, money: IntervalSettlement, sel: Selection, ces: CesParams) -> float:
    """The aggregator's criterion ``sel.criterion`` for one priority's result; larger is better.

    community_saving counts the CES as a member of the community: energy it stores (or draws)
    in the interval is valued at what it will sell for, η_d·Pd per kWh stored, so that a
    priority does not look better merely by draining the storage.
    """
    if sel.criterion == "community_saving":
        hops = sum(fee_distance(result.snapshot, t.seller, t.buyer) * t.kwh for t in result.trades)
        stored = ces.eta_c * result.ces_charge_kwh - result.ces_discharge_kwh / ces.eta_d
        return (
            money.community_saving_usd
            + ces.eta_d * ces.pd * stored
            - sel.network_fee * hops
            - sel.transaction_cost * result.transactions
        )
    if sel.criterion == "consumer_savings":
        return float((money.bill_grid_only_usd - money.bill_usd).sum())
    if sel.criterion == "prosumer_revenue":
        return float((money.revenue_usd - money.revenue_grid_only_usd).sum())
    if sel.criterion == "transactions":
        return -float(result.transactions)
    # fairness: Jain's index of the savings of the peers who trade in this interval
    saving = money.saving_usd[money.is_seller | money.is_buyer]
    if saving.size == 0 or not np.any(saving):
        return 1.0
    return float(saving.sum() ** 2 / (saving.size * np.square(saving).sum()))
