"""Meter readings in: checked whole before anything is written, the same reading twice accepted once,
a different one for a cleared interval refused (409), and the interval cleared when it is complete."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import Enum

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from lec_opt.service.auth import Caller, Role
from lec_opt.service.community import Community
from lec_opt.service.db import Audit, ClearedInterval, Reading, ReadingSource, now
from lec_opt.service.errors import Conflict, Invalid


class Outcome(Enum):
    """What became of one posted reading."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # the same values were already stored: nothing written
    REPLACED = "replaced"  # a new value for an interval not yet cleared


@dataclass(frozen=True)
class Meter:
    """One peer's reading of one interval, as posted."""

    peer: int
    load_kwh: float
    pv_kwh: float


def check(community: Community, time: str, meters: list[Meter]) -> int:
    """The interval of ``time``, after checking every reading (Invalid names the first bad one)."""
    t = community.interval(time)
    seen = set()
    for m in meters:
        community.check_peer(m.peer)
        if m.peer in seen:
            raise Invalid(f"peer {m.peer} appears twice in the readings of {time}")
        seen.add(m.peer)
        for name, value in (("load_kwh", m.load_kwh), ("pv_kwh", m.pv_kwh)):
            if not math.isfinite(value) or value < 0:
                raise Invalid(f"peer {m.peer}: {name} must be a finite number of kWh >= 0, not {value}")
        if m.pv_kwh > 0 and not community.day.prosumer[m.peer - 1]:
            raise Invalid(f"peer {m.peer} is a consumer (no PV): pv_kwh must be 0, not {m.pv_kwh}")
    return t


def store(session: Session, community: Community, time: str, meters: list[Meter], caller: Caller) -> dict[Outcome, int]:
    """Write the readings of one interval in ``session``'s transaction, or raise before writing any."""
    t = check(community, time, meters)
    peers = [m.peer for m in meters]
    stored = {r.peer: r for r in session.scalars(select(Reading).where(Reading.interval == t, Reading.peer.in_(peers)))}
    cleared = session.scalar(select(ClearedInterval.interval).where(ClearedInterval.interval == t)) is not None
    outcomes = []
    for m in meters:
        old = stored.get(m.peer)
        if old is None:
            outcomes.append(Outcome.ACCEPTED)
        elif old.load_kwh == m.load_kwh and old.pv_kwh == m.pv_kwh and old.source != ReadingSource.FILLED:
            outcomes.append(Outcome.DUPLICATE)
        elif cleared:
            raise Conflict(
                f"interval {time} is cleared with a different reading of peer {m.peer}: the operator corrects "
                "it with POST /operator/reopen, then posts the reading again"
            )
        else:
            outcomes.append(Outcome.REPLACED)
    source = ReadingSource.PEER if caller.role is Role.PEER else ReadingSource.OPERATOR
    new = [
        {
            "interval": t,
            "peer": m.peer,
            "load_kwh": m.load_kwh,
            "pv_kwh": m.pv_kwh,
            "source": source,
            "received_at": now(),
        }
        for m, outcome in zip(meters, outcomes)
        if outcome is Outcome.ACCEPTED
    ]
    if new:
        session.execute(insert(Reading), new)
    for m, outcome in zip(meters, outcomes):
        if outcome is Outcome.REPLACED:
            old = stored[m.peer]
            old.load_kwh, old.pv_kwh, old.source = m.load_kwh, m.pv_kwh, source
    counts = {o: outcomes.count(o) for o in Outcome}
    detail = {"time": time, **{o.value: n for o, n in counts.items()}}
    if len(meters) == 1:
        detail.update(peer=meters[0].peer, load_kwh=meters[0].load_kwh, pv_kwh=meters[0].pv_kwh)
    session.add(Audit(actor=caller.name, action="readings", detail=json.dumps(detail)))
    return counts
