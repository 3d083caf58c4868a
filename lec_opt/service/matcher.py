"""The MILP matchings of complete intervals, solved ahead in worker processes.

An interval's matchings do not depend on the CES's SoC (models/FORMULATION.md §4), so they can be
solved as soon as every reading of the interval is in, while earlier intervals still wait for their
own: as ``solve-day``'s workers do, the service's processes solve one complete interval after
another, and the clearing, in interval order, takes each interval's matchings when they are done.
They are the matchings of the readings they were solved from: a correction since then (a replaced
reading, a reopened interval, a deadline's filled reading) makes the clearing solve them again, in
the service's own process, as does a worker that failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from typing import NamedTuple

import numpy as np

from lec_opt.day.matching import match_interval
from lec_opt.market.result import Matching
from lec_opt.market.snapshot import IntervalSnapshot
from lec_opt.scenario.schema import Scenario

log = logging.getLogger(__name__)


class Ahead(NamedTuple):
    """An interval's matchings being solved ahead, and the readings they are solved from."""

    load_kwh: np.ndarray
    pv_kwh: np.ndarray
    future: Future


class Matcher:
    """Solve complete intervals' MILP matchings in ``workers`` processes; ``on_done`` is called
    (in a pool thread) whenever one is done, so that the clearing can go on."""

    def __init__(self, scenario: Scenario, workers: int, on_done: Callable[[], None]) -> None:
        self.scenario = scenario
        self.on_done = on_done
        # spawn: the service's process has threads (the server's, the clerk's), which fork would copy half-way
        context = get_context("spawn")
        self.pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_load, initargs=(scenario,))
        self.ahead: dict[int, Ahead] = {}

    def solve_ahead(self, t: int, load_kwh: np.ndarray, pv_kwh: np.ndarray) -> None:
        """Start solving interval ``t``'s matchings from these readings (unless that is under way)."""
        known = self.ahead.get(t)
        if known is not None and _same(known, load_kwh, pv_kwh):
            return
        future = self.pool.submit(_match, t, load_kwh, pv_kwh)
        self.ahead[t] = Ahead(load_kwh, pv_kwh, future)
        future.add_done_callback(lambda _f: self.on_done())

    def waiting_for(self, t: int) -> bool:
        """Whether interval ``t``'s matchings are being solved and not done yet."""
        known = self.ahead.get(t)
        return known is not None and not known.future.done()

    def matchings(self, t: int, snap: IntervalSnapshot, method: str) -> dict[str, Matching]:
        """Interval ``t``'s matchings of ``snap``: those solved ahead if they are of the same readings
        (waiting for them if need be), else solved here."""
        known = self.ahead.pop(t, None)
        if known is not None and _same(known, snap.load_kwh, snap.pv_kwh):
            try:
                return known.future.result()
            except Exception:  # noqa: BLE001 - a worker that died or failed: solve here (a model error then says why)
                log.exception("the matchings of interval %d solved ahead failed; solving them again", t)
        return match_interval(snap, self.scenario, method)

    def close(self) -> None:
        """Stop the workers (matchings not started are dropped; the next start solves them)."""
        self.pool.shutdown(wait=True, cancel_futures=True)


def _same(known: Ahead, load_kwh: np.ndarray, pv_kwh: np.ndarray) -> bool:
    return np.array_equal(known.load_kwh, load_kwh) and np.array_equal(known.pv_kwh, pv_kwh)


_COMMUNITY = {}  # the worker's community (its scenario's day), loaded once per process


def _load(scenario: Scenario) -> None:
    from lec_opt.service.community import Community

    _COMMUNITY["milp"] = Community(scenario, "milp")


def _match(t: int, load_kwh: np.ndarray, pv_kwh: np.ndarray) -> dict[str, Matching]:
    community = _COMMUNITY["milp"]
    snap = community.day_with({t: (load_kwh, pv_kwh)}).snapshot(t)
    return match_interval(snap, community.scenario, "milp")
