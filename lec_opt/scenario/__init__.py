"""Scenario layer: the schema (``schema``) and reading files with their ``base`` chains (``load``)."""

from lec_opt.scenario.load import load_scenario, parse_scenario
from lec_opt.scenario.schema import MINUTES_PER_DAY, Scenario, check_peers

__all__ = ["MINUTES_PER_DAY", "Scenario", "check_peers", "load_scenario", "parse_scenario"]
