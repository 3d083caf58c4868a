"""Faults: the service is killed (SIGKILL) at random moments of a replay, restarted, and the replay
finishes; the results equal the uninterrupted replay's (which are solve-day's: test_service_replay).

The moments come from a seeded generator; a kill may land in a post, in a clearing's transaction or
between them. The replay client retries while the service is down; a reading posted twice is
accepted once, and an interval whose readings were all in when the service died is cleared on start.
"""

from __future__ import annotations

import random
import threading

import pytest
from service_support import OPERATOR, free_port, same_results, serve_process, wait_up
from sqlalchemy import create_engine, func, select

from lec_opt.day.outputs import write_day
from lec_opt.day.run import run_day
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
    rng, kills = random.Random(SEED), 0
    for _ in range(KILLS):
        if done.wait(rng.uniform(0.5, 4.0)):
            break
        server.kill()  # SIGKILL: no clean-up of any kind
        server.wait()
        kills += 1
        server = serve_process(db, port)
        wait_up(url)
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
