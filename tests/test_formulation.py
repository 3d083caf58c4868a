"""models/FORMULATION.md names every Pyomo component of the interval model, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

import pyomo.environ as pyo
import pytest

from lec_opt import build_day, load_scenario
from lec_opt.market.ces import ces_params
from lec_opt.model.build import build_interval_model
from lec_opt.model.lexicographic import solve_milp

FORMULATION = Path(__file__).resolve().parent.parent / "models" / "FORMULATION.md"
KINDS = (pyo.Set, pyo.SetOf, pyo.Var, pyo.Expression, pyo.Constraint, pyo.Objective)


def _documented() -> dict[str, str]:
    """component name -> kind, from the tables of section 4."""
    section = FORMULATION.read_text(encoding="utf-8").split("## 4.")[1].split("## 5.")[0]
    rows = re.findall(r"^\| `(\w+)` \| (\w+) \|", section, flags=re.M)
    return dict(rows)


def _model():
    scenario = load_scenario()
    day = build_day(scenario)
    snap = day.snapshot(72)
    return build_interval_model(snap, scenario, ces_params(scenario, snap, scenario.ces.soc_initial))[0], scenario, snap


def _kind(component) -> str:
    for kind, name in (
        (pyo.Set, "set"),
        (pyo.SetOf, "set"),  # a set wrapping a list as it is (the candidate pairs P)
        (pyo.Var, "variable"),
        (pyo.Expression, "expression"),
        (pyo.Constraint, "constraint"),
        (pyo.Objective, "objective"),
    ):
        if isinstance(component, kind):
            return name
    raise AssertionError(component)


def test_every_model_component_is_documented_with_its_kind():
    m, _, _ = _model()
    documented = _documented()
    in_model = {c.local_name: _kind(c) for c in m.component_objects(KINDS, descend_into=True)}
    # Pyomo's implicit helper sets (e.g. P_domain) are not model components of ours
    in_model = {n: k for n, k in in_model.items() if not n.endswith(("_domain", "_index"))}
    missing = sorted(set(in_model) - set(documented))
    assert not missing, f"components not in FORMULATION.md: {missing}"
    for name, kind in in_model.items():
        assert documented[name] == kind, name


def test_every_documented_component_exists():
    m, scenario, snap = _model()
    documented = set(_documented())
    level_constraints = {n for n in documented if n.startswith("level_")}
    model_names = {c.local_name for c in m.component_objects(KINDS)}
    assert documented - level_constraints <= model_names, sorted(documented - level_constraints - model_names)
    # the solve loop adds only the documented level constraints
    added: set[str] = set()
    original = pyo.ConcreteModel.add_component

    def spy(self, name, val):
        added.add(name)
        return original(self, name, val)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pyo.ConcreteModel, "add_component", spy)
        solve_milp(snap, scenario, scenario.ces.soc_initial)
    assert {n for n in added if n.startswith("level_")} == level_constraints


def _documented_foresight() -> dict[str, str]:
    section = FORMULATION.read_text(encoding="utf-8").split("## 10.")[1]
    return dict(re.findall(r"^\| `(\w+)` \| (\w+) \|", section, flags=re.M))


def test_foresight_model_components_are_exactly_those_of_section_10():
    import numpy as np

    from lec_opt.model.foresight import ForesightInputs, build_foresight_model

    z = np.zeros(3)
    inp = ForesightInputs(z, z, z, z + 0.2, z + 0.09, 10.0, 0.5, 0.2, 0.9, 0.2, 1.0, 1.0, 0.95, 0.95, 0.3, 0.005)
    m = build_foresight_model(inp)
    in_model = {c.local_name: _kind(c) for c in m.component_objects(KINDS, descend_into=True)}
    in_model = {n: k for n, k in in_model.items() if not n.endswith(("_domain", "_index"))}
    assert in_model == _documented_foresight()


def test_the_network_level_lp_is_named_in_section_13():
    from lec_opt.model import network_level

    section = FORMULATION.read_text(encoding="utf-8").split("## 13.")[1]
    names = (*network_level.COLUMNS, *network_level.ROWS, *network_level.OBJECTIVES.values())
    missing = [name for name in names if not re.search(rf"\b{name}\b", section)]
    assert not missing, f"models/FORMULATION.md §13 does not name {missing}"
