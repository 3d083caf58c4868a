"""The network's limits kept in every interval of a feeder day (``[network] limits = "enforced"``,
models/FORMULATION.md §13).

Each interval is first solved as always. Its AC flow (the chosen priority's CES dispatch) is then
checked against the limits. Where a limit is broken, the interval is solved again in rounds:

1. linearise the flow around the last point (``lec_opt.network.limits``);
2. level 0 decides each seller's curtailment and the band the CES's net charge must keep: the LP of
   ``lec_opt.model.network_level`` (MILP days) or the greedy rule of ``lec_opt.market.network_rows``
   (greedy days);
3. the paper's levels run on what is left: the matchings on the curtailed interval, the CES
   dispatched within the band;
4. the AC flow checks the result; within every limit (up to ``VOLTAGE_TOLERANCE_PU``) it is kept,
   else the next round starts from it, ``MAX_ROUNDS`` at most.

The outcome is recorded per interval (``IntervalNetwork``), never silently: how many rounds, what is
left broken, each peer's curtailment and the revenue it cost.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import NamedTuple

import numpy as np

from lec_opt.day.matching import match_interval
from lec_opt.day.run import Step
from lec_opt.market.ces import ces_params
from lec_opt.market.network_rows import CesReach, CurtailmentPlan, CurtailmentRule, greedy_curtailment
from lec_opt.market.result import IntervalResult, Matching
from lec_opt.market.snapshot import DayInputs, IntervalSnapshot
from lec_opt.network.bus_powers import BusPowers, bus_powers
from lec_opt.network.engine import FlowResults, open_flow
from lec_opt.network.limits import (
    VOLTAGE_TOLERANCE_PU,
    Excess,
    Limits,
    OperatingPoint,
    check_no_load,
    excess,
    headroom,
    limit_rows,
)
from lec_opt.network.powerflow import day_powers, ready_feeder
from lec_opt.network.sensitivity import Sensitivities, sensitivities

MAX_ROUNDS = 3
SCREEN_MARGIN = 0.01  # p.u. (and hundredths of a rating): an interval the linear model puts this far inside
# every limit needs no AC flow of its own (its headroom, predicted from the day's flows at rest)
CURTAILED_OUT = 1e-9  # kWh: a seller left with no more surplus than this is no longer a seller


class NetworkStatus(StrEnum):
    """How an interval met the network's limits."""

    WITHIN = "within"  # the market's own outcome kept every limit
    KEPT = "kept"  # kept by curtailment and the CES's band
    RESIDUAL = "residual"  # the linearised limits hold, but the AC flow still breaks one after the last round
    INFEASIBLE = "infeasible"  # no curtailment and CES dispatch keeps the linearised limits: the least violation


@dataclass(frozen=True)
class IntervalNetwork:
    """What keeping the limits did in one interval (arrays per peer, peer - 1)."""

    status: NetworkStatus
    rounds: int  # level-0 solves (0: the market's outcome kept the limits)
    excess: Excess  # the last AC flow's excess over the limits
    curtailed_kwh: np.ndarray
    lost_revenue_usd: np.ndarray  # revenue without the limits (same SoC) minus with them

    @property
    def total_curtailed_kwh(self) -> float:
        """The community's curtailment in the interval."""
        return float(self.curtailed_kwh.sum())


class Round(NamedTuple):
    """One round of an interval's rounds: the step solved, the level-0 plan, the AC flow's excess."""

    step: Step
    plan: CurtailmentPlan
    over: Excess

    @property
    def curtailed(self) -> float:
        """The round's total curtailment, kWh."""
        return float(self.plan.curtailed_kwh.sum())


def net_charge_kwh(result: IntervalResult) -> float:
    """The CES's net charge E_ch - E_dis of an interval's result (kWh)."""
    return result.ces_charge_kwh - result.ces_discharge_kwh


def curtailed_snapshot(snap: IntervalSnapshot, curtailed: np.ndarray) -> IntervalSnapshot:
    """The interval with each seller's PV less its curtailment (per seller, snapshot order)."""
    left = snap.surplus_kwh - curtailed
    keep = left > CURTAILED_OUT
    pv = snap.pv_kwh.copy()
    pv[snap.sellers - 1] -= curtailed
    return replace(
        snap,
        pv_kwh=pv,
        sellers=snap.sellers[keep],
        surplus_kwh=left[keep],
        willing_seller=snap.willing_seller[keep],
        ask=snap.ask[keep],
    )


def ces_reach(scenario, snap: IntervalSnapshot, soc: float, matchings: dict[str, Matching]) -> CesReach:
    """What the CES can do in the interval whatever the matching after curtailment (``CesReach``)."""
    ces = ces_params(scenario, snap, soc)
    p2p = max((sum(f[2] for f in m.flows) for m in matchings.values()), default=0.0)
    return CesReach(
        charge_max=ces.charge_limit_kwh,
        grid_charge_max=min(ces.charge_max_kwh, ces.charge_limit_kwh) if ces.grid_recharge else 0.0,
        leftover_surplus=max(snap.total_surplus_kwh - p2p, 0.0),
        discharge_max=min(ces.discharge_limit_kwh, max(snap.total_deficit_kwh - p2p, 0.0) + snap.ev_kwh),
    )


class IntervalLimits:
    """The limits of a feeder day kept interval by interval (``lec_opt.day.run.NetworkGuard``)."""

    def __init__(self, day: DayInputs, method: str):
        scenario = day.scenario
        network = scenario.network
        self.day, self.method = day, method
        self.feeder = ready_feeder(scenario, day)
        self.flow = open_flow(self.feeder, network.engine)
        self.limits = Limits.of(network)
        self.rule = CurtailmentRule(network.curtailment)
        zero = np.zeros(day.n_peers)
        no_load = self._powers(0, zero, zero, 0.0, 0.0, with_ev=False)
        check_no_load(self.flow.solve(no_load), self.limits, scenario.origin("network"))
        self._slopes: Sensitivities | None = None
        self._at_rest = None  # the day's flows with nothing curtailed and the CES idle
        self._flows: dict[tuple, FlowResults] = {}  # each AC flow run, by its injections (walks share points)

    def _powers(self, t: int, load, pv, charge: float, discharge: float, with_ev: bool = True) -> BusPowers:
        """Interval ``t``'s ``BusPowers`` with these loads, PV and CES flows (kWh), its EV demand or none."""
        day = self.day
        ev = day.ev_charger_kwh[t : t + 1] if day.ev_charger_kwh is not None else day.ev_kwh[t : t + 1, None]
        ev = ev if with_ev else np.zeros_like(ev)
        pf = day.scenario.network.load_power_factor
        return bus_powers(self.feeder, load[None, :], pv[None, :], [charge], [discharge], ev, day.hours, pf)

    @property
    def slopes(self) -> Sensitivities:
        """The day's sensitivities: at its interval of most PV, nothing curtailed, the CES idle."""
        if self._slopes is None:
            day = self.day
            t = int(np.argmax(day.pv_kwh.sum(axis=1)))
            point = self._powers(t, day.load_kwh[t], day.pv_kwh[t], 0.0, 0.0)
            self._slopes = sensitivities(self.flow, self.feeder, point, tuple(range(day.n_peers + 1)))
        return self._slopes

    def predicted_headroom(self, t: int, net_kwh: float) -> float:
        """Interval ``t``'s headroom (``lec_opt.network.limits.headroom``) with the CES's net charge
        ``net_kwh`` and nothing curtailed, by the linear model from the day's flows at rest."""
        day = self.day
        if self._at_rest is None:
            zeros = np.zeros(day.n_intervals)
            self._at_rest = self.flow.solve(
                day_powers(self.feeder, day, zeros, zeros, day.scenario.network.load_power_factor)
            )
        rest, slopes, ces = self._at_rest, self.slopes, day.n_peers
        injected = -net_kwh / day.hours
        moved = replace(
            rest,
            converged=rest.converged[t : t + 1],
            v_pu=rest.v_pu[t : t + 1] + slopes.dv_dkw[None, :, :, ces] * injected,
            line_loading_percent=rest.line_loading_percent[t : t + 1] + slopes.dloading_dkw[None, :, ces] * injected,
            trafo_loading_percent=rest.trafo_loading_percent[t : t + 1]
            + (0.0 if slopes.dtrafo_dkw is None else slopes.dtrafo_dkw[ces] * injected),
        )
        return headroom(moved, self.limits)

    def point(self, snap: IntervalSnapshot, curtailed: np.ndarray, result: IntervalResult):
        """The AC flow of ``result`` with the sellers' ``curtailed`` kWh: its ``OperatingPoint`` and
        ``FlowResults`` (a flow already run with the same injections is not run again)."""
        charge, discharge = result.ces_charge_kwh, result.ces_discharge_kwh
        key = (snap.index, charge, discharge, snap.sellers.tobytes(), np.asarray(curtailed, float).tobytes())
        if key not in self._flows:
            pv = snap.pv_kwh.copy()
            pv[snap.sellers - 1] -= curtailed
            self._flows[key] = self.flow.solve(self._powers(snap.index, snap.load_kwh, pv, charge, discharge))
        flows = self._flows[key]
        trafo = float(flows.trafo_loading_percent[0])
        return OperatingPoint(flows.v_pu[0], flows.line_loading_percent[0], trafo, curtailed, charge - discharge), flows

    def keep(self, step: Step, matchings, soc: float, priorities, again) -> Step:
        """``step`` when its AC flow keeps the limits, else the interval solved again in rounds."""
        snap = step.result.snapshot
        zeros = np.zeros(snap.n_peers)
        if self.predicted_headroom(snap.index, net_charge_kwh(step.result)) >= SCREEN_MARGIN:
            return replace(step, network=IntervalNetwork(NetworkStatus.WITHIN, 0, Excess(0.0, 0.0, 0.0), zeros, zeros))
        point, flows = self.point(snap, np.zeros(len(snap.sellers)), step.result)
        over = excess(flows, self.limits)[0]
        if over.within:
            return replace(step, network=IntervalNetwork(NetworkStatus.WITHIN, 0, over, zeros, zeros))
        return self._rounds(step, snap, matchings, soc, priorities, again, point)

    def _rounds(self, step0: Step, snap, matchings, soc, priorities, again, point) -> Step:
        """Level 0 and the paper's levels again, re-linearised at each new point, until the AC flow
        keeps every limit with one of them binding (no more curtailed than needed), ``MAX_ROUNDS`` at
        most; the least-curtailing round that keeps the limits wins, else the last."""
        scenario = self.day.scenario
        reach = ces_reach(scenario, snap, soc, matchings)
        controls = (snap.sellers - 1, snap.n_peers)
        market_net = net_charge_kwh(step0.result)
        best = last = None
        for number in range(1, MAX_ROUNDS + 1):  # noqa: B007 - the rounds run are recorded after the loop
            rows = limit_rows(point, self.slopes, *controls, snap.hours, self.limits, (snap.surplus_kwh, reach))
            plan = self._level0(rows, snap.surplus_kwh, reach, market_net)
            cut = curtailed_snapshot(snap, plan.curtailed_kwh)
            step = again(cut, match_interval(cut, scenario, self.method, priorities), plan.band)
            point, flows = self.point(snap, plan.curtailed_kwh, step.result)
            last = Round(step, plan, excess(flows, self.limits)[0])
            if last.over.within and (best is None or last.curtailed < best.curtailed):
                best = last
            binding = headroom(flows, self.limits) <= VOLTAGE_TOLERANCE_PU
            if last.over.within and (binding or not plan.curtailed_kwh.any()):
                break
        kept = best or last
        if kept.over.within:
            status = NetworkStatus.KEPT
        else:
            status = NetworkStatus.RESIDUAL if kept.plan.met else NetworkStatus.INFEASIBLE
        per_peer = np.zeros(snap.n_peers)
        per_peer[snap.sellers - 1] = kept.plan.curtailed_kwh
        lost = step0.settlement.revenue_usd - kept.step.settlement.revenue_usd
        return replace(kept.step, network=IntervalNetwork(status, number, kept.over, per_peer, lost))

    def _level0(self, rows, surplus, reach, market_net):
        if self.method == "milp":
            from lec_opt.model.network_level import network_level  # HiGHS only for the MILP's level 0

            return network_level(rows, surplus, reach, self.rule)  # the CES's own choice: the later levels'
        return greedy_curtailment(rows, surplus, reach, market_net, self.rule)
