"""Clearing an interval: the readings in, the market of ``solve-day`` run on them, everything stored
in one transaction.

The clearing calls the day layer's own functions: ``match_interval`` (MILP or greedy, the matchings
do not depend on the SoC, models/FORMULATION.md §4) and ``step_interval`` (the CES dispatched from
the SoC carried in the database, settlement, the aggregator's criterion and choice). It follows the
aggregator's choice ("best") and, as ``solve-day`` does for its comparison, each priority alone on
its own SoC path. Intervals clear in order: interval t needs t - 1's SoC. A clearing is one
transaction (the interval's rows, its filled readings, the new SoC, the audit line): a service
killed in the middle has cleared the interval or not at all, and the primary key of
``cleared_intervals`` refuses a second clearing.
"""

from __future__ import annotations

import json
import pickle
import time
import zlib

import numpy as np
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from lec_opt.day.matching import match_interval
from lec_opt.day.run import Step, step_interval
from lec_opt.market.priorities import PRIORITIES
from lec_opt.service.community import Community
from lec_opt.service.db import (
    Audit,
    CesState,
    ClearedInterval,
    PathName,
    PrioritySummary,
    Reading,
    ReadingSource,
    SettlementRow,
    TradeRow,
)
from lec_opt.service.errors import Invalid

SETTLED = ("sold_p2p_kwh", "bought_p2p_kwh", "to_ces_kwh", "from_ces_kwh", "export_kwh", "import_kwh")
SETTLED += ("revenue_usd", "revenue_grid_only_usd", "bill_usd", "bill_grid_only_usd")


def next_interval(session: Session) -> int:
    """The first interval not yet cleared (the live one)."""
    last = session.scalar(select(func.max(ClearedInterval.interval)))
    return 0 if last is None else last + 1


def start_socs(session: Session, community: Community, t: int) -> dict[PathName, float]:
    """Each path's SoC at the start of interval ``t``: the end of t - 1 in the database, else the initial."""
    if t == 0:
        return {path: community.scenario.ces.soc_initial for path in PathName}
    rows = session.scalars(select(CesState).where(CesState.interval == t - 1)).all()
    return {row.path: row.soc_end for row in rows}


def complete_readings(session: Session, community: Community, t: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Interval ``t``'s load and PV per peer when every peer's reading is in, else None."""
    rows = session.execute(select(Reading.peer, Reading.load_kwh, Reading.pv_kwh).where(Reading.interval == t)).all()
    if len(rows) != community.n_peers:
        return None
    load, pv = np.zeros(community.n_peers), np.zeros(community.n_peers)
    for peer, load_kwh, pv_kwh in rows:
        load[peer - 1], pv[peer - 1] = load_kwh, pv_kwh
    return load, pv


def _filled_readings(session: Session, community: Community, t: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Interval ``t``'s load and PV per peer, missing ones filled by persistence (added as FILLED rows)."""
    got = {r.peer: r for r in session.scalars(select(Reading).where(Reading.interval == t))}
    missing = [p for p in range(1, community.n_peers + 1) if p not in got]
    if missing:
        before = {r.peer: r for r in session.scalars(select(Reading).where(Reading.interval == t - 1))}
        for p in missing:
            prev = before.get(p)
            row = Reading(interval=t, peer=p, source=ReadingSource.FILLED)
            row.load_kwh, row.pv_kwh = (prev.load_kwh, prev.pv_kwh) if prev else (0.0, 0.0)
            session.add(row)
            got[p] = row
    peers = range(1, community.n_peers + 1)
    load = np.array([got[p].load_kwh for p in peers], dtype=float)
    pv = np.array([got[p].pv_kwh for p in peers], dtype=float)
    return load, pv, len(missing)


def clear_interval(
    session: Session, community: Community, t: int, *, fill: bool = False, actor: str = "service", matcher=None
):
    """Clear interval ``t`` (the next one) inside ``session``'s transaction; the caller commits. Its
    matchings come from ``matcher`` (a ``Matcher`` solving ahead) when there is one."""
    started = time.perf_counter()
    if fill:
        load, pv, filled = _filled_readings(session, community, t)
    else:
        readings = complete_readings(session, community, t)
        if readings is None:
            raise Invalid(f"interval {community.day.start(t)} misses the readings of some peers")
        (load, pv), filled = readings, 0
    day = community.day_with({t: (load, pv)})
    snap = day.snapshot(t)
    if matcher is not None:
        matchings = matcher.matchings(t, snap, community.method)
    else:
        matchings = match_interval(snap, community.scenario, community.method)
    socs = start_socs(session, community, t)
    best = step_interval(day, t, matchings, socs[PathName.BEST], PRIORITIES, "best")
    single = {p: step_interval(day, t, matchings, socs[PathName(p)], (p,), p) for p in PRIORITIES}
    seconds = time.perf_counter() - started
    _store(session, best, single, filled, seconds)
    detail = {"time": day.start(t), "chosen": best.chosen, "filled_peers": filled, "fill": fill}
    session.add(Audit(actor=actor, action="clear", detail=json.dumps(detail)))
    return best


def _store(session: Session, best: Step, single: dict[str, Step], filled: int, seconds: float) -> None:
    r, t = best.result, best.index
    blob = zlib.compress(pickle.dumps({"best": best, "single": single}, protocol=5), 1)
    session.add(
        ClearedInterval(
            interval=t,
            time=r.snapshot.start,
            chosen=best.chosen,
            p2p_kwh=r.p2p_kwh,
            ces_charge_kwh=r.ces_charge_kwh,
            ces_discharge_kwh=r.ces_discharge_kwh,
            grid_to_ces_kwh=r.grid_to_ces_kwh,
            ces_to_ev_kwh=r.ces_to_ev_kwh,
            soc_start=r.soc_start,
            soc_end=r.soc_end,
            grid_import_kwh=r.grid_import_kwh,
            grid_export_kwh=r.grid_export_kwh,
            filled_peers=filled,
            seconds=seconds,
            step=blob,
        )
    )
    session.flush()  # the interval's row first: the rows below refer to it
    summaries, trades = [], []
    for p, pr in best.results.items():
        status = "|".join(lv.status for lv in pr.levels)
        summaries.append(
            {"interval": t, "priority": p, "p2p_kwh": pr.p2p_kwh, "transactions": pr.transactions,
             "score": best.scores[p], "status": status, "fallback": bool(pr.fallback)}
        )  # fmt: skip
        trades += [
            {"interval": t, "priority": p, "chosen": p == best.chosen, "seller": int(tr.seller),
             "buyer": int(tr.buyer), "kwh": tr.kwh, "price_usd_per_kwh": tr.price_usd_per_kwh}
            for tr in pr.trades
        ]  # fmt: skip
    paths = [(PathName.BEST, best)] + [(PathName(p), s) for p, s in single.items()]
    socs = [
        {"interval": t, "path": path, "soc_start": s.result.soc_start, "soc_end": s.result.soc_end} for path, s in paths
    ]
    m = best.settlement
    columns = {name: getattr(m, name).tolist() for name in (*SETTLED, "is_seller", "is_buyer")}
    money = [
        {"interval": t, "peer": i + 1, **{name: values[i] for name, values in columns.items()}}
        for i in range(len(m.revenue_usd))
    ]
    for table, rows in ((PrioritySummary, summaries), (TradeRow, trades), (CesState, socs), (SettlementRow, money)):
        if rows:  # Core's executemany: one statement for the rows, no ORM objects
            session.execute(insert(table), rows)


def reopen(session: Session, t: int) -> int:
    """Undo the clearing of interval ``t`` and every later one (the readings stay, filled ones go): the
    operator's correction. Returns how many intervals were reopened."""
    n = session.scalar(select(func.count()).select_from(ClearedInterval).where(ClearedInterval.interval >= t))
    for table in (SettlementRow, CesState, TradeRow, PrioritySummary):
        session.execute(delete(table).where(table.interval >= t))
    session.execute(delete(ClearedInterval).where(ClearedInterval.interval >= t))
    session.execute(delete(Reading).where(Reading.interval >= t, Reading.source == ReadingSource.FILLED))
    return n or 0


def load_steps(session: Session, first: int, last: int) -> tuple[list[Step], dict[str, list[Step]], float]:
    """The stored steps of the cleared intervals ``first..last``: the followed path, each priority's, seconds."""
    rows = session.scalars(
        select(ClearedInterval).where(ClearedInterval.interval.between(first, last)).order_by(ClearedInterval.interval)
    ).all()
    steps, single, seconds = [], {p: [] for p in PRIORITIES}, 0.0
    for row in rows:
        record = pickle.loads(zlib.decompress(row.step))  # noqa: S301 - written by this service's own clearing
        steps.append(record["best"])
        for p in PRIORITIES:
            single[p].append(record["single"][p])
        seconds += row.seconds
    return steps, single, seconds
