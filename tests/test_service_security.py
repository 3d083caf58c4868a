"""Who sees what, and what the service refuses: every route without a token, with a malformed one and
with the wrong role's; peers see only their own data; bad bodies and SQL-looking names are 4xx
with a message, and nothing is written (the tables are counted before and after)."""

from __future__ import annotations

import hashlib
import warnings

import pytest
from service_support import OPERATOR
from sqlalchemy import func, select

from lec_opt.scenario import load_scenario
from lec_opt.service.aggregator import Aggregator
from lec_opt.service.app import create_app
from lec_opt.service.client import bulk_body
from lec_opt.service.community import Community
from lec_opt.service.db import Audit, ClearedInterval, Peer, Reading, SettlementRow, TradeRow

warnings.filterwarnings("ignore", message=".*httpx2.*")
from fastapi.testclient import TestClient  # noqa: E402

PUBLIC = {"/", "/health", "/openapi.json"}
OP = {"Authorization": f"Bearer {OPERATOR}"}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """A greedy service on SQLite with its first 3 intervals cleared and tokens for peers 1 and 2."""
    db = f"sqlite:///{tmp_path_factory.mktemp('db') / 'service.db'}"
    agg = Aggregator(Community(load_scenario(), "greedy"), db, OPERATOR)
    with TestClient(create_app(agg)) as client:
        for t in range(3):
            assert (
                client.post("/operator/readings", headers=OP, json=bulk_body(agg.community.day, t)).status_code == 200
            )
        tokens = {p: client.post(f"/operator/peers/{p}/token", headers=OP).json()["token"] for p in (1, 2)}
        yield client, agg, tokens


def _counts(agg) -> dict:
    with agg.sessions() as s:
        return {m.__name__: s.scalar(select(func.count()).select_from(m)) for m in (Reading, ClearedInterval, Peer)}


def _routes(client) -> list[tuple[str, str]]:
    out = []
    for path, methods in client.app.openapi()["paths"].items():
        for method in methods:
            if path not in PUBLIC:
                out.append((method.upper(), path.replace("{peer}", "1").replace("{time}", "00:15")))
    return out


def test_every_route_needs_a_valid_token(service):
    client, agg, _ = service
    before = _counts(agg)
    routes = _routes(client)
    assert len(routes) >= 9
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer short"}, {"Authorization": f"Basic {OPERATOR}"},
                        {"Authorization": "Bearer " + "x" * 40}, {"Authorization": f"Bearer {OPERATOR}'--"}):  # fmt: skip
            r = client.request(method, path, headers=headers, json={})
            assert r.status_code == 401, (method, path, headers, r.text)
            assert set(r.json()) == {"detail"} and "peer" not in r.json()["detail"]
    assert _counts(agg) == before


def test_roles_are_kept_apart(service):
    client, agg, tokens = service
    peer1 = {"Authorization": f"Bearer {tokens[1]}"}
    before = _counts(agg)
    for method, path in _routes(client):
        headers = peer1 if path.startswith("/operator") else OP
        if path == "/api/day":
            continue  # the community's own day: every member and the operator
        r = client.request(method, path, headers=headers, json={})
        assert r.status_code == 403, (method, path, r.text)
    assert _counts(agg) == before


def test_a_peer_sees_only_its_own_statement(service):
    client, _, tokens = service
    for p in (1, 2):
        body = client.get("/peers/me/statement", headers={"Authorization": f"Bearer {tokens[p]}"}).json()
        assert body["peer"] == p and len(body["intervals"]) == 3
        for row in body["intervals"]:
            assert all(p in (tr["seller"], tr["buyer"]) for tr in row["trades"])
    other = client.get("/peers/me/statement?peer=2", headers={"Authorization": f"Bearer {tokens[1]}"}).json()
    assert other["peer"] == 1  # a query cannot name another peer


def test_tokens_are_stored_hashed(service):
    _, agg, tokens = service
    with agg.sessions() as s:
        stored = s.scalar(select(Peer.token_sha256).where(Peer.peer == 1))
    assert stored == hashlib.sha256(tokens[1].encode()).hexdigest() and tokens[1] not in stored


BAD = [
    ({"time": "00:15", "readings": [{"peer": 1, "load_kwh": -0.1, "pv_kwh": 0}]}, 422, "greater than or equal"),
    ('{"time": "00:15", "readings": [{"peer": 1, "load_kwh": NaN, "pv_kwh": 0}]}', 422, "finite"),
    ('{"time": "00:15", "readings": [{"peer": 1, "load_kwh": Infinity, "pv_kwh": 0}]}', 422, "finite"),
    ({"time": "00:15", "readings": [{"peer": 101, "load_kwh": 0.1, "pv_kwh": 0}]}, 422, "not a peer"),
    ({"time": "00:15", "readings": [{"peer": 0, "load_kwh": 0.1, "pv_kwh": 0}]}, 422, "greater than or equal"),
    ({"time": "00:17", "readings": [{"peer": 1, "load_kwh": 0.1, "pv_kwh": 0}]}, 422, "grid"),
    ({"time": "24:00", "readings": [{"peer": 1, "load_kwh": 0.1, "pv_kwh": 0}]}, 422, "grid"),
    ({"time": "0:15", "readings": [{"peer": 1, "load_kwh": 0.1, "pv_kwh": 0}]}, 422, "pattern"),
    ({"time": "00:15", "readings": [{"peer": 2, "load_kwh": 0.1, "pv_kwh": 0.2}]}, 422, "consumer"),
    ({"time": "00:15", "readings": [{"peer": 1, "load_kwh": 0.1, "pv_kwh": 0}] * 2}, 422, "twice"),
    ({"time": "00:15", "readings": [{"peer": 1, "load_kwh": 0.1, "pv_kwh": 0, "x": 1}]}, 422, "xtra"),
    ({"time": "00:15", "readings": [{"peer": "1; DROP TABLE peers", "load_kwh": 0.1, "pv_kwh": 0}]}, 422, "integer"),
    ({"time": "00:15'; DROP TABLE readings;--", "readings": []}, 422, "pattern"),
    ("{not json", 422, "JSON"),
    ({"time": "00:15", "readings": [{"peer": 1, "load_kwh": 0.1, "pv_kwh": 0}] * 20000}, 413, "limit"),
]


@pytest.mark.parametrize(("body", "status", "words"), BAD, ids=range(len(BAD)))
def test_bad_bodies_are_refused_and_nothing_is_written(service, body, status, words):
    client, agg, _ = service
    before = _counts(agg)
    kwargs = {"content": body} if isinstance(body, str) else {"json": body}
    r = client.post("/operator/readings", headers={**OP, "content-type": "application/json"}, **kwargs)
    assert r.status_code == status, r.text
    assert words.lower() in r.text.lower()
    assert _counts(agg) == before


@pytest.mark.parametrize(
    "path",
    ["/operator/peers/1;DROP TABLE peers/token", "/operator/peers/1%20OR%201=1/token", "/operator/statement/1'--",
     "/operator/statement/1?from=00:00';DROP TABLE readings;--", "/operator/export?to=x' OR '1'='1"],
)  # fmt: skip
def test_sql_looking_names_are_refused(service, path):
    client, agg, _ = service
    before = _counts(agg)
    method = "POST" if path.endswith("/token") else "GET"
    r = client.request(method, path, headers=OP)
    assert r.status_code in (404, 422), r.text
    assert _counts(agg) == before
    with agg.sessions() as s:
        assert s.scalar(select(func.count()).select_from(SettlementRow)) == 3 * agg.community.n_peers
        assert s.scalar(select(func.count()).select_from(TradeRow)) >= 0


def test_a_peer_posts_only_its_own_reading(service):
    client, agg, tokens = service
    peer2 = {"Authorization": f"Bearer {tokens[2]}"}
    r = client.post("/readings", headers=peer2, json={"time": "00:15", "load_kwh": 0.1, "pv_kwh": 0.0, "peer": 1})
    assert r.status_code == 422 and "extra" in r.text.lower()  # no naming another peer
    with agg.sessions() as s:
        audit = s.scalars(select(Audit.actor).where(Audit.action == "readings")).all()
    assert "peer 2" not in audit


def test_a_new_token_revokes_the_old_one(service):
    client, _, _ = service
    old = client.post("/operator/peers/7/token", headers=OP).json()["token"]
    assert client.get("/peers/me/statement", headers={"Authorization": f"Bearer {old}"}).status_code == 200
    new = client.post("/operator/peers/7/token", headers=OP).json()["token"]
    assert client.get("/peers/me/statement", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert client.get("/peers/me/statement", headers={"Authorization": f"Bearer {new}"}).json()["peer"] == 7
