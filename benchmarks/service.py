"""Case ``service``: 100 peers post a whole day's readings to ``lec-opt serve`` as fast as they can.

Against 127.0.0.1 on this machine: ``lec-opt serve`` (SQLite, the default database) in its own
process; the operator issues the 100 peers' tokens; then each peer, one asyncio task with its own
token, posts its reading of every interval in order, not waiting for the clearing (an interval
clears when its last reading is in). Measured: the wall time of the day, the latency of a reading
(p50, p99), the latency of a post that cleared an interval and the clearing's own seconds inside
the service (p50, p99), the database's size, and the ratio of the wall time to ``lec-opt
solve-day``'s on the same data (a subprocess, timed the same way). The same day is also replayed in bulk (the operator's one post per
interval, as ``lec-opt replay``), timed against solve-day too. The export must equal
solve-day's folder (intervals.csv, trades.csv, settlement.csv byte for byte; summary.json but its
timings). Methods: ``LEC_OPT_BENCH_SERVICE_METHODS`` (default ``greedy,milp``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import create_engine, select

from benchmarks.common import save, timed_run
from benchmarks.day import same_files
from lec_opt import load_scenario
from lec_opt.market.snapshot import build_day
from lec_opt.service.client import bulk_body, export, request
from lec_opt.service.db import ClearedInterval

TOKEN = "benchmark-operator-token-0123456789"
PORT = 8737


def _pct(values: list[float]) -> dict:
    a = np.asarray(values)
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)), "n": len(values)}


async def _peer(
    client: httpx.AsyncClient, token: str, rows: list[dict], lat: list, clearing: list, retries: list
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    for body in rows:
        started = time.perf_counter()
        for attempt in range(5):  # a connection the server closed is retried: a reading is accepted once
            try:
                r = await client.post("/readings", headers=headers, json=body)
                break
            except httpx.TransportError:
                retries.append(attempt)
        seconds = time.perf_counter() - started
        r.raise_for_status()
        (clearing if r.json()["cleared"] else lat).append(seconds)


async def _day(url: str, tokens: dict[int, str], day) -> tuple[float, list, list, list]:
    lat, clearing, retries = [], [], []
    limits = httpx.Limits(max_connections=len(tokens), max_keepalive_connections=len(tokens))
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        tasks = []
        for p, token in tokens.items():
            rows = [
                {"time": day.start(t), "load_kwh": float(day.load_kwh[t, p - 1]), "pv_kwh": float(day.pv_kwh[t, p - 1])}
                for t in range(day.n_intervals)
            ]
            tasks.append(_peer(client, token, rows, lat, clearing, retries))
        started = time.perf_counter()
        await asyncio.gather(*tasks)
        return time.perf_counter() - started, lat, clearing, retries


def _serve(db: str, method: str) -> subprocess.Popen:
    env = {**os.environ, "LEC_OPT_OPERATOR_TOKEN": TOKEN}
    cmd = [sys.executable, "-m", "lec_opt", "serve", "--db", db, "--port", str(PORT), "--method", method]
    log = open(Path(db.removeprefix("sqlite:///")).with_suffix(".log"), "w")  # noqa: SIM115 - closed with the process
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{PORT}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("lec-opt serve did not start")


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
        wall, lat, clearing, retries = asyncio.run(_day(url, tokens, day))
        folder = export(url, TOKEN, work / f"service-{method}")
    finally:
        server.terminate()
        server.wait()
    bulk = _bulk(method, work, day)
    engine = create_engine(f"sqlite:///{db_file}")
    with engine.connect() as conn:
        inside = [row.seconds for row in conn.execute(select(ClearedInterval.seconds))]
    engine.dispose()
    solve = timed_run(
        [sys.executable, "-m", "lec_opt", "solve-day", "--method", method, "--out", str(work / method)], "solve-day"
    )
    size = sum(p.stat().st_size for p in work.glob(f"{method}.db*"))
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
        "database_bytes": size,
        "solve_day": solve,
        "ratio_to_solve_day": wall / solve["wall_seconds"],
        "export_equals_solve_day": same_files(folder, work / method),
        "bulk": {**bulk, "ratio_to_solve_day": bulk["wall_seconds"] / solve["wall_seconds"]},
    }


def _bulk(method: str, work: Path, day) -> dict:
    """The same day replayed by the operator in bulk (``lec-opt replay``: one post per interval)."""
    server = _serve(f"sqlite:///{work / f'{method}-bulk.db'}", method)
    try:
        latencies = []
        with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=600) as client:
            started = time.perf_counter()
            for t in range(day.n_intervals):
                t0 = time.perf_counter()
                request(client, "POST", "/operator/readings", token=TOKEN, json=bulk_body(day, t))
                latencies.append(time.perf_counter() - t0)
            wall = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait()
    return {"wall_seconds": wall, "post_and_clear_latency_seconds": _pct(latencies)}


def main() -> None:
    methods = os.environ.get("LEC_OPT_BENCH_SERVICE_METHODS", "greedy,milp").split(",")
    work = Path(tempfile.mkdtemp(prefix="lec-opt-bench-service-"))
    try:
        results = {m: run_method(m, work) for m in methods}
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
        b = r["bulk"]
        print(
            f"{m} in bulk (one post per interval, as lec-opt replay): {b['wall_seconds']:.1f} s, {b['ratio_to_solve_day']:.1f}x solve-day"
        )
    print(save("service", {"note": "100 peers, one day of 288 intervals, 127.0.0.1, SQLite", "methods": results}))


if __name__ == "__main__":
    main()
