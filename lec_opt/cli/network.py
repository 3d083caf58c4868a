"""``lec-opt network info`` and ``lec-opt power-flow``: the feeder a community sits on, and its flows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lec_opt.cli.app import DataOpt, JsonOpt, ScenarioOpt, _scenario, app, console, progress_bar
from lec_opt.cli.paths import OverwriteOpt, input_dir, out_dir
from lec_opt.cli.paths import results_dir as results_dir_path
from lec_opt.errors import LecOptError

network_app = typer.Typer(help="The feeder of a topology = 'feeder' community.", no_args_is_help=True)
app.add_typer(network_app, name="network")


@network_app.command("info")
def network_info_cmd(scenario: ScenarioOpt = None, data: DataOpt = None, as_json: JsonOpt = False) -> None:
    """Peers with their bus, phase and coordinates, the CES and EV buses, and the peer distances in metres."""
    from lec_opt.network.checks import missing_unbalanced_data
    from lec_opt.network.powerflow import placed_feeder

    sc = _scenario(scenario, data)
    if sc.community.topology != "feeder":
        raise LecOptError(f"{sc.source}: community.topology is 'ring'; network info needs a feeder scenario")
    feeder, _ = placed_feeder(sc)
    info = {**feeder.info(), "power_flow_missing": missing_unbalanced_data(feeder.net)}
    if as_json:
        print(json.dumps(info, indent=1))
        return
    table = Table(title=f"{sc.name}: {len(info['peers'])} peers on {info['feeder']}")
    for col in ("peer", "load", "bus", "phase", "x", "y", "nearest peer", "m"):
        table.add_column(col, justify="right")
    for k, p in enumerate(info["peers"]):
        row = list(info["distance_m"][k])
        row[k] = float("inf")
        near = min(range(len(row)), key=row.__getitem__) if len(row) > 1 else k
        table.add_row(
            str(p["peer"]),
            p["load"],
            p["bus"],
            p["phase"],
            f"{p['x']:.1f}",
            f"{p['y']:.1f}",
            str(near + 1),
            f"{info['distance_m'][k][near]:.1f}",
        )
    console.print(table)
    console.print(f"CES bus {info['ces_bus']}; EV charger buses {', '.join(info['ev_buses']) or '(none)'}")
    console.print("the full distance matrix in metres: lec-opt network info --json")
    say_power_flow_readiness(info["power_flow_missing"])


def say_power_flow_readiness(missing: list[str]) -> None:
    """One line: whether the network has what the unbalanced flow reads, else the first missing values."""
    console.print(
        "unbalanced power flow: the network has the data it needs"
        if not missing
        else f"[yellow]unbalanced power flow: the network lacks {len(missing)} value{'s' if len(missing) > 1 else ''}[/yellow] ("
        + "; ".join(missing[:5])
        + ("; ..." if len(missing) > 5 else "")
        + "): --power-flow will stop until they are added",
        highlight=False,
    )


EngineOpt = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="power-flow engine: power-grid-model (a day in one batch) or pandapower; default: the scenario's "
        "network.engine",
    ),
]


def check_engine(engine: str | None) -> None:
    """LecOptError for an --engine that is not one of the engines."""
    from lec_opt.network.engine import Engine

    if engine is not None and engine not in {e.value for e in Engine}:
        raise LecOptError(f"--engine must be one of {', '.join(e.value for e in Engine)}, not {engine!r}")


def with_engine(scenario, engine: str | None):
    """The scenario with ``--engine`` in its ``[network]`` (so the folder's scenario.toml records
    it); the scenario itself when none is given or it has no network. LecOptError for a bad name."""
    check_engine(engine)
    if engine is None or scenario.network is None:
        return scenario
    return scenario.model_copy(update={"network": scenario.network.model_copy(update={"engine": engine})})


def run_power_flow(folder: Path, engine: str | None = None) -> None:
    """Power flows of every interval of a results folder, with a progress bar, then figures and a summary."""
    from lec_opt.io.results import load_results
    from lec_opt.io.results_folder import writing
    from lec_opt.io.schema import LINES_FILE, NETWORK_FILE, SUMMARY_FILE, VOLTAGES_FILE
    from lec_opt.network.powerflow import power_flow_folder
    from lec_opt.report.drawing import FIGURES_DIR
    from lec_opt.report.figures import render_network_figures

    with progress_bar("flows") as bar:
        task = bar.add_task("unbalanced power flow", total=None)
        frame = power_flow_folder(
            folder, lambda done, total: bar.update(task, completed=done, total=total), engine=engine
        )
    res = load_results(folder)  # the complete folder, now with network.csv
    with writing(folder, update=True, command="lec-opt power-flow: figures") as staged:
        figures = render_network_figures(res, staged / FIGURES_DIR)
    ok = frame[frame.converged.astype(bool)]
    failed = len(frame) - len(ok)
    console.print(
        f"voltage {ok.v_min_pu.min():.4f}-{ok.v_max_pu.max():.4f} p.u., line loading <= "
        f"{ok.line_loading_max_percent.max():.1f} %, transformer <= {ok.trafo_loading_percent.max():.1f} %, "
        f"losses {ok.losses_kwh.sum():.2f} kWh, {int((ok.buses_outside_en50160 > 0).sum())} intervals outside "
        f"EN 50160, {failed} flows did not converge"
        if len(ok)
        else f"[red]none of the {failed} flows converged[/red]"
    )
    console.print(
        f"[green]wrote[/green] {folder / NETWORK_FILE}, {VOLTAGES_FILE}, {LINES_FILE}, {SUMMARY_FILE} (network), "
        + ", ".join(p.name for p in figures)
    )


@app.command("power-flow")
def power_flow_cmd(
    results_dir: Annotated[
        Path, typer.Argument(parser=results_dir_path, help="results folder of a feeder day written by solve-day")
    ],
    engine: EngineOpt = None,
) -> None:
    """An unbalanced three-phase power flow of every interval of a solved feeder day: network.csv,
    voltages.parquet, lines.csv and figures."""
    from lec_opt.io.results_folder import claim, require_complete

    check_engine(engine)
    require_complete(results_dir)
    with claim(results_dir, update=True):
        run_power_flow(results_dir, engine)


@network_app.command("ieee-reference")
def ieee_reference_cmd(
    loads: Annotated[
        Path,
        typer.Argument(parser=input_dir, help="folder of the test case's Load_profile_<n>.csv files (1-minute kW)"),
    ],
    out: Annotated[Path, typer.Option("--out", parser=out_dir, help="output folder")],
    engine: EngineOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """The IEEE European LV Test Feeder's own case: its loads on LOADk every minute, no PV, no EVs,
    no CES (1440 flows): network.csv, voltages.parquet and lines.csv to set beside its published solution."""
    from lec_opt.io.atomic import write_json
    from lec_opt.io.results_folder import writing
    from lec_opt.io.schema import LINES_FILE, NETWORK_FILE, SUMMARY_FILE, VOLTAGES_FILE
    from lec_opt.network.powerflow import write_day_network
    from lec_opt.network.reference import ieee_reference_day
    from lec_opt.network.tables import network_totals

    check_engine(engine)
    from lec_opt.network.engine import Engine

    chosen = engine or Engine.POWER_GRID_MODEL.value
    with progress_bar("flows") as bar:
        task = bar.add_task("IEEE test case, 1-minute flows", total=None)
        network = ieee_reference_day(loads, chosen, lambda done, total: bar.update(task, completed=done, total=total))
    with writing(out, "power-flow", overwrite=overwrite, command="lec-opt network ieee-reference") as folder:
        write_day_network(folder, network)
        write_json(folder / SUMMARY_FILE, {"network": {"engine": chosen, **network_totals(network.intervals)}})
    frame = network.intervals
    console.print(
        f"feeder import {frame.feeder_import_kwh.sum():.2f} kWh, losses {frame.losses_kwh.sum():.3f} kWh, "
        f"voltage {frame.v_min_pu.min():.4f}-{frame.v_max_pu.max():.4f} p.u., "
        f"{int((~frame.converged.astype(bool)).sum())} flows did not converge"
    )
    console.print(f"[green]wrote[/green] {out}/ ({NETWORK_FILE}, {VOLTAGES_FILE}, {LINES_FILE}, {SUMMARY_FILE})")
