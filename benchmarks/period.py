"""Case ``period``: a greedy year at 5 minutes (wall, peak RSS), a MILP week on Dask vs serial, a MILP year projected.

Until the seasonal data generator lands, the data are the shipped day (``data/paper_day``, 100 peers,
averaged to 5 minutes) written as a multi-day Parquet folder with the same day on every date: the
reader, the checkpoints and the outputs see a real year, the matchings see 365 copies of 21 June.
Writing that folder is data generation and is timed apart.

1. **Greedy year**: ``lec-opt solve-period --method greedy --days 365`` (5-minute intervals,
   105 120 of them) as a subprocess, local executor with 2 workers; wall time and the peak RSS of
   the largest process (the client, or a worker). Goal: ≤ 5 min, ≤ 4 GiB.
2. **MILP week**: ``solve_period`` of 7 days at 15 minutes, serial and on a Dask LocalCluster of
   2 workers, in alternation; the ratio and whether every file (but the manifest) is identical.
   Goal: ≥ 1.6×.
3. **MILP year**: the MILP matchings of ``--days`` days at 5 minutes, serial, timed per day, and the
   CES walk of a day; the projected wall time of a year on a 64-core cluster
   (max(365 × match / 64, 365 × walk) + the client's fixed costs).

``python -m benchmarks period`` (≈ 15–25 min on a quiet 2-core machine). Environment:
``LEC_OPT_BENCH_PERIOD_PARTS=cpu,greedy,week,milp`` runs some parts only (``cpu``: the CPU seconds of
each stage of a greedy day, in-process, and the year they project on two quiet cores).
"""

from __future__ import annotations

import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import save, timed_run

REPO = Path(__file__).resolve().parent.parent
START = datetime.date(2025, 1, 1)


def year_folder(root: Path, days: int = 365, step: int = 5) -> tuple[Path, float]:
    """The shipped day averaged to ``step`` minutes on every date, as Parquet; (folder, seconds)."""
    from lec_opt.io.period_profiles import write_period_series
    from lec_opt.io.profiles import BIDS_FILE, read_profiles, write_bids

    started = time.perf_counter()
    day = read_profiles(REPO / "data" / "paper_day")
    folder = root / f"year{days}"
    folder.mkdir(parents=True, exist_ok=True)
    for stem, prefix, series in (
        ("load_kw", "peer_", day.load_kw),
        ("pv_kw_per_kwp", "peer_", day.pv_kw_per_kwp),
        ("ev_kw", "ev_", day.ev_kw),
    ):
        values = np.tile(series.to_interval_mean(step), (days, 1))
        write_period_series(folder / f"{stem}.parquet", prefix, values, START, step)
    write_bids(folder / BIDS_FILE, day.ask, day.bid)
    return folder, time.perf_counter() - started


def scenario_file(root: Path, data: Path, base: str, days: int) -> Path:
    path = root / f"{base}-{days}d.toml"
    path.write_text(
        f'base = "{REPO / "models" / base}.toml"\nname = "bench-{base}-{days}d"\n'
        f'[data]\ndir = "{data}"\n[period]\nstart = {START.isoformat()}\ndays = {days}\n'
    )
    return path


def files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "lec-opt.json"
    }


def greedy_year(root: Path, data: Path) -> dict:
    scenario = scenario_file(root, data, "paper_5min", 365)
    out = root / "greedy-year"
    command = [
        *(sys.executable, "-m", "lec_opt", "solve-period", "-s", str(scenario), "--method", "greedy"),
        *("--executor", "local", "--workers", "2", "--out", str(out)),
    ]
    timing = timed_run(command, "the greedy year")
    import json

    summary = json.loads((out / "summary.json").read_text())
    sizes = {p.name: p.stat().st_size for p in out.iterdir() if p.is_file()}
    return {
        "command": " ".join(command[2:]),
        **timing,
        "goal_seconds": 300,
        "goal_rss_gib": 4,
        "intervals": summary["intervals"],
        "days": summary["days"],
        "ces_full_cycles": summary["ces_full_cycles"],
        "community_saving_usd": summary["community_saving_usd"],
        "file_bytes": sizes,
    }


def greedy_cpu_per_day(root: Path, data: Path, days: int = 5) -> dict:
    """CPU seconds (``time.process_time``, which a busy machine does not inflate) of each stage of a
    greedy day, in-process: matching (the workers' share), CES walk and tables (the client's)."""
    from lec_opt import load_scenario
    from lec_opt.day.matching import match_interval
    from lec_opt.day.run import DayRun, walk
    from lec_opt.period.matching import pack, unpack
    from lec_opt.period.outputs import PeriodOutputs
    from lec_opt.period.run import period_days

    sc = load_scenario(scenario_file(root, data, "paper_5min", days))
    dates, inputs = period_days(sc)
    stages = {"matching": [], "pack_unpack": [], "walk": [], "tables": []}
    outputs = PeriodOutputs(root / "cpu-tables", figures=False)
    (root / "cpu-tables").mkdir(exist_ok=True)
    outputs.start(sc, "greedy", "best", dates)
    soc = sc.ces.soc_initial
    for date, day in zip(dates, inputs):
        t0 = time.process_time()
        matchings = [match_interval(day.snapshot(t), sc, "greedy") for t in range(day.n_intervals)]
        t1 = time.process_time()
        matchings = unpack(pack(range(day.n_intervals), matchings), day.n_intervals)
        t2 = time.process_time()
        steps = walk(day, matchings, "best", soc_start=soc)
        t3 = time.process_time()
        outputs.add(date, DayRun(day, "greedy", "best", steps, {}, 0.0, 0.0), soc)
        t4 = time.process_time()
        soc = steps[-1].result.soc_end
        for key, value in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            stages[key].append(value)
    outputs.close()
    median = {k: float(np.median(v)) for k, v in stages.items()}
    client = median["pack_unpack"] + median["walk"] + median["tables"]
    return {
        "cpu_seconds_per_day": median,
        "year_cpu_seconds": 365 * sum(median.values()),
        "year_wall_projected_2_cores": 365 * max(client, median["matching"] / 2),
        "projection": "client (unpack, walk, tables) and 2 matching workers in a pipeline: 365 x max(client, matching / 2)",
    }


def milp_week(root: Path, data: Path) -> dict:
    from lec_opt import load_scenario
    from lec_opt.period.run import solve_period

    sc = load_scenario(scenario_file(root, data, "paper_15min", 7))
    seconds = {"serial": [], "dask": []}
    outputs = {}
    for repeat in range(int(os.environ.get("LEC_OPT_BENCH_PERIOD_REPEATS", "2"))):
        for executor in ("serial", "dask") if repeat == 0 else ("dask", "serial"):
            out = root / f"week-{executor}-{repeat}"
            started = time.perf_counter()
            solve_period(sc, out, "milp", executor=executor, workers=2)
            seconds[executor].append(time.perf_counter() - started)
            outputs[(executor, repeat)] = files(out)
    reference = outputs[("serial", 0)]
    identical = all(f == reference for f in outputs.values())
    different = sorted({name for f in outputs.values() for name in f if f.get(name) != reference.get(name)})
    best = {k: min(v) for k, v in seconds.items()}
    return {
        "seconds": seconds,
        "speedup_dask_2_workers": best["serial"] / best["dask"],
        "goal_speedup": 1.6,
        "identical_files": identical,
        "files_that_differ": different,
        "load_after": os.getloadavg(),
    }


def milp_year(root: Path, data: Path, days: int = 2) -> dict:
    from lec_opt import load_scenario
    from lec_opt.day.run import walk
    from lec_opt.period.matching import period_matchings
    from lec_opt.period.run import period_days

    sc = load_scenario(scenario_file(root, data, "paper_5min", days))
    dates, inputs = period_days(sc)
    per_day, walks = [], []
    started = time.perf_counter()
    soc = sc.ces.soc_initial
    for _n, matchings, _ in period_matchings(inputs, dates, "milp", executor="serial"):
        per_day.append(time.perf_counter() - started)
        begun = time.perf_counter()
        steps = walk(inputs[_n], matchings, "best", soc_start=soc)
        soc = steps[-1].result.soc_end
        walks.append(time.perf_counter() - begun)
        started = time.perf_counter()
    match = float(np.median(per_day))
    walk_day = float(np.median(walks))
    fixed = 60.0  # reading a year's data, outputs and figures in the client (the greedy year's order)
    projected = max(365 * match / 64, 365 * walk_day) + fixed
    return {
        "days_measured": days,
        "matching_seconds_per_day_one_core": per_day,
        "walk_seconds_per_day": walks,
        "serial_year_hours": 365 * (match + walk_day) / 3600,
        "projected_64_core_seconds": projected,
        "projection": "max(365 x matching per day / 64 workers, 365 x walk per day in the client) + 60 s fixed",
    }


def main() -> None:
    parts = os.environ.get("LEC_OPT_BENCH_PERIOD_PARTS", "cpu,greedy,week,milp").split(",")
    payload: dict = {"data": "the shipped day (data/paper_day) on every date, Parquet, 5-minute steps"}
    with tempfile.TemporaryDirectory(prefix="lec-opt-bench-period-") as tmp:
        root = Path(tmp)
        data, seconds = year_folder(root)
        payload["data_generation_seconds"] = seconds
        if "cpu" in parts:
            payload["greedy_cpu"] = greedy_cpu_per_day(root, data)
            c = payload["greedy_cpu"]
            print(
                f"greedy day CPU: {c['cpu_seconds_per_day']}; year projected on 2 quiet cores {c['year_wall_projected_2_cores']:.0f} s"
            )
        if "greedy" in parts:
            payload["greedy_year"] = greedy_year(root, data)
            g = payload["greedy_year"]
            print(f"greedy year: {g['wall_seconds']:.0f} s (goal 300), peak RSS {g['peak_rss_gib']:.2f} GiB (goal 4)")
        if "week" in parts:
            payload["milp_week"] = milp_week(root, data)
            w = payload["milp_week"]
            print(
                f"MILP week at 15 min: serial {min(w['seconds']['serial']):.0f} s, Dask 2 workers "
                f"{min(w['seconds']['dask']):.0f} s: {w['speedup_dask_2_workers']:.2f}x (goal 1.6), identical "
                f"files: {w['identical_files']}"
            )
        if "milp" in parts:
            payload["milp_year"] = milp_year(root, data)
            m = payload["milp_year"]
            print(
                f"MILP day at 5 min: matchings {np.median(m['matching_seconds_per_day_one_core']):.0f} s on one core, "
                f"walk {np.median(m['walk_seconds_per_day']):.2f} s; a year serial {m['serial_year_hours']:.1f} h, "
                f"on 64 cores {m['projected_64_core_seconds'] / 60:.1f} min (projected)"
            )
    print(save("period", keep_earlier_parts(payload)))


def keep_earlier_parts(payload: dict) -> dict:
    """The parts of the previous results/period.json that this run did not measure, kept under
    ``earlier_parts`` with the machine facts of the run that measured them."""
    import json

    from benchmarks.common import RESULTS

    path = RESULTS / "period.json"
    if not path.is_file():
        return payload
    previous = json.loads(path.read_text(encoding="utf-8"))
    earlier = dict(previous.get("earlier_parts", {}))
    for part in ("greedy_cpu", "greedy_year", "milp_week", "milp_year"):
        if part in previous and part not in payload:
            earlier[part] = {"machine": previous.get("machine"), **previous[part]}
    for part in payload:
        earlier.pop(part, None)
    return {**payload, "earlier_parts": earlier} if earlier else payload


if __name__ == "__main__":
    main()
