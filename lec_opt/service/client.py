"""The service's clients: ``replay`` posts a data folder's readings interval by interval, as the
meters would; ``export`` writes what the service cleared as a results folder in ``solve-day``'s format.

Both retry while the service cannot be reached (it may be restarting): a reading posted twice is
accepted once, so a replay that resumes after a restart posts again what it is not sure of.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from lec_opt.errors import LecOptError
from lec_opt.io.atomic import write_text
from lec_opt.io.results_folder import writing
from lec_opt.io.scenario_copy import write_scenario_file
from lec_opt.market.snapshot import build_day
from lec_opt.scenario.schema import Scenario

RETRYABLE = (httpx.TransportError,)
REPLAY_IN_FLIGHT = 4  # bulk posts a replay keeps under way


def request(
    client: httpx.Client, method: str, path: str, *, token: str, patience: float = 60.0, **kwargs
) -> httpx.Response:
    """One request, retried while the service is unreachable or answers 5xx for up to ``patience`` seconds;
    a 4xx is a LecOptError with the service's message."""
    give_up = time.monotonic() + patience
    while True:
        try:
            response = client.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
            if response.status_code < 500:
                break
        except RETRYABLE:
            if time.monotonic() > give_up:
                raise LecOptError(f"the service at {client.base_url} does not answer (for {patience:.0f} s)") from None
            time.sleep(0.1)
            continue
        if time.monotonic() > give_up:
            break
        time.sleep(0.1)
    if response.status_code >= 400:
        raise LecOptError(f"{method} {path}: {response.status_code} {response.text}")
    return response


def bulk_body(day, t: int) -> dict:
    """The operator's bulk post of interval ``t`` of a day: every peer's load and PV, kWh."""
    readings = [
        {"peer": p + 1, "load_kwh": float(day.load_kwh[t, p]), "pv_kwh": float(day.pv_kwh[t, p])}
        for p in range(day.n_peers)
    ]
    return {"time": day.start(t), "readings": readings}


def replay(
    scenario: Scenario,
    url: str,
    token: str,
    intervals: range | None = None,
    progress: Callable[[int, int], None] | None = None,
    patience: float = 60.0,
    in_flight: int = REPLAY_IN_FLIGHT,
) -> int:
    """Post the scenario's day (its data folder's readings, kWh per interval) to the service, one bulk post
    per interval, in order, up to ``in_flight`` posts at a time (while the service clears one interval it
    stores the next ones, and solves their MILP matchings ahead), then wait until the last is cleared;
    returns how many intervals were posted.

    The service clears in interval order whatever order the posts arrive in, so the results are those
    of posting one interval after the other."""
    day = build_day(scenario)
    intervals = intervals if intervals is not None else range(day.n_intervals)
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    with httpx.Client(base_url=url, timeout=600, limits=limits) as client, ThreadPoolExecutor(in_flight) as pool:

        def post(t: int) -> None:
            request(client, "POST", "/operator/readings", token=token, json=bulk_body(day, t), patience=patience)

        posted = [pool.submit(post, t) for t in intervals]
        try:
            for done, future in enumerate(posted, start=1):
                future.result()
                if progress:
                    progress(done, len(intervals))
        except BaseException:
            pool.shutdown(cancel_futures=True)  # a refused post stops the replay: nothing more is sent
            raise
        if intervals:
            wait_cleared(client, token, day.start(intervals[-1]), patience)
    return len(intervals)


def wait_cleared(client: httpx.Client, token: str, time_: str, patience: float = 60.0) -> None:
    """Wait until the service has cleared the interval starting at ``time_`` (it clears in order, a
    posted interval may still be waiting for its turn or its matchings); LecOptError when no interval
    clears for ``patience`` seconds."""
    seen, give_up = -1, time.monotonic() + patience
    while True:
        day = request(client, "GET", "/api/day", token=token, patience=patience).json()
        times = [row["time"] for row in day["intervals"]]
        if time_ in times:
            return
        if len(times) > seen:
            seen, give_up = len(times), time.monotonic() + patience
        elif time.monotonic() > give_up:
            live = day["live"]
            raise LecOptError(f"the service has not cleared {time_}: it waits at {live} for {patience:.0f} s")
        time.sleep(0.05)


def fetch_export(url: str, token: str, first: str | None = None, last: str | None = None) -> dict:
    """The service's export of the cleared intervals (``GET /operator/export``)."""
    params = {k: v for k, v in (("from", first), ("to", last)) if v}
    with httpx.Client(base_url=url, timeout=600) as client:
        return request(client, "GET", "/operator/export", token=token, params=params).json()


def export(
    url: str, token: str, out: str | Path, first: str | None = None, last: str | None = None, overwrite: bool = False
) -> Path:
    """Write the service's cleared intervals as a results folder (written whole, as ``write_day`` does)."""
    payload = fetch_export(url, token, first, last)
    with writing(out, "day", scenario=payload["scenario"], overwrite=overwrite, command="lec-opt export") as folder:
        for name, text in payload["files"].items():
            write_text(folder / name, text)
        write_scenario_file(folder, payload["scenario"])
    return Path(out)
