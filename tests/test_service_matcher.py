"""The MILP matchings solved ahead in the service's worker processes: the clearing takes them only for
the readings they were solved from; a corrected reading is solved again in the service's process,
and the answer is the one ``solve-day``'s matching gives for the corrected interval."""

from __future__ import annotations

import threading

import numpy as np

from lec_opt.day.matching import match_interval
from lec_opt.scenario import load_scenario
from lec_opt.service.community import Community
from lec_opt.service.matcher import Matcher

NOON = 144  # 12:00, an interval with sellers, buyers and MILP trades


def _trades(matchings) -> dict:
    return {p: sorted((int(i), int(j), round(kwh, 9)) for i, j, kwh in m.flows) for p, m in matchings.items()}


def test_matchings_solved_ahead_are_taken_only_for_the_same_readings():
    community = Community(load_scenario(), "milp")
    day, scenario = community.day, community.scenario
    done = threading.Semaphore(0)
    matcher = Matcher(scenario, 1, on_done=done.release)
    try:
        load, pv = day.load_kwh[NOON].copy(), day.pv_kwh[NOON].copy()
        matcher.solve_ahead(NOON, load, pv)
        assert matcher.waiting_for(NOON) or matcher.ahead[NOON].future.done()
        assert done.acquire(timeout=300)
        assert not matcher.waiting_for(NOON)
        ahead = matcher.ahead[NOON].future.result()
        snap = day.snapshot(NOON)
        taken = matcher.matchings(NOON, snap, "milp")
        assert taken is ahead  # the worker's, not solved again
        here = match_interval(snap, scenario, "milp")
        assert _trades(taken) == _trades(here) and any(_trades(here).values())

        matcher.solve_ahead(NOON, load, pv)
        assert done.acquire(timeout=300)
        second = matcher.ahead[NOON].future.result()
        corrected = pv.copy()
        corrected[int(snap.sellers[np.argmax(snap.surplus_kwh)]) - 1] = 0.0  # the largest seller's PV read as 0
        snap2 = community.day_with({NOON: (load, corrected)}).snapshot(NOON)
        again = matcher.matchings(NOON, snap2, "milp")
        assert again is not second and NOON not in matcher.ahead  # solved here, the worker's dropped
        assert _trades(again) == _trades(match_interval(snap2, scenario, "milp"))
        assert _trades(again) != _trades(taken)
    finally:
        matcher.close()
