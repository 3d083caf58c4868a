"""Shared by the service's tests: a server on 127.0.0.1 (in a thread, or as a ``lec-opt serve``
process), a PostgreSQL database, and comparing a results folder with ``solve-day``'s."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from lec_opt.io.schema import TIMING

OPERATOR = "operator-token-for-the-tests-0123456789"
PG_ENV = "LEC_OPT_TEST_DATABASE_URL"  # set by .ci/run: a PostgreSQL database the tests may empty


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, seconds: float = 60.0) -> None:
    give_up = time.monotonic() + seconds
    while time.monotonic() < give_up:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.05)
    raise TimeoutError(f"no service at {url}")


@contextlib.contextmanager
def thread_server(app):
    """The app served by uvicorn in a thread on a free port; yields its URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(url)
        yield url
    finally:
        server.should_exit = True
        thread.join(30)


def serve_process(db: str, port: int, method: str = "greedy", *extra: str) -> subprocess.Popen:
    """``lec-opt serve`` as its own process (so that it can be killed with SIGKILL)."""
    env = {**os.environ, "LEC_OPT_OPERATOR_TOKEN": OPERATOR}
    cmd = [sys.executable, "-m", "lec_opt", "serve", "--db", db, "--port", str(port), "--method", method, *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@contextlib.contextmanager
def postgres_schema(url: str):
    """A URL on a schema of its own in the test database (tests run in parallel on one database)."""
    import uuid

    from sqlalchemy import create_engine, make_url, text

    schema = f"lec_opt_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def database_url(backend: str, tmp_path: Path, request) -> str:
    """A fresh database for a test: an SQLite file in ``tmp_path``, or a PostgreSQL schema of its own
    (dropped when the test ends)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'service.db'}"
    schema = postgres_schema(request.getfixturevalue("postgres_url"))
    request.addfinalizer(lambda: schema.__exit__(None, None, None))
    return schema.__enter__()


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@contextlib.contextmanager
def throwaway_postgres():
    """A PostgreSQL cluster in a temporary folder (initdb, pg_ctl), as the postgres user when run as root."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip(f"no PostgreSQL: set {PG_ENV} or apt-get install postgresql")
    folder = Path(tempfile.mkdtemp(prefix="lec-opt-pg-"))
    as_user = []
    if os.geteuid() == 0:  # initdb refuses root
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = folder / "data"
    run = lambda *cmd: subprocess.run([*as_user, *cmd], check=True, capture_output=True)  # noqa: E731
    run(initdb, "-D", str(data), "-A", "trust", "-U", "lec", "--no-sync")
    opts = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(pg_ctl, "-D", str(data), "-o", opts, "-w", "-l", str(folder / "log"), "start")
    try:
        yield f"postgresql+psycopg://lec@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL URL: ``LEC_OPT_TEST_DATABASE_URL`` (CI), else a throwaway local cluster."""
    url = os.environ.get(PG_ENV)
    if url:
        yield url
        return
    with throwaway_postgres() as url:
        yield url


def peer_tokens(url: str, n_peers: int) -> dict[int, str]:
    """A new token for each of the community's ``n_peers`` peers (the operator's route)."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {OPERATOR}"}, timeout=60) as client:
        return {
            p: client.post(f"/operator/peers/{p}/token").raise_for_status().json()["token"]
            for p in range(1, n_peers + 1)
        }


async def _meter(url: str, token: str, rows: list[dict], patience: float) -> None:
    """One peer's meter: its readings in order, each retried while the service is unreachable or 5xx."""
    async with httpx.AsyncClient(base_url=url, timeout=120, headers={"Authorization": f"Bearer {token}"}) as client:
        for body in rows:
            give_up = time.monotonic() + patience
            while True:
                try:
                    r = await client.post("/readings", json=body)
                    if r.status_code < 500:
                        r.raise_for_status()
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > give_up:
                    raise TimeoutError(f"the service did not take {body} in {patience} s")
                await asyncio.sleep(0.1)


def post_as_meters(url: str, tokens: dict[int, str], day, intervals: range, patience: float = 120.0) -> None:
    """Every peer posts its own reading of each interval in order, all peers at once (one client each)."""
    rows = {
        p: [
            {"time": day.start(t), "load_kwh": float(day.load_kwh[t, p - 1]), "pv_kwh": float(day.pv_kwh[t, p - 1])}
            for t in intervals
        ]
        for p in tokens
    }

    async def everyone() -> None:
        await asyncio.gather(*(_meter(url, tokens[p], rows[p], patience) for p in tokens))

    asyncio.run(everyone())


def same_results(ours: Path, theirs: Path) -> None:
    """Two results folders hold the same values: the three tables byte for byte, summary.json but its timings."""
    for name in ("intervals.csv", "trades.csv", "settlement.csv"):
        assert (ours / name).read_text() == (theirs / name).read_text(), name
    a, b = (json.loads((folder / "summary.json").read_text()) for folder in (ours, theirs))
    for key in TIMING:
        assert key in a and key in b
        a.pop(key), b.pop(key)
    assert a == b
