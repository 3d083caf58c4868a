"""What the service shows: the day so far (dashboard), a peer's statement, and the results folder of
the intervals cleared (``solve-day``'s files, made by the day layer's own table writers)."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from lec_opt.day.outputs import interval_table, settlement_table, summary, trade_table
from lec_opt.day.run import DayRun
from lec_opt.io.schema import INTERVALS_FILE, SETTLEMENT_FILE, SUMMARY_FILE, TRADES_FILE
from lec_opt.service.clearing import SETTLED, load_steps, next_interval
from lec_opt.service.community import Community
from lec_opt.service.db import ClearedInterval, Reading, ReadingSource, SettlementRow, TradeRow
from lec_opt.service.errors import Invalid

FLOAT_FORMAT = "%.9g"  # as write_day
FILLED_COLUMN = "filled_peers"  # intervals.csv: peers whose reading was filled (only when any was)


def span(community: Community, first: str | None, last: str | None) -> tuple[int, int]:
    """The intervals from ``first`` to ``last`` (``HH:MM``, both included; default the whole day)."""
    a = community.interval(first) if first else 0
    b = community.interval(last) if last else community.n_intervals - 1
    if a > b:
        raise Invalid(f"from {first} is after to {last}")
    return a, b


def day_view(session: Session, community: Community) -> dict[str, Any]:
    """The day so far: each cleared interval's choice, P2P energy and SoC, and the live interval."""
    rows = session.scalars(select(ClearedInterval).order_by(ClearedInterval.interval)).all()
    live = next_interval(session)
    received = session.scalars(select(Reading.peer).where(Reading.interval == live)).all()
    return {
        "scenario": community.scenario.name,
        "method": community.method,
        "interval_minutes": community.day.interval_minutes,
        "intervals": [
            {
                "time": r.time,
                "chosen": r.chosen,
                "p2p_kwh": r.p2p_kwh,
                "soc_start": r.soc_start,
                "soc_end": r.soc_end,
                "grid_import_kwh": r.grid_import_kwh,
                "grid_export_kwh": r.grid_export_kwh,
                "filled_peers": r.filled_peers,
            }
            for r in rows
        ],  # fmt: skip
        "live": None
        if live >= community.n_intervals
        else {"time": community.day.start(live), "readings": len(received), "peers": community.n_peers},
    }


def statement(session: Session, community: Community, peer: int, first: int, last: int) -> dict[str, Any]:
    """Peer ``peer``'s readings, trades (the aggregator's priority) and money per cleared interval, and totals."""
    between = lambda col: col.between(first, last)  # noqa: E731
    readings = {
        r.interval: r for r in session.scalars(select(Reading).where(Reading.peer == peer, between(Reading.interval)))
    }
    money = session.scalars(
        select(SettlementRow).where(SettlementRow.peer == peer, between(SettlementRow.interval))
    ).all()
    trades = defaultdict(list)
    mine = (TradeRow.seller == peer) | (TradeRow.buyer == peer)
    for tr in session.scalars(select(TradeRow).where(TradeRow.chosen, mine, between(TradeRow.interval))):
        trades[tr.interval].append(
            {"seller": tr.seller, "buyer": tr.buyer, "kwh": tr.kwh, "price_usd_per_kwh": tr.price_usd_per_kwh}
        )
    intervals = []
    for m in sorted(money, key=lambda row: row.interval):
        r = readings[m.interval]
        row = {"time": community.day.start(m.interval), "load_kwh": r.load_kwh, "pv_kwh": r.pv_kwh}
        row["filled"] = r.source is ReadingSource.FILLED
        row.update({name: getattr(m, name) for name in SETTLED})
        row["saving_usd"] = (m.revenue_usd - m.revenue_grid_only_usd) + (m.bill_grid_only_usd - m.bill_usd)
        row["trades"] = trades.get(m.interval, [])
        intervals.append(row)
    totals = {name: float(sum(row[name] for row in intervals)) for name in (*SETTLED, "saving_usd")}
    totals["filled_intervals"] = sum(row["filled"] for row in intervals)
    return {"peer": peer, "role": community.role(peer), "intervals": intervals, "totals": totals}


def export(session: Session, community: Community, first: int, last: int) -> dict[str, Any]:
    """The cleared intervals of ``first..last`` as ``solve-day``'s files (text) and the scenario dump."""
    steps, single, seconds = load_steps(session, first, last)
    if not steps:
        raise Invalid("no interval is cleared in that span yet")
    rows = defaultdict(dict)
    for r in session.scalars(select(Reading).where(Reading.interval.between(first, last))):
        rows[r.interval][r.peer] = (r.load_kwh, r.pv_kwh)
    peers = range(1, community.n_peers + 1)
    arrays = {t: (np.array([v[p][0] for p in peers]), np.array([v[p][1] for p in peers])) for t, v in rows.items()}
    day = community.day_with({s.index: arrays[s.index] for s in steps})
    run = DayRun(day, community.method, "best", steps, single, seconds, seconds)
    intervals = interval_table(run)
    filled = {t: n for t, n in session.execute(select(ClearedInterval.interval, ClearedInterval.filled_peers))}
    if any(filled.get(s.index) for s in steps):  # flagged wherever a filled reading was used
        intervals[FILLED_COLUMN] = [filled[s.index] for s in steps]
    scenario = community.scenario.model_dump(mode="json", exclude={"base"})
    scenario["data"]["dir"] = str(day.data_dir)
    return {
        "scenario": scenario,
        "files": {
            INTERVALS_FILE: intervals.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n"),
            TRADES_FILE: trade_table(run).to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n"),
            SETTLEMENT_FILE: settlement_table(run).to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n"),
            SUMMARY_FILE: json.dumps(summary(run), indent=2, sort_keys=False) + "\n",
        },
    }
