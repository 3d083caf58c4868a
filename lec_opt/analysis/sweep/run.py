"""Run a sweep: validate everything, run the points, checkpoint each one, write sweep.csv.

With an output folder, the sweep's folder is written whole (``lec_opt.io.results_folder``): the
run works in the partial folder beside ``out`` and swaps it in, with its manifest, at the end.
Each finished point is checkpointed atomically there as ``points/<hash>.json`` (its day's files,
with ``keep_results``, in ``points/<hash>/``), and ``sweep.csv`` is reassembled in grid order
after every point. A run that stops keeps its partial folder; ``resume`` continues it (or starts
from the complete sweep at ``out``) and skips points whose file exists (points that failed are
tried again). ``sweep.json`` records the scenario, the axes and the points.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from lec_opt.analysis.sweep.executors import WorkerDied, execute
from lec_opt.analysis.sweep.figures import write_sweep_figures
from lec_opt.analysis.sweep.points import Point, build_points
from lec_opt.analysis.sweep.spec import as_axes
from lec_opt.analysis.sweep.table import sweep_frame, write_table
from lec_opt.engine.executors import check_executor
from lec_opt.errors import LecOptError
from lec_opt.io.atomic import atomic_open, write_json
from lec_opt.io.results_folder import writing
from lec_opt.io.schema import FIGURES_DIR, SUMMARY_FILE
from lec_opt.scenario import Scenario, load_scenario

POINTS_DIR = "points"
MATCHINGS_DIR = "matchings"  # period points: each day's matchings, shared by points that differ only in the CES
RECORD_FILE = "sweep.json"  # the sweep: scenario, axes, points
Progress = Callable[[int, int], None]  # (points done, points in the grid)


def _valid_record(record: Any, point: Point, keep: bool, folder: Path) -> bool:
    if not isinstance(record, dict) or record.get("hash") != point.hash or record.get("status") != "ok":
        return False  # failed points are tried again
    if not isinstance(record.get("metrics"), dict):
        return False
    return not keep or (folder / POINTS_DIR / point.hash / SUMMARY_FILE).is_file()


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
    record = {
        "hash": point.hash,
        "index": point.index,
        "params": point.params,
        "method": method,
        "priority": priority,
        **record,
        "scenario": point.scenario,
    }
    write_json(out / POINTS_DIR / f"{point.hash}.json", record)
    return record


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
    overwrite: bool = False,
    refine: int = 0,
    power_flow: bool = False,
) -> pd.DataFrame:
    """Run a sweep; returns sweep.csv's table (one row per point, in grid order).

    >>> table = run_sweep({"ces.k": [0.2, 0.6, 1.0]}, method="greedy", out="results/sweep_k")
    >>> table[["ces.k", "p2p_energy_kwh", "ces_soc_max"]]

    ``params``: ``{"ces.k": [0.2, 0.6, 1.0], "ces.S": "0.01:0.05:3"}``, a list of
    ``"PATH=VALUES"`` strings, or ``Axis`` objects. ``scenario``: a Scenario, a scenario file, or
    None for the default. ``mode``: ``product`` or ``zip`` (``SWEEP_MODES``). ``executor``:
    ``local`` (process pool, ``workers`` default = cores; one worker runs in-process), ``serial``
    or ``dask`` (``scheduler`` address, or a LocalCluster of ``workers`` processes). ``out``:
    folder for points/, sweep.csv, sweep.json and figures/ (without it nothing is written and
    nothing can be resumed), replaced as a whole at the end; a non-empty folder lec-opt did not
    write is refused unless ``overwrite``. ``base_dir``: folder that relative ``data.dir``/``tariffs.file``
    values are relative to (default: the working folder).

    ``refine``: with one swept field and a priced CES (``[ces.cost]``), that many golden-section
    steps for the largest net benefit between the best point's neighbours
    (``lec_opt.analysis.sizing.refine``); each adds a sweep point, and the finished points are
    resumed from ``out`` (which it needs), not solved again. ``power_flow``: every point's power
    flows on its feeder (its scenario's ``network.engine``): the network columns of days.csv in
    its row.

    ``frame.attrs`` holds ``points``, ``skipped`` (finished before, with ``resume``), ``failed``
    (``[(point, error)]``) and ``figures`` (paths written).
    """
    options = dict(
        mode=mode,
        method=method,
        priority=priority,
        executor=executor,
        workers=workers,
        scheduler=scheduler,
        out=out,
        keep_results=keep_results,
        figures=figures,
        progress=progress,
        overwrite=overwrite,
        power_flow=power_flow,
    )
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    axes = as_axes(params, Path(base_dir) if base_dir is not None else None)
    if refine:
        _check_refine(axes, scenario, out)
    frame = _run_grid(axes, scenario, resume=resume, **options)
    if refine:
        from lec_opt.analysis.sizing import refine as golden_section
        from lec_opt.analysis.sweep.spec import Axis

        field = axes[0].path

        def again(values: list[float]) -> pd.DataFrame:
            return _run_grid([Axis(field, tuple(values), "list")], scenario, resume=True, **options)

        frame = golden_section(again, field, frame, refine)
    return frame


def _check_refine(axes: Sequence, scenario: Scenario, out: str | Path | None) -> None:
    if len(axes) != 1 or scenario.ces.cost is None:
        raise LecOptError("refine needs one swept field and a priced CES ([ces.cost] in the scenario)")
    if out is None:
        raise LecOptError("refine needs an output folder: its finished points are resumed, not solved again")


def _run_grid(
    axes: Sequence,
    scenario: Scenario,
    *,
    mode: str,
    method: str,
    priority: str,
    executor: str,
    workers: int | None,
    scheduler: str | None,
    out: str | Path | None,
    resume: bool,
    keep_results: bool,
    figures: bool,
    progress: Progress | None,
    overwrite: bool,
    power_flow: bool,
) -> pd.DataFrame:
    """``run_sweep`` over the grid of ``axes`` (no refinement)."""
    points = _checked_points(
        axes, scenario, mode, method, priority, executor, workers, scheduler, out, resume, keep_results, power_flow
    )
    options = {"scenario": scenario, "overwrite": overwrite, "resume": resume, "keep_partial": True}
    target = writing(out, "sweep", **options, command="python: lec_opt.run_sweep") if out is not None else None
    with (
        target or contextlib.nullcontext() as folder,  # the partial folder, swapped in at the end
        tempfile.TemporaryDirectory(prefix="lec-opt-matchings-") as scratch,  # without a folder: the shared matchings
    ):
        records: dict[str, dict] = {}
        if folder is not None:
            _write_record(folder, scenario, axes, points, mode, method, priority)
            if resume:
                records = _load_finished(points, folder, keep_results)
            write_table(folder, sweep_frame(points, records, axes))
        skipped = sum(p.hash in records for p in points)
        matchings = str(folder / MATCHINGS_DIR if folder is not None else scratch)
        common = {"source": scenario.source, "method": method, "priority": priority}
        common |= {"keep": keep_results, "power_flow": power_flow, "matchings": matchings}
        run = (executor, workers or (os.cpu_count() or 1), scheduler)
        _run_points(points, records, axes, folder, common, run, progress)
        frame = sweep_frame(points, records, axes)
        written: list[Path] = []
        if folder is not None:
            shutil.rmtree(folder / MATCHINGS_DIR, ignore_errors=True)  # a complete sweep keeps its table, not its cache
            write_table(folder, frame)
            if figures:
                written = write_sweep_figures(frame, folder / FIGURES_DIR)
        frame.attrs.update(
            points=len(points),
            skipped=skipped,
            figures=[str(Path(out) / p.relative_to(folder)) for p in written],
            failed=[
                (p.label(), records[p.hash].get("error") or "") for p in points if records[p.hash]["status"] != "ok"
            ],
        )
        return frame


def _checked_points(
    axes, scenario, mode, method, priority, executor, workers, scheduler, out, resume, keep_results, power_flow
) -> list[Point]:
    """The grid's points, after checking everything that can be checked before any work."""
    from lec_opt.day.run import check_method_priority

    check_method_priority(method, priority)
    if out is None and (resume or keep_results):
        raise LecOptError("resume and keep_results need an output folder")
    check_executor(executor, scheduler, workers)
    points = build_points(scenario, axes, mode, method, priority, power_flow)
    if "data.dir" not in {a.path for a in axes}:
        from lec_opt.analysis.sweep.worker import is_period
        from lec_opt.market.snapshot import build_day

        if is_period(scenario):
            from lec_opt.period.run import period_days

            _, days = period_days(scenario)  # a broken data folder or dates outside it stop the sweep now
            first = days[0]
        else:
            first = build_day(scenario)  # a broken data folder stops the sweep now, not in every point
        if power_flow:
            from lec_opt.period.run import feeder_flows

            feeder_flows(scenario, first)  # the feeder checked and one trial flow, before any point
    return points


def _write_record(folder: Path, scenario: Scenario, axes: Sequence, points: list, mode, method, priority) -> None:
    """The sweep's own record: what was asked (scenario, method, priority, mode, axes) and its points."""
    write_json(
        folder / RECORD_FILE,
        {
            "scenario": scenario.source,
            "method": method,
            "priority": priority,
            "mode": mode,
            "axes": [{"path": a.path, "values": list(a.values), "scale": a.scale} for a in axes],
            "points": [{"index": p.index, "hash": p.hash, "params": p.params} for p in points],
        },
    )


def _run_points(points, records: dict, axes, folder: Path | None, common: dict, run: tuple, progress) -> None:
    """Run every point not in ``records`` (equal scenarios once), adding their records as they finish;
    the table is rewritten after each one."""
    copies = Counter(p.hash for p in points)  # equal scenarios (e.g. a value listed twice) run once
    todo: dict[str, Point] = {}
    for p in points:
        if p.hash not in records:
            todo.setdefault(p.hash, p)
    done = sum(p.hash in records for p in points)
    if progress:
        progress(done, len(points))
    payloads = [{"hash": h, "scenario": p.scenario, **common} for h, p in todo.items()]
    stream = execute(payloads, *run)
    try:
        for h, record in stream:
            if folder is not None:
                record = _save_point(folder, todo[h], record, common["method"], common["priority"])
            records[h] = record
            done += copies[h]
            if folder is not None:
                write_table(folder, sweep_frame(points, records, axes))
            if progress:
                progress(done, len(points))
    except WorkerDied as err:
        finished = sum(p.hash in records for p in points)
        hint = "; run the same command with --resume to finish" if folder is not None else ""
        raise WorkerDied(f"{err}: {finished} of {len(points)} points finished and saved{hint}") from None
    finally:
        stream.close()
