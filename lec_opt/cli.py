"""The ``lec-opt`` command line: a thin layer over the library (typer + rich)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lec_opt.errors import LecOptError
from lec_opt.io.shipped import DEFAULT_DATA, DEFAULT_SCENARIO
from lec_opt.scenario import Scenario, load_scenario

app = typer.Typer(
    help="Peer-to-peer energy trading in a local energy community, as an optimisation model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Community data: summary, validation, generation and import.", no_args_is_help=True)
app.add_typer(data_app, name="data")
console = Console()

ScenarioOpt = Annotated[
    Path | None, typer.Option("--scenario", "-s", help=f"scenario TOML (default: {DEFAULT_SCENARIO.name})")
]
DataOpt = Annotated[
    Path | None, typer.Option("--data", help="data folder replacing the scenario's (peers taken from it)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]


def _scenario(scenario: Path | None, data: Path | None = None) -> Scenario:
    loaded = load_scenario(scenario)
    return loaded.with_data_dir(data) if data is not None else loaded


@data_app.command("info")
def data_info_cmd(scenario: ScenarioOpt = None, data: DataOpt = None, as_json: JsonOpt = False) -> None:
    """Table 1 of the paper beside this community's figures, daily totals, EV and PV windows."""
    from lec_opt.analysis.data_info import data_info
    from lec_opt.market.snapshot import build_day

    info = data_info(build_day(_scenario(scenario, data)))
    if as_json:
        print(json.dumps(info, indent=2))
        return
    table = Table(
        title=f"{info['scenario']}: community deficit and surplus (kW), {info['interval_minutes']}-min intervals"
    )
    for col in ("time", "interval", "deficit", "paper", "surplus", "paper ", "sellers", "buyers"):
        table.add_column(col, justify="right")
    for row in info["table1"]:
        table.add_row(
            row["time"],
            str(row["interval"]),
            f"{row['consumer_deficit_kw']:.2f}",
            f"{row['paper_consumer_deficit_kw']:.2f}",
            f"{row['prosumer_surplus_kw']:.2f}",
            f"{row['paper_prosumer_surplus_kw']:.2f}",
            str(row["sellers"]),
            str(row["buyers"]),
        )
    console.print(table)
    console.print(
        f"peers {info['n_peers']} ({info['prosumers']} prosumers), data {info['data_dir']}\n"
        f"daily load {info['daily_load_kwh']:.1f} kWh, PV {info['daily_pv_kwh']:.1f} kWh, "
        f"peak load {info['peak_load_kw']:.1f} kW at {info['peak_load_time']} "
        f"({info['peak_load_kw_native']:.1f} kW at the data's resolution)\n"
        f"EV {info['ev_kwh']:.1f} kWh; longest EV-idle run: intervals {info['ev_longest_idle_intervals']}\n"
        f"PV surplus from interval {info['pv_surplus_first_interval']} to {info['pv_surplus_last_interval']}"
    )


@data_app.command("validate")
def data_validate_cmd(
    directory: Annotated[Path, typer.Argument(help="data folder to check")], scenario: ScenarioOpt = None
) -> None:
    """Check a data folder (format, time axis, values, peers) against a scenario, without solving."""
    from lec_opt.market.snapshot import build_day

    day = build_day(_scenario(scenario, directory))
    console.print(
        f"[green]OK[/green] {directory}: {day.n_peers} peers, {day.n_intervals} intervals of "
        f"{day.interval_minutes} min, load {day.load_kwh.sum():.1f} kWh, EV {day.ev_kwh.sum():.1f} kWh"
    )


@data_app.command("generate")
def data_generate_cmd(
    out: Annotated[Path, typer.Option("--out", help="folder to write")],
    seed: Annotated[int, typer.Option("--seed", help="random seed; the same seed gives the same files")] = 2022,
    scenario: ScenarioOpt = None,
) -> None:
    """Generate the default community's day (load, PV via pvlib, EV, bids), calibrated to Table 1."""
    from lec_opt.datagen import GeneratorConfig, generate_community, write_community

    config = GeneratorConfig.from_scenario(load_scenario(scenario), seed)
    with console.status("drawing households, roofs and clouds; calibrating to Table 1 ..."):
        day = generate_community(config)
    write_community(day, out)
    console.print(f"[green]wrote[/green] {out} (seed {seed}, draw {day.attempt})")


@data_app.command("import-ieee-lv")
def data_import_cmd(
    directory: Annotated[Path, typer.Argument(help="folder with Load_profile_<n>.csv files")],
    out: Annotated[Path, typer.Option("--out", help="data folder to write")],
    pv_ev_from: Annotated[
        Path, typer.Option("--pv-ev-from", help="data folder whose PV, EV and bids the community takes")
    ] = DEFAULT_DATA,
    peers: Annotated[int | None, typer.Option("--peers", help="use the first N profiles")] = None,
) -> None:
    """Import the IEEE European LV Test Feeder load profiles into lec-opt's data format."""
    from lec_opt.io.ieee import import_ieee_lv

    written = import_ieee_lv(directory, out, pv_ev_from, peers)
    console.print(f"[green]wrote[/green] {written}")


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
    method: Annotated[str, typer.Option("--method", help="milp or greedy")] = "milp",
    priority: Annotated[
        str, typer.Option("--priority", help="best (the aggregator's choice per interval), A, B or C")
    ] = "best",
    out: Annotated[
        Path | None, typer.Option("--out", help="output folder (default results/<scenario>-<method>-<priority>/)")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="processes for the MILP matchings (default: 2 or the cores)")
    ] = None,
    report: Annotated[
        bool, typer.Option("--report", help="also write figures/*.png and report.html into the folder")
    ] = False,
) -> None:
    """Solve a whole day: every interval, SoC carried over, the aggregator's choice, settlement, files."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from lec_opt.day.outputs import write_day
    from lec_opt.day.run import DAY_PRIORITIES, run_day

    if method not in ("milp", "greedy"):
        raise LecOptError(f"--method must be milp or greedy, not {method!r}")
    if priority not in DAY_PRIORITIES:
        raise LecOptError(f"--priority must be one of {', '.join(DAY_PRIORITIES)}, not {priority!r}")
    sc = _scenario(scenario, data)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("intervals"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(f"{sc.name}: {method} matchings", total=None)

        def progress(phase: str, done: int, total: int) -> None:
            bar.update(
                task,
                completed=done,
                total=total,
                description=f"{sc.name}: {method} {'matchings' if phase == 'matching' else 'CES dispatch'}",
            )

        run = run_day(sc, method, priority, workers, progress)
    folder = write_day(run, out)
    _print_day_summary(folder)
    if report:
        report_cmd(folder)


def _print_day_summary(folder: Path) -> None:
    from lec_opt.io.results import read_summary
    from lec_opt.report.summary import day_summary_rows, run_label

    summary = read_summary(folder / "summary.json")
    table = Table(title=f"{run_label(summary, folder.name)}: the day")
    table.add_column("")
    table.add_column("lec-opt", justify="right")
    table.add_column("paper", justify="right")
    for row in day_summary_rows(summary):
        table.add_row(*row)
    console.print(table)
    console.print(
        f"[green]wrote[/green] {folder}/ (intervals.csv, trades.csv, settlement.csv, summary.json, scenario.toml)"
    )


@app.command("report")
def report_cmd(
    results_dir: Annotated[Path, typer.Argument(help="results folder written by solve-day")],
    fmt: Annotated[
        str, typer.Option("--format", help="html (figures/ and report.html) or png (figures/ only)")
    ] = "html",
    interval: Annotated[
        int | None, typer.Option("--interval", help="ring graph's interval (default: most P2P energy)")
    ] = None,
) -> None:
    """Draw the figures of a results folder (figures/*.png) and write a self-contained report.html."""
    from lec_opt.report import write_report

    with console.status("drawing figures ..."):
        written = write_report(results_dir, fmt, interval)
    console.print(f"[green]wrote[/green] {written}" + ("/" if fmt == "png" else ""))


def _print_interval(r) -> None:
    snap = r.snapshot
    title = (
        f"interval {snap.index} ({snap.start}), priority {r.priority}, {r.method}"
        + (" [FALLBACK]" if r.fallback else "")
        + f": {len(snap.sellers)} sellers {snap.total_surplus_kwh:.3f} kWh, "
        f"{len(snap.buyers)} buyers {snap.total_deficit_kwh:.3f} kWh, alpha {snap.alpha_kwh:+.3f} kWh"
    )
    trades = Table(title=title, show_lines=False)
    for col in ("seller", "buyer", "kWh", "$/kWh", "ring hops"):
        trades.add_column(col, justify="right")
    from lec_opt.market.topology import ring_distance

    for t in sorted(r.trades, key=lambda t: (t.seller, t.buyer))[:40]:
        trades.add_row(
            str(t.seller),
            str(t.buyer),
            f"{t.kwh:.4f}",
            f"{t.price_usd_per_kwh:.4f}",
            str(int(ring_distance(t.seller, t.buyer, snap.n_peers))),
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


@app.command("game")
def game_cmd(
    results: Annotated[Path, typer.Argument(help="a results folder written by solve-day")],
    interval: Annotated[int | None, typer.Option("--interval", help="check one interval (default: all)")] = None,
    check_all: Annotated[bool, typer.Option("--all", help="check every interval (the default)")] = False,
    ces_player: Annotated[bool, typer.Option("--ces-player", help="the CES is a player of the game")] = False,
    prices: Annotated[
        bool, typer.Option("--prices", help="compute stable per-trade prices where the core is violated")
    ] = False,
    samples: Annotated[int, typer.Option("--samples", help="permutations for sampled Shapley values")] = 500,
    as_json: JsonOpt = False,
) -> None:
    """Check the settlement of a solved day against the core of each interval's game."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from lec_opt.analysis.stability import check_day, write_stability

    if interval is not None and check_all:
        raise LecOptError("give --interval N or --all, not both")
    intervals = None if interval is None else [interval]
    with Progress(
        TextColumn("core check"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("intervals"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("game", total=None)
        checks = check_day(
            results,
            intervals,
            ces_player,
            samples,
            prices or interval is not None,
            lambda done, total: bar.update(task, completed=done, total=total),
        )
    keys = write_stability(results, checks) if intervals is None else {}
    rows = [c.row() for c in checks]
    if as_json:
        print(json.dumps({"intervals": rows, **keys}, indent=2, default=float))
        return
    table = Table(title=f"core check of {results}" + (" (CES as a player)" if ces_player else ""))
    for col in ("t", "time", "players", "core", "violation $", "|T|", "IR", "ε $", "Shapley Δ $", "moved $"):
        table.add_column(col, justify="right")
    shown = [r for r in rows if not r["in_core"]][:15] if len(rows) > 1 else rows
    for r in shown:
        moved = r["stable_money_moved"]
        table.add_row(
            str(r["interval"]),
            r["time"],
            str(r["players"]),
            "yes" if r["in_core"] else "no",
            f"{r['max_violation']:.4f}",
            str(r["violating_coalition_size"]),
            str(r["ir_violations"]),
            f"{r['least_core_epsilon']:.4f}",
            f"{r['shapley_distance']:.4f}",
            "" if moved is None else f"{moved:.4f}",
        )
    console.print(table)
    if keys:
        console.print(
            f"{keys['intervals_in_core']} of {keys['intervals_checked']} intervals in the core; largest violation "
            f"${keys['max_core_violation']:.4f}; {keys['ir_violations']} individual-rationality violations; "
            f"wrote {results / 'stability.csv'}"
        )


@app.command("sweep")
def sweep_cmd(
    out: Annotated[Path, typer.Option("--out", help="output folder: sweep.csv, sweep.json, points/, figures/")],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="PATH=VALUES: a list 0.01,0.05, a linspace 0.2:1.0:5 or a logspace 1e-3:1e-1:3:log (repeatable)",
        ),
    ] = None,
    spec: Annotated[
        Path | None, typer.Option("--spec", help="sweep TOML file ([params], mode, method, priority, scenario)")
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
    resume: Annotated[bool, typer.Option("--resume", help="skip the points already finished in --out")] = False,
    keep_results: Annotated[
        bool, typer.Option("--keep-results", help="also write each point's day to points/<hash>/")
    ] = False,
    figures: Annotated[bool, typer.Option("--figures/--no-figures", help="draw figures/sweep_*.png")] = True,
) -> None:
    """Sweep scenario fields (ces.k, ces.S, ces.degradation, tariffs ...) and tabulate each day's results."""
    import contextlib

    import pandas as pd
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from lec_opt.analysis.sweep import SWEEP_FILE, SweepSpec, load_spec, parse_param, run_sweep

    loaded = load_spec(spec) if spec is not None else SweepSpec()
    cli_axes = [parse_param(p) for p in param or []]
    given = {a.path for a in cli_axes}
    axes = [a for a in loaded.axes if a.path not in given] + cli_axes  # --param replaces the file's axis
    sc = _scenario(scenario if scenario is not None else loaded.scenario, data)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("points"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
    )
    with contextlib.ExitStack() as stack:
        bars: list = []

        def progress(done: int, total: int) -> None:  # the bar starts once every point is validated
            if not bars:
                bar = stack.enter_context(Progress(*columns, console=console, transient=False))
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
        )
    metrics = {
        "p2p_energy_kwh": ("P2P kWh", ".1f"),
        "grid_import_kwh": ("import kWh", ".1f"),
        "grid_export_kwh": ("export kWh", ".1f"),
        "ces_charge_kwh": ("CES in kWh", ".1f"),
        "ces_discharge_kwh": ("CES out kWh", ".1f"),
        "ces_soc_min": ("SoC min", ".3f"),
        "ces_soc_max": ("SoC max", ".3f"),
        "status": ("", ""),
    }
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
    for label, error in frame.attrs.get("failed", []):
        console.print(f"[yellow]failed[/yellow] {escape(label)}: {escape(error)}", highlight=False)
    skipped = frame.attrs.get("skipped", 0)
    console.print(
        f"[green]wrote[/green] {out / SWEEP_FILE}"
        + (f" ({skipped} points resumed)" if skipped else "")
        + (f", {len(frame.attrs['figures'])} figures in {out / 'figures'}/" if frame.attrs.get("figures") else "")
    )


def main() -> None:
    try:
        app()
    except LecOptError as err:
        stderr = Console(stderr=True)
        stderr.print("[red]error:[/red] ", end="", highlight=False)
        stderr.print(str(err), markup=False, emoji=False, highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
