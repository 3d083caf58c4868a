"""Case ``feeder-year``: a year of the IEEE LV feeder community with every interval's power flow (wall, peak RSS, files).

The shipped ``ieee_lv_feeder.toml`` community (55 peers, 5-minute intervals) over 365 generated
days (``lec-opt data generate --scenario ... --start 2025-01-01 --days 365``; not timed), solved
greedy with ``--power-flow`` as a subprocess on the local executor (2 workers): 105 120 market
intervals and as many unbalanced flows on power-grid-model. Goals (the feeder-at-scale issue): at
most 15 min on 2 cores (aim 5), at most 4 GiB of memory and 500 MB of files.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import save, timed_run

START = "2025-01-01"
DAYS = 365


def run(days: int = DAYS) -> dict:
    with tempfile.TemporaryDirectory(prefix="lec-opt-feeder-year-") as tmp:
        root = Path(tmp)
        lec = (sys.executable, "-m", "lec_opt")
        generate = [*lec, "data", "generate", "-s", "ieee_lv_feeder.toml", "--start", START, "--days", str(days)]
        subprocess.run([*generate, "--out", str(root / "data")], capture_output=True, check=True)
        out = root / "year"
        command = [
            *lec, "solve-period", "-s", "ieee_lv_feeder.toml", "--data", str(root / "data"), "--method", "greedy",
            "--power-flow", "--executor", "local", "--workers", "2", "--out", str(out),
        ]  # fmt: skip
        timing = timed_run(command, "the feeder year")
        summary = json.loads((out / "summary.json").read_text())
        sizes = {p.relative_to(out).as_posix(): p.stat().st_size for p in out.rglob("*") if p.is_file()}
        return {
            "command": " ".join(command[2:]),
            "days": summary["days"],
            "intervals": summary["intervals"],
            **timing,
            "files_mb": sum(sizes.values()) / 1e6,
            "file_bytes": sizes,
            "network": summary["network"],
        }


def main() -> dict:
    payload = run()
    save("feeder_year", payload)
    print(
        f"feeder year ({payload['days']} days, {payload['intervals']} intervals and flows): {payload['wall_seconds']:.0f} s "
        f"wall (goal 900, aim 300), {payload['cpu_seconds_all_processes']:.0f} CPU-s, peak RSS "
        f"{payload['peak_rss_gib']:.2f} GiB (goal 4), files {payload['files_mb']:.0f} MB (goal 500)"
    )
    return payload
