"""Case ``output-hashes``: hashes of what lec-opt writes, to prove a refactoring changed no output.

``python -m benchmarks output-hashes`` runs the default MILP day, the greedy day, a 3-day MILP
period, the shipped feeder day (greedy, with power flows) and the minimum-trade levels of every
12th interval at 0.005 / 0.01 / 0.02 kWh, and saves one sha256 per file (timing fields aside:
``solve_seconds``, ``matching_seconds`` and the folder's manifest ``lec-opt.json``). Run it before
and after a change and compare ``benchmarks/results/output_hashes.json`` with
``python -m benchmarks.output_hashes --compare OLD.json NEW.json``.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

from benchmarks.common import save

TIMING_KEYS = ("solve_seconds", "matching_seconds", "seconds")
MINIMUMS = (0.005, 0.01, 0.02)


def _clean(value):
    """A JSON value without its timing keys, anywhere in it."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def folder_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file of a results folder, the manifest left out and timing keys dropped from JSON."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name == "lec-opt.json":
            continue
        data = path.read_bytes()
        if path.suffix == ".json":
            data = json.dumps(_clean(json.loads(data)), sort_keys=True).encode()
        out[path.relative_to(folder).as_posix()] = hashlib.sha256(data).hexdigest()
    return out


def _cli(*args) -> None:
    from typer.testing import CliRunner

    from lec_opt.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exit_code:
        raise RuntimeError(f"lec-opt {' '.join(map(str, args))} failed: {result.output[-2000:]}")


def min_trade_levels() -> dict[str, str]:
    """Every 12th interval of the default day at each minimum trade: the trades and level records."""
    from lec_opt import build_day, load_scenario
    from lec_opt.model.lexicographic import solve_matching

    base = load_scenario()
    out = {}
    for minimum in MINIMUMS:
        scenario = base.model_copy(
            update={"willingness": base.willingness.model_copy(update={"min_trade_kwh": minimum})}
        )
        day = build_day(scenario)
        records = []
        for t in range(0, day.n_intervals, 12):
            for priority, matching in solve_matching(day.snapshot(t), scenario).items():
                levels = [(lv.level, lv.name, lv.status, lv.objective, lv.bound, lv.gap) for lv in matching.levels]
                records.append((t, priority, list(matching.flows), levels, matching.fallback, matching.fallback_reason))
        text = json.dumps(records, sort_keys=True, default=str)
        out[f"min_trade_{minimum}"] = hashlib.sha256(text.encode()).hexdigest()
    return out


def run() -> dict:
    with tempfile.TemporaryDirectory(prefix="lec-opt-hashes-") as tmp:
        root = Path(tmp)
        _cli("solve-day", "--method", "milp", "--workers", "2", "--out", root / "milp_day")
        _cli("solve-day", "--method", "greedy", "--out", root / "greedy_day")
        _cli("solve-period", "--start", "2025-06-01", "--days", "3", "--method", "milp", "--out", root / "period")
        _cli("solve-day", "-s", "ieee_lv_feeder.toml", "--method", "greedy", "--power-flow", "--out", root / "feeder")
        folders = {name: folder_hashes(root / name) for name in ("milp_day", "greedy_day", "period", "feeder")}
    return {**folders, "min_trade": min_trade_levels()}


def compare(old: dict, new: dict) -> list[str]:
    """The (case, file) pairs whose hashes differ or that only one side has."""
    out = []
    for case in sorted((set(old) | set(new)) - {"case", "machine"}):
        a, b = old.get(case, {}), new.get(case, {})
        if not isinstance(a, dict) or not isinstance(b, dict):
            continue
        out += [f"{case}/{name}" for name in sorted(set(a) | set(b)) if a.get(name) != b.get(name)]
    return out


def main() -> dict:
    payload = run()
    save("output_hashes", payload)
    print(json.dumps({case: len(files) for case, files in payload.items()}))
    return payload


if __name__ == "__main__" and sys.argv[1:2] == ["--compare"]:
    old, new = (json.loads(Path(p).read_text()) for p in sys.argv[2:4])
    differ = compare(old.get("payload", old), new.get("payload", new))
    print("\n".join(differ) if differ else "identical")
    sys.exit(1 if differ else 0)
