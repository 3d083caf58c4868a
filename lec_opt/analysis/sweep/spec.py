"""What a sweep varies: axes (a scenario field by dotted path and its values) and sweep files.

Values come from a list (``0.01,0.05``), a linspace (``start:stop:num``) or a logspace
(``start:stop:num:log``), given to ``--param PATH=VALUES``, in a sweep TOML file's ``[params]``
table, or as a mapping to ``run_sweep``. Relative ``data.dir``/``tariffs.file`` values are
resolved here, against the sweep file's folder (or the working folder).
"""

from __future__ import annotations

import difflib
import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lec_opt.errors import InputError

# Scenario paths that are file names: resolved against the sweep file's folder (or the cwd).
_PATH_FIELDS = ("data.dir", "tariffs.file", "network.file")
_RANGE = re.compile(r"^\s*([^:,]+):([^:,]+):([^:,]+)(?::(lin|log))?\s*$")
SPEC_KEYS = ("scenario", "method", "priority", "mode", "params")


@dataclass(frozen=True)
class Axis:
    """One swept field: its dotted path, its values, and how they were spaced."""

    path: str
    values: tuple[Any, ...]
    scale: str = "list"  # list, lin or log (recorded in sweep.json)
    source: str = "--param"  # where it was given, for error messages


def format_value(value: Any) -> str:
    """A swept value as labels and the ``series`` column show it: floats to 6 significant digits."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def _number(token: str) -> int | float | None:
    token = token.strip()
    try:
        return int(token)
    except ValueError:
        pass
    try:
        value = float(token)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _scalar(token: str) -> Any:
    """A value typed on the command line: a number, true/false, or text."""
    token = token.strip()
    number = _number(token)
    if number is not None:
        return number
    if token.lower() in ("true", "false"):
        return token.lower() == "true"
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return token[1:-1]
    return token


def _clean(value: float) -> float:
    """Linspace arithmetic leaves 0.6000000000000001; keep 12 significant digits."""
    return float(f"{value:.12g}")


def spaced(
    start: float,
    stop: float,
    num: int,
    scale: str = "lin",
    *,
    integers: bool = False,
    where: str = "--param",
    path: str | None = None,
) -> tuple[tuple[Any, ...], str]:
    """``num`` values from ``start`` to ``stop`` (both included), evenly (lin) or geometrically (log)."""
    if isinstance(num, bool) or not isinstance(num, int) or num < 0:
        raise InputError(where, f"the number of values must be a whole number >= 0, not {num!r}", field=path)
    if scale not in ("lin", "log"):
        raise InputError(where, f"scale must be 'lin' or 'log', not {scale!r}", field=path)
    if scale == "log":
        if start <= 0 or stop <= 0:
            raise InputError(where, f"a log range needs start and stop > 0 (got {start}, {stop})", field=path)
        raw = np.geomspace(start, stop, num) if num else np.zeros(0)
    else:
        raw = np.linspace(start, stop, num)
    values = [_clean(float(v)) for v in raw]
    if integers and all(float(v).is_integer() for v in values):
        return tuple(int(v) for v in values), scale
    return tuple(values), scale


def parse_values(text: str, *, where: str = "--param", path: str | None = None) -> tuple[tuple[Any, ...], str]:
    """``0.2:1.0:5`` (linspace), ``1e-3:1e-1:3:log`` (logspace) or ``a,b,c`` (a list)."""
    match = _RANGE.match(text)
    if match:
        start, stop, num = (_number(g) for g in match.groups()[:3])
        if start is not None and stop is not None and isinstance(num, int):
            integers = isinstance(start, int) and isinstance(stop, int)
            return spaced(
                float(start), float(stop), num, match.group(4) or "lin", integers=integers, where=where, path=path
            )
        raise InputError(where, f"{text!r} is not start:stop:num (numbers; num a whole number)", field=path)
    if not text.strip():
        return (), "list"
    tokens = text.split(",")
    if any(not t.strip() for t in tokens):
        raise InputError(where, f"empty value in the list {text!r}", field=path)
    return tuple(_scalar(t) for t in tokens), "list"


def _paths_resolved(path: str, values: tuple[Any, ...], base_dir: Path | None) -> tuple[Any, ...]:
    """Relative ``data.dir``/``tariffs.file`` values, relative to ``base_dir`` (default: the cwd)."""
    if path not in _PATH_FIELDS:
        return values
    base = base_dir if base_dir is not None else Path.cwd()
    return tuple(str((base / v).resolve()) if isinstance(v, str) else v for v in values)


def parse_param(text: str, base_dir: Path | None = None) -> Axis:
    """``PATH=VALUES`` as given to ``--param``."""
    where = f"--param {text}"
    path, sep, values = text.partition("=")
    path = path.strip()
    if not sep or not path:
        raise InputError(where, "expected PATH=VALUES, e.g. ces.k=0.2:1.0:5 or ces.S=0.01,0.05")
    parsed, scale = parse_values(values, where=where, path=path)
    return Axis(path, _paths_resolved(path, parsed, base_dir), scale, where)


def _axis_from_toml(path: str, value: Any, where: str, base_dir: Path | None = None) -> Axis:
    if isinstance(value, str):
        values, scale = parse_values(value, where=where, path=path)
    elif isinstance(value, list):
        values, scale = tuple(value), "list"
    elif isinstance(value, dict):
        unknown = sorted(set(value) - {"start", "stop", "num", "scale"})
        missing = [k for k in ("start", "stop", "num") if k not in value]
        if unknown or missing:
            problem = f"unknown key(s) {unknown}" if unknown else f"missing {missing}"
            raise InputError(where, f"a range is {{start, stop, num, scale}}: {problem}", field=f"params.{path}")
        start, stop = value["start"], value["stop"]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (start, stop)):
            raise InputError(where, "start and stop must be numbers", field=f"params.{path}")
        values, scale = spaced(
            float(start),
            float(stop),
            value["num"],
            value.get("scale", "lin"),
            integers=isinstance(start, int) and isinstance(stop, int),
            where=where,
            path=f"params.{path}",
        )
    else:
        values, scale = (value,), "list"
    return Axis(path, _paths_resolved(path, values, base_dir), scale, where)


def _is_range(value: Any) -> bool:
    return isinstance(value, dict) and "start" in value and set(value) <= {"start", "stop", "num", "scale"}


def _flatten_params(table: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and not _is_range(value):
            out += _flatten_params(value, f"{path}.")
        else:
            out.append((path, value))
    return out


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep file or the command line asks for (None: not given, use the default)."""

    axes: tuple[Axis, ...] = ()
    mode: str | None = None
    method: str | None = None
    priority: str | None = None
    scenario: Path | None = None  # base scenario file


def load_spec(path: str | Path) -> SweepSpec:
    """A sweep TOML file::

        scenario = "paper_15min.toml"      # optional, relative to this file
        method = "greedy"                  # optional
        priority = "best"                  # optional
        mode = "product"                   # or "zip"
        [params]
        "ces.k" = "0.2:1.0:5"              # linspace; "1e-3:1e-1:3:log" is a logspace
        "ces.S" = [0.01, 0.05]             # a list
        ces.degradation = {start = 0.001, stop = 0.1, num = 3, scale = "log"}

    The axes come in the order of the keys (TOML puts bare dotted keys of one section together;
    the first axis varies slowest). Relative ``data.dir``/``tariffs.file`` values are relative
    to this file.
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "sweep file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(path, f"cannot be read ({err})") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError(path, f"not valid TOML: {err}") from None
    for key in raw:
        if key not in SPEC_KEYS:
            close = difflib.get_close_matches(key, SPEC_KEYS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(SPEC_KEYS)}"
            raise InputError(path, f"unknown key{hint}", field=key)
    for key in ("scenario", "method", "priority", "mode"):
        if key in raw and not isinstance(raw[key], str):
            raise InputError(path, "must be a string", field=key)
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise InputError(path, "must be a table of PATH = values", field="params")
    axes = tuple(_axis_from_toml(p, v, str(path), path.parent.resolve()) for p, v in _flatten_params(params))
    scenario = (path.parent / raw["scenario"]).resolve() if "scenario" in raw else None
    return SweepSpec(axes, raw.get("mode"), raw.get("method"), raw.get("priority"), scenario)


def as_axes(params: Any, base_dir: Path | None = None, where: str = "params") -> tuple[Axis, ...]:
    """Axes from ``{"ces.k": [0.2, 0.4], "ces.S": "0.01:0.05:3"}``, ``["ces.k=0.2,0.4"]`` or Axis objects."""
    if isinstance(params, Mapping):
        return tuple(
            _axis_from_toml(str(p), list(v) if isinstance(v, tuple | np.ndarray) else v, where, base_dir)
            for p, v in params.items()
        )
    if isinstance(params, str):
        params = [params]
    return tuple(p if isinstance(p, Axis) else parse_param(str(p), base_dir) for p in params)
