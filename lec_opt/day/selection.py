"""The aggregator's choice of priority in each interval: the selection criteria (models/FORMULATION.md §7).

A criterion is one metric (larger is better) or a list of metrics compared lexicographically:
the first decides unless the priorities tie on it (within a relative tolerance), then the next.
``paper`` is the reading of the paper's §5.5 that reproduces its Fig. 12 best (§7 says why).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lec_opt.market.ces import CesParams
from lec_opt.market.result import IntervalResult
from lec_opt.market.settlement import IntervalSettlement
from lec_opt.market.topology import fee_distance
from lec_opt.scenario.schema import Selection

# The paper's §5.5: C is chosen "to increase the grand coalition's revenue", the choice is made
# "according to P2P energy traded and the number of transactions": the prosumers' revenue first
# (only C's pricing changes it), then the fewest transactions (A and B tie on revenue). Of the
# readings studied this one reproduces Fig. 12 best on the greedy and the MILP day (FORMULATION.md §7).
PAPER_CRITERION = ("prosumer_revenue", "transactions")
TIE_TOLERANCE = 1e-9  # relative: two scores within it are a tie, decided by the next metric (then A, B, C)

Metric = Callable[[IntervalResult, IntervalSettlement, Selection, CesParams], float]


def _community_saving(result: IntervalResult, money: IntervalSettlement, sel: Selection, ces: CesParams) -> float:
    """The community's money against grid-only, the CES's stored energy valued at η_d·Pd per kWh,
    minus the network fee per kWh·hop (ring) or kWh·km (feeder) and the transaction cost."""
    hops = sum(fee_distance(result.snapshot, t.seller, t.buyer) * t.kwh for t in result.trades)
    stored = ces.eta_c * result.ces_charge_kwh - result.ces_discharge_kwh / ces.eta_d
    return (
        money.community_saving_usd
        + ces.eta_d * ces.pd * stored
        - sel.network_fee * hops
        - sel.transaction_cost * result.transactions
    )


def _fairness(result: IntervalResult, money: IntervalSettlement, sel: Selection, ces: CesParams) -> float:
    """Jain's index of the savings of the peers who trade in this interval."""
    saving = money.saving_usd[money.is_seller | money.is_buyer]
    if saving.size == 0 or not np.any(saving):
        return 1.0
    return float(saving.sum() ** 2 / (saving.size * np.square(saving).sum()))


METRICS: dict[str, Metric] = {
    "community_saving": _community_saving,
    "consumer_savings": lambda r, m, s, c: float((m.bill_grid_only_usd - m.bill_usd).sum()),
    "prosumer_revenue": lambda r, m, s, c: float((m.revenue_usd - m.revenue_grid_only_usd).sum()),
    "p2p_energy": lambda r, m, s, c: float(r.p2p_kwh),
    "transactions": lambda r, m, s, c: -float(r.transactions),  # fewest
    "kwh_per_transaction": lambda r, m, s, c: float(r.p2p_kwh) / r.transactions if r.transactions else 0.0,
    "fairness": _fairness,
}


def metrics_of(sel: Selection) -> tuple[str, ...]:
    """The metrics of ``sel.criterion`` in lexicographic order (``paper`` expanded)."""
    criterion = sel.criterion
    if criterion == "paper":
        return PAPER_CRITERION
    return (criterion,) if isinstance(criterion, str) else tuple(criterion)


def score_vector(
    result: IntervalResult, money: IntervalSettlement, sel: Selection, ces: CesParams
) -> tuple[float, ...]:
    """Every metric of the criterion for one priority's result, in order; larger is better."""
    return tuple(METRICS[name](result, money, sel, ces) for name in metrics_of(sel))


def score(result: IntervalResult, money: IntervalSettlement, sel: Selection, ces: CesParams) -> float:
    """The criterion's first metric (the one a day's ``score`` sums)."""
    return score_vector(result, money, sel, ces)[0]


def choose(vectors: dict[str, tuple[float, ...]]) -> str:
    """The priority with the lexicographically best score vector; ties (within TIE_TOLERANCE) in dict order."""
    candidates = list(vectors)
    for level in range(len(next(iter(vectors.values())))):
        best = max(vectors[p][level] for p in candidates)
        slack = TIE_TOLERANCE * max(1.0, abs(best))
        candidates = [p for p in candidates if vectors[p][level] >= best - slack]
        if len(candidates) == 1:
            break
    return candidates[0]
