"""The HTTP API (FastAPI): ``create_app`` builds it on an ``Aggregator``; the OpenAPI document at
``/openapi.json`` describes every route. Routes under ``/operator`` need the operator's token,
``/readings`` and ``/peers/me`` a peer's, ``/api/day`` either; ``/``, ``/health`` and
``/openapi.json`` hold no data."""

import asyncio
import threading
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from lec_opt.service.aggregator import Aggregator, deadline_loop
from lec_opt.service.auth import Caller, Role, require
from lec_opt.service.dashboard import DASHBOARD_HTML
from lec_opt.service.errors import ServiceError
from lec_opt.service.limits import BodyLimit
from lec_opt.service.readings import Meter
from lec_opt.service.views import day_view, export, span, statement

MAX_BODY_BYTES = 256 * 1024  # a bulk post of 1000 peers' readings is about 70 kB
MAX_PEERS_PER_POST = 2000
Kwh = Annotated[float, Field(ge=0, allow_inf_nan=False, description="kWh in the interval, >= 0")]
Time = Annotated[str, Field(pattern=r"^\d\d:\d\d$", description="the interval's start, HH:MM on the grid")]
From = Annotated[str | None, Query(alias="from", pattern=r"^\d\d:\d\d$", description="first interval, HH:MM")]
To = Annotated[str | None, Query(alias="to", pattern=r"^\d\d:\d\d$", description="last interval, HH:MM")]


class Strict(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class PeerReading(Strict):
    """A peer's own reading of one interval."""

    time: Time
    load_kwh: Kwh
    pv_kwh: Kwh


class BulkReading(Strict):
    """One peer's reading in an operator's bulk post."""

    peer: int = Field(ge=1, description="the peer's number")
    load_kwh: Kwh
    pv_kwh: Kwh


class BulkReadings(Strict):
    """The operator's readings of many peers for one interval."""

    time: Time
    readings: list[BulkReading] = Field(min_length=1, max_length=MAX_PEERS_PER_POST)


class Reopen(Strict):
    """The first interval to reopen (it and every later one)."""

    time: Time


def create_app(aggregator: Aggregator, deadline_seconds: float | None = None) -> FastAPI:
    """The service's app; it starts (migrates, recovers) ``aggregator`` when the server starts it."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        aggregator.start()
        stop = threading.Event()
        if deadline_seconds:
            threading.Thread(target=deadline_loop, args=(aggregator, deadline_seconds, stop), daemon=True).start()
        yield
        stop.set()
        aggregator.stop()

    app = FastAPI(
        title="lec-opt aggregator",
        description="Meter readings in, the market cleared every interval, statements out.",
        lifespan=lifespan,
        docs_url=None,  # the Swagger page loads its scripts from a CDN: /openapi.json is the documentation
        redoc_url=None,
    )
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)

    @app.exception_handler(ServiceError)
    async def refused(_request: Request, err: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=err.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, err: RequestValidationError) -> JSONResponse:
        # where and why, without echoing the input (it may be NaN, which JSON cannot carry, or anything)
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in err.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    # async: in memory, no database, so FastAPI runs them on the event loop rather than in its threads
    Bearer = Annotated[str | None, Header(description="Bearer <token>")]

    async def caller(authorization: Bearer = None) -> Caller:
        return aggregator.caller(authorization)

    async def operator(authorization: Bearer = None) -> Caller:
        return require(aggregator.caller(authorization), Role.OPERATOR)

    async def peer(authorization: Bearer = None) -> Caller:
        return require(aggregator.caller(authorization), Role.PEER)

    _public_routes(app)
    _peer_routes(app, aggregator, caller, peer)
    _operator_routes(app, aggregator, operator)
    return app


def _public_routes(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse, summary="The dashboard (its data come with a token)")
    def dashboard() -> str:
        return DASHBOARD_HTML

    @app.get("/health", summary="Whether the service is up (no data)")
    def health() -> dict:
        return {"status": "ok"}


def _peer_routes(app: FastAPI, agg: Aggregator, caller, peer) -> None:
    @app.get("/api/day", summary="The day so far: each cleared interval's priority, P2P kWh, SoC; the live interval")
    def day(who: Annotated[Caller, Depends(caller)]) -> dict:
        with agg.sessions() as session:
            return day_view(session, agg.community)

    @app.post("/readings", summary="A peer's own reading of one interval (clears the interval when complete)")
    async def post_reading(body: PeerReading, who: Annotated[Caller, Depends(peer)]) -> dict:
        return await asyncio.wrap_future(agg.post(body.time, [Meter(who.peer, body.load_kwh, body.pv_kwh)], who))

    @app.get("/peers/me/statement", summary="The calling peer's readings, trades and money per cleared interval")
    def my_statement(
        who: Annotated[Caller, Depends(peer)],
        first: From = None,
        last: To = None,
    ) -> dict:
        a, b = span(agg.community, first, last)
        with agg.sessions() as session:
            return statement(session, agg.community, who.peer, a, b)


def _operator_routes(app: FastAPI, agg: Aggregator, operator) -> None:
    @app.post("/operator/readings", summary="Many peers' readings of one interval, in bulk")
    async def post_bulk(body: BulkReadings, who: Annotated[Caller, Depends(operator)]) -> dict:
        meters = [Meter(r.peer, r.load_kwh, r.pv_kwh) for r in body.readings]
        return await asyncio.wrap_future(agg.post(body.time, meters, who))

    @app.post("/operator/clear/{time}", summary="The deadline: clear every interval up to this one, filling gaps")
    def clear(
        time: Annotated[str, Path(pattern=r"^\d\d:\d\d$", description="HH:MM")],
        who: Annotated[Caller, Depends(operator)],
    ) -> dict:
        return {"cleared": agg.clear_until(time, who)}

    @app.post("/operator/reopen", summary="Correction: undo the clearing of an interval and every later one")
    def reopen(body: Reopen, who: Annotated[Caller, Depends(operator)]) -> dict:
        return agg.reopen(body.time, who)

    @app.post("/operator/peers/{peer}/token", summary="Issue a peer's token (the previous one stops working)")
    def token(peer: Annotated[int, Path(ge=1)], who: Annotated[Caller, Depends(operator)]) -> dict:
        return {"peer": peer, "token": agg.issue_token(peer, who)}

    @app.get("/operator/statement/{peer}", summary="Any peer's statement")
    def peer_statement(
        peer: Annotated[int, Path(ge=1)],
        who: Annotated[Caller, Depends(operator)],
        first: From = None,
        last: To = None,
    ) -> dict:
        agg.community.check_peer(peer)
        a, b = span(agg.community, first, last)
        with agg.sessions() as session:
            return statement(session, agg.community, peer, a, b)

    @app.get("/operator/export", summary="The cleared intervals as solve-day's results files")
    def export_files(
        who: Annotated[Caller, Depends(operator)],
        first: From = None,
        last: To = None,
    ) -> dict:
        a, b = span(agg.community, first, last)
        with agg.sessions() as session:
            return export(session, agg.community, a, b)

    @app.get("/operator/audit", summary="The audit log, newest first")
    def audit(who: Annotated[Caller, Depends(operator)], limit: Annotated[int, Query(ge=1, le=10000)] = 100) -> list:
        from sqlalchemy import select

        from lec_opt.service.db import Audit

        with agg.sessions() as session:
            rows = session.scalars(select(Audit).order_by(Audit.id.desc()).limit(limit)).all()
            return [{"at": r.at.isoformat(), "actor": r.actor, "action": r.action, "detail": r.detail} for r in rows]
