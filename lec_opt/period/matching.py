"""Phase 1 of a period: the matchings of every (day, interval), distributed, checkpointed per day.

The matching of an interval does not depend on the CES (models/FORMULATION.md §12), so every
(day, interval) is independent: the days (for the MILP, interleaved parts of each day, so that
the workers end together) run as tasks of ``lec_opt.engine`` (serial, a local process pool or
Dask). A task receives the day's ``DayInputs`` (plain arrays: a remote worker needs no data
folder) and returns its matchings packed as arrays. The client stores each finished day in a
``MatchingStore`` (one file per day, written atomically, named by the date and a key of what
the matchings depend on: ``matching_key``), so a stopped run redoes no finished day, and greedy
runs that differ only in the CES (a sizing sweep) share them.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import pickle
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from lec_opt.day.matching import match_interval
from lec_opt.engine.executors import WorkerDied, execute
from lec_opt.errors import LecOptError
from lec_opt.io.atomic import atomic_open
from lec_opt.market.priorities import PRIORITIES
from lec_opt.market.result import LevelRecord, LevelStatus, Matching, Status
from lec_opt.market.snapshot import DayInputs

DayMatchings = list[dict[str, Matching]]  # [interval] -> {priority: matching}
Progress = Callable[[str, int, int, int, int], None]  # (phase, intervals done, intervals, days done, days)
MILP_PARTS = 4  # tasks per MILP day: intervals t, t + 4, ... (busy and quiet hours spread evenly)
_NOT_MATCHING = {"ces", "period", "name", "description", "base"}  # scenario sections the greedy matching ignores
_FORMAT = 1


def matching_key(day: DayInputs, method: str) -> str:
    """sha256 (24 hex digits) of everything an interval's matching depends on: the scenario but its
    period (and, for the greedy, its CES), the method, and the day's inputs (energy, prices, bids,
    distances).

    The greedy never reads the CES. The MILP's levels 1, 3 and 4 leave it out too, but its model
    carries the CES's parameters, and HiGHS then picks other optimal flows among equal optima (the
    same level values; measured on the default day): its key keeps the CES, so that a stored day is
    exactly the day a fresh run would match.
    """
    digest = hashlib.sha256()
    exclude = _NOT_MATCHING if method == "greedy" else _NOT_MATCHING - {"ces"}
    scenario = day.scenario.model_dump(mode="json", exclude=exclude)
    scenario["data"] = None  # the data enter through the arrays below, wherever the folder is
    digest.update(json.dumps({"scenario": scenario, "method": method, "format": _FORMAT}, sort_keys=True).encode())
    for array in (day.load_kwh, day.pv_kwh, day.ev_kwh, day.buy_price, day.sell_price, day.ask, day.bid, day.willing):
        digest.update(np.ascontiguousarray(array).tobytes())
    if day.distance_m is not None:
        digest.update(np.ascontiguousarray(day.distance_m).tobytes())
    return digest.hexdigest()[:24]


# --- matchings as arrays (what tasks return and checkpoints hold) ---------------------------


def pack(intervals: Sequence[int], matchings: Sequence[dict[str, Matching]]) -> dict:
    """Matchings of some intervals as flat arrays (flows) and short records (levels): exact floats."""
    blocks, sizes, records = [], [], []
    for t, by_priority in zip(intervals, matchings, strict=True):
        for p, m in by_priority.items():
            if m.flows:
                blocks.append(np.array(m.flows, dtype=np.float64))  # positions are small integers: exact
            sizes.append(len(m.flows))
            levels = tuple(
                (lv.level, lv.name, lv.state.value, lv.how.detail, lv.how.proven)
                + (lv.objective, lv.bound, lv.gap, lv.seconds, lv.highs_seconds)
                for lv in m.levels
            )
            records.append((t, p, m.method, m.fallback, m.fallback_reason, m.seconds, levels))
    flows = np.concatenate(blocks) if blocks else np.zeros((0, 3))
    return {
        "owner": np.repeat(np.arange(len(records), dtype=np.int64), sizes),
        "seller": flows[:, 0].astype(np.int32),
        "buyer": flows[:, 1].astype(np.int32),
        "kwh": np.ascontiguousarray(flows[:, 2]),
        "records": records,
    }


def _level(level: int, name: str, state: str, detail: str, proven: float | None, *numbers) -> LevelRecord:
    """A level record from its packed plain values (``pack``)."""
    return LevelRecord(level, name, Status(LevelStatus(state), detail, proven), *numbers)


def unpack(packed: dict, n_intervals: int, out: DayMatchings | None = None) -> DayMatchings:
    """The matchings of ``pack``, filled into ``out`` (a day's list, created when None)."""
    out = out if out is not None else [{} for _ in range(n_intervals)]
    owner = packed["owner"]
    cuts = np.searchsorted(owner, np.arange(len(packed["records"]) + 1))
    seller, buyer, kwh = packed["seller"].tolist(), packed["buyer"].tolist(), packed["kwh"].tolist()
    for row, (t, p, method, fallback, reason, seconds, levels) in enumerate(packed["records"]):
        a, b = int(cuts[row]), int(cuts[row + 1])
        flows = tuple(zip(seller[a:b], buyer[a:b], kwh[a:b]))
        out[t][p] = Matching(p, flows, tuple(_level(*lv) for lv in levels), method, fallback, reason, seconds)
    return out


# --- the task ----------------------------------------------------------------------------------


def match_task(payload: dict) -> dict:
    """Match the intervals ``payload["intervals"]`` of ``payload["day"]`` (a ``DayInputs``) with
    ``payload["method"]``; a record ``{"status": "ok", "packed": ...}`` or an error record."""
    try:
        day: DayInputs = payload["day"]
        intervals = payload["intervals"]
        scenario = day.scenario
        matchings = [match_interval(day.snapshot(t), scenario, payload["method"]) for t in intervals]
        return {"status": "ok", "packed": pack(intervals, matchings)}
    except Exception as err:  # noqa: BLE001 - the client stops the run and names the day
        return {"status": "error", "error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}


# --- the store ---------------------------------------------------------------------------------


class MatchingStore:
    """One file per finished day: ``<folder>/<date>-<key>.pkl``, written atomically.

    A file is read only by the run that wrote it or a later lec-opt run of the same version (it is
    a pickle of plain tuples and numpy arrays, never data from elsewhere).
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def path(self, date: datetime.date, key: str) -> Path:
        """The checkpoint file of a date's matchings under ``key`` (what they depend on)."""
        return self.folder / f"{date.isoformat()}-{key}.pkl"

    def load(self, date: datetime.date, key: str, n_intervals: int) -> dict | None:
        """The packed matchings of a finished day, or None (none, damaged, or not every interval)."""
        path = self.path(date, key)
        if not path.is_file():
            return None
        try:
            with path.open("rb") as handle:
                packed = pickle.load(handle)
            day = unpack(packed, n_intervals)
        except Exception:  # noqa: BLE001 - a damaged checkpoint is redone, never trusted
            return None
        if any(set(by_priority) != set(PRIORITIES) for by_priority in day):
            return None
        return packed

    def save(self, date: datetime.date, key: str, packed: dict) -> None:
        """Write a finished day's packed matchings atomically."""
        with atomic_open(self.path(date, key), "wb") as handle:
            pickle.dump(packed, handle, protocol=pickle.HIGHEST_PROTOCOL)


def period_matchings(
    days: Sequence[DayInputs],
    dates: Sequence[datetime.date],
    method: str,
    *,
    executor: str = "serial",
    workers: int = 1,
    scheduler: str | None = None,
    store: MatchingStore | None = None,
    progress: Progress | None = None,
) -> Iterator[tuple[int, DayMatchings, bool]]:
    """``(day number, its matchings, taken from the store)`` in date order, as soon as each day and
    every day before it are matched (the caller walks the CES meanwhile).

    Days found in ``store`` are not matched again; each day matched is saved there before it is
    yielded. A task that fails stops the run with the day and the error.
    """
    n_days = len(days)
    total = sum(d.n_intervals for d in days)
    keys = [matching_key(d, method) for d in days]
    ready: dict[int, dict] = {}  # finished days not yet walked, packed (arrays: a year of them fits)
    stored: set[int] = set()
    if store is not None:
        for n, (day, date) in enumerate(zip(days, dates, strict=True)):
            found = store.load(date, keys[n], day.n_intervals)
            if found is not None:
                ready[n] = found
                stored.add(n)
    parts = MILP_PARTS if method == "milp" else 1
    payloads, waiting = [], {}
    for n, day in enumerate(days):
        if n in ready:
            continue
        pieces = [list(range(k, day.n_intervals, parts)) for k in range(min(parts, day.n_intervals))]
        waiting[n] = [len(pieces), []]
        for k, intervals in enumerate(pieces):
            payloads.append({"hash": f"{n}/{k}", "day": day, "method": method, "intervals": intervals})
    matched = sum(days[n].n_intervals for n in ready)
    done_days = len(ready)
    if progress:
        progress("matching", matched, total, done_days, n_days)
    nxt = 0

    def take() -> tuple[int, DayMatchings, bool]:
        nonlocal nxt
        n = nxt
        nxt += 1
        return n, unpack(ready.pop(n), days[n].n_intervals), n in stored

    while nxt in ready:
        yield take()
    if not payloads:
        return
    preload = ("lec_opt.period.matching", "lec_opt.day.matching")
    stream = execute(match_task, payloads, executor, workers, scheduler, preload)
    try:
        for name, record in stream:
            n, _ = (int(x) for x in name.split("/"))
            if record.get("status") != "ok":
                raise LecOptError(
                    f"the matchings of {dates[n]} failed: {record.get('error')}\n{record.get('traceback', '')}"
                )
            slot = waiting[n]
            slot[1].append(record["packed"])
            slot[0] -= 1
            matched += len(record["packed"]["records"]) // len(PRIORITIES)
            if slot[0] == 0:
                packed = _merge(slot[1]) if len(slot[1]) > 1 else slot[1][0]
                if store is not None:
                    store.save(dates[n], keys[n], packed)
                ready[n] = packed
                del waiting[n]
                done_days += 1
            if progress:
                progress("matching", matched, total, done_days, n_days)
            while nxt in ready:
                yield take()
    except WorkerDied as err:
        raise WorkerDied(f"{err}: {nxt} of {n_days} days finished; run the same command with --resume") from None
    finally:
        stream.close()


def _merge(parts: list[dict]) -> dict:
    """One day's packed matchings from its parts, in interval order (the same bytes whichever part
    finished first)."""
    rows = []
    for packed in parts:
        cuts = np.searchsorted(packed["owner"], np.arange(len(packed["records"]) + 1))
        for r, record in enumerate(packed["records"]):
            a, b = int(cuts[r]), int(cuts[r + 1])
            rows.append((record, packed["seller"][a:b], packed["buyer"][a:b], packed["kwh"][a:b]))
    rows.sort(key=lambda row: (row[0][0], PRIORITIES.index(row[0][1])))
    sizes = [len(row[3]) for row in rows]
    return {
        "owner": np.repeat(np.arange(len(rows), dtype=np.int64), sizes),
        "seller": np.concatenate([row[1] for row in rows]) if rows else np.zeros(0, np.int32),
        "buyer": np.concatenate([row[2] for row in rows]) if rows else np.zeros(0, np.int32),
        "kwh": np.concatenate([row[3] for row in rows]) if rows else np.zeros(0),
        "records": [row[0] for row in rows],
    }
