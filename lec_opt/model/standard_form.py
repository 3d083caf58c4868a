"""The standard-form compile of an interval model, as ``LevelSolver`` hands it to HiGHS.

Every objective and constraint, an inactive constraint and a fixed variable included (HiGHS later
switches rows and columns by their bounds): Pyomo's compiler walks what is not already in standard
form, flat objectives and flat rows are read from their terms, a kept level's row is its
objective's cost row (``compile_model``); each column's bounds and integrality read per domain
(models/FORMULATION.md §4, "Hand-over to HiGHS"; HiGHS itself is reached through
``lec_opt.solver`` only).
"""

from __future__ import annotations

import itertools
import operator
from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo
import scipy.sparse
from pyomo.core.base.var import ScalarVar, VarData
from pyomo.core.expr import LinearExpression, MonomialTermExpression
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

_ARGS = operator.attrgetter("args")
_VARIABLES = {VarData, ScalarVar}  # a variable of an indexed component, a scalar variable
_FIXED = operator.attrgetter("fixed")


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
        if not set(map(type, coefficients)) <= {float, int} or not set(map(type, variables)) <= _VARIABLES:
            return None
        return coefficients, variables
    if kinds <= _VARIABLES:
        return (1.0,) * len(terms), tuple(terms)
    return None


def flat_rows(component: pyo.Constraint) -> tuple[list, list, list, int] | None:
    """The rows of a constraint component whose every row is flat, Σ a_k v_k = b, <= b or >= b (b a
    plain number), all of one kind: (coefficients per row, variables per row, b per row, the
    compiler's bound type: 0 equality, 1 upper, -1 lower), else None."""
    coefficients, variables, rhs, kinds = [], [], [], set()
    for con in component.values():
        lower, body, upper = con.to_bounded_expression()
        if lower is not None and upper is not None and lower != upper:
            return None  # a range
        bound = upper if upper is not None else lower
        if type(bound) not in (float, int):
            return None
        terms = flat_linear(body)
        if terms is None:
            return None
        kinds.add(0 if lower is not None and upper is not None else (1 if upper is not None else -1))
        coefficients.append(terms[0])
        variables.append(terms[1])
        rhs.append(float(bound))
    if len(kinds) != 1:
        return None
    return coefficients, variables, rhs, kinds.pop()


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


@dataclass
class Compiled:
    """An interval model in standard form: rows in the compiler's order (component by component),
    then one row per kept level; a cost row per objective."""

    columns: list  # the variable of each column
    column: dict[int, int]  # id(variable) -> column
    a: scipy.sparse.csr_matrix
    entries: list[tuple]  # per row: (constraint, bound type: 0 equality, 1 upper, -1 lower)
    rhs: np.ndarray  # per row: the bound less the body's constant
    cost: dict[str, np.ndarray]  # objective name -> cost row
    cost_offset: dict[str, float]  # objective name -> constant
    inactive: list  # constraint components compiled while off (their rows get no bounds in HiGHS)
    fixed: list[tuple]  # (variable, value) of the fixed variables, compiled as columns


def compile_model(m: pyo.ConcreteModel) -> Compiled:
    """Every objective and constraint of ``m`` in standard form; ``m``'s states restored.

    Pyomo's compiler walks the rest after setting aside: each scalar one-sided constraint whose
    body is an objective's expression (a kept level, ``level_*``: its row is that objective's cost
    row), each flat objective and each component of flat rows (read from their terms,
    the rows in their component's place). The compiler places every column; a variable that only a
    term-read part has sends the whole model back through it. Tests compare the result with
    Pyomo's own compile of everything.
    """
    objectives = list(m.component_objects(pyo.Objective))
    constraints = list(m.component_objects(pyo.Constraint))
    objective_of = {id(o.expr): o for o in objectives}
    mirrors = [
        (c, objective_of[id(c.body)])
        for c in constraints
        if not c.is_indexed() and len(c) and id(c.body) in objective_of and (c.lower is None) != (c.upper is None)
    ]
    mirrored = {id(c) for c, _ in mirrors}
    flat = {o.name: flat_linear(o.expr) for o in objectives}
    flat_components = {c.name: flat_rows(c) for c in constraints if id(c) not in mirrored}
    flat_components = {name: rows for name, rows in flat_components.items() if rows is not None}
    read = [c for c in constraints if c.name in flat_components]
    walked = [o for o in objectives if flat[o.name] is None]
    info, inactive, fixed = standard_form(m, skip=[c for c, _ in mirrors] + read, objectives=walked)
    column = {id(v): k for k, v in enumerate(info.columns)}
    try:
        flat_cols = _flat_columns(column, flat)
        read_rows = {name: _flat_rows(column, *rows) for name, rows in flat_components.items()}
    except KeyError:  # a variable only a term-read part has
        flat, flat_cols, read, read_rows = dict.fromkeys(flat), {}, [], {}
        info, inactive, fixed = standard_form(m, skip=[c for c, _ in mirrors])
        column = {id(v): k for k, v in enumerate(info.columns)}
    n = len(info.columns)
    dense = info.c.toarray()
    cost = {o.name: (dense[k].copy(), float(info.c_offset[k])) for k, o in enumerate(info.objectives)}
    for name, terms in flat.items():
        if terms is not None:
            row = np.zeros(n)
            np.add.at(row, flat_cols[name], terms[0])
            cost[name] = (row, 0.0)
    a, entries, rhs = _in_component_order(info, constraints, read_rows)
    compiled = Compiled(
        columns=info.columns,
        column=column,
        a=a,
        entries=entries,
        rhs=rhs,
        cost={o.name: cost[o.name][0] for o in objectives},
        cost_offset={o.name: cost[o.name][1] for o in objectives},
        inactive=inactive + [c for c in read if not c.active],
        fixed=fixed,
    )
    _mirror_rows(compiled, mirrors)
    return compiled


def _flat_columns(column: dict, flat: dict) -> dict[str, np.ndarray]:
    """The columns of each flat objective's variables (objectives over the same variables, in the
    same order, share one lookup); KeyError for a variable in no compiled row or objective."""
    cols: dict[str, np.ndarray] = {}
    last: tuple = ((), np.zeros(0, dtype=np.int64))
    for name, terms in flat.items():
        if terms is None:
            continue
        same = len(terms[1]) == len(last[0]) and all(map(operator.is_, terms[1], last[0]))
        if not same:
            last = (terms[1], np.fromiter(map(column.__getitem__, map(id, terms[1])), dtype=np.int64))
        cols[name] = last[1]
    return cols


def _flat_rows(column: dict, coefficients: list, variables: list, rhs: list, kind: int) -> tuple:
    """Flat rows as a CSR block over the compiled columns, with their right-hand sides and bound
    type; KeyError for a variable in no compiled row or objective."""
    lengths = np.fromiter(map(len, variables), dtype=np.int64, count=len(variables))
    cols = np.fromiter(map(column.__getitem__, map(id, itertools.chain.from_iterable(variables))), np.int64)
    values = np.fromiter(itertools.chain.from_iterable(coefficients), dtype=float, count=cols.size)
    start = np.concatenate([[0], np.cumsum(lengths)])
    block = scipy.sparse.csr_matrix((values, cols, start), shape=(len(rhs), len(column)))
    block.sum_duplicates()  # a variable twice in a row: one entry, the coefficients added
    return block, rhs, kind


def _in_component_order(info, constraints: list, read_rows: dict) -> tuple:
    """The compiled rows and the term-read ones, each component's rows where the compiler would
    have put them (component order): the matrix, (constraint, bound type) per row, rhs."""
    compiled = info.A.tocsr()
    span: dict[int, list[int]] = {}  # component -> [first row, end]
    for k, row in enumerate(info.rows):
        key = id(row.constraint.parent_component())
        if key in span:
            span[key][1] = k + 1
        else:
            span[key] = [k, k + 1]
    blocks, entries, rhs = [], [], []
    for c in constraints:
        if c.name in read_rows:
            block, values, kind = read_rows[c.name]
            blocks.append(block)
            entries += [(con, kind) for con in c.values()]
            rhs += values
        elif id(c) in span:
            first, end = span[id(c)]
            blocks.append(compiled[first:end])
            entries += [(row.constraint, row.bound_type) for row in info.rows[first:end]]
            rhs += list(info.rhs[first:end])
    if not blocks:
        return compiled, entries, np.zeros(0)
    return scipy.sparse.vstack(blocks, format="csr"), entries, np.asarray(rhs, dtype=float)


def _mirror_rows(compiled: Compiled, mirrors: list) -> None:
    """One row per kept-level constraint after the rest: its objective's cost row, its bound less
    the objective's constant."""
    if not mirrors:
        return
    extra, rhs = [], []
    for con, obj in mirrors:
        lower = con.lower is not None
        compiled.entries.append((con, -1 if lower else 1))
        rhs.append(pyo.value(con.lower if lower else con.upper) - compiled.cost_offset[obj.name])
        extra.append(compiled.cost[obj.name])
    compiled.a = scipy.sparse.vstack([compiled.a, scipy.sparse.csr_matrix(np.vstack(extra))], format="csr")
    compiled.rhs = np.concatenate([compiled.rhs, rhs])


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
