"""``lec-opt report`` and ``lec-opt game``: figures and the core check of a solved day."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lec_opt.cli.app import JsonOpt, app, console, progress_bar, progress_console
from lec_opt.cli.paths import results_dir as results_dir_path
from lec_opt.errors import LecOptError


@app.command("report")
def report_cmd(
    results_dir: Annotated[
        Path, typer.Argument(parser=results_dir_path, help="results folder written by solve-day or sweep")
    ],
    fmt: Annotated[
        str, typer.Option("--format", help="html (figures/ and report.html) or png (figures/ only)")
    ] = "html",
    interval: Annotated[
        int | None, typer.Option("--interval", help="ring graph's interval (default: most P2P energy)")
    ] = None,
) -> None:
    """Draw the figures of a results folder (figures/*.png) and write a self-contained report.html."""
    from lec_opt.io.results_folder import claim, require_complete
    from lec_opt.report import write_report

    require_complete(results_dir)
    with claim(results_dir, update=True), progress_console.status("drawing figures ..."):
        written = write_report(results_dir, fmt, interval)
    console.print(f"[green]wrote[/green] {written}" + ("/" if fmt == "png" else ""))


@app.command("game")
def game_cmd(
    results: Annotated[Path, typer.Argument(parser=results_dir_path, help="a results folder written by solve-day")],
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

    import contextlib

    from lec_opt.analysis.stability import check_day, write_stability
    from lec_opt.io.results_folder import claim, require_complete

    if interval is not None and check_all:
        raise LecOptError("give --interval N or --all, not both")
    intervals = None if interval is None else [interval]
    require_complete(results)
    with contextlib.ExitStack() as stack:
        if intervals is None:  # the whole day's check is written into the folder: one writer at a time
            stack.enter_context(claim(results, update=True))
        with progress_bar("intervals") as bar:
            task = bar.add_task("core check", total=None)
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
