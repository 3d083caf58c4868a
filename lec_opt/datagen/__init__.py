"""Synthetic community day: household loads, rooftop PV (pvlib), EV chargers, bids and asks.

``generate_community`` draws every stochastic component from one seed and then calibrates two
smooth multipliers (household activity and cloud cover) so that the community's deficit and
surplus at the calibration times match given targets (by default the paper's Table 1).

``generate_period`` does the same for any run of dates (season, weekday, weather; lec_opt.datagen.period).
"""

from lec_opt.datagen.generate import GeneratedDay, GeneratorConfig, generate_community, write_community
from lec_opt.datagen.period import GeneratedPeriod, PeriodConfig, generate_period, write_period

__all__ = [
    "GeneratedDay",
    "GeneratedPeriod",
    "GeneratorConfig",
    "PeriodConfig",
    "generate_community",
    "generate_period",
    "write_community",
    "write_period",
]
