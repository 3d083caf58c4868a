"""The aggregator: one community, one database, the writes in order.

Every write (readings, a clearing, a correction, a token) is done by the clerk, one writer thread
(``lec_opt.service.clerk``): the readings of a busy moment in one transaction, anything else in its
own; reads need no turn. On start the database is migrated (Alembic), the peers are registered,
their tokens' hashes read, and any interval whose readings were all in when the service stopped is
cleared.
"""

from __future__ import annotations

import json
import logging
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
from lec_opt.service.db import Audit, Meta, Peer, Reading, make_engine
from lec_opt.service.errors import Conflict, NotFound
from lec_opt.service.matcher import Matcher
from lec_opt.service.migrate import upgrade
from lec_opt.service.readings import Meter, Posted

log = logging.getLogger(__name__)


@dataclass
class Aggregator:
    """The running service's state: the community, the database and its one writer."""

    community: Community
    url: str
    operator_token: str
    engine: Engine = field(init=False)
    sessions: sessionmaker[Session] = field(init=False)
    clerk: Clerk | None = field(default=None, init=False)
    live: int = field(default=0, init=False)  # the first interval not cleared (the clerk's)
    tokens: dict[str, int] = field(default_factory=dict, init=False)  # token sha256 -> peer, every issued one
    workers: int | None = None  # processes solving the MILP matchings ahead (default: 2 or the cores)
    matcher: Matcher | None = field(default=None, init=False)
    reopened: bool = field(default=False, init=False)  # a correction reopened intervals: check them at the next post
    waiting: list[Waiting] = field(default_factory=list, init=False)  # posts answered when their interval clears

    def start(self) -> None:
        """Migrate, register the community (or check it is the one stored), clear what is ready, start the clerk."""
        self.engine = make_engine(self.url)
        upgrade(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        with self.sessions() as session, session.begin():
            self._register(session)
            rows = session.execute(select(Peer.token_sha256, Peer.peer).where(Peer.token_sha256.is_not(None)))
            self.tokens = {sha256: peer for sha256, peer in rows}
        clearing.clear_ready(self.sessions, self.community)
        self.live = self._first_not_cleared()
        self._stop_writers()
        self.clerk = Clerk(self._store)
        if self.community.method == "milp":
            workers = self.workers or min(os.cpu_count() or 1, 2)
            self.matcher = Matcher(self.community.scenario, workers, on_done=lambda: self.clerk.later(self._clear_due))
        self.clerk.start()

    def stop(self) -> None:
        """Finish the writes asked for, then close the database connections."""
        self._stop_writers()
        self.engine.dispose()

    def _stop_writers(self) -> None:
        if self.clerk is not None:
            self.clerk.stop()
        for w in self.waiting:  # stored, their clearing left for the next start: answered with what is done
            w.post.future.set_result(_answer(w.counts, w.cleared))
        self.waiting = []
        if self.matcher is not None:
            self.matcher.close()
            self.matcher = None

    def _first_not_cleared(self) -> int:
        with self.sessions() as session:
            return clearing.next_interval(session)

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

    def _store(self, posts: list[Posted]) -> None:
        """The clerk's turn for a batch of posts: store them in one transaction, answer each, clear what is due."""
        try:
            with self.sessions() as session, session.begin():
                results = readings.store_batch(session, posts, self.live)
        except Exception:  # noqa: BLE001 - one bad post must not fail the others: each alone, in its own transaction
            if len(posts) == 1:
                raise
            log.exception("a batch of %d posts failed; storing them one by one", len(posts))
            for post in posts:
                _answer_alone(self._store, post)
            return
        due, touched = False, set()
        for post, result in zip(posts, results):
            if isinstance(result, Exception):
                post.future.set_exception(result)
                continue
            touched.add(post.interval)
            if post.interval == self.live or self.reopened:  # may complete the live interval
                self.waiting.append(Waiting(post, result, []))
                due = True
            else:
                post.future.set_result(_answer(result, []))
        if self.matcher is not None:
            self._solve_ahead(sorted(touched))
        if due:
            self._clear_due()

    def _solve_ahead(self, intervals: list[int]) -> None:
        """Start the MILP matchings of the intervals these posts completed."""
        with self.sessions() as session:
            for t in intervals:
                if t >= self.live and clearing.is_complete(session, self.community, t):
                    self.matcher.solve_ahead(t, *clearing.complete_readings(session, self.community, t))

    def _clear_due(self, cleared_before: tuple[str, ...] = ()) -> None:
        """Clear every interval that is ready, in order; answer the posts waiting for it."""
        try:
            cleared = clearing.clear_ready(self.sessions, self.community, self.matcher)
        except Exception as err:
            for w in self.waiting:
                w.post.future.set_exception(err)
            self.waiting = []
            raise
        finally:  # a clearing that failed has committed the intervals before it
            self.live, self.reopened = self._first_not_cleared(), False
        times = [*cleared_before, *(self.community.day.start(t) for t in cleared)]
        held = self.matcher is not None and self.matcher.waiting_for(self.live)
        still = []
        for w in self.waiting:
            w.cleared.extend(times)
            if held and w.post.interval >= self.live:  # its interval waits for its matchings
                still.append(w)
            else:
                w.post.future.set_result(_answer(w.counts, w.cleared))
        self.waiting = still

    def clear_until(self, time_: str, caller: Caller) -> list[str]:
        """The deadline rule: clear every interval up to ``time_``, a missing reading filled by persistence."""
        last = self.community.interval(time_)
        return self.clerk.call(lambda: self._clear_until(last, caller))

    def _clear_until(self, last: int, caller: Caller) -> list[str]:
        done = []
        try:
            while True:
                with self.sessions() as session, session.begin():
                    t = clearing.next_interval(session)
                    if t > last:
                        return done
                    clearing.clear_interval(
                        session, self.community, t, fill=True, actor=caller.name, matcher=self.matcher
                    )
                done.append(self.community.day.start(t))
                self.live = t + 1
        finally:
            self._clear_due(tuple(done))  # what became ready behind it, and the posts waiting

    def reopen(self, time_: str, caller: Caller) -> dict:
        """The operator's correction: undo the clearing of ``time_`` and every later interval."""
        t = self.community.interval(time_)

        def write() -> int:
            with self.sessions() as session, session.begin():
                n = clearing.reopen(session, t)
                detail = json.dumps({"time": time_, "reopened": n})
                session.add(Audit(actor=caller.name, action="reopen", detail=detail))
            self.live = min(self.live, t)
            self.reopened = True
            return n

        return {"reopened": self.clerk.call(write), "from": time_}

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


@dataclass
class Waiting:
    """A stored post that may have completed the live interval: answered when that interval clears."""

    post: Posted
    counts: dict[readings.Outcome, int]
    cleared: list[str]


def _answer(counts: dict[readings.Outcome, int], cleared: list[str]) -> dict:
    return {**{o.value: n for o, n in counts.items()}, "cleared": cleared}


def _answer_alone(store, post: Posted) -> None:
    try:
        store([post])
    except Exception as err:  # noqa: BLE001 - this post's error, to its poster
        if not post.future.done():
            post.future.set_exception(err)


def deadline_loop(aggregator: Aggregator, deadline_seconds: float, stop: threading.Event) -> None:
    """Clear the live interval, filling missing readings, once it is ``deadline_seconds`` past its first reading."""
    from lec_opt.service.auth import Role

    operator = Caller(Role.OPERATOR)
    while not stop.wait(min(1.0, deadline_seconds / 4)):
        due = aggregator.overdue(deadline_seconds)
        if due is not None:
            aggregator.clear_until(due, operator)
