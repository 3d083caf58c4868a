"""Pyomo's standard-form compile of an interval model, as ``LevelSolver`` hands it to HiGHS.

Every objective and constraint, an inactive constraint and a fixed variable included (HiGHS later
switches rows and columns by their bounds), each column's bounds and integrality read per domain,
and the banner of the process's first HiGHS object swallowed (models/FORMULATION.md §4,
"Hand-over to HiGHS").
"""

from __future__ import annotations

import functools
import operator

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.common.tee import capture_output
from pyomo.core.base.var import VarData
from pyomo.core.expr import LinearExpression, MonomialTermExpression
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

_ARGS = operator.attrgetter("args")
_FIXED = operator.attrgetter("fixed")


@functools.cache
def swallow_banner() -> None:
    """The first HiGHS object of a process prints a banner: made once, with the output captured."""
    with capture_output(capture_fd=True):
        highspy.Highs()


def flat_linear(expr) -> tuple[tuple, tuple] | None:
    """(coefficients, variables) of a flat ``LinearExpression`` Σ a_k v_k (each term a variable, or
    a monomial with a plain-number coefficient; no constant), else None.

    Such an expression is its own standard form: reading its terms gives the row Pyomo's compiler
    would (duplicate variables add up), without the compiler's walk over every term."""
    if type(expr) is not LinearExpression or not expr.nargs():
        return None
    terms = expr.args
    kinds = set(map(type, terms))
    if kinds == {MonomialTermExpression}:
        coefficients, variables = zip(*map(_ARGS, terms), strict=True)
        if not set(map(type, coefficients)) <= {float, int} or set(map(type, variables)) != {VarData}:
            return None
        return coefficients, variables
    if kinds == {VarData}:
        return (1.0,) * len(terms), tuple(terms)
    return None


def flat_equalities(component: pyo.Constraint) -> tuple[list, list, list] | None:
    """The rows of a constraint component whose every row is a flat equality Σ a_k v_k = b (a plain
    number): (coefficients per row, variables per row, b per row), else None."""
    coefficients, variables, rhs = [], [], []
    for con in component.values():
        lower, body, upper = con.to_bounded_expression()
        if type(upper) not in (float, int) or lower != upper:
            return None
        terms = flat_linear(body)
        if terms is None:
            return None
        coefficients.append(terms[0])
        variables.append(terms[1])
        rhs.append(float(upper))
    return coefficients, variables, rhs


def standard_form(m: pyo.ConcreteModel, skip: list, objectives: list | None = None) -> tuple:
    """Pyomo's standard-form compile of ``objectives`` (default: every objective) and of every
    constraint of ``m`` but the skipped, an inactive one and a fixed variable included; ``m``'s
    active and fixed states restored.

    Returns the compiled form, the inactive constraints compiled, and the fixed variables with
    their values."""
    skipped = {id(c) for c in skip}
    was_active = {id(c) for c in skip if c.active}
    inactive = [c for c in m.component_objects(pyo.Constraint) if not c.active and id(c) not in skipped]
    fixed = [(v, v.value) for var in m.component_objects(pyo.Var) for v in filter(_FIXED, var.values())]
    every_objective = list(m.component_objects(pyo.Objective))
    compiled = {id(o) for o in (every_objective if objectives is None else objectives)}
    active_objectives = {id(o) for o in every_objective if o.active}
    for c in skip:
        c.deactivate()
    for c in inactive:
        c.activate()
    for v, _ in fixed:
        v.unfix()
    for o in every_objective:
        o.activate() if id(o) in compiled else o.deactivate()
    try:
        return LinearStandardFormCompiler().write(m, mixed_form=True, set_sense=None), inactive, fixed
    finally:
        for c in inactive:
            c.deactivate()
        for c in skip:
            if id(c) in was_active:
                c.activate()
        for v, value in fixed:
            v.fix(value)
        for o in every_objective:
            o.activate() if id(o) in active_objectives else o.deactivate()


_PLAIN = {float, int, type(None)}
_LB, _UB, _DOMAIN = (operator.attrgetter(name) for name in ("_lb", "_ub", "domain"))


def bounds_and_integrality(columns: list) -> tuple[np.ndarray, np.ndarray]:
    """Each column's (lower, upper) bounds (nan: none) and whether it is integer.

    ``VarData.bounds`` resolves the domain's interval for every variable; here each domain is
    resolved once and the variables' own bounds read as stored when they are plain numbers (else,
    e.g. a mutable parameter, through ``bounds``).
    """
    lower, upper = list(map(_LB, columns)), list(map(_UB, columns))
    if not set(map(type, lower)) | set(map(type, upper)) <= _PLAIN:
        for k, (lb, ub) in enumerate(zip(lower, upper, strict=True)):
            if type(lb) not in _PLAIN or type(ub) not in _PLAIN:
                lower[k], upper[k] = columns[k].bounds
    bounds = np.array([lower, upper], dtype=float).T  # None -> nan
    integer = np.zeros(len(columns), dtype=bool)
    keys = np.fromiter(map(id, map(_DOMAIN, columns)), dtype=np.int64, count=len(columns))
    for key in np.unique(keys):
        rows = keys == key
        dlb, dub, step = columns[int(np.argmax(rows))].domain.get_interval()
        if dlb is not None:
            bounds[rows, 0] = np.fmax(bounds[rows, 0], dlb)
        if dub is not None:
            bounds[rows, 1] = np.fmin(bounds[rows, 1], dub)
        integer[rows] = step == 1
    return bounds, integer
