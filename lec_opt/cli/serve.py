"""``lec-opt serve``, ``lec-opt replay`` and ``lec-opt export``: the aggregator as a running service
(``lec_opt.service``, the optional ``serve`` extra) and its two clients."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from lec_opt.cli.app import DataOpt, MethodOpt, ScenarioOpt, _scenario, app, console, progress_bar
from lec_opt.cli.paths import OverwriteOpt, input_dir, out_dir
from lec_opt.errors import LecOptError

TOKEN_ENV = "LEC_OPT_OPERATOR_TOKEN"
UrlOpt = Annotated[str, typer.Option("--url", help="the service's address")]
DEFAULT_URL = "http://127.0.0.1:8037"


def _service():
    """The service package, or the install line that brings it."""
    try:
        import fastapi  # noqa: F401
        import sqlalchemy  # noqa: F401

        import lec_opt.service  # noqa: F401
    except ImportError as err:
        raise LecOptError(f'the service needs the serve extra: pip install "lec-opt[serve]" ({err})') from None


def _token() -> str:
    from lec_opt.service.auth import check_operator_token

    try:
        return check_operator_token(os.environ.get(TOKEN_ENV))
    except ValueError as err:
        raise LecOptError(str(err)) from None


@app.command("serve")
def serve_cmd(
    scenario: ScenarioOpt = None,
    data: DataOpt = None,
    method: MethodOpt = "milp",
    db: Annotated[
        str, typer.Option("--db", help="database URL: sqlite:///FILE (default) or postgresql+psycopg://...")
    ] = "sqlite:///lec-opt-service.db",
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="port to listen on")] = 8037,
    deadline: Annotated[
        float | None,
        typer.Option("--deadline", help="seconds after an interval's first reading to clear it, filling gaps"),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="processes solving complete intervals' MILP matchings ahead (default: 2 or the cores)",
        ),
    ] = None,
) -> None:
    """Run the aggregator: readings in, each interval cleared (solve-day's market), statements out.

    The operator's token comes from LEC_OPT_OPERATOR_TOKEN. The database is migrated on start."""
    _service()
    import uvicorn

    from lec_opt.service.aggregator import Aggregator
    from lec_opt.service.app import create_app
    from lec_opt.service.community import Community

    if db.startswith("postgresql://"):
        db = "postgresql+psycopg://" + db.removeprefix("postgresql://")
    community = Community(_scenario(scenario, data), method)
    aggregator = Aggregator(community, db, _token(), workers)
    console.print(f"serving {community.scenario.name} ({method}) on http://{host}:{port}/ with {_safe(db)}")
    app = create_app(aggregator, deadline)
    # no access log and no proxy headers: one line and one header scan less per meter reading
    uvicorn.run(
        app, host=host, port=port, log_level="warning", timeout_keep_alive=60, access_log=False, proxy_headers=False
    )


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command("replay")
def replay_cmd(
    data_dir: Annotated[Path, typer.Argument(parser=input_dir, help="data folder whose readings to post")],
    url: UrlOpt = DEFAULT_URL,
    scenario: ScenarioOpt = None,
) -> None:
    """Post a data folder's readings to the service interval by interval (the operator's token from
    LEC_OPT_OPERATOR_TOKEN)."""
    _service()
    from lec_opt.service.client import replay

    token = _token()
    with progress_bar("intervals") as bar:
        task = bar.add_task("replaying", total=None)
        n = replay(
            _scenario(scenario, data_dir), url, token, progress=lambda d, t: bar.update(task, completed=d, total=t)
        )
    console.print(f"[green]posted[/green] {n} intervals to {url}")


@app.command("export")
def export_cmd(
    out: Annotated[Path, typer.Option("--out", parser=out_dir, help="results folder to write")],
    url: UrlOpt = DEFAULT_URL,
    first: Annotated[str | None, typer.Option("--from", help="first interval, HH:MM")] = None,
    last: Annotated[str | None, typer.Option("--to", help="last interval, HH:MM")] = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Write what the service cleared as a results folder in solve-day's format (report and game read it)."""
    _service()
    from lec_opt.service.client import export

    written = export(url, _token(), out, first, last, overwrite)
    console.print(f"[green]wrote[/green] {written}")
