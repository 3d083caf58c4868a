"""The aggregator: one community, one database, the writes in order.

Every write (readings, a clearing, a correction, a token) is done by the clerk, one writer thread
(``lec_opt.service.clerk``): the readings of a busy moment in one transaction, anything else in its
own; reads need no turn. On start the database is migrated (Alembic), the peers are registered,
their tokens' hashes read, and any interval whose readings were all in when the service stopped is
cleared.
"""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from lec_opt.service import clearing, readings
from lec_opt.service.auth import Caller, authenticate, new_token, token_hash
from lec_opt.service.clerk import Clerk
from lec_opt.service.community import Community
from lec_opt.service.cycle import Cycle
from lec_opt.service.db import Audit, Meta, Peer, Reading, make_engine
from lec_opt.service.errors import Conflict, NotFound
from lec_opt.service.matcher import Matcher
from lec_opt.service.migrate import upgrade
from lec_opt.service.readings import Meter, Posted


@dataclass
class Aggregator:
    """The running service's state: the community, the database, its one writer and the interval cycle."""

    community: Community
    url: str
    operator_token: str
    workers: int | None = None  # processes solving the MILP matchings ahead (default: 2 or the cores)
    engine: Engine = field(init=False)
    sessions: sessionmaker[Session] = field(init=False)
    tokens: dict[str, int] = field(default_factory=dict, init=False)  # token sha256 -> peer, every issued one
    clerk: Clerk | None = field(default=None, init=False)
    cycle: Cycle | None = field(default=None, init=False)  # the clerk's: live interval, waiting posts

    def start(self) -> None:
        """Migrate, register the community (or check it is the one stored), clear what is ready, start the clerk."""
        self._stop_writers()
        self.engine = make_engine(self.url)
        upgrade(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        with self.sessions() as session, session.begin():
            self._register(session)
            rows = session.execute(select(Peer.token_sha256, Peer.peer).where(Peer.token_sha256.is_not(None)))
            self.tokens = {sha256: peer for sha256, peer in rows}
        matcher = None
        if self.community.method == "milp":
            workers = self.workers or min(os.cpu_count() or 1, 2)
            matcher = Matcher(self.community.scenario, workers, on_done=self._matched)
        self.cycle = Cycle(self.community, self.sessions, matcher)
        self.cycle.clear_due()  # what was complete when the service stopped
        self.clerk = Clerk(self.cycle.store)
        self.clerk.start()

    def _matched(self) -> None:
        """A matching solved ahead is done (a pool thread): the clerk clears what it lets clear."""
        clerk, cycle = self.clerk, self.cycle
        if clerk is not None and cycle is not None:  # not stopping
            clerk.later(cycle.clear_due)

    def stop(self) -> None:
        """Finish the writes asked for, then close the database connections."""
        self._stop_writers()
        self.engine.dispose()

    def _stop_writers(self) -> None:
        if self.clerk is not None:
            self.clerk.stop()
        if self.cycle is not None:
            self.cycle.close()
            if self.cycle.matcher is not None:
                self.cycle.matcher.close()
        self.clerk = self.cycle = None

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
        return self.tokens.get(sha256)

    def post(self, time_: str, meters: list[Meter], caller: Caller) -> Future:
        """Check one interval's readings (Invalid at once), hand them to the clerk; the future gets the
        answer once they are stored and every interval they complete is cleared."""
        t = readings.check(self.community, time_, meters)
        return self.clerk.post(Posted(time_, t, meters, caller))

    def clear_until(self, time_: str, caller: Caller) -> list[str]:
        """The deadline rule: clear every interval up to ``time_``, a missing reading filled by persistence."""
        last = self.community.interval(time_)
        return self.clerk.call(lambda: self.cycle.clear_until(last, caller.name))

    def reopen(self, time_: str, caller: Caller) -> dict:
        """The operator's correction: undo the clearing of ``time_`` and every later interval."""
        t = self.community.interval(time_)
        return {"reopened": self.clerk.call(lambda: self.cycle.reopen(t, time_, caller.name)), "from": time_}

    def issue_token(self, peer: int, caller: Caller) -> str:
        """A new token for ``peer`` (its previous one stops working); only its sha256 is stored."""
        token = new_token()

        def write() -> None:
            with self.sessions() as session, session.begin():
                row = session.get(Peer, peer)
                if row is None:
                    raise NotFound(f"peer {peer} is not a peer of the community (1..{self.community.n_peers})")
                row.token_sha256 = token_hash(token)
                session.add(Audit(actor=caller.name, action="token", detail=json.dumps({"peer": peer})))
            tokens = {h: p for h, p in self.tokens.items() if p != peer}  # the old token stops working
            self.tokens = {**tokens, token_hash(token): peer}

        self.clerk.call(write)
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
