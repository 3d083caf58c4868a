"""``lec-opt sweep``: sweep scenario fields and tabulate each day's results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lec_opt.cli.app import DataOpt, ScenarioOpt, _scenario, app, console, progress_bar
from lec_opt.cli.network import EngineOpt, with_engine
from lec_opt.cli.paths import OverwriteOpt, input_file, out_dir
from lec_opt.cli.period import DaysOpt, StartOpt


@app.command("sweep")
def sweep_cmd(
    out: Annotated[
        Path, typer.Option("--out", parser=out_dir, help="output folder: sweep.csv, sweep.json, points/, figures/")
    ],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="PATH=VALUES: a list 0.01,0.05, a linspace 0.2:1.0:5 or a logspace 1e-3:1e-1:3:log (repeatable)",
        ),
    ] = None,
    spec: Annotated[
        Path | None,
        typer.Option(
            "--spec", parser=input_file, help="sweep TOML file (\\[params], mode, method, priority, scenario)"
        ),
    ] = None,
    scenario: ScenarioOpt = None,
    data: DataOpt = None,
    mode: Annotated[str | None, typer.Option("--mode", help="product (every combination, the default) or zip")] = None,
    method: Annotated[str | None, typer.Option("--method", help="milp (default) or greedy")] = None,
    priority: Annotated[str | None, typer.Option("--priority", help="best (default), A, B or C")] = None,
    executor: Annotated[str, typer.Option("--executor", help="local (process pool), serial or dask")] = "local",
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Dask scheduler address (default: a LocalCluster)")
    ] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="processes (default: the cores)")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="continue a stopped sweep of --out: its finished points are not run again")
    ] = False,
    keep_results: Annotated[
        bool, typer.Option("--keep-results", help="also write each point's day to points/<hash>/")
    ] = False,
    figures: Annotated[bool, typer.Option("--figures/--no-figures", help="draw figures/sweep_*.png")] = True,
    overwrite: OverwriteOpt = False,
    start: StartOpt = None,
    days: DaysOpt = None,
    refine: Annotated[
        int,
        typer.Option(
            "--refine",
            help="with \\[ces.cost] and one numeric --param: this many more points by golden-section search "
            "between the best point's neighbours",
        ),
    ] = 0,
    power_flow: Annotated[
        bool,
        typer.Option(
            "--power-flow",
            help="feeder scenarios: every point's power flows (lowest and highest voltage, bus-minutes outside "
            "EN 50160, peak cable and transformer loading, losses in sweep.csv)",
        ),
    ] = False,
    engine: EngineOpt = None,
) -> None:
    """Sweep scenario fields (ces.k, ces.S, ces.degradation, tariffs ...) and tabulate each day's results.

    With --days N (or a scenario's \\[period], or a data folder of dated days) every point is a period: e.g. --param
    ces.capacity_kwh=300:1500:5 --days 365 --method greedy sizes the CES over a year (each day matched once).
    """
    import contextlib

    import pandas as pd
    from rich.markup import escape

    from lec_opt.analysis.sweep import SWEEP_FILE, SweepSpec, load_spec, parse_param, run_sweep

    loaded = load_spec(spec) if spec is not None else SweepSpec()
    cli_axes = [parse_param(p) for p in param or []]
    given = {a.path for a in cli_axes}
    axes = [a for a in loaded.axes if a.path not in given] + cli_axes  # --param replaces the file's axis
    from lec_opt.period.run import with_folder_period, with_period

    given_sc = with_period(_scenario(scenario if scenario is not None else loaded.scenario, data), start, days)
    sc = with_folder_period(given_sc)
    sc = with_engine(sc, engine)
    if sc is not given_sc:
        console.print(
            f"period: the data folder's {sc.period.days} days from {sc.period.start} "
            "(--start and --days choose another)"
        )
    with contextlib.ExitStack() as stack:
        bars: list = []

        def progress(done: int, total: int) -> None:  # the bar starts once every point is validated
            if not bars:
                bar = stack.enter_context(progress_bar("points"))
                bars[:] = [bar, bar.add_task(f"{sc.name}: sweep", total=total)]
            bars[0].update(bars[1], completed=done, total=total)

        frame = run_sweep(
            axes,
            sc,
            mode=mode or loaded.mode or "product",
            method=method or loaded.method or "milp",
            priority=priority or loaded.priority or "best",
            executor=executor,
            workers=workers,
            scheduler=scheduler,
            out=out,
            resume=resume,
            keep_results=keep_results,
            figures=figures,
            progress=progress,
            overwrite=overwrite,
            refine=refine,
            power_flow=power_flow,
        )
    metrics = {
        "p2p_energy_kwh": ("P2P kWh", ".1f"),
        "grid_import_kwh": ("import kWh", ".1f"),
        "grid_export_kwh": ("export kWh", ".1f"),
        "ces_charge_kwh": ("CES in kWh", ".1f"),
        "ces_discharge_kwh": ("CES out kWh", ".1f"),
        "ces_soc_min": ("SoC min", ".3f"),
        "ces_soc_max": ("SoC max", ".3f"),
        "community_saving_usd": ("saving $", ".2f"),
        "ces_annualised_cost_usd": ("CES $/yr", ".0f"),
        "net_benefit_per_year_usd": ("net $/yr", ".0f"),
        "status": ("status", ""),
    }
    metrics = {c: label for c, label in metrics.items() if c in frame.columns}
    table = Table(title=f"{sc.name}: {len(frame)} points" + (" (first 30)" if len(frame) > 30 else ""))
    params = [a.path for a in axes]
    for col in params:
        table.add_column(col, justify="right", overflow="fold")
    for label, _ in metrics.values():
        table.add_column(label, justify="right")
    for _, row in frame.head(30).iterrows():
        cells = [f"{row[c]:.6g}" if isinstance(row[c], float) else str(row[c]) for c in params]
        cells += ["" if pd.isna(row[c]) else format(row[c], f) for c, (_, f) in metrics.items()]
        table.add_row(*cells)
    console.print(table)
    _print_best(frame, params)
    for label, error in frame.attrs.get("failed", []):
        console.print(f"[yellow]failed[/yellow] {escape(label)}: {escape(error)}", highlight=False)
    skipped = frame.attrs.get("skipped", 0)
    console.print(
        f"[green]wrote[/green] {out / SWEEP_FILE}"
        + (f" ({skipped} points resumed)" if skipped else "")
        + (f", {len(frame.attrs['figures'])} figures in {out / 'figures'}/" if frame.attrs.get("figures") else "")
    )


def _print_best(frame, params: list[str]) -> None:
    """With a priced CES: the capacity of the largest net benefit, what it is made of, and the scaling."""
    from lec_opt.analysis.sizing import NET_BENEFIT, best_point

    best = best_point(frame)
    if best is None:
        return
    where = ", ".join(f"{p} = {best[p]:.6g}" if isinstance(best[p], float) else f"{p} = {best[p]}" for p in params)
    scale = f"the period's saving × {best['year_scale']:.3g} (365 days / {365 / best['year_scale']:.0f})"
    console.print(
        f"best: {where}: net benefit ${best[NET_BENEFIT]:,.0f} a year = saving ${best['community_saving_per_year_usd']:,.0f} "
        f"({scale}) − CES ${best['ces_annualised_cost_usd']:,.0f} a year (capital ${best['ces_capital_usd']:,.0f})",
        highlight=False,
    )
