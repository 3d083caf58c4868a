"""Local moves that improve trades which all keep the minimum size (models/FORMULATION.md §4,
"Levels with a minimum trade").

Plain numpy on flows in pair order, each a point of the MILP: every trade in [m, cap], every other
pair at 0. A move shifts some energy δ > 0 and keeps both the P2P volume and that property:

- a *swap* of two trades (i, j) and (k, l): both lose δ, (i, l) and (k, j) gain δ (every peer's
  total stays the same);
- a *shift* onto a peer with room: trade (k, j) loses δ and (i, j) gains it, where seller i has δ
  left (or (i, l) gains what (i, j) loses, where buyer l still needs δ).

- a *cycle* of a fixed step δ ∈ ``CYCLE_STEPS`` · m: trades raised and lowered in turn around a
  cycle of peers (each peer's total stays), or from a seller with room to one that sells less (a
  buyer likewise): a negative cycle of the residual graph of that step, found by Bellman-Ford.

A lowered trade ends at 0 or at least m, a raised one (or a new one) at m to its cap; a swap or
shift takes the largest δ that keeps this. The swap or shift that lowers the level's objective
most is made, else the first negative cycle, until none lowers it (or ``MAX_MOVES``).
Deterministic: ties go to the first move in pair order.
"""

from __future__ import annotations

import numpy as np

from lec_opt.market.pairs import BELOW, PairData  # BELOW: within it of m meets the minimum, of 0 is closed
from lec_opt.model.tolerances import FLOW_EPS

_EPS = 1e-12  # a move must lower the cost by more than this per kWh
MAX_MOVES = 200
MAX_SWAP_TRADES = 600  # swaps weigh every two trades: above this many trades only shifts are tried
CYCLE_STEPS = (0.5, 1.0, 2.0)  # the steps of the cycles tried, in minimums m


def _largest_step(
    m: float,
    down: list[np.ndarray],
    up: list[tuple[np.ndarray, np.ndarray]],
    room: np.ndarray | None = None,
) -> np.ndarray:
    """Per candidate move, the largest δ > 0 with every flow in ``down`` ending at 0 or >= m and
    every (flow, cap) in ``up`` ending in [m, cap] (and δ <= ``room``); 0 where there is none.

    The largest such δ is one of: a lowered flow (closed), a lowered flow - m, a raised cap - flow, the room."""
    steps = [*down, *(d - m for d in down), *(cap - x for x, cap in up)]
    if room is not None:
        steps.append(room)
    best = np.zeros_like(down[0])
    for d in steps:
        ok = d > BELOW
        for x in down:
            ok &= (np.abs(x - d) <= BELOW) | (x - d >= m - BELOW)
        for x, cap in up:
            ok &= (x + d >= m - BELOW) & (x + d <= cap + BELOW)
        if room is not None:
            ok &= d <= room + BELOW
        best = np.where(ok & (d > best), d, best)
    return best


class _Moves:
    def __init__(self, pairs: PairData, surplus, deficit, allowed, cost, min_trade):
        self.pairs, self.surplus, self.deficit = pairs, surplus, deficit
        self.allowed, self.cost, self.m = allowed, cost, min_trade
        self.index = np.full((len(surplus), len(deficit)), -1)
        self.index[pairs.seller, pairs.buyer] = np.arange(len(pairs.seller))

    def _pair(self, sellers: np.ndarray, buyers: np.ndarray) -> np.ndarray:
        """The pair of each seller and buyer, -1 where it is not an allowed pair."""
        k = self.index[sellers, buyers]
        return np.where((k >= 0) & self.allowed[np.maximum(k, 0)], k, -1)

    def swap(self, x: np.ndarray, trades: np.ndarray) -> tuple[float, list]:
        p, cost = self.pairs, self.cost
        a, b = (g.ravel() for g in np.meshgrid(trades, trades, indexing="ij"))
        keep = (a < b) & (p.seller[a] != p.seller[b]) & (p.buyer[a] != p.buyer[b])
        a, b = a[keep], b[keep]
        ab, ba = self._pair(p.seller[a], p.buyer[b]), self._pair(p.seller[b], p.buyer[a])
        keep = (ab >= 0) & (ba >= 0)
        a, b, ab, ba = a[keep], b[keep], ab[keep], ba[keep]
        change = cost[ab] + cost[ba] - cost[a] - cost[b]
        keep = change < -_EPS
        a, b, ab, ba, change = a[keep], b[keep], ab[keep], ba[keep], change[keep]
        if not a.size:
            return 0.0, []
        cap = p.cap
        d = _largest_step(self.m, [x[a], x[b]], [(x[ab], cap[ab]), (x[ba], cap[ba])])
        gain = d * change
        t = int(np.argmin(gain))
        return float(gain[t]), [(a[t], -d[t]), (b[t], -d[t]), (ab[t], d[t]), (ba[t], d[t])]

    def shift(self, x: np.ndarray, trades: np.ndarray, sellers: bool) -> tuple[float, list]:
        p, cost = self.pairs, self.cost
        if sellers:
            room = self.surplus - np.bincount(p.seller, weights=x, minlength=len(self.surplus))
        else:
            room = self.deficit - np.bincount(p.buyer, weights=x, minlength=len(self.deficit))
        peers = np.flatnonzero(room > BELOW)
        if not peers.size:
            return 0.0, []
        t, r = (g.ravel() for g in np.meshgrid(trades, peers, indexing="ij"))
        own = p.seller[t] if sellers else p.buyer[t]
        t, r = t[own != r], r[own != r]
        k = self._pair(r, p.buyer[t]) if sellers else self._pair(p.seller[t], r)
        t, r, k = t[k >= 0], r[k >= 0], k[k >= 0]
        change = cost[k] - cost[t]
        keep = change < -_EPS
        t, r, k, change = t[keep], r[keep], k[keep], change[keep]
        if not t.size:
            return 0.0, []
        d = _largest_step(self.m, [x[t]], [(x[k], p.cap[k])], room[r])
        gain = d * change
        best = int(np.argmin(gain))
        return float(gain[best]), [(t[best], -d[best]), (k[best], d[best])]

    def _residual_arcs(self, x: np.ndarray, delta: float) -> tuple:
        """The residual graph of step ``delta`` at ``x`` (``cycle``'s nodes and arcs): each arc's tail,
        head, weight, pair (-1 for a room arc) and step, and the number of nodes."""
        p, cost, m = self.pairs, self.cost, self.m
        n_s, n_b = len(self.surplus), len(self.deficit)
        seller_room, buyer_room = n_s + n_b, n_s + n_b + 1
        nodes = n_s + n_b + 2
        left_s = self.surplus - np.bincount(p.seller, weights=x, minlength=n_s)
        left_b = self.deficit - np.bincount(p.buyer, weights=x, minlength=n_b)
        up = np.flatnonzero(self.allowed & (x + delta <= p.cap + BELOW) & (x + delta >= m - BELOW))
        down = np.flatnonzero((x > FLOW_EPS) & ((x - delta >= m - BELOW) | (np.abs(x - delta) <= BELOW)))
        sellers, buyers = np.arange(n_s), np.arange(n_b)
        has_s, has_b = np.flatnonzero(left_s >= delta - BELOW), np.flatnonzero(left_b >= delta - BELOW)
        tail = np.concatenate(
            [
                p.seller[up],
                n_s + p.buyer[down],
                np.full(has_s.size, seller_room),
                sellers,
                n_s + has_b,
                np.full(n_b, buyer_room),
            ]
        )
        head = np.concatenate(
            [
                n_s + p.buyer[up],
                p.seller[down],
                has_s,
                np.full(n_s, seller_room),
                np.full(has_b.size, buyer_room),
                n_s + buyers,
            ]
        )
        room_arcs = has_s.size + n_s + has_b.size + n_b
        weight = np.concatenate([cost[up], -cost[down], np.zeros(room_arcs)])
        pair = np.concatenate([up, down, np.full(room_arcs, -1)])
        step = np.concatenate([np.full(up.size, delta), np.full(down.size, -delta), np.zeros(room_arcs)])
        return tail, head, weight, pair, step, nodes

    def cycle(self, x: np.ndarray, delta: float) -> list:
        """The changes of a negative cycle of step ``delta`` (Bellman-Ford on the residual graph), or [].

        Nodes: sellers, buyers, and one node each for the sellers' and the buyers' room. Arcs: seller
        i -> buyer j raises (i, j) (cost +c, where x + δ ends in [m, cap]); buyer j -> seller i lowers
        it (cost -c, where x - δ ends at 0 or >= m); seller room -> seller i where i has δ left, seller
        -> seller room (it sells less); buyer j -> buyer room where j still needs δ, buyer room ->
        buyer (it buys less). A simple cycle changes each pair on it once and keeps the volume."""
        cost = self.cost
        tail, head, weight, pair, step, nodes = self._residual_arcs(x, delta)
        dist, parent, changed = np.zeros(nodes), np.full(nodes, -1), np.ones(nodes, dtype=bool)
        for _ in range(nodes + 1):  # a node still improving after |nodes| rounds leads to a negative cycle
            arcs = np.flatnonzero(changed[tail])
            reach = dist[tail[arcs]] + weight[arcs]
            new = dist.copy()
            np.minimum.at(new, head[arcs], reach)
            changed = new < dist - _EPS
            if not changed.any():
                return []
            hit = arcs[changed[head[arcs]] & (reach <= new[head[arcs]])]
            ends, first = np.unique(head[hit], return_index=True)  # the first arc that reaches each node
            parent[ends] = hit[first]
            dist = np.where(changed, new, dist)
        node = int(np.flatnonzero(changed)[0])
        for _ in range(nodes):  # back onto the cycle
            node = int(tail[parent[node]])
        on_cycle, at = [], node
        while not on_cycle or at != node:
            arc = int(parent[at])
            on_cycle.append(arc)
            at = int(tail[arc])
            if len(on_cycle) > nodes:
                return []
        changes = [(int(pair[a]), float(step[a])) for a in on_cycle if pair[a] >= 0]
        if len({k for k, _ in changes}) < len(changes) or sum(cost[k] * c for k, c in changes) >= -_EPS:
            return []
        return changes


def improve_trades(
    flows: np.ndarray,
    pairs: PairData,
    surplus: np.ndarray,
    deficit: np.ndarray,
    allowed: np.ndarray,
    cost: np.ndarray,
    min_trade: float,
) -> np.ndarray:
    """The flows after the best swap or shift, else a negative cycle, again and again, while one
    lowers Σ cost·x (see the module's docstring). ``flows``: trades that all keep the minimum; ``cost``: the level's objective
    per kWh of each pair, to be minimised (negate a maximised one)."""
    x = flows.copy()
    moves = _Moves(pairs, surplus, deficit, allowed, cost, min_trade)
    for _ in range(MAX_MOVES):
        trades = np.flatnonzero(x > FLOW_EPS)
        found = [moves.shift(x, trades, True), moves.shift(x, trades, False)]
        if trades.size <= MAX_SWAP_TRADES:
            found.insert(0, moves.swap(x, trades))
        gain, changes = min(found, key=lambda f: f[0])
        if gain >= -_EPS:
            changes = next(filter(None, (moves.cycle(x, step * min_trade) for step in CYCLE_STEPS)), [])
            if not changes:
                break
        for k, change in changes:
            x[k] = 0.0 if abs(x[k] + change) <= BELOW else x[k] + change
    return x
