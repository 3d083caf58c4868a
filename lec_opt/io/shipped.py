"""Where the files lec-opt ships live: the scenarios of ``models/`` and the profiles of ``data/``.

A wheel or an sdist carries both top-level folders as package data in ``lec_opt/_shipped/``
(``pyproject.toml`` maps them there), so an installed lec-opt runs from any folder. An editable
install or a source checkout reads them where they are. Either way a scenario reaches its data
by the same relative path (``../data/paper_day``).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def shipped_root() -> Path:
    """The folder that holds ``models/`` and ``data/``: the installed package data, or the checkout."""
    installed = Path(str(files("lec_opt"))) / "_shipped"
    if (installed / "models").is_dir():
        return installed
    return Path(__file__).resolve().parents[2]


MODELS_DIR = shipped_root() / "models"
DATA_DIR = shipped_root() / "data"
DEFAULT_SCENARIO = MODELS_DIR / "paper_5min.toml"
DEFAULT_DATA = DATA_DIR / "paper_day"


def shipped_scenario(name: str | Path) -> Path | None:
    """The shipped scenario a bare name means (``paper_30min.toml`` or ``paper_30min``), or None
    when ``name`` has a folder part or no shipped scenario has that name."""
    name = Path(name)
    if name.parent != Path(".") or not name.name:
        return None
    path = MODELS_DIR / (name.name if name.suffix else f"{name.name}.toml")
    return path if path.is_file() else None


def shipped_scenario_names() -> list[str]:
    """The file names of the shipped scenarios, sorted."""
    return sorted(p.name for p in MODELS_DIR.glob("*.toml"))
