"""``lec-opt data ...``: summary, validation, generation and import of community data."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lec_opt.cli.app import DataOpt, JsonOpt, ScenarioOpt, _scenario, console, data_app, progress_console
from lec_opt.cli.paths import OverwriteOpt, input_dir, input_file, out_dir
from lec_opt.io.shipped import DEFAULT_DATA
from lec_opt.scenario import load_scenario


@data_app.command("info")
def data_info_cmd(
    scenario: ScenarioOpt = None,
    data: DataOpt = None,
    as_json: JsonOpt = False,
    date: Annotated[
        str | None,
        typer.Option(
            "--date", help="YYYY-MM-DD: the day of a multi-day folder (default: 21 June if held, else the first)"
        ),
    ] = None,
) -> None:
    """Table 1 of the paper beside this community's figures, daily totals, EV and PV windows."""
    from lec_opt.analysis.data_info import data_info
    from lec_opt.market.snapshot import build_day

    sc = _scenario(scenario, data)
    info = data_info(build_day(sc, _one_day(sc, date)))
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


def _one_day(sc, date: str | None):
    """The profiles of one date of the scenario's data folder (None: a one-day folder, read as usual)."""
    from lec_opt.errors import LecOptError
    from lec_opt.io.period_profiles import read_period

    folder = read_period(sc.data_dir, sc.community.n_peers, sc.bids.file)
    if folder.repeats:
        return None
    if date is None:
        june = [d for d in folder.dates if (d.month, d.day) == (6, 21)]
        return folder.day((june or folder.dates)[0])
    try:
        wanted = datetime.date.fromisoformat(date)
    except ValueError:
        raise LecOptError(f"--date {date!r} is not a date YYYY-MM-DD") from None
    if wanted not in folder.dates:
        raise LecOptError(f"--date {date}: {sc.data_dir} holds {folder.dates[0]}..{folder.dates[-1]}")
    return folder.day(wanted)


@data_app.command("validate")
def data_validate_cmd(
    directory: Annotated[Path, typer.Argument(parser=input_dir, help="data folder to check")],
    scenario: ScenarioOpt = None,
) -> None:
    """Check a data folder (format, time axis, values, peers) against a scenario, without solving."""
    from lec_opt.market.snapshot import build_day
    from lec_opt.period.run import period_days, with_period

    sc = _scenario(scenario, directory)
    if _one_day(sc, None) is not None:  # a multi-day folder: every date built and checked
        dates, days = period_days(with_period(sc))
        console.print(
            f"[green]OK[/green] {directory}: {days[0].n_peers} peers, {len(dates)} days {dates[0]}..{dates[-1]}, "
            f"{days[0].n_intervals} intervals of {days[0].interval_minutes} min a day, "
            f"load {sum(d.load_kwh.sum() for d in days):.1f} kWh, EV {sum(d.ev_kwh.sum() for d in days):.1f} kWh"
        )
        _check_feeder(sc, days[0])
        return
    day = build_day(sc)
    console.print(
        f"[green]OK[/green] {directory}: {day.n_peers} peers, {day.n_intervals} intervals of "
        f"{day.interval_minutes} min, load {day.load_kwh.sum():.1f} kWh, EV {day.ev_kwh.sum():.1f} kWh"
    )
    _check_feeder(sc, day)


def _check_feeder(sc, day) -> None:
    """A feeder scenario's network checked too: the community placed on it (bus names, islands:
    an error), and whether it has what the power flow reads (a warning)."""
    if sc.community.topology != "feeder":
        return
    from lec_opt.cli.network import say_power_flow_readiness
    from lec_opt.network.checks import missing_unbalanced_data
    from lec_opt.network.powerflow import placed_feeder

    feeder, _ = placed_feeder(sc, day)
    console.print(
        f"[green]OK[/green] the {feeder.n_peers} peers, the CES and the EV chargers are placed on {feeder.name}"
    )
    say_power_flow_readiness(missing_unbalanced_data(feeder.net))


@data_app.command("generate")
def data_generate_cmd(
    out: Annotated[Path, typer.Option("--out", parser=out_dir, help="folder to write")],
    seed: Annotated[int, typer.Option("--seed", help="random seed; the same seed gives the same files")] = 2022,
    scenario: ScenarioOpt = None,
    overwrite: OverwriteOpt = False,
    start: Annotated[
        str | None,
        typer.Option("--start", help="first date YYYY-MM-DD: a multi-day folder (omitted: the paper's one day)"),
    ] = None,
    days: Annotated[int, typer.Option("--days", help="number of dates from --start")] = 1,
    weather: Annotated[
        Path | None,
        typer.Option("--weather", parser=input_file, help="EPW or TMY3 weather file for the sky (with --start)"),
    ] = None,
    step_minutes: Annotated[int, typer.Option("--step-minutes", help="time step of the files (with --start)")] = 5,
    storage: Annotated[
        str, typer.Option("--format", help="'parquet' (default) or 'csv' profile tables (with --start)")
    ] = "parquet",
    calibration: Annotated[
        bool,
        typer.Option("--calibration/--no-calibration", help="calibrate every 21 June to the paper (with --start)"),
    ] = True,
) -> None:
    """Generate community data: the paper's day, or with --start a multi-day folder (season, weekday, weather)."""
    from lec_opt.io.results_folder import claim, writing

    loaded = load_scenario(scenario)
    if start is None:
        if weather is not None or days != 1 or step_minutes != 5 or storage != "parquet" or not calibration:
            raise typer.BadParameter(
                "--days, --weather, --step-minutes, --format and --no-calibration need --start (a multi-day folder)"
            )
        from lec_opt.datagen import GeneratorConfig, generate_community, write_community

        config = GeneratorConfig.from_scenario(loaded, seed)
        with claim(out, overwrite=overwrite):
            with progress_console.status("drawing households, roofs and clouds; calibrating to Table 1 ..."):
                day = generate_community(config)
            with writing(out, "data", scenario=loaded, overwrite=overwrite) as folder:
                write_community(day, folder)
        console.print(f"[green]wrote[/green] {out} (seed {seed}, draw {day.attempt})")
        return
    from lec_opt.cli.app import progress_bar
    from lec_opt.datagen.period import (
        FORMATS,
        PeriodConfig,
        generate_period,
        parse_start,
        why_not_calibrated,
        write_period,
    )

    if storage not in FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}, not {storage!r}")
    reason = why_not_calibrated(loaded) if calibration else None
    if reason is not None:
        console.print(
            f"21 June is not calibrated: the targets are the paper's 100-peer community's (Table 1), and {reason}",
            highlight=False,
        )
        calibration = False
    config = PeriodConfig.from_scenario(
        loaded,
        seed,
        parse_start(start),
        days,
        step_minutes=step_minutes,
        weather=weather,
        calibration_day=(6, 21) if calibration else None,
    )
    config.check()
    with claim(out, overwrite=overwrite):
        with progress_bar("days") as bar:
            task = bar.add_task(f"generating {days} days from {start}", total=days)
            period = generate_period(config, progress=lambda k: bar.update(task, completed=k + 1))
        with writing(out, "data", scenario=loaded, overwrite=overwrite) as folder:
            write_period(period, folder, storage)
    console.print(
        f"[green]wrote[/green] {out}: {days} days from {start}, {step_minutes}-min steps, {storage} (seed {seed})"
    )


@data_app.command("import-ieee-lv")
def data_import_cmd(
    directory: Annotated[Path, typer.Argument(parser=input_dir, help="folder with Load_profile_<n>.csv files")],
    out: Annotated[Path, typer.Option("--out", parser=out_dir, help="data folder to write")],
    pv_ev_from: Annotated[
        Path,
        typer.Option("--pv-ev-from", parser=input_dir, help="data folder whose PV, EV and bids the community takes"),
    ] = DEFAULT_DATA,
    peers: Annotated[int | None, typer.Option("--peers", help="use the first N profiles")] = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Import the IEEE European LV Test Feeder load profiles into lec-opt's data format."""
    from lec_opt.io.ieee import import_ieee_lv
    from lec_opt.io.results_folder import writing

    with writing(out, "data", overwrite=overwrite) as folder:
        import_ieee_lv(directory, folder, pv_ev_from, peers)
    console.print(f"[green]wrote[/green] {out}")
