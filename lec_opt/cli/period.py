"""``lec-opt solve-period``: a week, a season or a year, the CES state of charge carried across midnight."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lec_opt.cli.app import DataOpt, MethodOpt, PriorityOpt, ScenarioOpt, _scenario, app, console, progress_bar
from lec_opt.cli.network import EngineOpt, with_engine
from lec_opt.cli.paths import OverwriteOpt, out_dir

StartOpt = Annotated[
    str | None,
    typer.Option("--start", help="first date YYYY-MM-DD (default: the scenario's \\[period], or the data's)"),
]
DaysOpt = Annotated[
    int | None,
    typer.Option(
        "--days", help="number of days (default: the scenario's \\[period]; else to the data folder's last date)"
    ),
]


@app.command("solve-period")
def solve_period_cmd(
    scenario: ScenarioOpt = None,
    data: DataOpt = None,
    start: StartOpt = None,
    days: DaysOpt = None,
    method: MethodOpt = "milp",
    priority: PriorityOpt = "best",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", parser=out_dir, help="output folder (default results/<scenario>-<start>-<days>d-<method>/)"
        ),
    ] = None,
    executor: Annotated[str, typer.Option("--executor", help="local (process pool), serial or dask")] = "local",
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Dask scheduler address (default: a LocalCluster)")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", help="processes matching the days (default: 2 or the cores; the CES walk runs beside them)"
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="continue a stopped run of --out: days already matched are not redone")
    ] = False,
    figures: Annotated[bool, typer.Option("--figures/--no-figures", help="draw figures/period_*.png")] = True,
    power_flow: Annotated[
        bool,
        typer.Option(
            "--power-flow",
            help="feeder scenarios: a power flow of every interval (network columns in days.csv; network.parquet, "
            "voltages.parquet, lines.parquet)",
        ),
    ] = False,
    engine: EngineOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Solve a period: every (day, interval) matched, the CES walked across midnight, files per day and in all."""
    from lec_opt.day.run import check_method_priority
    from lec_opt.engine.executors import check_executor
    from lec_opt.io.results_folder import claim
    from lec_opt.period.run import period_days, solve_period, with_period

    check_method_priority(method, priority)  # before the folder is claimed
    check_executor(executor, scheduler, workers)
    sc = with_engine(with_period(_scenario(scenario, data), start, days), engine)
    dates, _ = period_days(sc)  # dates and data checked before the folder is claimed
    folder = out if out is not None else Path("results") / f"{sc.name}-{dates[0]}-{len(dates)}d-{method}"
    with claim(folder, overwrite=overwrite):
        with progress_bar("intervals") as bar:
            task = bar.add_task(f"{sc.name}: matchings", total=None)

            def progress(phase: str, done: int, total: int, days_done: int, n_days: int) -> None:
                what = "matchings" if phase == "matching" else "CES walk"
                bar.update(
                    task, completed=done, total=total, description=f"{sc.name}: {what}, day {days_done}/{n_days}"
                )

            summary = solve_period(
                sc,
                folder,
                method,
                priority,
                resume=resume,
                overwrite=overwrite,
                figures=figures,
                power_flow=power_flow,
                executor=executor,
                workers=workers,
                scheduler=scheduler,
                progress=progress,
            )
    console.print(
        f"{summary['start']}..{summary['end']} ({summary['days']} days, {summary['intervals']} intervals): "
        f"P2P {summary['p2p_energy_kwh']:.1f} kWh, community saving ${summary['community_saving_usd']:.2f}, "
        f"CES {summary['ces_full_cycles']:.2f} full cycles, SoC {summary['ces_soc_min']:.3f}..{summary['ces_soc_max']:.3f}"
        f" (end {summary['ces_soc_end']:.3f}), fallbacks {summary['fallbacks']}"
    )
    network = summary.get("network")
    if network is not None:
        console.print(
            f"network: voltage {network['v_min_pu']:.4f}-{network['v_max_pu']:.4f} p.u., "
            f"{network['bus_minutes_outside_en50160']} bus-minutes outside EN 50160, line loading <= "
            f"{network['line_loading_max_percent']:.1f} %, transformer <= {network['trafo_loading_max_percent']:.1f} %, "
            f"losses {network['network_losses_kwh']:.1f} kWh, {network['failed_flows']} flows did not converge"
        )
    files = "days.csv, intervals.parquet, trades.parquet, summary.json, figures/"
    if network is not None:
        files += ", network.parquet, voltages.parquet, lines.parquet"
    console.print(f"[green]wrote[/green] {folder}/ ({files})")
