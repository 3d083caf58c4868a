"""The interval model: one Pyomo ConcreteModel per trading interval (models/FORMULATION.md §4).

Built in parts, each family of components by its own ``add_*`` function whose docstring carries
the equation; ``models/FORMULATION.md`` names every component (a test walks the model). Each
lexicographic level and priority is an objective on the same model, all deactivated; the solve
loop (``lec_opt.model.lexicographic``) activates one at a time. Nothing Pyomo leaves this module and
``lec_opt.model.lexicographic``: results are plain data (``lec_opt.market.result``).
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
from pyomo.core.expr import LinearExpression, MonomialTermExpression

from lec_opt.market.ces import CesParams
from lec_opt.market.pairs import BELOW, PairData, candidate_pairs
from lec_opt.market.snapshot import IntervalSnapshot
from lec_opt.scenario.schema import Scenario


def _sum(variables: list) -> LinearExpression:
    """Σ v as one linear expression, built at once (Pyomo's ``sum`` adds term by term)."""
    return LinearExpression(variables)


def _difference(x, a: float, y) -> LinearExpression:
    """x - a y as one flat linear expression."""
    return LinearExpression([MonomialTermExpression((1.0, x)), MonomialTermExpression((-a, y))])


def add_sets(m: pyo.ConcreteModel, snap: IntervalSnapshot, pairs: PairData) -> None:
    """I: sellers, J: buyers (positions in the snapshot), P ⊆ I × J: candidate pairs."""
    m.I = pyo.Set(initialize=range(len(snap.sellers)), doc="sellers (surplus s_i > 0)")
    m.J = pyo.Set(initialize=range(len(snap.buyers)), doc="buyers (deficit r_j > 0)")
    # a SetOf wraps the list as it is (a Set would check and copy every pair); pairs are unique
    m.P = pyo.SetOf(list(zip(pairs.seller.tolist(), pairs.buyer.tolist(), strict=True)))
    m.P.doc = "candidate pairs"


def add_variables(m: pyo.ConcreteModel, snap: IntervalSnapshot, pairs: PairData, ces: CesParams) -> None:
    """x, c, e, d, g, Eg, Ev, Evg, zc, zd and the utility hypographs (kWh, CES mode binaries)."""
    # bounds as {index: (lower, upper)}: Pyomo reads a dict faster than it calls a rule per index
    surplus = {i: (0.0, s) for i, s in enumerate(snap.surplus_kwh.tolist())}
    deficit = {j: (0.0, r) for j, r in enumerate(snap.deficit_kwh.tolist())}
    m.p2p = pyo.Var(m.P, bounds=(0.0, None), doc="x[i,j]: P2P energy, kWh")
    for x, cap in zip(m.p2p.values(), pairs.cap.tolist(), strict=True):  # x[i,j] <= min(s_i, r_j)
        x.setub(cap)
    m.seller_to_ces = pyo.Var(m.I, bounds=surplus, doc="c[i]: seller i to CES")
    m.seller_export = pyo.Var(m.I, bounds=surplus, doc="e[i]: seller i to grid")
    m.ces_to_buyer = pyo.Var(m.J, bounds=deficit, doc="d[j]: CES to buyer j")
    m.grid_to_buyer = pyo.Var(m.J, bounds=deficit, doc="g[j]: grid to buyer j")
    m.grid_to_ces = pyo.Var(bounds=(0.0, ces.charge_max_kwh), doc="Eg: grid to CES")
    m.ces_to_ev = pyo.Var(bounds=(0.0, snap.ev_kwh), doc="Ev: CES to EV chargers")
    m.grid_to_ev = pyo.Var(bounds=(0.0, snap.ev_kwh), doc="Evg: grid to EV chargers")
    m.charging = pyo.Var(domain=pyo.Binary, doc="zc: CES in charging mode")
    m.discharging = pyo.Var(domain=pyo.Binary, doc="zd: CES in discharging mode")
    m.u01_quad = pyo.Var(doc="hypograph of k(E_ch C - S E_ch^2 / 2)")
    m.u02_quad = pyo.Var(doc="hypograph of k(E_dis SoC - S E_dis^2 / 2)")


def add_matching_binaries(m: pyo.ConcreteModel, snap: IntervalSnapshot) -> None:
    """y[i,j], Wp[i], Wc[j]; Wp = 0, Wc = 0 fixed for the peers that opted out."""
    m.transaction = pyo.Var(m.P, domain=pyo.Binary, doc="y[i,j]: pair (i,j) trades")
    m.willing_seller = pyo.Var(m.I, domain=pyo.Binary, doc="Wp[i]: seller i trades P2P")
    m.willing_buyer = pyo.Var(m.J, domain=pyo.Binary, doc="Wc[j]: buyer j trades P2P")
    for i in m.I:
        if not snap.willing_seller[i]:
            m.willing_seller[i].fix(0)
    for j in m.J:
        if not snap.willing_buyer[j]:
            m.willing_buyer[j].fix(0)


def add_willingness(m: pyo.ConcreteModel) -> None:
    """y[i,j] <= Wp[i] and y[i,j] <= Wc[j]: only willing peers trade."""
    m.transaction_needs_seller = pyo.Constraint(m.P, rule=lambda m, i, j: m.transaction[i, j] <= m.willing_seller[i])
    m.transaction_needs_buyer = pyo.Constraint(m.P, rule=lambda m, i, j: m.transaction[i, j] <= m.willing_buyer[j])


def add_trade_limits(m: pyo.ConcreteModel, pairs: PairData, min_trade: float) -> None:
    """x[i,j] <= min(s_i, r_j) y[i,j]; x[i,j] >= min_trade y[i,j] (deactivated until needed);
    price_pairs_only (priority C): Σ x + Σ y <= 0 over the pairs with bid_j < ask_i."""
    # each row one flat x - a y, in standard form as it stands (models/FORMULATION.md §4, "Hand-over to HiGHS")
    flows, links = list(m.p2p.values()), list(m.transaction.values())
    below_cap = dict(zip(m.P, map(_difference, flows, pairs.cap.tolist(), links), strict=True))
    m.trade_cap = pyo.Constraint(m.P, rule=lambda m, i, j: below_cap[i, j] <= 0.0)
    above_min = dict(zip(m.P, map(_difference, flows, [float(min_trade)] * len(flows), links), strict=True))
    m.min_trade = pyo.Constraint(m.P, rule=lambda m, i, j: above_min[i, j] >= 0.0)
    m.min_trade.deactivate()
    bad = [p for p, ok in zip(m.P, pairs.price_ok.tolist(), strict=True) if not ok]
    m.price_pairs_only = (
        pyo.Constraint(expr=sum(m.p2p[p] for p in bad) + sum(m.transaction[p] for p in bad) <= 0)
        if bad
        else pyo.Constraint(expr=pyo.Constraint.Skip)
    )
    m.price_pairs_only.deactivate()


def add_balances(m: pyo.ConcreteModel, snap: IntervalSnapshot) -> None:
    """Σ_j x + c_i + e_i = s_i;  Σ_i x + d_j + g_j = r_j;  Ev + Evg = EV demand."""
    sold = {i: [] for i in m.I}
    bought = {j: [] for j in m.J}
    for (i, j), x in zip(m.P, m.p2p.values(), strict=True):
        sold[i].append(x)
        bought[j].append(x)
    m.p2p_sold = pyo.Expression(m.I, rule=lambda m, i: _sum(sold[i]), doc="Σ_j x[i,j]: what seller i sells P2P")
    # each balance one flat sum, in standard form as it stands (models/FORMULATION.md §4, "Hand-over to HiGHS")
    m.seller_balance = pyo.Constraint(
        m.I,
        rule=lambda m, i: _sum([*sold[i], m.seller_to_ces[i], m.seller_export[i]]) == float(snap.surplus_kwh[i]),
    )
    m.buyer_balance = pyo.Constraint(
        m.J,
        rule=lambda m, j: _sum([*bought[j], m.ces_to_buyer[j], m.grid_to_buyer[j]]) == float(snap.deficit_kwh[j]),
    )
    m.ev_balance = pyo.Constraint(expr=m.ces_to_ev + m.grid_to_ev == float(snap.ev_kwh))


def trade_counts(energy: np.ndarray, owner: np.ndarray, cap: np.ndarray, min_trade: float) -> dict[int, int]:
    """{peer: ⌊energy / m⌋} for the peers whose trade-count row can cut a point of their own balance.

    ``owner``: the peer of each pair that can trade (cap >= m), ``cap`` its min(s_i, r_j). Each trade
    carries at least m, so a peer of energy E trades at most ⌊E / m⌋ times, and y >= x / cap gives
    Σ x / cap <= ⌊E / m⌋. The row is left out when the balance alone keeps it: Σ x <= E with x <= cap
    puts at most the count of the smallest caps that fit in E (and a fraction of the next) on its left.
    """
    counts = {}
    for peer in np.unique(owner).tolist():
        caps = np.sort(cap[owner == peer])
        full = int(np.searchsorted(np.cumsum(caps), energy[peer] + BELOW, side="right"))
        left = energy[peer] - caps[:full].sum()
        most = full + (min(left / caps[full], 1.0) if full < caps.size else 0.0)
        allowed = int(np.floor(energy[peer] / (min_trade - BELOW)))
        if most > allowed + 1e-9:
            counts[peer] = allowed
    return counts


def add_trade_counts(m: pyo.ConcreteModel, snap: IntervalSnapshot, pairs: PairData, min_trade: float) -> None:
    """With a minimum trade m: Σ_j x[i,j] / min(s_i, r_j) <= ⌊s_i / m⌋ (seller_trades) and
    Σ_i x[i,j] / min(s_i, r_j) <= ⌊r_j / m⌋ (buyer_trades), on the pairs that can trade (cap >= m),
    for the peers where the balance does not imply it (``trade_counts``). Valid for the MILP, and the
    relaxation's bound tightens where peers hold one to a few m (models/FORMULATION.md §4)."""
    ok = pairs.cap >= min_trade - BELOW
    terms = list(zip((1.0 / pairs.cap).tolist(), m.p2p.values(), ok.tolist(), strict=True))
    for name, energy, owner in (
        ("seller_trades", snap.surplus_kwh, pairs.seller),
        ("buyer_trades", snap.deficit_kwh, pairs.buyer),
    ):
        counts = trade_counts(energy, owner[ok], pairs.cap[ok], min_trade) if min_trade > BELOW else {}
        rows = {peer: [] for peer in counts}
        for (a, x, can), peer in zip(terms, owner.tolist(), strict=True):
            if can and peer in rows:
                rows[peer].append(MonomialTermExpression((a, x)))
        body = {peer: LinearExpression(t) for peer, t in rows.items()}
        setattr(m, name, pyo.Constraint(sorted(counts), rule=lambda m, p, b=body, c=counts: b[p] <= float(c[p])))


def add_ces(m: pyo.ConcreteModel, ces: CesParams) -> None:
    """Exclusive modes, power limits, grid recharge only at SoC <= threshold, SoC window.

    zc + zd <= 1;  Σc + Eg <= P_ch Δt zc;  Σd <= P_dis Δt zd;  Σd + Ev <= P_dis Δt;
    Eg = 0 unless SoC <= 0.30;  soc_min Cap <= SoC Cap + η_c (Σc + Eg) - (Σd + Ev) / η_d <= soc_max Cap.
    """
    m.ces_charge = pyo.Expression(expr=sum(m.seller_to_ces[i] for i in m.I) + m.grid_to_ces, doc="E_ch")
    m.ces_discharge = pyo.Expression(expr=sum(m.ces_to_buyer[j] for j in m.J) + m.ces_to_ev, doc="E_dis")
    m.ces_mode = pyo.Constraint(expr=m.charging + m.discharging <= 1)
    m.charge_mode = pyo.Constraint(expr=m.ces_charge <= ces.charge_max_kwh * m.charging)
    m.discharge_mode = pyo.Constraint(expr=sum(m.ces_to_buyer[j] for j in m.J) <= ces.discharge_max_kwh * m.discharging)
    m.discharge_power = pyo.Constraint(expr=m.ces_discharge <= ces.discharge_max_kwh)
    m.grid_recharge = pyo.Constraint(expr=m.grid_to_ces <= (ces.charge_max_kwh if ces.grid_recharge else 0.0))
    stored = ces.soc * ces.capacity_kwh + ces.eta_c * m.ces_charge - m.ces_discharge / ces.eta_d
    m.soc_min_limit = pyo.Constraint(expr=stored >= ces.soc_min * ces.capacity_kwh)
    m.soc_max_limit = pyo.Constraint(expr=stored <= ces.soc_max * ces.capacity_kwh)


def add_utilities(m: pyo.ConcreteModel, ces: CesParams, breakpoints: int) -> None:
    """U01, U02 (paper eq. 2-3): tangent hypographs of the quadratic parts plus the price parts.

    u01_quad <= U(a) + U'(a)(E_ch - a) at each breakpoint a (and likewise u02_quad);
    U01 = u01_quad - d E_ch - Pc Σc - π_buy Eg;  U02 = u02_quad - d E_dis + Pd Σd + P_ev Ev.
    With ces_objective = "welfare", Pc and Pd (transfers inside the community) are left out.
    """
    a_ch, a_dis = ces.tangent_points(breakpoints)
    k, S = ces.k, ces.S
    m.u01_hypograph = pyo.Constraint(
        range(breakpoints),
        rule=lambda m, t: (
            m.u01_quad
            <= float(ces.quad_charge(a_ch[t])) + k * (ces.accessible - S * a_ch[t]) * (m.ces_charge - a_ch[t])
        ),
    )
    m.u02_hypograph = pyo.Constraint(
        range(breakpoints),
        rule=lambda m, t: (
            m.u02_quad
            <= float(ces.quad_discharge(a_dis[t])) + k * (ces.soc - S * a_dis[t]) * (m.ces_discharge - a_dis[t])
        ),
    )
    pc = 0.0 if ces.welfare else ces.pc
    pd = 0.0 if ces.welfare else ces.pd
    m.u01 = pyo.Expression(
        expr=m.u01_quad
        - ces.degradation * m.ces_charge
        - pc * sum(m.seller_to_ces[i] for i in m.I)
        - ces.buy * m.grid_to_ces,
        doc="U01: charging utility",
    )
    m.u02 = pyo.Expression(
        expr=m.u02_quad
        - ces.degradation * m.ces_discharge
        + pd * sum(m.ces_to_buyer[j] for j in m.J)
        + ces.p_ev * m.ces_to_ev,
        doc="U02: discharging utility",
    )


def add_objectives(m: pyo.ConcreteModel, pairs: PairData, ces: CesParams, links: bool = True) -> None:
    """One objective per lexicographic level and priority, all deactivated (``obj_transactions``
    only with the linking rows: without them nothing ties y to x).

    level 1 obj_p2p: max Σx;  level 2 obj_ces: max U01 + U02 + π_sell Σe - π_buy (Σg + Evg);
    level 3 obj_priority_a: max Σ (s_i/s_max)(r_j/r_max) x;  obj_priority_b: min Σ dist x;
    obj_priority_c: max Σ (bid_j - ask_i) x;  level 4 obj_transactions: min Σy, and its LP relaxation
    obj_transactions_relaxed: min Σ x / min(s_i, r_j) (y = x / cap at the relaxation's optimum).
    """
    x = list(m.p2p.values())  # in the order of P

    def linear(coefficients) -> LinearExpression:
        values = np.asarray(coefficients, dtype=float).tolist()  # Python floats: Pyomo's fast path
        return LinearExpression(list(map(MonomialTermExpression, zip(values, x, strict=True))))

    volume = pyo.quicksum(m.p2p_sold.values()) if x else _sum(x)  # Σ x, seller by seller
    m.obj_p2p = pyo.Objective(expr=volume, sense=pyo.maximize)
    m.obj_ces = pyo.Objective(
        expr=m.u01
        + m.u02
        + ces.sell * sum(m.seller_export[i] for i in m.I)
        - ces.buy * (sum(m.grid_to_buyer[j] for j in m.J) + m.grid_to_ev),
        sense=pyo.maximize,
    )
    m.obj_priority_a = pyo.Objective(expr=linear(pairs.weight_a), sense=pyo.maximize)
    m.obj_priority_b = pyo.Objective(expr=linear(pairs.distance), sense=pyo.minimize)
    m.obj_priority_c = pyo.Objective(expr=linear(pairs.margin_c), sense=pyo.maximize)
    if links:
        m.obj_transactions = pyo.Objective(expr=_sum(list(m.transaction.values())), sense=pyo.minimize)
    m.obj_transactions_relaxed = pyo.Objective(expr=linear(1.0 / pairs.cap), sense=pyo.minimize)
    for obj in m.component_objects(pyo.Objective):
        obj.deactivate()


def add_links(m: pyo.ConcreteModel, snap: IntervalSnapshot, pairs: PairData, min_trade: float) -> None:
    """The matching binaries and the rows that link the flows to them: willingness and trade limits."""
    add_matching_binaries(m, snap)
    add_willingness(m)
    add_trade_limits(m, pairs, min_trade)


def build_interval_model(
    snap: IntervalSnapshot, scenario: Scenario, ces: CesParams, links: bool = True
) -> tuple[pyo.ConcreteModel, PairData]:
    """The whole model of one interval (every objective deactivated).

    ``links=False`` leaves out the matching binaries y, W and the rows linking x to them
    (``add_links``): with no minimum trade they cannot bind at levels 1-3 (models/FORMULATION.md §4);
    the solve builds them when a level-4 search needs them.
    """
    solver = scenario.solver
    pairs = candidate_pairs(snap, solver.nearest_k if solver.candidate_pairs == "nearest" else None)
    m = pyo.ConcreteModel(name=f"interval_{snap.index}")
    add_sets(m, snap, pairs)
    add_variables(m, snap, pairs, ces)
    if links:
        add_links(m, snap, pairs, scenario.willingness.min_trade_kwh)
    add_balances(m, snap)
    add_trade_counts(m, snap, pairs, scenario.willingness.min_trade_kwh)
    add_ces(m, ces)
    add_utilities(m, ces, scenario.solver.utility_breakpoints)
    add_objectives(m, pairs, ces, links)
    return m, pairs
