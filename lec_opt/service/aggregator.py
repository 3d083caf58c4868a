"""The aggregator: one community, one database, the writes in order.

Every write (readings, a clearing, a correction, a token) happens under one lock, in its own
transaction; reads need no lock. On start the database is migrated (Alembic), the peers are
registered, and any interval whose readings were all in when the service stopped is cleared.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from lec_opt.service import clearing, readings
from lec_opt.service.auth import Caller, authenticate, new_token, peer_with_token, token_hash
from lec_opt.service.community import Community
from lec_opt.service.db import Audit, Meta, Peer, Reading, make_engine
from lec_opt.service.errors import Conflict, NotFound
from lec_opt.service.migrate import upgrade


@dataclass
class Aggregator:
    """The running service's state: the community, the database and the write lock."""

    community: Community
    url: str
    operator_token: str
    engine: Engine = field(init=False)
    sessions: sessionmaker[Session] = field(init=False)
    lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    live: int = field(default=0, init=False)  # the first interval not cleared (kept under the lock)
    tokens: dict[str, int] = field(default_factory=dict, init=False)  # token sha256 -> peer, as looked up
    reopened: bool = field(default=False, init=False)  # a correction reopened intervals: check them at the next post

    def start(self) -> None:
        """Migrate, register the community (or check it is the one stored), clear what is ready."""
        self.engine = make_engine(self.url)
        upgrade(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        with self.lock, self.sessions() as session, session.begin():
            self._register(session)
        with self.lock:
            clearing.clear_ready(self.sessions, self.community)
            with self.sessions() as session:
                self.live = clearing.next_interval(session)

    def stop(self) -> None:
        """Close the database connections."""
        self.engine.dispose()

    def _register(self, session: Session) -> None:
        c = self.community
        facts = {"scenario": c.scenario.name, "scenario_sha256": c.fingerprint, "method": c.method}
        stored = {m.key: m.value for m in session.scalars(select(Meta))}
        if stored:
            differs = {k: (stored.get(k), v) for k, v in facts.items() if stored.get(k) != v}
            if differs:
                raise Conflict(f"the database serves another community or method: {differs} (stored, asked)")
            return
        session.add_all(Meta(key=k, value=v) for k, v in facts.items())
        session.add_all(Peer(peer=p, role=c.role(p)) for p in range(1, c.n_peers + 1))
        session.add(Audit(actor="service", action="register", detail=json.dumps(facts)))

    def caller(self, header: str | None) -> Caller:
        """The caller of a request's Authorization header (401 when there is none that is valid)."""
        return authenticate(header, self.operator_token, self._peer_of)

    def _peer_of(self, sha256: str) -> int | None:
        peer = self.tokens.get(sha256)
        if peer is None:
            with self.sessions() as session:
                peer = peer_with_token(session, sha256)
            if peer is not None:
                self.tokens[sha256] = peer
        return peer

    def post(self, time_: str, meters: list[readings.Meter], caller: Caller) -> dict:
        """Store one interval's readings, then clear every interval that is complete, in order."""
        with self.lock:
            with self.sessions() as session, session.begin():
                counts = readings.store(session, self.community, time_, meters, caller)
            # only the live interval's readings can complete it (and let the next ones follow), or any
            # after a reopening (the readings stay: a correction of a later interval completes it)
            due = self._is_live(time_) or self.reopened
            cleared = clearing.clear_ready(self.sessions, self.community) if due else []
            self.live += len(cleared)
            self.reopened = False
        out = {o.value: n for o, n in counts.items()}
        return {**out, "cleared": [self.community.day.start(t) for t in cleared]}

    def _is_live(self, time_: str) -> bool:
        return self.community.interval(time_) == self.live

    def clear_until(self, time_: str, caller: Caller) -> list[str]:
        """The deadline rule: clear every interval up to ``time_``, a missing reading filled by persistence."""
        last = self.community.interval(time_)
        done = []
        with self.lock:
            while True:
                with self.sessions() as session, session.begin():
                    t = clearing.next_interval(session)
                    if t > last:
                        return done
                    clearing.clear_interval(session, self.community, t, fill=True, actor=caller.name)
                done.append(self.community.day.start(t))
                self.live = t + 1

    def reopen(self, time_: str, caller: Caller) -> dict:
        """The operator's correction: undo the clearing of ``time_`` and every later interval."""
        t = self.community.interval(time_)
        with self.lock, self.sessions() as session, session.begin():
            n = clearing.reopen(session, t)
            self.live = min(self.live, t)
            self.reopened = True
            session.add(Audit(actor=caller.name, action="reopen", detail=json.dumps({"time": time_, "reopened": n})))
        return {"reopened": n, "from": time_}

    def issue_token(self, peer: int, caller: Caller) -> str:
        """A new token for ``peer`` (its previous one stops working); only its sha256 is stored."""
        token = new_token()
        with self.lock, self.sessions() as session, session.begin():
            row = session.get(Peer, peer)
            if row is None:
                raise NotFound(f"peer {peer} is not a peer of the community (1..{self.community.n_peers})")
            self.tokens = {h: p for h, p in self.tokens.items() if p != peer}  # the old token stops working
            row.token_sha256 = token_hash(token)
            session.add(Audit(actor=caller.name, action="token", detail=json.dumps({"peer": peer})))
        return token

    def overdue(self, deadline_seconds: float) -> str | None:
        """The live interval when its first reading came more than ``deadline_seconds`` ago, else None."""
        with self.sessions() as session:
            t = clearing.next_interval(session)
            first = session.scalar(select(func.min(Reading.received_at)).where(Reading.interval == t))
        if first is None or t >= self.community.n_intervals:
            return None
        age = time.time() - (first if first.tzinfo else first.replace(tzinfo=UTC)).timestamp()
        return self.community.day.start(t) if age > deadline_seconds else None


def deadline_loop(aggregator: Aggregator, deadline_seconds: float, stop: threading.Event) -> None:
    """Clear the live interval, filling missing readings, once it is ``deadline_seconds`` past its first reading."""
    from lec_opt.service.auth import Role

    operator = Caller(Role.OPERATOR)
    while not stop.wait(min(1.0, deadline_seconds / 4)):
        due = aggregator.overdue(deadline_seconds)
        if due is not None:
            aggregator.clear_until(due, operator)
