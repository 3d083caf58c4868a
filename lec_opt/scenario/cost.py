"""What the CES costs (``[ces.cost]``): the scenario section a sizing sweep prices the CES with."""

from __future__ import annotations

from pydantic import Field

from lec_opt.scenario.section import Section


class CesCost(Section):
    """What the CES costs: capital per kWh and per kW, its lifetime, a discount rate and yearly O&M.

    Its annualised cost (``lec_opt.analysis.sizing``) is what a sizing sweep sets against the
    community's saving. No effect on the market: the paper's operating rules stay as they are.
    """

    energy_usd_per_kwh: float = Field(ge=0.0, description="capital cost per kWh of capacity, $/kWh")
    power_usd_per_kw: float = Field(
        0.0, ge=0.0, description="capital cost per kW of power (the larger of charge and discharge power), $/kW"
    )
    lifetime_years: float = Field(15.0, gt=0.0, description="years over which the capital is recovered")
    discount_rate: float = Field(
        0.05, ge=0.0, lt=1.0, description="yearly discount rate of the capital recovery factor"
    )
    om_fraction_per_year: float = Field(
        0.0, ge=0.0, lt=1.0, description="yearly operation and maintenance, as a fraction of the capital cost"
    )
