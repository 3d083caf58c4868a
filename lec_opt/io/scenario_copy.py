"""The resolved scenario a results folder carries: ``scenario.toml``, with the feeder's network
file copied beside it (``network.json``), so that the folder names no file outside itself but its
data folder (the profiles a period reads can be a year of Parquet; they are not copied).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w

from lec_opt.io.atomic import atomic_open, write_text
from lec_opt.io.schema import SCENARIO_FILE

NETWORK_COPY = "network.json"
# [network]'s limit settings: written only when the limits are enforced, so a scenario with limits
# off writes the scenario.toml it wrote before they existed (the defaults read back the same)
LIMIT_KEYS = ("limits", "curtailment", "v_min_pu", "v_max_pu", "cable_max_percent", "trafo_max_percent")


def toml_ready(value: Any) -> Any:
    """A scenario dump TOML can hold: keys whose value is None are left out (TOML has no null)."""
    if isinstance(value, dict):
        return {k: toml_ready(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [toml_ready(v) for v in value]
    return value


def write_scenario_file(folder: Path, scenario: dict[str, Any]) -> None:
    """Write ``folder/scenario.toml`` from a scenario's JSON dump; a ``network.file`` is copied to
    ``folder/network.json`` and named relatively (scenario paths are relative to the file)."""
    network = scenario.get("network") or {}
    if network and network.get("limits", "off") == "off":
        network = {k: v for k, v in network.items() if k not in LIMIT_KEYS}
        scenario = {**scenario, "network": network}
    if network.get("file"):
        with atomic_open(folder / NETWORK_COPY, "wb") as handle:
            handle.write(Path(network["file"]).read_bytes())
        scenario = {**scenario, "network": {**network, "file": NETWORK_COPY}}
    write_text(folder / SCENARIO_FILE, "# the resolved scenario this run used\n" + tomli_w.dumps(toml_ready(scenario)))
