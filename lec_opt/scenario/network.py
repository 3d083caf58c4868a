"""The ``[network]`` section: the distribution feeder a ``topology = "feeder"`` community sits on."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from lec_opt.scenario.section import Section

LIMIT_FIELDS = ("limits", "curtailment", "v_min_pu", "v_max_pu", "cable_max_percent", "trafo_max_percent")


class Network(Section):
    """The distribution feeder of a ``topology = "feeder"`` community (models/FORMULATION.md §11).

    Bus and load names are the feeder's own (``net.bus.name``, ``net.asymmetric_load.name``).
    """

    source: Literal["ieee_european_lv"] | None = Field(
        None, description="a built-in feeder: pandapower's IEEE European LV Test Feeder (906 LV buses, 55 loads)"
    )
    file: str | None = Field(
        None, description="a pandapower network saved as JSON (pandapower.to_json); relative to the scenario"
    )
    loads: list[str] | None = Field(
        None, description="the feeder load of each peer (peer 1 first); omitted = the feeder's loads in order"
    )
    ces_bus: str | None = Field(None, description="bus name of the CES; omitted = the transformer's LV bus")
    ev_buses: list[str] | None = Field(
        None, description="bus name of each EV charger (ev_1 first); omitted = every charger at the CES bus"
    )
    load_power_factor: float = Field(
        0.95, gt=0.0, le=1.0, description="lagging power factor of household load in the power flow (PV at 1)"
    )
    engine: Literal["power-grid-model", "pandapower"] = Field(
        "power-grid-model",
        description="power-flow engine: power-grid-model (a day's intervals in one batch) or pandapower "
        "(runpp_3ph, interval by interval); the same unbalanced flow",
    )
    limits: Literal["off", "enforced"] = Field(
        "off",
        description="'enforced': every interval keeps the voltage band and the cable and transformer limits "
        "through PV curtailment and the CES (models/FORMULATION.md §13); 'off': the flows only report",
    )
    curtailment: Literal["least", "equal_share"] = Field(
        "least",
        description="with limits enforced: 'least' total curtailment (it falls where it helps most) or "
        "'equal_share' (every prosumer gives up the same share of its surplus)",
    )
    v_min_pu: float = Field(0.90, gt=0.0, description="lowest bus-phase voltage allowed, p.u. (EN 50160: 0.90)")
    v_max_pu: float = Field(1.10, gt=0.0, description="highest bus-phase voltage allowed, p.u. (EN 50160: 1.10)")
    cable_max_percent: float = Field(100.0, gt=0.0, description="highest cable loading allowed, % of rated current")
    trafo_max_percent: float = Field(100.0, gt=0.0, description="highest transformer loading allowed, % of rating")

    @model_serializer(mode="wrap")
    def _limits_only_when_enforced(self, handler: SerializerFunctionWrapHandler) -> dict:
        """The limits' settings are written (a results folder's scenario.toml) only when they act: a
        scenario with ``limits = "off"`` writes the same file it wrote before they existed."""
        data = handler(self)
        if self.limits == "off":
            for key in LIMIT_FIELDS:
                data.pop(key, None)
        return data

    @model_validator(mode="after")
    def _one_source(self) -> Network:
        if (self.source is None) == (self.file is None):
            raise ValueError(
                "give exactly one of network.source (a built-in feeder) and network.file (a pandapower JSON)"
            )
        if self.loads is not None and len(set(self.loads)) != len(self.loads):
            raise ValueError("a load is listed twice in network.loads")
        if self.v_min_pu >= self.v_max_pu:
            raise ValueError(
                f"network.v_min_pu = {self.v_min_pu} must be below network.v_max_pu = {self.v_max_pu}: "
                "the voltage band would be empty"
            )
        return self
