"""The points of a sweep: the axes' values applied to the base scenario, each point validated.

The points are the cartesian product of the axes (``product``, the first axis varies slowest) or
the axes side by side (``zip``). Every point's scenario is built and validated before anything is
solved, so an unknown field or a value out of range stops the sweep with the usual error naming
the field and the point. A point is identified by the hash of its resolved scenario, method and
priority.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lec_opt.analysis.sweep.spec import Axis, format_value
from lec_opt.errors import InputError, LecOptError
from lec_opt.scenario import Scenario, parse_scenario

SWEEP_MODES = ("product", "zip")


@dataclass(frozen=True)
class Point:
    """One point of the grid: its values, its validated scenario (as JSON data) and its hash."""

    index: int
    params: dict[str, Any]  # dotted path -> value as the validated scenario holds it
    scenario: dict[str, Any]
    hash: str

    def label(self) -> str:
        """The point's swept values as ``path=value, ...`` text."""
        return ", ".join(f"{p}={format_value(v)}" for p, v in self.params.items())


def _leaf_paths(raw: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in raw.items():
        if isinstance(value, dict) and value:
            out += _leaf_paths(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}")
    return out


def _locate(raw: dict[str, Any], axis: Axis) -> tuple[dict[str, Any], str]:
    """The dict holding the field ``axis.path`` and the field's key; InputError if there is none."""
    parts = axis.path.split(".")
    node: Any = raw
    for n, part in enumerate(parts):
        if not isinstance(node, dict):
            raise InputError(axis.source, f"'{'.'.join(parts[:n])}' is a value, not a section", field=axis.path)
        if part not in node:
            close = difflib.get_close_matches(axis.path, _leaf_paths(raw), n=3, cutoff=0.6)
            if close:
                hint = "; did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
            else:
                where = f"section '{'.'.join(parts[:n])}'" if n else "the top level"
                hint = f"; keys of {where}: {', '.join(sorted(node))}"
            raise InputError(axis.source, f"unknown scenario field{hint}", field=axis.path)
        if n < len(parts) - 1:
            node = node[part]
    if "." not in axis.path and isinstance(node[parts[-1]], dict):  # a whole section, e.g. "ces"
        keys = ", ".join(f"{axis.path}.{k}" for k in node[parts[-1]])
        raise InputError(axis.source, f"is a section; sweep one of its fields: {keys}", field=axis.path)
    return node, parts[-1]


def _coerce(value: Any, current: Any) -> Any:
    """Make 1 a float for a float field and 4.0 an int for an int field (the schema is strict on ints)."""
    if isinstance(value, bool) or isinstance(current, bool):
        return value
    if isinstance(current, float) and isinstance(value, int):
        return float(value)
    if isinstance(current, int) and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _get(raw: Mapping[str, Any], path: str) -> Any:
    node: Any = raw
    for part in path.split("."):
        node = node[part]
    return node


def point_hash(scenario: Mapping[str, Any], method: str, priority: str, power_flow: bool = False) -> str:
    """sha256 of the resolved scenario, the method, the priority and (when asked for) the power
    flows (first 16 hex digits)."""
    identity = {"scenario": scenario, "method": method, "priority": priority}
    if power_flow:
        identity["power_flow"] = True
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _resolved(scenario: Scenario) -> dict[str, Any]:
    raw = scenario.model_dump(mode="json", exclude={"base"})  # the base is merged in already
    raw["data"]["dir"] = str(Path(raw["data"]["dir"]).resolve())
    return raw


def build_points(
    scenario: Scenario,
    axes: Sequence[Axis],
    mode: str = "product",
    method: str = "milp",
    priority: str = "best",
    power_flow: bool = False,
) -> list[Point]:
    """Every point of the grid, each scenario validated (InputError naming the field and point)."""
    if mode not in SWEEP_MODES:
        raise LecOptError(f"mode must be one of {', '.join(SWEEP_MODES)}, not {mode!r}")
    if not axes:
        raise LecOptError("nothing to sweep: give at least one parameter axis PATH=VALUES (e.g. ces.k=0.2:1.0:5)")
    seen: dict[str, Axis] = {}
    for axis in axes:
        if axis.path in seen:
            raise InputError(axis.source, f"swept twice (also {seen[axis.path].source})", field=axis.path)
        seen[axis.path] = axis
        if not axis.values:
            raise InputError(axis.source, "empty grid: this parameter has no values", field=axis.path)
    if mode == "zip" and len({len(a.values) for a in axes}) > 1:
        sizes = ", ".join(f"{a.path}: {len(a.values)}" for a in axes)
        raise LecOptError(f"zip mode needs the same number of values on every axis ({sizes})")
    base = _resolved(scenario)
    slots = [_locate(base, axis) for axis in axes]  # unknown paths fail here, before any point
    origins = {tuple(k.split(".")): Path(v) for k, v in scenario._origins.items()}
    for axis in axes:
        origins[tuple(axis.path.split("."))] = Path(axis.source)
    combos = list(zip(*(a.values for a in axes)) if mode == "zip" else itertools.product(*(a.values for a in axes)))
    points = []
    for index, combo in enumerate(combos):
        raw = copy.deepcopy(base)
        for axis, (node, key), value in zip(axes, slots, combo, strict=True):
            target = _get(raw, axis.path.rpartition(".")[0]) if "." in axis.path else raw
            target[key] = _coerce(copy.deepcopy(value), node[key])
        label = ", ".join(f"{a.path}={format_value(v)}" for a, v in zip(axes, combo, strict=True))
        try:
            valid = parse_scenario(raw, scenario.source, origins)
        except InputError as err:
            raise InputError(
                err.file, f"{err.reason} (sweep point {index + 1} of {len(combos)}: {label})", field=err.field
            ) from None
        resolved = _resolved(valid)
        points.append(
            Point(
                index,
                {a.path: _get(resolved, a.path) for a in axes},
                resolved,
                point_hash(resolved, method, priority, power_flow),
            )
        )
    return points
