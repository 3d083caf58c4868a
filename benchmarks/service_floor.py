"""The floor under the service's cost of a post: a bare FastAPI route that takes the same body and
token as ``POST /readings`` (the body checked by the same kind of pydantic model) and does nothing
with them. What this machine's HTTP stack answers per second with nothing behind it bounds what
``lec-opt serve`` can answer; ``benchmarks.service`` runs it with the same 100 clients."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Header
from pydantic import BaseModel, Field

app = FastAPI()


class Reading(BaseModel):
    """As ``lec_opt.service.app.PeerReading``."""

    time: str = Field(pattern=r"^\d\d:\d\d$")
    load_kwh: float = Field(ge=0, allow_inf_nan=False)
    pv_kwh: float = Field(ge=0, allow_inf_nan=False)


@app.post("/readings")
async def post_reading(body: Reading, authorization: Annotated[str | None, Header()] = None) -> dict:
    """Take the reading, store nothing, clear nothing."""
    return {"accepted": 1, "duplicate": 0, "replaced": 0, "cleared": []}
