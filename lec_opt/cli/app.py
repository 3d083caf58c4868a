"""The typer ``app``, its ``data`` group, the console and the options the commands share.

The command modules register on ``app`` imported from here; ``lec_opt.cli`` imports them all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lec_opt.cli.paths import input_dir, scenario_file
from lec_opt.io.shipped import DEFAULT_SCENARIO
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
# progress bars and spinners go to stderr: stdout carries the results (``--json`` output stays parseable)
progress_console = Console(stderr=True)

ScenarioOpt = Annotated[
    Path | None,
    typer.Option(
        "--scenario",
        "-s",
        parser=scenario_file,
        help=f"scenario TOML, or a shipped one by name (default: {DEFAULT_SCENARIO.name})",
    ),
]
DataOpt = Annotated[
    Path | None,
    typer.Option("--data", parser=input_dir, help="data folder replacing the scenario's (peers taken from it)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]
MethodOpt = Annotated[str, typer.Option("--method", help="milp or greedy")]
PriorityOpt = Annotated[str, typer.Option("--priority", help="best (the aggregator's choice per interval), A, B or C")]


def _scenario(scenario: Path | None, data: Path | None = None) -> Scenario:
    loaded = load_scenario(scenario)
    return loaded.with_data_dir(data) if data is not None else loaded


def progress_bar(unit: str):
    """A rich progress bar: what is being done, the bar, done/total ``unit``, time spent and left."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=progress_console,
        transient=False,
    )
