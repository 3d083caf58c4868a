"""Faults: the service is killed (SIGKILL) at random moments of a replay, restarted, and the replay
finishes; the results equal the uninterrupted replay's (which are solve-day's: test_service_replay).

The moments come from a seeded generator; a kill may land in a post, in a shared commit of many
meters' posts, in a clearing's transaction or between them. The clients retry while the service is
down; a reading posted twice is accepted once, a post is answered only once it is committed, and an
interval whose readings were all in when the service died is cleared on start. Two ways in: the
operator's bulk replay (SQLite), and the 100 meters posting at once (SQLite and PostgreSQL).
"""

from __future__ import annotations

import random
import threading

import pytest
from service_support import (  # noqa: F401 - postgres_url is a fixture
    OPERATOR,
    database_url,
    free_port,
    peer_tokens,
    post_as_meters,
    postgres_url,
    same_results,
    serve_process,
    wait_up,
)
from sqlalchemy import create_engine, func, select

from lec_opt.day.outputs import write_day
from lec_opt.day.run import DayRun, run_day
from lec_opt.market.snapshot import build_day
from lec_opt.scenario import load_scenario
from lec_opt.service.client import export, replay
from lec_opt.service.db import Audit, ClearedInterval

SEED = 37
KILLS = 4


@pytest.mark.slow
def test_killed_at_random_moments_the_replay_ends_as_without_faults(tmp_path):
    db, port = f"sqlite:///{tmp_path / 'service.db'}", free_port()
    url = f"http://127.0.0.1:{port}"
    server = serve_process(db, port)
    wait_up(url)
    done, errors = threading.Event(), []

    def client() -> None:
        try:
            replay(load_scenario(), url, OPERATOR, patience=120)
        except Exception as err:  # noqa: BLE001 - reported by the test below
            errors.append(err)
        done.set()

    threading.Thread(target=client, daemon=True).start()
    server, kills = _kill_and_restart(server, db, port, done, random.Random(SEED), (0.5, 4.0))
    assert done.wait(600) and not errors, errors
    assert kills >= 2, "the replay ended before the service was killed twice: kill sooner"
    try:
        folder = export(url, OPERATOR, tmp_path / "export")
    finally:
        server.kill()
        server.wait()
    expected = write_day(run_day(load_scenario(), method="greedy"), tmp_path / "solve-day")
    same_results(folder, expected)
    engine = create_engine(db)
    with engine.connect() as conn:  # every interval cleared once: one "clear" line each in the audit log
        assert conn.scalar(select(func.count()).select_from(ClearedInterval)) == 288
        assert conn.scalar(select(func.count()).select_from(Audit).where(Audit.action == "clear")) == 288
    engine.dispose()


METER_INTERVALS = 60  # 00:00 .. 04:55: 6000 posts


def _kill_and_restart(server, db: str, port: int, done: threading.Event, rng: random.Random, wait=(0.3, 2.0)):
    """Kill the service ``KILLS`` times, ``wait`` seconds apart at random (or until ``done``), restarting it each time."""
    kills = 0
    for _ in range(KILLS):
        if done.wait(rng.uniform(*wait)):
            break
        server.kill()  # SIGKILL: no clean-up of any kind
        server.wait()
        kills += 1
        server = serve_process(db, port)
        wait_up(f"http://127.0.0.1:{port}")
    return server, kills


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_killed_while_meters_post_at_once_the_day_ends_as_without_faults(backend, tmp_path, request):
    db = database_url(backend, tmp_path, request)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    day = build_day(load_scenario())
    server = serve_process(db, port)
    wait_up(url)
    tokens = peer_tokens(url, day.n_peers)
    done, errors = threading.Event(), []

    def meters() -> None:
        try:
            post_as_meters(url, tokens, day, range(METER_INTERVALS), patience=120)
        except Exception as err:  # noqa: BLE001 - reported by the test below
            errors.append(err)
        done.set()

    threading.Thread(target=meters, daemon=True).start()
    server, kills = _kill_and_restart(server, db, port, done, random.Random(SEED))
    assert done.wait(600) and not errors, errors
    assert kills >= 2, "the meters finished before the service was killed twice: kill sooner"
    last = day.start(METER_INTERVALS - 1)
    try:
        folder = export(url, OPERATOR, tmp_path / "export", last=last)
    finally:
        server.kill()
        server.wait()
    run = run_day(load_scenario(), method="greedy")
    n = METER_INTERVALS
    cut = DayRun(run.day, "greedy", "best", run.steps[:n], {p: s[:n] for p, s in run.single.items()}, 0.0, 0.0)
    same_results(folder, write_day(cut, tmp_path / "solve-day"))
    engine = create_engine(db)
    with engine.connect() as conn:  # every interval cleared once
        assert conn.scalar(select(func.count()).select_from(ClearedInterval)) == n
        assert conn.scalar(select(func.count()).select_from(Audit).where(Audit.action == "clear")) == n
    engine.dispose()
