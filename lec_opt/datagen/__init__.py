"""Synthetic community day: household loads, rooftop PV (pvlib), EV chargers, bids and asks.

``generate_community`` draws every stochastic component from one seed and then calibrates two
smooth multipliers (household activity and cloud cover) so that the community's deficit and
surplus at the calibration times match given targets (by default the paper's Table 1).
"""

from lec_opt.datagen.generate import GeneratedDay, GeneratorConfig, generate_community, write_community

__all__ = ["GeneratedDay", "GeneratorConfig", "generate_community", "write_community"]
