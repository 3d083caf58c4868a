"""Case ``sweep``: an 8-point MILP sweep of the 15-minute scenario on 1 and 2 workers.

The same grid (k x S x d, 2 x 2 x 2) runs in-process on one worker, in the local process pool
on two, and on a Dask LocalCluster of two worker processes. Reported: wall time of each (the
pool's and the cluster's start-up included; checkpoint files written, figures not), the speed-up
over one worker against a target of 1.6x, the per-point solve time, and whether the
three sweep.csv files agree apart from their timing columns (the MILP's level-4 time limit can
in principle make them differ under load; the greedy never does).
"""

from __future__ import annotations

import csv
import tempfile
import time
from pathlib import Path

from benchmarks.common import save, stats
from lec_opt.analysis.sweep import SWEEP_FILE, TIMING, run_sweep
from lec_opt.io.shipped import MODELS_DIR

GRID = {"ces.k": [0.5, 1.0], "ces.S": [0.001, 0.01], "ces.degradation": [0.005, 0.05]}  # 8 points
TARGET_SPEEDUP = 1.6


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    keep = [n for n, name in enumerate(rows[0]) if name not in TIMING]
    return [[row[n] for n in keep] for row in rows]


def _differences(a: list[list[str]], b: list[list[str]]) -> dict[str, float]:
    """Columns whose cells differ between two tables: the largest relative difference in each."""
    if len(a) != len(b) or a[0] != b[0]:
        return {"<shape>": float("inf")}
    out = {}
    for n, name in enumerate(a[0]):
        pairs = [(x[n], y[n]) for x, y in zip(a[1:], b[1:], strict=True) if x[n] != y[n]]
        if pairs:
            try:
                out[name] = max(abs(float(u) - float(v)) / max(abs(float(u)), abs(float(v)), 1e-12) for u, v in pairs)
            except ValueError:  # text
                out[name] = float(len(pairs))
    return out


def run(method: str = "milp", scenario: str = "paper_15min.toml", workers: int = 2) -> dict:
    path = MODELS_DIR / scenario
    with tempfile.TemporaryDirectory(prefix="lec-opt-bench-sweep-") as tmp:
        runs: dict[str, dict] = {}
        tables: dict[str, list[list[str]]] = {}
        for name, executor, n in (("serial", "serial", 1), ("local", "local", workers), ("dask", "dask", workers)):
            out = Path(tmp) / name
            start = time.perf_counter()
            frame = run_sweep(GRID, path, method=method, executor=executor, workers=n, out=out, figures=False)
            wall = time.perf_counter() - start
            tables[name] = _rows(out / SWEEP_FILE)
            runs[name] = {
                "executor": executor,
                "workers": n,
                "seconds": wall,
                "failed": len(frame.attrs["failed"]),
                "point_solve_seconds": stats([float(x) for x in frame.solve_seconds]),
            }
            print(f"  {name}: {wall:.1f} s on {n} worker(s)", flush=True)
    base = runs["serial"]["seconds"]
    for name in ("local", "dask"):
        runs[name]["speedup"] = base / runs[name]["seconds"]
        runs[name]["meets_target"] = runs[name]["speedup"] >= TARGET_SPEEDUP
        runs[name]["differs_from_serial"] = _differences(tables["serial"], tables[name])
    return {
        "scenario": scenario,
        "method": method,
        "grid": GRID,
        "points": len(tables["serial"]) - 1,
        "target_speedup": TARGET_SPEEDUP,
        "runs": runs,
        "identical_tables": all(not runs[n]["differs_from_serial"] for n in ("local", "dask")),
    }


def report(p: dict) -> str:
    r = p["runs"]
    lines = [
        f"{p['points']}-point {p['method']} sweep of {p['scenario']} (k x S x d): "
        f"1 worker {r['serial']['seconds']:.1f} s (median point {r['serial']['point_solve_seconds']['median']:.1f} s)"
    ]
    for name in ("local", "dask"):
        x = r[name]
        lines.append(
            f"  {name} on {x['workers']} workers: {x['seconds']:.1f} s -> speed-up {x['speedup']:.2f}x "
            f"({'meets' if x['meets_target'] else 'MISSES'} the {p['target_speedup']}x target); "
            + (
                "table identical"
                if not x["differs_from_serial"]
                else "table differs (largest relative difference): "
                + ", ".join(f"{k} {v:.1e}" for k, v in x["differs_from_serial"].items())
            )
        )
    return "\n".join(lines)


def main() -> dict:
    payload = run()
    save("sweep", payload)
    print(report(payload))
    return payload
