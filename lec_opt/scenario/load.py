"""Reading scenario files: TOML, ``base`` chains merged key by key, errors located by file and field.

A scenario may name a ``base`` scenario and override some of its keys (deep merge), so that
``paper_15min.toml`` is the default with one line changed. ``base`` is a path relative to the file
that names it, or the bare name of a shipped scenario (``base = "paper_15min.toml"``) when no such
file is beside it. Other paths inside a scenario are relative to the file that names them. Every
error names the file that set the field, and the dotted field. A child states only what it
changes: ``name`` and ``description`` are not inherited, and a file without a ``name`` is named
after itself (its stem). A UTF-8 byte-order mark is accepted.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from lec_opt.errors import InputError
from lec_opt.io.shipped import DEFAULT_SCENARIO, shipped_scenario, shipped_scenario_names
from lec_opt.scenario.schema import Scenario, check_peers

_RELATIVE_PATHS = (("data", "dir"), ("tariffs", "file"), ("network", "file"))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise InputError(path, "scenario file not found") from None
    except IsADirectoryError:
        raise InputError(path, "is a folder, not a scenario file") from None
    except UnicodeDecodeError as err:
        raise InputError(path, f"not UTF-8 text (byte {err.start}); TOML files are UTF-8") from None
    except OSError as err:
        raise InputError(path, f"cannot be read ({err.strerror})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputError(path, f"not valid TOML: {err}") from None
    for section, key in _RELATIVE_PATHS:
        value = raw.get(section, {}).get(key) if isinstance(raw.get(section), dict) else None
        if isinstance(value, str):
            raw[section][key] = str((path.parent / value).resolve())
    return raw


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _leaves(raw: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for key, value in raw.items():
        out += _leaves(value, (*prefix, key)) if isinstance(value, dict) and value else [(*prefix, key)]
    return out


def _raw_with_bases(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict[str, Any], dict[tuple[str, ...], Path]]:
    """The merged scenario dictionary and, for every key, the file that set it."""
    shown = path
    path = path.resolve()
    if path in seen:
        raise InputError(shown, "scenario 'base' chain loops back to this file", field="base")
    raw = _read_toml(path)
    origins = {leaf: shown for leaf in _leaves(raw)}
    base = raw.get("base")
    if base is None:
        return raw, origins
    if not isinstance(base, str):
        raise InputError(shown, "must be a path to another scenario file", field="base")
    base_raw, base_origins = _raw_with_bases(_base_path(shown, base), (*seen, path))
    for own in ("name", "description"):  # each file's own: not inherited, and never blamed on the base
        base_raw.pop(own, None)
        base_origins = {k: v for k, v in base_origins.items() if k[0] != own}
    return _merge(base_raw, raw), {**base_origins, **origins}


def _base_path(shown: Path, base: str) -> Path:
    """The file a ``base`` names: a path relative to the scenario that names it, or else, for a bare
    name, the shipped scenario of that name (``base = "paper_15min.toml"`` or ``"paper_15min"``)."""
    beside = shown.parent / base
    if beside.exists():
        return beside
    shipped = shipped_scenario(base)
    if shipped is not None:
        return shipped
    hint = ""
    if Path(base).parent == Path("."):
        hint = f", and no shipped scenario of that name (shipped: {', '.join(shipped_scenario_names())})"
    raise InputError(shown, f"base {base!r}: no scenario file {beside}{hint}", field="base")


def _describe(error: dict[str, Any], model: type[BaseModel]) -> tuple[str, str]:
    loc = [str(part) for part in error["loc"]]
    field = ".".join(loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        known = _known_keys(model, loc[:-1])
        close = difflib.get_close_matches(loc[-1], known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(sorted(known))}"
        return field, f"unknown key{hint}"
    if error["type"] == "missing":
        return field, "required but missing"
    message = error["msg"].removeprefix("Value error, ")
    if "input" in error and not isinstance(error["input"], dict):
        message += f" (got {error['input']!r})"
    return field, message


def _known_keys(model: type[BaseModel], loc: list[str]) -> list[str]:
    for part in loc:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _origin(origins: dict[tuple[str, ...], Path], field: str, default: str | Path) -> str:
    """The file that set ``field`` (or the nearest enclosing key that a file set)."""
    parts = tuple(field.split("."))
    for n in range(len(parts), 0, -1):
        if parts[:n] in origins:
            return str(origins[parts[:n]])
    return str(default)


def parse_scenario(
    raw: dict[str, Any], source: str | Path, origins: dict[tuple[str, ...], Path] | None = None
) -> Scenario:
    """Validate a scenario dictionary; errors name the file that set the field, and the field."""
    origins = origins or {}
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as err:
        details = [_describe(e, Scenario) for e in err.errors()]
        files = list(dict.fromkeys(str(f) for f in origins.values()))
        if len(files) > 1:  # a missing key is missing from the whole chain, not from one file
            details = [
                (f, m + f" (set in none of {', '.join(files)})" if m == "required but missing" else m)
                for f, m in details
            ]
        field, message = details[0]
        extra = (
            f" (and {len(details) - 1} more problem(s): " + "; ".join(f"{f}: {m}" for f, m in details[1:]) + ")"
            if len(details) > 1
            else ""
        )
        raise InputError(_origin(origins, field, source), message + extra, field=field) from None
    scenario._source = str(source)
    scenario._origins = {".".join(k): str(v) for k, v in origins.items()}
    if scenario.community.n_peers is not None:
        check_peers(scenario, scenario.community.n_peers)
    return scenario


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Read, merge with its bases, and validate one scenario file (default: ``paper_5min.toml``).

    ``path`` is a file, or the bare name of a shipped scenario (``"paper_30min.toml"``) when no such
    file is in the current folder.

    >>> scenario = load_scenario()                       # the shipped default
    >>> scenario.ces.capacity_kwh, scenario.interval_minutes
    """
    path = Path(path) if path is not None else DEFAULT_SCENARIO
    if not path.exists():
        path = shipped_scenario(path) or path
    raw, origins = _raw_with_bases(path)
    if "name" not in raw:
        raw["name"] = path.stem
        origins[("name",)] = path
    return parse_scenario(raw, path, origins)
