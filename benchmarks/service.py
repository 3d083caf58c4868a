"""Case ``service``: 100 peers post a whole day's readings to ``lec-opt serve`` as fast as they can.

Against 127.0.0.1 on this machine: ``lec-opt serve`` (SQLite, the default database) in its own
process; the operator issues the 100 peers' tokens; then each peer, one asyncio task with its own
token and connection (aiohttp: a client light enough that the service, not the client, is what is
measured), posts its reading of every interval in order, not waiting for the clearing. The wall
time runs until the service has cleared the last interval. Measured: the wall time, the latency of a
reading (p50, p99), the latency of a post answered with a clearing and the clearing's own seconds
inside the service (p50, p99), the database's size, the CPU seconds of the service, its MILP
workers and the clients, and the ratio of the wall time to ``lec-opt solve-day``'s on the same data
(a subprocess, timed the same way, in the same run). The same day is also replayed in bulk
(``lec-opt replay``: one post per interval, four under way) and timed against solve-day too. Every
export must equal solve-day's folder (intervals.csv, trades.csv, settlement.csv byte for byte;
summary.json but its timings). Methods: ``LEC_OPT_BENCH_SERVICE_METHODS`` (default ``greedy,milp``).
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
import numpy as np
import psutil
from sqlalchemy import create_engine, select

from benchmarks.common import save, timed_run
from benchmarks.day import same_files
from lec_opt import load_scenario
from lec_opt.market.snapshot import build_day
from lec_opt.service.client import REPLAY_IN_FLIGHT, export, replay, wait_cleared
from lec_opt.service.db import ClearedInterval

TOKEN = "benchmark-operator-token-0123456789"
PORT = 8737


def _pct(values: list[float]) -> dict:
    a = np.asarray(values)
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)), "n": len(values)}


async def _peer(session, token: str, rows: list[dict], lat: list, clearing: list, retries: list) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    for body in rows:
        started = time.perf_counter()
        for attempt in range(5):  # a connection the server closed is retried: a reading is accepted once
            try:
                async with session.post("/readings", headers=headers, json=body) as r:
                    r.raise_for_status()
                    answer = await r.json()
                break
            except aiohttp.ClientConnectionError:
                retries.append(attempt)
        seconds = time.perf_counter() - started
        (clearing if answer["cleared"] else lat).append(seconds)


async def _posts(url: str, tokens: dict[int, str], day) -> tuple[list, list, list]:
    lat, clearing, retries = [], [], []
    async with aiohttp.ClientSession(base_url=url, connector=aiohttp.TCPConnector(limit=0)) as session:
        tasks = []
        for p, token in tokens.items():
            rows = [
                {"time": day.start(t), "load_kwh": float(day.load_kwh[t, p - 1]), "pv_kwh": float(day.pv_kwh[t, p - 1])}
                for t in range(day.n_intervals)
            ]
            tasks.append(_peer(session, token, rows, lat, clearing, retries))
        await asyncio.gather(*tasks)
    return lat, clearing, retries


def _day(url: str, tokens: dict[int, str], day) -> tuple[float, list, list, list]:
    """Every peer's day posted at once; the wall time until the last interval is cleared."""
    started = time.perf_counter()
    lat, clearing, retries = asyncio.run(_posts(url, tokens, day))
    with httpx.Client(base_url=url, timeout=600) as client:
        wait_cleared(client, TOKEN, day.start(day.n_intervals - 1), patience=600)
    return time.perf_counter() - started, lat, clearing, retries


def _cpu(process: psutil.Process) -> dict:
    """CPU seconds of the service's process and of its children (the MILP workers) so far."""
    own = process.cpu_times()
    children = sum(c.cpu_times().user + c.cpu_times().system for c in process.children(recursive=True))
    return {"service": own.user + own.system, "workers": children}


def _serve(db: str, method: str) -> subprocess.Popen:
    env = {**os.environ, "LEC_OPT_OPERATOR_TOKEN": TOKEN}
    cmd = [sys.executable, "-m", "lec_opt", "serve", "--db", db, "--port", str(PORT), "--method", method]
    log = open(Path(db.removeprefix("sqlite:///")).with_suffix(".log"), "w")  # noqa: SIM115 - closed with the process
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    _wait_health(f"http://127.0.0.1:{PORT}/health", server)
    return server


def _wait_health(url: str, server: subprocess.Popen) -> None:
    for _ in range(600):
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"the server at {url} did not start")


def run_method(method: str, work: Path) -> dict:
    """The day through the service with ``method``, against solve-day with the same method."""
    day = build_day(load_scenario())
    db_file = work / f"{method}.db"
    url = f"http://127.0.0.1:{PORT}"
    server = _serve(f"sqlite:///{db_file}", method)
    try:
        op = {"Authorization": f"Bearer {TOKEN}"}
        tokens = {
            p: httpx.post(f"{url}/operator/peers/{p}/token", headers=op).json()["token"]
            for p in range(1, day.n_peers + 1)
        }
        process, client_before = psutil.Process(server.pid), resource.getrusage(resource.RUSAGE_SELF)
        wall, lat, clearing, retries = _day(url, tokens, day)
        cpu, client_after = _cpu(process), resource.getrusage(resource.RUSAGE_SELF)
        folder = export(url, TOKEN, work / f"service-{method}")
    finally:
        server.terminate()
        server.wait()
    cpu["clients"] = sum(getattr(client_after, k) - getattr(client_before, k) for k in ("ru_utime", "ru_stime"))
    bulk = _bulk(method, work)
    engine = create_engine(f"sqlite:///{db_file}")
    with engine.connect() as conn:
        inside = [row.seconds for row in conn.execute(select(ClearedInterval.seconds))]
    engine.dispose()
    solve = timed_run(
        [sys.executable, "-m", "lec_opt", "solve-day", "--method", method, "--out", str(work / method)], "solve-day"
    )
    size = sum(p.stat().st_size for p in work.glob(f"{method}.db*"))
    bulk["export_equals_solve_day"] = same_files(Path(bulk.pop("folder")), work / method)
    return {
        "peers": len(tokens),
        "intervals": day.n_intervals,
        "readings": len(lat) + len(clearing),
        "wall_seconds": wall,
        "retried_posts": len(retries),
        "readings_per_second": (len(lat) + len(clearing)) / wall,
        "reading_latency_seconds": _pct(lat),
        "clearing_post_latency_seconds": _pct(clearing),
        "clearing_inside_service_seconds": _pct(inside),
        "clearing_inside_service_total_seconds": float(sum(inside)),
        "cpu_seconds": cpu,
        "database_bytes": size,
        "solve_day": solve,
        "ratio_to_solve_day": wall / solve["wall_seconds"],
        "export_equals_solve_day": same_files(folder, work / method),
        "bulk": {**bulk, "ratio_to_solve_day": bulk["wall_seconds"] / solve["wall_seconds"]},
    }


def _bulk(method: str, work: Path) -> dict:
    """The same day replayed by the operator in bulk (``lec-opt replay``: one post per interval, four
    under way), until its last interval is cleared."""
    server = _serve(f"sqlite:///{work / f'{method}-bulk.db'}", method)
    try:
        started = time.perf_counter()
        replay(load_scenario(), f"http://127.0.0.1:{PORT}", TOKEN)
        wall = time.perf_counter() - started
        folder = export(f"http://127.0.0.1:{PORT}", TOKEN, work / f"bulk-{method}")
    finally:
        server.terminate()
        server.wait()
    return {"wall_seconds": wall, "in_flight": REPLAY_IN_FLIGHT, "folder": str(folder)}


def floor(work: Path) -> dict:
    """The same 100 clients posting the same day to a bare route (``benchmarks.service_floor``)."""
    cmd = [sys.executable, "-m", "uvicorn", "benchmarks.service_floor:app", "--port", str(PORT)]
    cmd += ["--log-level", "warning", "--no-access-log", "--no-proxy-headers"]
    root = Path(__file__).resolve().parent.parent
    server = subprocess.Popen(cmd, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_health(f"http://127.0.0.1:{PORT}/openapi.json", server)
        day = build_day(load_scenario())
        tokens = {p: f"floor-token-of-peer-{p:03d}" for p in range(1, day.n_peers + 1)}
        started = time.perf_counter()
        lat, _cleared, _retries = asyncio.run(_posts(f"http://127.0.0.1:{PORT}", tokens, day))
        wall = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait()
    return {"wall_seconds": wall, "readings_per_second": len(lat) / wall, "reading_latency_seconds": _pct(lat)}


def main() -> None:
    methods = os.environ.get("LEC_OPT_BENCH_SERVICE_METHODS", "greedy,milp").split(",")
    work = Path(tempfile.mkdtemp(prefix="lec-opt-bench-service-"))
    try:
        results = {m: run_method(m, work) for m in methods}
        bare = floor(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"{'method':<8} {'wall s':>8} {'solve-day s':>11} {'ratio':>6} {'read p50/p99 ms':>16} {'clear p50/p99 ms':>17} {'DB MB':>6} same"
    )
    for m, r in results.items():
        rl, cl = r["reading_latency_seconds"], r["clearing_post_latency_seconds"]
        print(
            f"{m:<8} {r['wall_seconds']:>8.1f} {r['solve_day']['wall_seconds']:>11.1f} {r['ratio_to_solve_day']:>6.1f} "
            f"{rl['p50'] * 1e3:>7.1f}/{rl['p99'] * 1e3:<8.1f} {cl['p50'] * 1e3:>8.1f}/{cl['p99'] * 1e3:<8.1f} "
            f"{r['database_bytes'] / 2**20:>6.1f} {r['export_equals_solve_day']['identical']}"
        )
    for m, r in results.items():
        b, cpu = r["bulk"], r["cpu_seconds"]
        print(
            f"{m}: CPU s service {cpu['service']:.1f}, workers {cpu['workers']:.1f}, clients {cpu['clients']:.1f}; "
            f"in bulk (lec-opt replay, {b['in_flight']} posts under way): {b['wall_seconds']:.1f} s, "
            f"{b['ratio_to_solve_day']:.1f}x solve-day, same files {b['export_equals_solve_day']['identical']}"
        )
    print(
        f"floor (a bare FastAPI route, same clients): {bare['wall_seconds']:.1f} s, {bare['readings_per_second']:.0f} readings/s; "
        + ", ".join(
            f"{m} {r['readings_per_second'] / bare['readings_per_second']:.0%} of it" for m, r in results.items()
        )
    )
    payload = {"note": "100 peers, one day of 288 intervals, 127.0.0.1, SQLite", "methods": results, "floor": bare}
    print(save("service", payload))


if __name__ == "__main__":
    main()
