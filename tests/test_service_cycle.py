"""The interval cycle: an interval clears when every reading is in (in order), the same reading twice
is accepted once, a different one for a cleared interval is 409 and corrected by reopening, the
deadline fills missing readings by persistence and flags them, and a restart clears what was ready."""

from __future__ import annotations

import warnings

import pytest
from service_support import OPERATOR
from sqlalchemy import select

from lec_opt.scenario import load_scenario
from lec_opt.service.aggregator import Aggregator
from lec_opt.service.app import create_app
from lec_opt.service.client import bulk_body
from lec_opt.service.community import Community
from lec_opt.service.db import CesState, ClearedInterval, PathName, Reading, ReadingSource
from lec_opt.service.errors import Conflict

warnings.filterwarnings("ignore", message=".*httpx2.*")
from fastapi.testclient import TestClient  # noqa: E402

OP = {"Authorization": f"Bearer {OPERATOR}"}


@pytest.fixture
def service(tmp_path):
    db = f"sqlite:///{tmp_path / 'service.db'}"
    agg = Aggregator(Community(load_scenario(), "greedy"), db, OPERATOR)
    with TestClient(create_app(agg)) as client:
        yield client, agg, db


def _post(client, agg, t, peers=None, **change):
    body = bulk_body(agg.community.day, t)
    if peers is not None:
        body["readings"] = [r for r in body["readings"] if r["peer"] in peers]
    for r in body["readings"]:
        r.update(change)
    return client.post("/operator/readings", headers=OP, json=body)


def _cleared(agg) -> list[int]:
    with agg.sessions() as s:
        return list(s.scalars(select(ClearedInterval.interval).order_by(ClearedInterval.interval)))


def test_an_interval_clears_when_complete_and_in_order(service):
    client, agg, _ = service
    assert _post(client, agg, 1).json()["cleared"] == []  # 00:05 is complete but 00:00 is not cleared
    assert _post(client, agg, 0, peers=range(1, 100)).json()["cleared"] == []
    assert _post(client, agg, 0, peers=[100]).json()["cleared"] == ["00:00", "00:05"]
    assert _cleared(agg) == [0, 1]
    with agg.sessions() as s:  # the SoC is carried in the database, every path
        socs = {r.path: (r.soc_start, r.soc_end) for r in s.scalars(select(CesState).where(CesState.interval == 1))}
        ends = {r.path: r.soc_end for r in s.scalars(select(CesState).where(CesState.interval == 0))}
    assert set(socs) == set(PathName) and all(socs[p][0] == ends[p] for p in PathName)


def test_the_same_reading_twice_is_accepted_once(service):
    client, agg, _ = service
    assert _post(client, agg, 0, peers=[1]).json()["accepted"] == 1
    again = _post(client, agg, 0, peers=[1]).json()
    assert again["accepted"] == 0 and again["duplicate"] == 1
    _post(client, agg, 0)
    assert _post(client, agg, 0).json() == {"accepted": 0, "duplicate": 100, "replaced": 0, "cleared": []}
    assert _cleared(agg) == [0]


def test_a_different_reading_for_a_cleared_interval_is_409_and_corrected_by_reopening(service):
    client, agg, _ = service
    for t in range(3):
        _post(client, agg, t)
    before = client.get("/api/day", headers=OP).json()["intervals"]
    r = _post(client, agg, 1, peers=[5], load_kwh=0.5)
    assert r.status_code == 409 and "reopen" in r.json()["detail"]
    assert client.post("/operator/reopen", headers=OP, json={"time": "00:05"}).json()["reopened"] == 2
    assert _cleared(agg) == [0]
    corrected = _post(client, agg, 1, peers=[5], load_kwh=0.5).json()  # the readings of 00:10 are kept
    assert corrected["replaced"] == 1 and corrected["cleared"] == ["00:05", "00:10"]
    after = client.get("/api/day", headers=OP).json()["intervals"]
    assert after[0] == before[0] and after[1] != before[1]  # 00:05 cleared again with the new reading
    audit = [row["action"] for row in client.get("/operator/audit", headers=OP).json()]
    assert "reopen" in audit


def test_a_correction_of_a_later_interval_clears_the_reopened_ones(service):
    client, agg, _ = service
    for t in range(3):
        _post(client, agg, t)
    client.post("/operator/reopen", headers=OP, json={"time": "00:00"})
    assert _cleared(agg) == []
    corrected = _post(client, agg, 2, peers=[9], load_kwh=0.25).json()  # 00:10, while 00:00 is live
    assert corrected["replaced"] == 1 and corrected["cleared"] == ["00:00", "00:05", "00:10"]


def test_the_deadline_fills_missing_readings_by_persistence_and_flags_them(service, tmp_path):
    client, agg, _ = service
    _post(client, agg, 0)
    _post(client, agg, 1, peers=range(1, 98))  # peers 98, 99, 100 are late
    assert client.post("/operator/clear/00:05", headers=OP).json() == {"cleared": ["00:05"]}
    with agg.sessions() as s:
        filled = s.scalars(select(Reading).where(Reading.interval == 1, Reading.source == ReadingSource.FILLED)).all()
        previous = {r.peer: r for r in s.scalars(select(Reading).where(Reading.interval == 0))}
    assert sorted(r.peer for r in filled) == [98, 99, 100]
    assert all((r.load_kwh, r.pv_kwh) == (previous[r.peer].load_kwh, previous[r.peer].pv_kwh) for r in filled)
    assert client.get("/api/day", headers=OP).json()["intervals"][1]["filled_peers"] == 3
    statement = client.get("/operator/statement/99", headers=OP).json()
    assert [row["filled"] for row in statement["intervals"]] == [False, True]
    files = client.get("/operator/export", headers=OP).json()["files"]
    assert files["intervals.csv"].splitlines()[0].endswith(",filled_peers")
    assert files["intervals.csv"].splitlines()[2].endswith(",3")
    late = _post(client, agg, 1, peers=[99])  # the real reading after the deadline: a correction
    assert late.status_code == 409


def test_a_restart_clears_what_was_ready_and_nothing_twice(service):
    client, agg, db = service
    _post(client, agg, 0)
    day = agg.community.day
    with agg.sessions() as s, s.begin():  # as if the service died between storing readings and clearing
        s.add_all(
            Reading(interval=1, peer=p + 1, load_kwh=float(day.load_kwh[1, p]), pv_kwh=float(day.pv_kwh[1, p]),
                    source=ReadingSource.OPERATOR)
            for p in range(day.n_peers)
        )  # fmt: skip
    assert _cleared(agg) == [0]
    restarted = Aggregator(Community(load_scenario(), "greedy"), db, OPERATOR)
    restarted.start()
    restarted.start()  # and again: nothing is cleared twice
    restarted.stop()
    assert _cleared(agg) == [0, 1]
    with pytest.raises(Conflict, match="another community"):
        Aggregator(Community(load_scenario(), "milp"), db, OPERATOR).start()
