"""Meter readings in: checked whole before anything is written, the same reading twice accepted once,
a different one for a cleared interval refused (409).

The clerk (``lec_opt.service.clerk``) stores the posts of a busy moment together: ``store_batch``
decides each post's outcome against what is stored and what the posts before it in the batch wrote,
then writes the batch's readings and audit lines with one statement each, in one transaction.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.orm import Session

from lec_opt.service.auth import Caller, Role
from lec_opt.service.community import Community
from lec_opt.service.db import Audit, Reading, ReadingSource, now
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


@dataclass
class Posted:
    """One post's readings of one interval, checked, waiting for the clerk; answered through ``future``."""

    time: str
    interval: int
    meters: list[Meter]
    caller: Caller
    received_at: datetime = field(default_factory=now)
    future: Future = field(default_factory=Future)


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


Stored = dict[tuple[int, int], tuple[float, float, ReadingSource]]  # (interval, peer) -> load, PV, source


def store_batch(session: Session, posts: list[Posted], live: int) -> list[dict[Outcome, int] | Conflict]:
    """Write the posts' readings in ``session``'s transaction (intervals before ``live`` are cleared).

    Each post is taken whole or refused whole (a Conflict in its place, nothing of it written); a post
    sees the readings of the posts before it in the batch, as if each had been stored alone."""
    known = _stored(session, posts)
    inserts: dict[tuple[int, int], dict] = {}
    updates, audits, results = [], [], []
    for post in posts:
        try:
            outcomes = _outcomes(post, known, cleared=post.interval < live)
        except Conflict as err:
            results.append(err)
            continue
        source = ReadingSource.PEER if post.caller.role is Role.PEER else ReadingSource.OPERATOR
        for m, outcome in zip(post.meters, outcomes):
            key = (post.interval, m.peer)
            if outcome is Outcome.DUPLICATE:
                continue
            known[key] = (m.load_kwh, m.pv_kwh, source)
            row = {"interval": post.interval, "peer": m.peer, "load_kwh": m.load_kwh, "pv_kwh": m.pv_kwh,
                   "source": source, "received_at": post.received_at}  # fmt: skip
            if key in inserts or outcome is Outcome.ACCEPTED:
                inserts[key] = row  # a reading new to the database, replaced in the batch: inserted as last posted
            else:
                updates.append({f"b_{k}": v for k, v in row.items() if k != "received_at"})
        counts = {o: outcomes.count(o) for o in Outcome}
        results.append(counts)
        audits.append(
            {"actor": post.caller.name, "action": "readings", "detail": _detail(post, counts), "at": post.received_at}
        )
    conn = session.connection()  # Core statements, executemany: no ORM objects for the hot path
    if inserts:
        conn.execute(insert(Reading), list(inserts.values()))
    if updates:
        conn.execute(_UPDATE, updates)
    if audits:
        conn.execute(insert(Audit), audits)
    return results


_UPDATE = (
    update(Reading)
    .where(and_(Reading.interval == bindparam("b_interval"), Reading.peer == bindparam("b_peer")))
    .values(load_kwh=bindparam("b_load_kwh"), pv_kwh=bindparam("b_pv_kwh"), source=bindparam("b_source"))
)


def _stored(session: Session, posts: list[Posted]) -> Stored:
    """The stored readings of the (interval, peer) pairs the posts name: one query per interval."""
    peers: dict[int, set[int]] = {}
    for post in posts:
        peers.setdefault(post.interval, set()).update(m.peer for m in post.meters)
    known: Stored = {}
    columns = (Reading.peer, Reading.load_kwh, Reading.pv_kwh, Reading.source)
    for t, wanted in peers.items():
        query = select(*columns).where(Reading.interval == t, Reading.peer.in_(sorted(wanted)))
        known.update({(t, peer): (load, pv, source) for peer, load, pv, source in session.execute(query)})
    return known


def _outcomes(post: Posted, known: Stored, cleared: bool) -> list[Outcome]:
    """Each reading's outcome, or Conflict when one would change a cleared interval."""
    outcomes = []
    for m in post.meters:
        old = known.get((post.interval, m.peer))
        if old is None:
            outcomes.append(Outcome.ACCEPTED)
        elif old[0] == m.load_kwh and old[1] == m.pv_kwh and old[2] != ReadingSource.FILLED:
            outcomes.append(Outcome.DUPLICATE)
        elif cleared:
            raise Conflict(
                f"interval {post.time} is cleared with a different reading of peer {m.peer}: the operator "
                "corrects it with POST /operator/reopen, then posts the reading again"
            )
        else:
            outcomes.append(Outcome.REPLACED)
    return outcomes


def _detail(post: Posted, counts: dict[Outcome, int]) -> str:
    detail = {"time": post.time, **{o.value: n for o, n in counts.items()}}
    if len(post.meters) == 1:
        m = post.meters[0]
        detail.update(peer=m.peer, load_kwh=m.load_kwh, pv_kwh=m.pv_kwh)
    return json.dumps(detail)
