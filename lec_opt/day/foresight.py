"""The value of foresight: the day's CES schedule solved at once, against the paper's myopic rule.

models/FORMULATION.md §10. The myopic rule (``ces.policy = "myopic"``, the paper's) dispatches the
CES interval by interval from the current SoC. With ``ces.policy = "foresight"`` the day is first
walked myopically (the aggregator's choices are made there), then the CES flows of the followed
path are re-scheduled by one optimisation over all intervals (``lec_opt.model.foresight``) given
each interval's chosen matching, and every chosen result is rebuilt and settled with them. Both
paths are scored by the same day value: the community's money against the grid net of the CES's
degradation, Σ_t π_sell·export − π_buy·(import + Eg + Evg) − d·(E_ch + E_dis).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from lec_opt.day.selection import score_vector
from lec_opt.market.ces import CesDispatch, ces_params
from lec_opt.market.outcome import result_from_matching
from lec_opt.market.result import IntervalResult, LevelStatus, Matching, Status
from lec_opt.market.settlement import settle
from lec_opt.market.snapshot import DayInputs

FORESIGHT_STATUS = Status(LevelStatus.FORESIGHT)


def day_value_usd(results: list[IntervalResult], degradation: float) -> float:
    """The day value both policies are scored by: money against the grid, net of CES degradation ($)."""
    return float(
        sum(
            r.snapshot.sell_price * r.grid_export_kwh
            - r.snapshot.buy_price * r.grid_import_kwh
            - degradation * (r.ces_charge_kwh + r.ces_discharge_kwh)
            for r in results
        )
    )


def interval_values_usd(results: list[IntervalResult], degradation: float) -> np.ndarray:
    """The day value interval by interval ($)."""
    return np.array([day_value_usd([r], degradation) for r in results])


def foresight_inputs(day: DayInputs, results: list[IntervalResult]):
    """The day schedule's data from the followed path's results (their P2P outcome, not their CES)."""
    from lec_opt.model.foresight import ForesightInputs  # Pyomo only when foresight is asked for

    ces = day.scenario.ces
    return ForesightInputs(
        surplus_kwh=np.array([float((r.seller_to_ces_kwh + r.seller_export_kwh).sum()) for r in results]),
        deficit_kwh=np.array([float((r.ces_to_buyer_kwh + r.grid_to_buyer_kwh).sum()) for r in results]),
        ev_kwh=np.array([r.snapshot.ev_kwh for r in results]),
        buy=np.array([r.snapshot.buy_price for r in results]),
        sell=np.array([r.snapshot.sell_price for r in results]),
        capacity_kwh=ces.capacity_kwh,
        soc_initial=ces.soc_initial,
        soc_min=ces.soc_min,
        soc_max=ces.soc_max,
        soc_end_min=min(max(results[-1].soc_end, ces.soc_min), ces.soc_max),
        charge_max_kwh=ces.charge_power_kw * day.hours,
        discharge_max_kwh=ces.discharge_power_kw * day.hours,
        eta_c=ces.charge_efficiency,
        eta_d=ces.discharge_efficiency,
        grid_recharge_threshold=ces.grid_recharge_threshold,
        degradation=ces.degradation,
    )


def foresight_path(day: DayInputs, steps: list, matchings: list[dict[str, Matching]]):
    """The followed path's steps with the CES re-scheduled with foresight, and the schedule.

    Each step keeps its choice and the other priorities' (myopic) results; the chosen result is
    rebuilt from its matching with the schedule's flows, settled, and scored again.
    """
    from lec_opt.model.foresight import solve_foresight

    scenario = day.scenario
    inp = foresight_inputs(day, [s.result for s in steps])
    plan = solve_foresight(inp, scenario.solver.threads)
    out = []
    soc = scenario.ces.soc_initial
    for t, step in enumerate(steps):
        snap = step.result.snapshot
        ces = ces_params(scenario, snap, soc)
        c = min(plan.charge_from_peers_kwh[t], inp.surplus_kwh[t])
        eg = plan.charge_from_grid_kwh[t]
        d = min(plan.discharge_to_peers_kwh[t], inp.deficit_kwh[t])
        ev = min(plan.discharge_to_ev_kwh[t], inp.ev_kwh[t])
        soc_end = ces.soc_after(c + eg, d + ev)
        objective = ces.level2_objective(c, eg, d, ev, inp.surplus_kwh[t], inp.deficit_kwh[t], inp.ev_kwh[t])
        dispatch = CesDispatch(c, eg, d, ev, max(inp.ev_kwh[t] - ev, 0.0), soc_end, objective)
        p = step.chosen
        result = result_from_matching(
            snap, ces, matchings[t][p], scenario.bids.mu, scenario.bids.price_margin, dispatch, FORESIGHT_STATUS
        )
        money = settle(result, ces)
        results = {**step.results, p: result}
        settlements = {**step.settlements, p: money}
        scores = {**step.scores, p: score_vector(result, money, scenario.selection, ces)[0]}
        out.append(replace(step, results=results, settlements=settlements, scores=scores))
        soc = soc_end
    degradation = scenario.ces.degradation
    myopic = day_value_usd([s.result for s in steps], degradation)
    if day_value_usd([s.result for s in out], degradation) <= myopic + 1e-9 * max(1.0, abs(myopic)):
        # no better than the myopic path, which is a feasible schedule: keep it (a gain of exactly 0,
        # not a round-off of -1e-14)
        return list(steps), plan
    return out, plan
