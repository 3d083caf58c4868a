"""The clerk's group commit: posts stored together give what storing them one by one gives.

``store_batch`` decides each post against the database and the posts before it in its batch; the
test replays random sequences of posts (new readings, the same again, changed ones, posts for a
cleared interval) both ways and compares every answer and the readings table. Then 100 threads post
at once through the aggregator: every post is answered, fewer transactions than posts are
committed, and the interval clears with the readings posted.
"""

from __future__ import annotations

import random
import threading

import pytest
from service_support import OPERATOR
from sqlalchemy import event, select

from lec_opt.scenario import load_scenario
from lec_opt.service.aggregator import Aggregator
from lec_opt.service.auth import Caller, Role
from lec_opt.service.community import Community
from lec_opt.service.db import ClearedInterval, Reading
from lec_opt.service.errors import Conflict
from lec_opt.service.readings import Meter, Outcome, Posted, store_batch


@pytest.fixture
def two_databases(tmp_path):
    aggs = [
        Aggregator(Community(load_scenario(), "greedy"), f"sqlite:///{tmp_path / f'{k}.db'}", OPERATOR) for k in "ab"
    ]
    for agg in aggs:
        agg.start()
    yield aggs
    for agg in aggs:
        agg.stop()


def _random_posts(rng: random.Random, community: Community, n: int) -> list[Posted]:
    """Posts of a few peers in intervals 0..2: readings drawn from a small set, so that repeats, changes
    and same-batch duplicates are common; some by the operator in bulk."""
    posts = []
    for _ in range(n):
        t = rng.randrange(3)
        peers = rng.sample(range(1, 7), rng.choice([1, 1, 2, 3]))
        meters = [Meter(p, rng.choice([0.1, 0.2]), 0.0) for p in peers]
        caller = Caller(Role.PEER, peers[0]) if len(peers) == 1 else Caller(Role.OPERATOR)
        posts.append(Posted(community.day.start(t), t, meters, caller))
    return posts


def _readings(agg) -> list[tuple]:
    with agg.sessions() as s:
        rows = s.execute(select(Reading.interval, Reading.peer, Reading.load_kwh, Reading.pv_kwh, Reading.source))
        return sorted(tuple(r) for r in rows)


def _outcome(result) -> object:
    return type(result).__name__ if isinstance(result, Exception) else {o.value: n for o, n in result.items()}


@pytest.mark.parametrize("seed", range(6))
def test_a_batch_answers_and_stores_as_the_posts_one_by_one(two_databases, seed):
    batched, alone = two_databases
    rng = random.Random(seed)
    posts = _random_posts(rng, batched.community, 40)
    live = 1  # interval 0 counts as cleared: a changed reading of it is refused (409)
    with batched.sessions() as s, s.begin():
        together = store_batch(s, posts, live)
    one_by_one = []
    for post in posts:
        with alone.sessions() as s, s.begin():
            one_by_one += store_batch(s, [post], live)
    assert [_outcome(r) for r in together] == [_outcome(r) for r in one_by_one]
    assert _readings(batched) == _readings(alone)
    kinds = {k for r in map(_outcome, together) for k, n in (r.items() if isinstance(r, dict) else [(r, 1)]) if n}
    assert {"accepted", "duplicate", "replaced", "Conflict"} <= kinds, kinds  # the draw covered every case


def test_a_refused_post_leaves_the_rest_of_its_batch_stored(two_databases):
    agg, _ = two_databases
    first = [Posted("00:00", 0, [Meter(1, 0.1, 0.0)], Caller(Role.PEER, 1))]
    with agg.sessions() as s, s.begin():
        store_batch(s, first, live=0)
    batch = [
        Posted("00:00", 0, [Meter(2, 0.1, 0.0), Meter(1, 0.3, 0.0)], Caller(Role.OPERATOR)),  # changes peer 1: 409
        Posted("00:05", 1, [Meter(3, 0.2, 0.0)], Caller(Role.PEER, 3)),
    ]
    with agg.sessions() as s, s.begin():
        results = store_batch(s, batch, live=1)
    assert isinstance(results[0], Conflict) and results[1][Outcome.ACCEPTED] == 1
    stored = {(t, p): load for t, p, load, _pv, _src in _readings(agg)}
    assert stored == {(0, 1): 0.1, (1, 3): 0.2}  # nothing of the refused post, all of the other


def test_posts_at_once_share_commits_and_all_are_answered(tmp_path):
    agg = Aggregator(Community(load_scenario(), "greedy"), f"sqlite:///{tmp_path / 's.db'}", OPERATOR)
    agg.start()
    commits = []
    event.listen(agg.engine, "commit", lambda _conn: commits.append(1))
    day = agg.community.day
    try:
        start = threading.Barrier(day.n_peers)
        answers = [None] * day.n_peers

        def meter(p: int) -> None:
            start.wait()
            for t in range(3):
                m = Meter(p, float(day.load_kwh[t, p - 1]), float(day.pv_kwh[t, p - 1]))
                answers[p - 1] = agg.post(day.start(t), [m], Caller(Role.PEER, p)).result(timeout=120)

        threads = [threading.Thread(target=meter, args=(p,)) for p in range(1, day.n_peers + 1)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        agg.stop()
    assert all(a is not None and a["accepted"] == 1 for a in answers)
    posts, clearings = 3 * day.n_peers, 3
    assert len(commits) < posts + clearings, "every post had a transaction of its own: no group commit"
    with agg.sessions() as s:
        assert list(s.scalars(select(ClearedInterval.interval).order_by(ClearedInterval.interval))) == [0, 1, 2]
        got = {(r.interval, r.peer): (r.load_kwh, r.pv_kwh) for r in s.scalars(select(Reading))}
    assert got == {
        (t, p + 1): (float(day.load_kwh[t, p]), float(day.pv_kwh[t, p])) for t in range(3) for p in range(day.n_peers)
    }
