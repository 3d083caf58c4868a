"""The interval cycle, run by the clerk (one thread, so nothing here races): posts stored, the
intervals cleared in order as soon as they are complete, each post answered.

A post that completes the live interval is answered after that interval's clearing (its answer
lists the intervals cleared); any other post as soon as it is stored. With the MILP, an interval
the posts complete has its matchings solved ahead (``Matcher``), and the live interval clears when
they are done. The number of readings of each interval is counted once from the database and then
kept up to date here, so that a post does not cost a count.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from lec_opt.service import clearing
from lec_opt.service.clerk import store_or_fail
from lec_opt.service.community import Community
from lec_opt.service.db import Audit, Reading
from lec_opt.service.matcher import Matcher
from lec_opt.service.readings import Outcome, Posted, store_batch

log = logging.getLogger(__name__)


@dataclass
class Waiting:
    """A stored post that may have completed the live interval: answered when that interval clears."""

    post: Posted
    counts: dict[Outcome, int]
    cleared: list[str]


class Tally:
    """The readings stored per interval: counted from the database the first time, then kept here."""

    def __init__(self, n_peers: int) -> None:
        self.n_peers = n_peers
        self.counts: dict[int, int] = {}

    def complete(self, session: Session, t: int) -> bool:
        """Whether interval ``t`` has every peer's reading."""
        if t not in self.counts:
            query = select(func.count()).select_from(Reading).where(Reading.interval == t)
            self.counts[t] = session.scalar(query)
        return self.counts[t] == self.n_peers

    def add(self, t: int, n: int) -> None:
        """``n`` new readings of interval ``t`` were stored."""
        if t in self.counts:
            self.counts[t] += n

    def forget_from(self, t: int) -> None:
        """Count interval ``t`` and later again (filled readings were added or deleted)."""
        self.counts = {k: v for k, v in self.counts.items() if k < t}


class Cycle:
    """The live interval, the posts waiting for its clearing, and the clearing itself."""

    def __init__(self, community: Community, sessions: sessionmaker[Session], matcher: Matcher | None) -> None:
        self.community, self.sessions, self.matcher = community, sessions, matcher
        self.tally = Tally(community.n_peers)
        self.waiting: list[Waiting] = []
        self.reopened = False  # a correction reopened intervals: any post may complete one
        with sessions() as session:
            self.live = clearing.next_interval(session)  # the first interval not cleared

    def store(self, posts: list[Posted]) -> None:
        """Store a batch of posts in one transaction, answer each, clear what is due."""
        try:
            with self.sessions() as session, session.begin():
                results = store_batch(session, posts, self.live)
        except Exception:  # noqa: BLE001 - one bad post must not fail the others: each alone, in its own transaction
            if len(posts) == 1:
                raise
            log.exception("a batch of %d posts failed; storing them one by one", len(posts))
            for post in posts:
                store_or_fail(self.store, [post])
            return
        maybe, changed = [], set()
        for post, result in zip(posts, results):
            if isinstance(result, Exception):
                post.future.set_exception(result)
                continue
            self.tally.add(post.interval, result[Outcome.ACCEPTED])
            if result[Outcome.ACCEPTED] or result[Outcome.REPLACED]:
                changed.add(post.interval)
            if post.interval == self.live or self.reopened:  # may complete the live interval
                maybe.append(Waiting(post, result, []))
            else:
                post.future.set_result(answer(result, []))
        if self.matcher is not None:
            self._solve_ahead(sorted(changed))
        if maybe and not (self.reopened or self._live_complete()):
            for w in maybe:  # the live interval still misses readings: nothing to wait for
                w.post.future.set_result(answer(w.counts, []))
        elif maybe:
            self.waiting += maybe
            self.clear_due()

    def _live_complete(self) -> bool:
        with self.sessions() as session:
            return self.tally.complete(session, self.live)

    def _solve_ahead(self, intervals: list[int]) -> None:
        """Start the MILP matchings of the intervals these posts completed (or changed, complete)."""
        with self.sessions() as session:
            for t in intervals:
                if t >= self.live and self.tally.complete(session, t):
                    self.matcher.solve_ahead(t, *clearing.complete_readings(session, self.community, t))

    def clear_due(self, cleared_before: tuple[str, ...] = ()) -> list[int]:
        """Clear every interval that is ready, in order; answer the posts waiting for it."""
        try:
            cleared = self._clear_ready()
        except Exception as err:
            for w in self.waiting:
                w.post.future.set_exception(err)
            self.waiting = []
            raise
        finally:
            self.reopened = False
        times = [*cleared_before, *(self.community.day.start(t) for t in cleared)]
        held = self.matcher is not None and self.matcher.waiting_for(self.live)
        still = []
        for w in self.waiting:
            w.cleared.extend(times)
            if held and w.post.interval >= self.live:  # its interval waits for its matchings
                still.append(w)
            else:
                w.post.future.set_result(answer(w.counts, w.cleared))
        self.waiting = still
        return cleared

    def _clear_ready(self) -> list[int]:
        """Clear, each in its own transaction, the live interval and the next ones while they are complete
        (and, with the MILP, their matchings solved)."""
        cleared = []
        while self.live < self.community.n_intervals:
            t = self.live
            if self.matcher is not None and self.matcher.waiting_for(t):
                break
            with self.sessions() as session, session.begin():
                if not self.tally.complete(session, t):
                    break
                clearing.clear_interval(session, self.community, t, matcher=self.matcher)
            cleared.append(t)
            self.live = t + 1
        return cleared

    def clear_until(self, last: int, actor: str) -> list[str]:
        """The deadline rule: clear every interval up to ``last``, a missing reading filled by persistence."""
        done = []
        try:
            while self.live <= last:
                t = self.live
                with self.sessions() as session, session.begin():
                    clearing.clear_interval(session, self.community, t, fill=True, actor=actor, matcher=self.matcher)
                self.tally.forget_from(t)
                done.append(self.community.day.start(t))
                self.live = t + 1
        finally:
            self.clear_due(tuple(done))  # what became ready behind it, and the posts waiting
        return done

    def reopen(self, t: int, time_: str, actor: str) -> int:
        """The operator's correction: undo the clearing of interval ``t`` and every later one."""
        with self.sessions() as session, session.begin():
            n = clearing.reopen(session, t)
            session.add(Audit(actor=actor, action="reopen", detail=json.dumps({"time": time_, "reopened": n})))
        self.tally.forget_from(t)
        self.live = min(self.live, t)
        self.reopened = True
        return n

    def close(self) -> None:
        """Answer the posts still waiting (stored; their interval clears at the next start)."""
        for w in self.waiting:
            w.post.future.set_result(answer(w.counts, w.cleared))
        self.waiting = []


def answer(counts: dict[Outcome, int], cleared: list[str]) -> dict:
    """A post's answer: how many of its readings were accepted, duplicates or replaced, and what cleared."""
    return {**{o.value: n for o, n in counts.items()}, "cleared": cleared}
