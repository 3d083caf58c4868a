"""``lec-opt solve-interval`` and ``lec-opt solve-day``, and their tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lec_opt.cli.app import DataOpt, JsonOpt, MethodOpt, PriorityOpt, ScenarioOpt, _scenario, app, console, progress_bar
from lec_opt.cli.network import EngineOpt, with_engine
from lec_opt.cli.paths import OverwriteOpt, out_dir
from lec_opt.errors import LecOptError


@app.command("solve-interval")
def solve_interval_cmd(
    scenario: ScenarioOpt = None,
    data: DataOpt = None,
    at_time: Annotated[str | None, typer.Option("--time", help="HH:MM: the interval containing this time")] = None,
    interval: Annotated[int | None, typer.Option("--interval", help="interval index (0-based)")] = None,
    priority: Annotated[str, typer.Option("--priority", help="A, B, C or all")] = "all",
    method: Annotated[str, typer.Option("--method", help="milp or greedy")] = "milp",
    soc: Annotated[
        float | None, typer.Option("--soc", help="CES state of charge at the start (default: scenario)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Solve one trading interval for one or all priorities and show the trades and levels."""
    from lec_opt.day.interval import solve_interval

    if (at_time is None) == (interval is None):
        raise LecOptError("give exactly one of --time HH:MM and --interval N")
    if priority not in ("A", "B", "C", "all"):
        raise LecOptError(f"--priority must be A, B, C or all, not {priority!r}")
    if method not in ("milp", "greedy"):
        raise LecOptError(f"--method must be milp or greedy, not {method!r}")
    result = solve_interval(
        _scenario(scenario, data), at_time if at_time is not None else interval, priority, method, soc
    )
    results = result if isinstance(result, dict) else {priority: result}
    if as_json:
        print(json.dumps([r.to_json() for r in results.values()], indent=2))
        return
    for r in results.values():
        _print_interval(r)


@app.command("solve-day")
def solve_day_cmd(
    scenario: ScenarioOpt = None,
    data: DataOpt = None,
    method: MethodOpt = "milp",
    priority: PriorityOpt = "best",
    out: Annotated[
        Path | None,
        typer.Option("--out", parser=out_dir, help="output folder (default results/<scenario>-<method>-<priority>/)"),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="processes for the MILP matchings (default: 2 or the cores)")
    ] = None,
    report: Annotated[
        bool, typer.Option("--report", help="also write figures/*.png and report.html into the folder")
    ] = False,
    power_flow: Annotated[
        bool,
        typer.Option(
            "--power-flow",
            help="feeder scenarios: a power flow of every interval (network.csv, voltages.parquet, lines.csv)",
        ),
    ] = False,
    engine: EngineOpt = None,
    overwrite: OverwriteOpt = False,
    ces_policy: Annotated[
        str | None,
        typer.Option(
            "--ces-policy",
            help="myopic (the paper's rule) or foresight (the day's CES schedule at once); default: scenario",
        ),
    ] = None,
) -> None:
    """Solve a whole day: every interval, SoC carried over, the aggregator's choice, settlement, files."""

    from lec_opt.day.outputs import default_out_dir, write_day
    from lec_opt.day.run import DAY_PRIORITIES, run_day
    from lec_opt.io.results_folder import claim

    if method not in ("milp", "greedy"):
        raise LecOptError(f"--method must be milp or greedy, not {method!r}")
    if priority not in DAY_PRIORITIES:
        raise LecOptError(f"--priority must be one of {', '.join(DAY_PRIORITIES)}, not {priority!r}")
    if ces_policy not in (None, "myopic", "foresight"):
        raise LecOptError(f"--ces-policy must be myopic or foresight, not {ces_policy!r}")
    sc = _scenario(scenario, data)
    if ces_policy is not None:
        sc = sc.model_copy(update={"ces": sc.ces.model_copy(update={"policy": ces_policy})})
    if power_flow and sc.community.topology != "feeder":
        raise LecOptError("--power-flow needs a feeder scenario (community.topology = 'feeder')")
    sc = with_engine(sc, engine)
    if power_flow:  # the network's data and one trial flow, before the day is solved
        from lec_opt.network.powerflow import ready_feeder

        ready_feeder(sc)
    folder = out if out is not None else default_out_dir(sc.name, method, priority)
    with claim(folder, overwrite=overwrite):  # --out checked and locked before any work
        with progress_bar("intervals") as bar:
            task = bar.add_task(f"{sc.name}: {method} matchings", total=None)

            def progress(phase: str, done: int, total: int) -> None:
                bar.update(
                    task,
                    completed=done,
                    total=total,
                    description=f"{sc.name}: {method} {PHASE_WORDS.get(phase, 'CES dispatch')}",
                )

            run = run_day(sc, method, priority, workers, progress)
        write_day(run, folder, overwrite=overwrite)
        _print_day_summary(folder)
        if power_flow:
            from lec_opt.cli.network import run_power_flow

            run_power_flow(folder)
        if report:
            from lec_opt.cli.results import report_cmd

            report_cmd(folder)


PHASE_WORDS = {"matching": "matchings", "network": "CES dispatch within the network's limits"}


def _print_day_summary(folder: Path) -> None:
    from lec_opt.io.results import read_summary
    from lec_opt.io.schema import DAY_FILES, SUMMARY_FILE
    from lec_opt.report.summary import day_summary_rows, run_label

    summary = read_summary(folder / SUMMARY_FILE)
    table = Table(title=f"{run_label(summary, folder.name)}: the day")
    rows = day_summary_rows(summary)
    table.add_column("")
    table.add_column("lec-opt", justify="right")
    if len(rows[0]) == 3:  # the paper's community: its values beside ours
        table.add_column("paper", justify="right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"[green]wrote[/green] {folder}/ ({', '.join(DAY_FILES)})")


def _print_interval(r) -> None:
    snap = r.snapshot
    title = (
        f"interval {snap.index} ({snap.start}), priority {r.priority}, {r.method}"
        + (" [FALLBACK]" if r.fallback else "")
        + f": {len(snap.sellers)} sellers {snap.total_surplus_kwh:.3f} kWh, "
        f"{len(snap.buyers)} buyers {snap.total_deficit_kwh:.3f} kWh, alpha {snap.alpha_kwh:+.3f} kWh"
    )
    trades = Table(title=title, show_lines=False)
    for col in ("seller", "buyer", "kWh", "$/kWh", "ring hops" if snap.distance_m is None else "cable m"):
        trades.add_column(col, justify="right")
    from lec_opt.market.topology import peer_distance

    for t in sorted(r.trades, key=lambda t: (t.seller, t.buyer))[:40]:
        trades.add_row(
            str(t.seller),
            str(t.buyer),
            f"{t.kwh:.4f}",
            f"{t.price_usd_per_kwh:.4f}",
            f"{peer_distance(snap, t.seller, t.buyer):.0f}",
        )
    if len(r.trades) > 40:
        trades.caption = f"... {len(r.trades) - 40} more trades (use --json for all)"
    console.print(trades)
    levels = Table(title="lexicographic levels")
    for col in ("level", "objective", "status", "value", "gap", "seconds"):
        levels.add_column(col, justify="right")
    for lv in r.levels:
        levels.add_row(
            str(lv.level),
            lv.name,
            lv.status,
            "" if lv.objective is None else f"{lv.objective:.6g}",
            "" if lv.gap is None else f"{lv.gap:.2%}",
            f"{lv.seconds:.3f}",
        )
    console.print(levels)
    console.print(
        f"P2P {r.p2p_kwh:.4f} kWh in {r.transactions} transactions; CES charge {r.ces_charge_kwh:.4f} "
        f"(grid {r.grid_to_ces_kwh:.4f}), discharge {r.ces_discharge_kwh:.4f} (EV {r.ces_to_ev_kwh:.4f}) kWh; "
        f"grid import {r.grid_import_kwh:.4f}, export {r.grid_export_kwh:.4f} kWh; SoC {r.soc_start:.4f} -> {r.soc_end:.4f}"
        + (f"\n[yellow]{r.fallback_reason}[/yellow]" if r.fallback else "")
        + "\n"
    )
