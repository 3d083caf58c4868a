"""Sensitivity sweeps: how a day's results move with k, S, d, tariffs, capacity ... (paper §3.2).

A sweep takes a base scenario and one or more *axes*: a scenario field named by its dotted path
(``ces.k``, ``tariffs.buy``) and the values it takes, from a list (``0.01,0.05``), a linspace
(``start:stop:num``) or a logspace (``start:stop:num:log``). The points are the cartesian
product of the axes (or, in ``zip`` mode, the axes side by side). Every point is a whole day
(``lec_opt.day.run_day`` with one process) summarised by ``lec_opt.outputs.summary``.

Every point's scenario is built and validated before anything is solved, so an unknown field or
a value out of range stops the sweep with the usual error naming the field. Points run in-process
(``serial``), in a process pool (``local``) or on a Dask cluster (``dask``); the results do not
depend on which (the greedy's bit for bit; the MILP's up to what its wall-clock time limits let
HiGHS find on a busy machine, e.g. a few transactions of the fewest-transactions level).

With an output folder, each finished point is checkpointed atomically as
``points/<hash>.json`` (the hash is of the resolved scenario, method and priority), and
``sweep.csv`` is reassembled in grid order after every point; ``resume`` skips points whose file
exists (points that failed are tried again). ``sweep.csv`` is wide: the swept fields first, named
by their dotted paths, then (with two or more axes) a ``series`` column naming the other axes'
values, the day's metrics, the timings, and ``status``/``error``/``hash``. ``lec-opt report``
draws it (against the first axis); ``figures/sweep_<group>_<axis>.png`` show every metric group
against every axis.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import io
import itertools
import json
import math
import os
import re
import sys
import tempfile
import time
import tomllib
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lec_opt.atomic import atomic_open, write_csv, write_json
from lec_opt.errors import InputError, LecOptError
from lec_opt.scenario import Scenario, load_scenario, parse_scenario

MODES = ("product", "zip")
EXECUTORS = ("local", "serial", "dask")
METHODS = ("milp", "greedy")
POINTS_DIR = "points"
FIGURES_DIR = "figures"
SWEEP_FILE = "sweep.csv"
MANIFEST_FILE = "sweep.json"
DASK_HINT = 'the dask executor needs dask.distributed: pip install -e ".[dask]"'

# Metric columns of sweep.csv, in this order (lec-opt report draws the first nine); any other
# scalar key of the day's summary follows them.
METRICS = (
    "p2p_energy_kwh", "grid_import_kwh", "grid_export_kwh", "ces_charge_kwh", "ces_discharge_kwh",
    "ces_soc_min", "ces_soc_max", "prosumer_revenue_ratio", "consumer_bill_ratio",
    "ces_soc_end", "grid_to_ces_kwh", "ev_kwh", "ev_from_ces_kwh", "ev_from_grid_kwh",
    "prosumer_revenue_p2p", "prosumer_revenue_grid_only", "consumer_bill_p2p", "consumer_bill_grid_only",
    "ev_bill", "ces_cash", "ces_degradation", "community_saving", "score",
    "priority_A", "priority_B", "priority_C", "transactions", "fallbacks",
    "alone_A_score", "alone_B_score", "alone_C_score",
    "alone_A_p2p_energy_kwh", "alone_B_p2p_energy_kwh", "alone_C_p2p_energy_kwh",
)
TIMING = ("solve_seconds", "matching_seconds")  # vary run to run
TRAILER = ("status", "error", "hash")
_SUMMARY_DROPPED = {"scenario", "method", "priority", "intervals", "interval_minutes", "paper",
                    "priority_counts", "single_priority_totals"}

# One figure per (group, axis): the metrics of a group share a figure, one panel each.
FIGURE_GROUPS: dict[str, tuple[str, ...]] = {
    "energy": ("p2p_energy_kwh", "grid_import_kwh", "grid_export_kwh", "ces_charge_kwh", "ces_discharge_kwh",
               "grid_to_ces_kwh"),
    "soc": ("ces_soc_min", "ces_soc_max", "ces_soc_end"),
    "money": ("prosumer_revenue_p2p", "prosumer_revenue_grid_only", "consumer_bill_p2p", "consumer_bill_grid_only",
              "community_saving", "score"),
    "ratios": ("prosumer_revenue_ratio", "consumer_bill_ratio"),
    "counts": ("priority_A", "priority_B", "priority_C", "transactions", "fallbacks"),
    "time": ("solve_seconds",),
}

# Scenario paths that are file names: resolved against the sweep file's folder (or the cwd).
_PATH_FIELDS = ("data.dir", "tariffs.file")
_RANGE = re.compile(r"^\s*([^:,]+):([^:,]+):([^:,]+)(?::(lin|log))?\s*$")
Progress = Callable[[int, int], None]  # (points done, points in the grid)


# --- axes: which field, which values ------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """One swept field: its dotted path, its values, and how they were spaced."""

    path: str
    values: tuple[Any, ...]
    scale: str = "list"  # list, lin or log (figures use a log x axis for log)
    source: str = "--param"  # where it was given, for error messages

    def label(self) -> str:
        return f"{self.path}={_fmt_values(self.values)}"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def _fmt_values(values: Sequence[Any]) -> str:
    shown = ",".join(_fmt(v) for v in values[:6])
    return shown + (f",... ({len(values)} values)" if len(values) > 6 else "")


def _number(token: str) -> int | float | None:
    token = token.strip()
    try:
        return int(token)
    except ValueError:
        pass
    try:
        value = float(token)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _scalar(token: str) -> Any:
    """A value typed on the command line: a number, true/false, or text."""
    token = token.strip()
    number = _number(token)
    if number is not None:
        return number
    if token.lower() in ("true", "false"):
        return token.lower() == "true"
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return token[1:-1]
    return token


def _clean(value: float) -> float:
    """Linspace arithmetic leaves 0.6000000000000001; keep 12 significant digits."""
    return float(f"{value:.12g}")


def spaced(start: float, stop: float, num: int, scale: str = "lin", *, integers: bool = False,
           where: str = "--param", path: str | None = None) -> tuple[tuple[Any, ...], str]:
    """``num`` values from ``start`` to ``stop`` (both included), evenly (lin) or geometrically (log)."""
    if isinstance(num, bool) or not isinstance(num, int) or num < 0:
        raise InputError(where, f"the number of values must be a whole number >= 0, not {num!r}", field=path)
    if scale not in ("lin", "log"):
        raise InputError(where, f"scale must be 'lin' or 'log', not {scale!r}", field=path)
    if scale == "log":
        if start <= 0 or stop <= 0:
            raise InputError(where, f"a log range needs start and stop > 0 (got {start}, {stop})", field=path)
        raw = np.geomspace(start, stop, num) if num else np.zeros(0)
    else:
        raw = np.linspace(start, stop, num)
    values = [_clean(float(v)) for v in raw]
    if integers and all(float(v).is_integer() for v in values):
        return tuple(int(v) for v in values), scale
    return tuple(values), scale


def parse_values(text: str, *, where: str = "--param", path: str | None = None) -> tuple[tuple[Any, ...], str]:
    """``0.2:1.0:5`` (linspace), ``1e-3:1e-1:3:log`` (logspace) or ``a,b,c`` (a list)."""
    match = _RANGE.match(text)
    if match:
        start, stop, num = (_number(g) for g in match.groups()[:3])
        if start is not None and stop is not None and isinstance(num, int):
            integers = isinstance(start, int) and isinstance(stop, int)
            return spaced(float(start), float(stop), num, match.group(4) or "lin", integers=integers,
                          where=where, path=path)
        raise InputError(where, f"{text!r} is not start:stop:num (numbers; num a whole number)", field=path)
    if not text.strip():
        return (), "list"
    tokens = text.split(",")
    if any(not t.strip() for t in tokens):
        raise InputError(where, f"empty value in the list {text!r}", field=path)
    return tuple(_scalar(t) for t in tokens), "list"


def _paths_resolved(path: str, values: tuple[Any, ...], base_dir: Path | None) -> tuple[Any, ...]:
    """Relative ``data.dir``/``tariffs.file`` values, relative to ``base_dir`` (default: the cwd)."""
    if path not in _PATH_FIELDS:
        return values
    base = base_dir if base_dir is not None else Path.cwd()
    return tuple(str((base / v).resolve()) if isinstance(v, str) else v for v in values)


def parse_param(text: str, base_dir: Path | None = None) -> Axis:
    """``PATH=VALUES`` as given to ``--param``."""
    where = f"--param {text}"
    path, sep, values = text.partition("=")
    path = path.strip()
    if not sep or not path:
        raise InputError(where, "expected PATH=VALUES, e.g. ces.k=0.2:1.0:5 or ces.S=0.01,0.05")
    parsed, scale = parse_values(values, where=where, path=path)
    return Axis(path, _paths_resolved(path, parsed, base_dir), scale, where)


def _axis_from_toml(path: str, value: Any, where: str, base_dir: Path | None = None) -> Axis:
    if isinstance(value, str):
        values, scale = parse_values(value, where=where, path=path)
    elif isinstance(value, list):
        values, scale = tuple(value), "list"
    elif isinstance(value, dict):
        unknown = sorted(set(value) - {"start", "stop", "num", "scale"})
        missing = [k for k in ("start", "stop", "num") if k not in value]
        if unknown or missing:
            problem = f"unknown key(s) {unknown}" if unknown else f"missing {missing}"
            raise InputError(where, f"a range is {{start, stop, num, scale}}: {problem}", field=f"params.{path}")
        start, stop = value["start"], value["stop"]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (start, stop)):
            raise InputError(where, "start and stop must be numbers", field=f"params.{path}")
        values, scale = spaced(float(start), float(stop), value["num"], value.get("scale", "lin"),
                               integers=isinstance(start, int) and isinstance(stop, int), where=where,
                               path=f"params.{path}")
    else:
        values, scale = (value,), "list"
    return Axis(path, _paths_resolved(path, values, base_dir), scale, where)


def _is_range(value: Any) -> bool:
    return isinstance(value, dict) and "start" in value and set(value) <= {"start", "stop", "num", "scale"}


def _flatten_params(table: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and not _is_range(value):
            out += _flatten_params(value, f"{path}.")
        else:
            out.append((path, value))
    return out


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep file or the command line asks for (None: not given, use the default)."""

    axes: tuple[Axis, ...] = ()
    mode: str | None = None
    method: str | None = None
    priority: str | None = None
    scenario: Path | None = None  # base scenario file


SPEC_KEYS = ("scenario", "method", "priority", "mode", "params")


def load_spec(path: str | Path) -> SweepSpec:
    """A sweep TOML file::

        scenario = "paper_15min.toml"      # optional, relative to this file
        method = "greedy"                  # optional
        priority = "best"                  # optional
        mode = "product"                   # or "zip"
        [params]
        "ces.k" = "0.2:1.0:5"              # linspace; "1e-3:1e-1:3:log" is a logspace
        "ces.S" = [0.01, 0.05]             # a list
        ces.degradation = {start = 0.001, stop = 0.1, num = 3, scale = "log"}

    The axes come in the order of the keys (TOML puts bare dotted keys of one section together;
    the first axis varies slowest). Relative ``data.dir``/``tariffs.file`` values are relative
    to this file.
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "sweep file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(path, f"cannot be read ({err})") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError(path, f"not valid TOML: {err}") from None
    for key in raw:
        if key not in SPEC_KEYS:
            close = difflib.get_close_matches(key, SPEC_KEYS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(SPEC_KEYS)}"
            raise InputError(path, f"unknown key{hint}", field=key)
    for key in ("scenario", "method", "priority", "mode"):
        if key in raw and not isinstance(raw[key], str):
            raise InputError(path, "must be a string", field=key)
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise InputError(path, "must be a table of PATH = values", field="params")
    axes = tuple(_axis_from_toml(p, v, str(path), path.parent.resolve()) for p, v in _flatten_params(params))
    scenario = (path.parent / raw["scenario"]).resolve() if "scenario" in raw else None
    return SweepSpec(axes, raw.get("mode"), raw.get("method"), raw.get("priority"), scenario)


def as_axes(params: Any, base_dir: Path | None = None, where: str = "params") -> tuple[Axis, ...]:
    """Axes from ``{"ces.k": [0.2, 0.4], "ces.S": "0.01:0.05:3"}``, ``["ces.k=0.2,0.4"]`` or Axis objects."""
    if isinstance(params, Mapping):
        return tuple(_axis_from_toml(str(p), list(v) if isinstance(v, tuple | np.ndarray) else v, where, base_dir)
                     for p, v in params.items())
    if isinstance(params, str):
        params = [params]
    return tuple(p if isinstance(p, Axis) else parse_param(str(p), base_dir) for p in params)


# --- points ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One point of the grid: its values, its validated scenario (as JSON data) and its hash."""

    index: int
    params: dict[str, Any]  # dotted path -> value as the validated scenario holds it
    scenario: dict[str, Any]
    hash: str

    def label(self) -> str:
        return ", ".join(f"{p}={_fmt(v)}" for p, v in self.params.items())


def _leaf_paths(raw: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in raw.items():
        if isinstance(value, dict) and value:
            out += _leaf_paths(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}")
    return out


def _locate(raw: dict[str, Any], axis: Axis) -> tuple[dict[str, Any], str]:
    """The dict holding the field ``axis.path`` and the field's key; InputError if there is none."""
    parts = axis.path.split(".")
    node: Any = raw
    for n, part in enumerate(parts):
        if not isinstance(node, dict):
            raise InputError(axis.source, f"'{'.'.join(parts[:n])}' is a value, not a section", field=axis.path)
        if part not in node:
            close = difflib.get_close_matches(axis.path, _leaf_paths(raw), n=3, cutoff=0.6)
            if close:
                hint = "; did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
            else:
                where = f"section '{'.'.join(parts[:n])}'" if n else "the top level"
                hint = f"; keys of {where}: {', '.join(sorted(node))}"
            raise InputError(axis.source, f"unknown scenario field{hint}", field=axis.path)
        if n < len(parts) - 1:
            node = node[part]
    if "." not in axis.path and isinstance(node[parts[-1]], dict):  # a whole section, e.g. "ces"
        keys = ", ".join(f"{axis.path}.{k}" for k in node[parts[-1]])
        raise InputError(axis.source, f"is a section; sweep one of its fields: {keys}", field=axis.path)
    return node, parts[-1]


def _coerce(value: Any, current: Any) -> Any:
    """Make 1 a float for a float field and 4.0 an int for an int field (the schema is strict on ints)."""
    if isinstance(value, bool) or isinstance(current, bool):
        return value
    if isinstance(current, float) and isinstance(value, int):
        return float(value)
    if isinstance(current, int) and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _get(raw: Mapping[str, Any], path: str) -> Any:
    node: Any = raw
    for part in path.split("."):
        node = node[part]
    return node


def point_hash(scenario: Mapping[str, Any], method: str, priority: str) -> str:
    """sha256 of the resolved scenario, the method and the priority (first 16 hex digits)."""
    text = json.dumps({"scenario": scenario, "method": method, "priority": priority}, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _resolved(scenario: Scenario) -> dict[str, Any]:
    raw = scenario.model_dump(mode="json", exclude={"base"})  # the base is merged in already
    raw["data"]["dir"] = str(Path(raw["data"]["dir"]).resolve())
    return raw


def build_points(scenario: Scenario, axes: Sequence[Axis], mode: str = "product", method: str = "milp",
                 priority: str = "best") -> list[Point]:
    """Every point of the grid, each scenario validated (InputError naming the field and point)."""
    if mode not in MODES:
        raise LecOptError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if not axes:
        raise LecOptError("nothing to sweep: give at least one --param PATH=VALUES (e.g. ces.k=0.2:1.0:5)")
    seen: dict[str, Axis] = {}
    for axis in axes:
        if axis.path in seen:
            raise InputError(axis.source, f"swept twice (also {seen[axis.path].source})", field=axis.path)
        seen[axis.path] = axis
        if not axis.values:
            raise InputError(axis.source, "empty grid: this parameter has no values", field=axis.path)
    if mode == "zip" and len({len(a.values) for a in axes}) > 1:
        sizes = ", ".join(f"{a.path}: {len(a.values)}" for a in axes)
        raise LecOptError(f"zip mode needs the same number of values on every axis ({sizes})")
    base = _resolved(scenario)
    slots = [_locate(base, axis) for axis in axes]  # unknown paths fail here, before any point
    origins = {tuple(k.split(".")): Path(v) for k, v in scenario._origins.items()}
    for axis in axes:
        origins[tuple(axis.path.split("."))] = Path(axis.source)
    combos = list(zip(*(a.values for a in axes)) if mode == "zip" else itertools.product(*(a.values for a in axes)))
    points = []
    for index, combo in enumerate(combos):
        raw = copy.deepcopy(base)
        for axis, (node, key), value in zip(axes, slots, combo, strict=True):
            target = _get(raw, axis.path.rpartition(".")[0]) if "." in axis.path else raw
            target[key] = _coerce(copy.deepcopy(value), node[key])
        label = ", ".join(f"{a.path}={_fmt(v)}" for a, v in zip(axes, combo, strict=True))
        try:
            valid = parse_scenario(raw, scenario.source, origins)
        except InputError as err:
            raise InputError(err.file, f"{err.reason} (sweep point {index + 1} of {len(combos)}: {label})",
                             field=err.field) from None
        resolved = _resolved(valid)
        points.append(Point(index, {a.path: _get(resolved, a.path) for a in axes}, resolved,
                            point_hash(resolved, method, priority)))
    return points


# --- one point (runs in a worker: plain data in, plain data out) -----------------------------


def flatten_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The day's summary as flat scalar metrics (priority counts and each priority alone flattened)."""
    out = {k: v for k, v in summary.items() if k not in _SUMMARY_DROPPED}
    for p, count in summary.get("priority_counts", {}).items():
        out[f"priority_{p}"] = count
    for p, totals in summary.get("single_priority_totals", {}).items():
        out[f"alone_{p}_score"] = totals["score"]
        out[f"alone_{p}_p2p_energy_kwh"] = totals["p2p_energy_kwh"]
    return out


def run_point(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Solve one point's day: ``{"scenario", "source", "method", "priority", "keep"}`` -> a record.

    Never raises for a problem of the point itself: the record then has ``status = "error"``.
    With ``keep`` the day's files (``write_day``) come back as ``{name: bytes}`` under ``files``,
    so the driver writes them even when the worker is on another machine.
    """
    from lec_opt.day import run_day
    from lec_opt.outputs import summary, write_day

    started = time.perf_counter()
    try:
        scenario = parse_scenario(copy.deepcopy(dict(payload["scenario"])), payload.get("source", "sweep point"))
        run = run_day(scenario, payload["method"], payload["priority"], workers=1)
        record: dict[str, Any] = {"status": "ok", "error": None, "metrics": flatten_summary(summary(run))}
        if payload.get("keep"):
            with tempfile.TemporaryDirectory(prefix="lec-opt-point-") as tmp:
                folder = write_day(run, tmp)
                record["files"] = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
    except Exception as err:  # noqa: BLE001 - a failed point is recorded, the sweep goes on
        record = {"status": "error", "error": f"{type(err).__name__}: {err}", "metrics": {},
                  "traceback": traceback.format_exc()}
    record["seconds"] = time.perf_counter() - started
    return record


# --- executors: yield (hash, record) as points finish --------------------------------------------


class WorkerDied(LecOptError):
    """A worker process of the local pool died (killed, out of memory): the sweep stops."""


def _serial(payloads: list[dict]) -> Iterator[tuple[str, dict]]:
    for payload in payloads:
        yield payload["hash"], run_point(payload)


def _pool_context():
    """A start method whose workers begin clean: forkserver (else spawn), never a plain fork.

    HiGHS keeps a global thread pool; a process forked from one that has solved a MIP inherits
    the pool's state without its threads and spins forever in its first MIP. The fork server is
    a fresh interpreter that imports lec-opt once (never solves), so workers still start fast.
    As with spawn, a script that starts a sweep needs the ``if __name__ == "__main__":`` guard.
    """
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["lec_opt.sweep", "lec_opt.day", "lec_opt.outputs"])
    return context


def _local(payloads: list[dict], workers: int) -> Iterator[tuple[str, dict]]:
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context())
    broken, finished = None, False
    try:
        futures = {pool.submit(run_point, p): p["hash"] for p in payloads}
        for future in as_completed(futures):
            try:
                record = future.result()
            except BrokenProcessPool as err:
                broken = err
                continue  # keep collecting the points that did finish
            except Exception as err:  # noqa: BLE001 - e.g. the payload could not be sent
                record = {"status": "error", "error": f"{type(err).__name__}: {err}", "metrics": {}}
            yield futures[future], record
        finished = True
    finally:  # interrupted: do not wait for the points still running
        pool.shutdown(wait=finished and broken is None, cancel_futures=True)
    if broken is not None:
        raise WorkerDied(f"a worker process died ({broken})")


def _dask(payloads: list[dict], workers: int | None, scheduler: str | None) -> Iterator[tuple[str, dict]]:
    import logging

    import dask
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as err:
            raise LecOptError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
    else:
        # the workers' statistical profiler (for the dashboard, which is off) samples the stack of
        # the running point 100 times a second: about 6 % of a MILP sweep on busy cores
        with dask.config.set({"distributed.worker.profile.enabled": False}):
            cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        futures = [client.submit(run_point, p, pure=False) for p in payloads]
        hashes = {f.key: p["hash"] for f, p in zip(futures, payloads, strict=True)}
        for future in as_completed(futures):
            try:
                record = future.result()
            except Exception as err:  # noqa: BLE001 - e.g. KilledWorker: this point kept killing workers
                record = {"status": "error", "error": f"{type(err).__name__}: {err}", "metrics": {}}
            yield hashes[future.key], record
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def check_dask() -> None:
    """LecOptError with the install hint when dask.distributed is missing."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise LecOptError(DASK_HINT) from None


# --- the table --------------------------------------------------------------------------------


def _columns_first(axes: Sequence[Axis], points: Sequence[Point]) -> list[str]:
    """Axis columns, a numeric one first (lec-opt report plots against the first column)."""
    numeric = [a.path for a in axes if all(isinstance(p.params[a.path], int | float) and not isinstance(p.params[a.path], bool)
                                           for p in points)]
    return numeric + [a.path for a in axes if a.path not in numeric]


def sweep_frame(points: Sequence[Point], records: Mapping[str, dict], axes: Sequence[Axis]) -> pd.DataFrame:
    """sweep.csv's rows: the finished points in grid order."""
    params = _columns_first(axes, points)
    rows, extra = [], []
    for point in points:
        record = records.get(point.hash)
        if record is None:
            continue
        row = {p: point.params[p] for p in params}
        if len(params) > 1:
            row["series"] = ", ".join(f"{p}={_fmt(point.params[p])}" for p in params[1:])
        metrics = record.get("metrics") or {}
        for key in metrics:
            if key not in METRICS and key not in TIMING and key not in extra:
                extra.append(key)
        row.update(metrics)
        row.update(status=record["status"], error=record.get("error"), hash=point.hash)
        rows.append(row)
    columns = params + (["series"] if len(params) > 1 else []) + list(METRICS) + extra + list(TIMING) + list(TRAILER)
    return pd.DataFrame(rows, columns=columns)


# --- figures ----------------------------------------------------------------------------------


def write_figures(frame: pd.DataFrame, axes: Sequence[Axis], folder: Path) -> list[Path]:
    """``figures/sweep_<group>_<axis>.png``: each metric group against each swept field.

    One line per combination of the other axes' values; categorical axes (text) get evenly spaced
    ticks, log-spaced axes a log scale.
    """
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:  # never switch the backend under an interactive session
        matplotlib.use("Agg")
    from matplotlib.figure import Figure

    ok = frame[frame["status"] == "ok"]
    written = []
    for axis in axes:
        others = [a.path for a in axes if a.path != axis.path]
        series = [", ".join(f"{p}={_fmt(row[p])}" for p in others) for _, row in ok.iterrows()]
        groups = list(ok.groupby(pd.Series(series, index=ok.index, dtype=object), sort=False)) if others else [("", ok)]
        column = frame[axis.path]
        numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        order = {v: n for n, v in enumerate(dict.fromkeys(_fmt(v) for v in axis.values))}
        for group, metrics in FIGURE_GROUPS.items():
            shown = [m for m in metrics if m in ok.columns and ok[m].notna().any()]
            if not shown:
                continue
            ncols = min(3, len(shown))
            nrows = math.ceil(len(shown) / ncols)
            fig = Figure(figsize=(4.2 * ncols + 1.0, 3.4 * nrows + 0.8), dpi=100, layout="constrained")
            panels = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
            for ax, metric in zip(panels, shown):
                for label, part in groups:
                    if numeric:
                        part = part.sort_values(axis.path)
                        x = part[axis.path].astype(float)
                    else:
                        part = part.assign(_x=[order.get(_fmt(v), -1) for v in part[axis.path]]).sort_values("_x")
                        x = part["_x"]
                    ax.plot(x, part[metric], marker="o", ms=4, lw=1.3, label=label or None)
                if not numeric:
                    ax.set_xticks(range(len(order)), list(order), rotation=20, fontsize=8)
                elif axis.scale == "log" and (ok[axis.path].astype(float) > 0).all():
                    ax.set_xscale("log")
                ax.set_xlabel(axis.path)
                ax.set_title(metric, fontsize=10)
                ax.grid(True, alpha=0.3)
                if others and 1 < len(groups) <= 10:
                    ax.legend(fontsize=7)
            for ax in panels[len(shown):]:
                ax.axis("off")
            fig.suptitle(f"{group} against {axis.path}" + (f" (one line per {', '.join(others)})" if others else ""))
            path = folder / FIGURES_DIR / f"sweep_{group}_{_safe(axis.path)}.png"
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", metadata={"Software": None})
            with atomic_open(path, "wb") as handle:
                handle.write(buffer.getvalue())
            written.append(path)
    return written


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


# --- the sweep --------------------------------------------------------------------------------


def _valid_record(record: Any, point: Point, keep: bool, folder: Path) -> bool:
    if not isinstance(record, dict) or record.get("hash") != point.hash or record.get("status") != "ok":
        return False  # failed points are tried again
    if not isinstance(record.get("metrics"), dict):
        return False
    return not keep or (folder / POINTS_DIR / point.hash / "summary.json").is_file()


def _load_finished(points: Sequence[Point], out: Path, keep: bool) -> dict[str, dict]:
    done = {}
    for point in points:
        path = out / POINTS_DIR / f"{point.hash}.json"
        if point.hash in done or not path.is_file():
            continue
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if _valid_record(record, point, keep, out):
            done[point.hash] = record
    return done


def _save_point(out: Path, point: Point, record: dict, method: str, priority: str) -> dict:
    """Write the point's day folder (if kept), then its JSON: the JSON marks the point finished."""
    files = record.pop("files", None)
    if files:
        for name, data in files.items():
            with atomic_open(out / POINTS_DIR / point.hash / name, "wb") as handle:
                handle.write(data)
        record["files"] = sorted(files)
    record = {"hash": point.hash, "index": point.index, "params": point.params, "method": method,
              "priority": priority, **record, "scenario": point.scenario}
    write_json(out / POINTS_DIR / f"{point.hash}.json", record)
    return record


def _write_table(out: Path, frame: pd.DataFrame) -> None:
    write_csv(out / SWEEP_FILE, frame, float_format="%.10g")


def run_sweep(
    params: Any,
    scenario: Scenario | str | Path | None = None,
    *,
    mode: str = "product",
    method: str = "milp",
    priority: str = "best",
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    keep_results: bool = False,
    figures: bool = True,
    base_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Run a sweep; returns sweep.csv's table (one row per point, in grid order).

    ``params``: ``{"ces.k": [0.2, 0.6, 1.0], "ces.S": "0.01:0.05:3"}``, a list of
    ``"PATH=VALUES"`` strings, or ``Axis`` objects. ``scenario``: a Scenario, a scenario file, or
    None for the default. ``executor``: ``local`` (process pool, ``workers`` default = cores;
    one worker runs in-process), ``serial`` or ``dask`` (``scheduler`` address, or a LocalCluster
    of ``workers`` processes). ``out``: folder for points/, sweep.csv, sweep.json and figures/
    (without it nothing is written and nothing can be resumed). ``base_dir``: folder that
    relative ``data.dir``/``tariffs.file`` values are relative to (default: the working folder).

    ``frame.attrs`` holds ``points``, ``skipped`` (finished before, with ``resume``), ``failed``
    (``[(point, error)]``) and ``figures`` (paths written).
    """
    from lec_opt.day import MODES as PRIORITIES

    # --- everything is checked before any work -----------------------------------------------
    if method not in METHODS:
        raise LecOptError(f"method must be milp or greedy, not {method!r}")
    if priority not in PRIORITIES:
        raise LecOptError(f"priority must be one of {', '.join(PRIORITIES)}, not {priority!r}")
    if executor not in EXECUTORS:
        raise LecOptError(f"executor must be one of {', '.join(EXECUTORS)}, not {executor!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise LecOptError(f"workers must be a whole number >= 1, not {workers!r}")
    if scheduler and executor != "dask":
        raise LecOptError("a scheduler address needs the dask executor (--executor dask)")
    if out is None and (resume or keep_results):
        raise LecOptError("resume and keep_results need an output folder")
    if executor == "dask":
        check_dask()
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    axes = as_axes(params, Path(base_dir) if base_dir is not None else None)
    points = build_points(scenario, axes, mode, method, priority)
    if "data.dir" not in {a.path for a in axes}:
        from lec_opt.snapshot import build_day

        build_day(scenario)  # a broken data folder stops the sweep now, not in every point

    folder = Path(out) if out is not None else None
    records: dict[str, dict] = {}
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / MANIFEST_FILE, {
            "scenario": scenario.source, "method": method, "priority": priority, "mode": mode,
            "axes": [{"path": a.path, "values": list(a.values), "scale": a.scale} for a in axes],
            "points": [{"index": p.index, "hash": p.hash, "params": p.params} for p in points],
        })
        if resume:
            records = _load_finished(points, folder, keep_results)
        _write_table(folder, sweep_frame(points, records, axes))
    copies = Counter(p.hash for p in points)  # equal scenarios (e.g. a value listed twice) run once
    todo: dict[str, Point] = {}
    for p in points:
        if p.hash not in records:
            todo.setdefault(p.hash, p)
    skipped = done = sum(p.hash in records for p in points)
    if progress:
        progress(done, len(points))

    payloads = [{"hash": h, "scenario": p.scenario, "source": scenario.source, "method": method,
                 "priority": priority, "keep": keep_results} for h, p in todo.items()]
    workers = workers or (os.cpu_count() or 1)
    if executor == "dask" and payloads:
        stream = _dask(payloads, workers, scheduler)
    elif executor in ("serial", "dask") or workers == 1 or len(payloads) <= 1:
        stream = _serial(payloads)
    else:
        stream = _local(payloads, min(workers, len(payloads)))
    try:
        for h, record in stream:
            if folder is not None:
                record = _save_point(folder, todo[h], record, method, priority)
            records[h] = record
            done += copies[h]
            if folder is not None:
                _write_table(folder, sweep_frame(points, records, axes))
            if progress:
                progress(done, len(points))
    except WorkerDied as err:
        finished = sum(p.hash in records for p in points)
        hint = "; run the same command with --resume to finish" if folder is not None else ""
        raise WorkerDied(f"{err}: {finished} of {len(points)} points finished and saved{hint}") from None
    finally:
        stream.close()
    frame = sweep_frame(points, records, axes)
    written: list[Path] = []
    if folder is not None:
        _write_table(folder, frame)
        if figures:
            written = write_figures(frame, axes, folder)
    frame.attrs.update(
        points=len(points), skipped=skipped, figures=[str(p) for p in written],
        failed=[(p.label(), records[p.hash].get("error") or "") for p in points if records[p.hash]["status"] != "ok"],
    )
    return frame
