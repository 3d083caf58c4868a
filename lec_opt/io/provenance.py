"""Who wrote a results folder, with what and when: the scenario's hash, the software versions and
the time, as a folder's manifest (``lec-opt.json``) records them."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def scenario_hash(scenario: Any) -> str | None:
    """SHA-256 of a resolved scenario (a pydantic ``Scenario`` or a plain dict), keys sorted."""
    if scenario is None:
        return None
    data = scenario.model_dump(mode="json", exclude={"base"}) if hasattr(scenario, "model_dump") else scenario
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def lec_opt_version() -> str:
    """The running lec-opt's version."""
    import lec_opt

    return lec_opt.__version__


SOFTWARE = {"lec-opt": "lec-opt", "Pyomo": "pyomo", "HiGHS (highspy)": "highspy"}  # shown name -> distribution


def software_versions() -> dict[str, str]:
    """The installed versions of lec-opt, Pyomo and HiGHS ("not installed" for one that is missing)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for shown, dist in SOFTWARE.items():
        try:
            out[shown] = version(dist)
        except PackageNotFoundError:
            out[shown] = "not installed"
    return out


def now_utc() -> str:
    """The time now, UTC, to the second (the only wall-clock value a folder holds)."""
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
