"""Repair of trades below the minimum size: shift their energy along cheapest paths of trades
(models/FORMULATION.md §4, "Levels with a minimum trade").

Plain numpy on flows in pair order; the solve loop turns the repaired flows into an incumbent.
A small trade f on (i, j) is either raised to m or closed, whichever costs less. Raised: buyer j
takes m - f off another of its trades (unless it still needs energy) and seller i sells m - f more,
from what it has left or along a path as below. Closed: either buyer j gets f back or seller i
sends f to a buyer that still needs it, along a path of trades that change by ±f:

- from buyer j: raise a trade of j (its seller now sells f more); that seller ends the path if it
  has f left over, else it lowers another of its trades, whose buyer now lacks f, and so on; a buyer
  that lacks f may also end the path with a new trade of a ≥ m from a seller with a left over,
  taking a - f off another of its trades (which keeps the minimum, or closes);
- from seller i: the same with the roles swapped, ending at a buyer that still needs f.

Every raised trade stays within its cap and reaches the minimum, every lowered one keeps it or
closes, so no step breaks the minimum; the P2P volume stays the same, and with it every CES total.
Among the paths the one that costs the level's objective least is taken (label-correcting
shortest path; costs may be negative), so the repair follows the objective. A small trade that can
be neither raised nor closed waits for the next pass (``REPAIR_PASSES``): its neighbours' repairs
change the trades its paths may use. Those that no pass can shift are closed at the end and their
volume placed again on pairs between peers that both have room (``_closed_and_refilled``; the
volume may end a little above the relaxation's, never below), or the trades among their peers are
searched again on those peers' totals (``local_flows_on_totals``); the cheaper of the two is kept.
Deterministic: pairs in index order, ties to the first found.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from lec_opt.market.pairs import BELOW, PairData
from lec_opt.model.min_trade.totals_search import local_flows_on_totals
from lec_opt.model.tolerances import FLOW_EPS

_EPS = 1e-12
REPAIR_PASSES = 3  # passes over the small trades: one that cannot be shifted now may be after the others


def breaks_minimum(flows: np.ndarray, min_trade: float) -> np.ndarray:
    """The flows that are trades (> FLOW_EPS) smaller than the minimum."""
    return (flows > FLOW_EPS) & (flows < min_trade - BELOW)


@dataclass
class _Network:
    """The trades of one repair step: who can change, and by how much."""

    x: np.ndarray
    pairs: PairData
    room: np.ndarray  # what each peer has left (sellers, then buyers)
    cost: np.ndarray  # objective per kWh of each pair, to be minimised
    allowed: np.ndarray
    n_s: int
    m: float

    def __post_init__(self) -> None:
        order = np.arange(len(self.x))
        self.of_seller = [order[self.pairs.seller == i] for i in range(self.n_s)]
        self.of_buyer = [order[self.pairs.buyer == j] for j in range(len(self.room) - self.n_s)]

    def can_raise(self, ks: np.ndarray, f: float) -> np.ndarray:
        x, cap = self.x[ks], self.pairs.cap[ks]
        return self.allowed[ks] & (x > FLOW_EPS) & (x + f <= cap + BELOW) & (x + f >= self.m - BELOW)

    def can_lower(self, ks: np.ndarray, f: float) -> np.ndarray:
        x = self.x[ks]
        return self.allowed[ks] & (x > FLOW_EPS) & ((x - f >= self.m - BELOW) | (np.abs(x - f) <= BELOW))


def _path_to(parent: dict, at: int) -> list[tuple[int, float]] | None:
    """The changes from the start to ``at``; None if the parents loop (a negative cycle)."""
    path, seen = [], set()
    while parent[at][0] >= 0:
        if at in seen:
            return None
        seen.add(at)
        before, pair, change = parent[at]
        path.append((pair, change))
        at = before
    return path[::-1]


def _new_trade(net: _Network, buyer: int, f: float, on_path: set[int]) -> tuple[float, list] | None:
    """A buyer that lacks f: the cheapest new trade of a >= m from a seller with a left over, with
    a - f taken off another trade of the buyer (not on the path) that keeps the minimum or closes."""
    m, x, pairs = net.m, net.x, net.pairs
    mine = np.array([k for k in net.of_buyer[buyer] if k not in on_path], dtype=int)
    if not mine.size:
        return None
    closed = mine[net.allowed[mine] & (x[mine] <= FLOW_EPS)]
    ours = mine[net.allowed[mine] & (x[mine] >= m - BELOW)]
    best: tuple[float, list] | None = None
    for o in ours:
        # keep the other trade at >= m (take m - f), or close it (take all of it)
        for take in (m - f, x[o]):
            if take < 0 or (x[o] - take < m - BELOW and x[o] - take > BELOW):
                continue
            a = f + take
            new = closed[(pairs.cap[closed] >= a - BELOW) & (net.room[pairs.seller[closed]] >= a - BELOW)]
            if not new.size:
                continue
            k = new[np.argmin(net.cost[new])]
            cost = net.cost[k] * a - net.cost[o] * take
            if best is None or cost < best[0] - _EPS:
                best = (cost, [(int(k), a), (int(o), -take)])
    return best


def _cheapest_path(
    net: _Network, f: float, start: int, from_buyer: bool, first: int | None = None
) -> list[tuple[int, float]] | None:
    """The cheapest changes that bring f to the peer ``start`` lacks (``from_buyer``) or take the f
    it has too much, ending at a peer with room (see the module's docstring); None if there are none.

    ``first``: start at this node instead (peers numbered sellers first): a seller that sold f too
    much, in the ``from_buyer`` search."""
    n_s = net.n_s
    if first is None:
        first = n_s + start if from_buyer else start
    every = np.arange(len(net.x))
    may_raise, may_lower = net.can_raise(every, f), net.can_lower(every, f)  # x stays as it is during the search
    dist = {first: 0.0}
    parent: dict[int, tuple[int, int, float]] = {first: (-1, -1, 0.0)}
    queue, queued = deque([first]), {first}
    budget = 50 * len(net.room)  # relaxations at most: bounded work even with negative cycles
    while queue and budget > 0:
        node = queue.popleft()
        queued.discard(node)
        on_buyer_side = node >= n_s
        lacks = on_buyer_side == from_buyer  # this peer lacks f (raise one of its trades) or has f too much
        ks = net.of_buyer[node - n_s] if on_buyer_side else net.of_seller[node]
        ks = ks[may_raise[ks] if lacks else may_lower[ks]]
        ends = net.pairs.seller[ks] if on_buyer_side else n_s + net.pairs.buyer[ks]
        for k, other in zip(ks.tolist(), ends.tolist(), strict=True):
            budget -= 1
            d = dist[node] + (net.cost[k] * f if lacks else -net.cost[k] * f)
            if d < dist.get(other, np.inf) - _EPS and other != first:
                dist[other] = d
                parent[other] = (node, k, f if lacks else -f)
                if other not in queued:
                    queue.append(other)
                    queued.add(other)
    best: tuple[float, list] | None = None
    for node, d in dist.items():
        if node == first:
            continue
        path = _path_to(parent, node)
        if path is None or len({k for k, _ in path}) < len(path):
            continue
        is_end_side = (node >= n_s) != from_buyer  # a seller (from a buyer) or a buyer (from a seller)
        if is_end_side and net.room[node] >= f - BELOW and (best is None or d < best[0] - _EPS):
            best = (d, path)
    for node in [first, *dist]:  # a buyer that lacks f may also end with a new trade
        if not from_buyer or node < n_s:
            continue
        path = [] if node == first else _path_to(parent, node)
        if path is None:
            continue
        new = _new_trade(net, node - n_s, f, {k for k, _ in path})
        if new is not None and (best is None or dist[node] + new[0] < best[0] - _EPS):
            best = (dist[node] + new[0], path + new[1])
    return None if best is None else best[1]


class _Repair:
    """The flows ``x`` and each peer's room (sellers, then buyers) while the passes repair them, both
    changed in place (``net`` reads the same arrays)."""

    def __init__(self, x: np.ndarray, room: np.ndarray, net: _Network, allowed: np.ndarray, min_trade: float):
        self.x, self.room, self.net, self.allowed, self.m = x, room, net, allowed, min_trade
        self.pairs, self.cost, self.n_s = net.pairs, net.cost, net.n_s

    def apply(self, changes: list[tuple[int, float]]) -> None:
        x, room, pairs, n_s = self.x, self.room, self.pairs, self.n_s
        for pair, change in changes:
            x[pair] = 0.0 if abs(x[pair] + change) <= BELOW else x[pair] + change
            room[pairs.seller[pair]] -= change
            room[n_s + pairs.buyer[pair]] -= change

    def tried(self, build) -> list[tuple[int, float]] | None:
        """The changes ``build`` finds from the current flows, which are left as they were."""
        x, room = self.x, self.room
        saved_x, saved_room = x.copy(), room.copy()
        try:
            return build()
        finally:
            x[:], room[:] = saved_x, saved_room

    def closing(self, k: int, f: float, i: int, j: int) -> list[tuple[int, float]] | None:
        """The trade closed: its energy shifted along the cheaper path, from its buyer or its seller."""
        net = self.net
        first = [(k, -f)]
        self.apply(first)
        found = [p for p in (_cheapest_path(net, f, j, True), _cheapest_path(net, f, i, False)) if p is not None]
        return None if not found else first + min(found, key=lambda p: sum(self.cost[q] * c for q, c in p))

    def raising(self, k: int, f: float, i: int, j: int) -> list[tuple[int, float]] | None:
        """The trade raised to m: its buyer sheds m - f off another trade (unless it has room), its
        seller sells m - f more (from its room, or along a path as a seller that sold too much)."""
        x, room, net, n_s, cost = self.x, self.room, self.net, self.n_s, self.cost
        d = self.m - f
        if not self.allowed[k] or x[k] + d > self.pairs.cap[k] + BELOW:
            return None
        changes = [(k, d)]
        self.apply(changes)
        if room[n_s + j] < -BELOW:
            ours = net.of_buyer[j][net.can_lower(net.of_buyer[j], d)]
            ours = ours[ours != k]
            if not ours.size:
                return None
            shed = [(int(ours[np.argmax(cost[ours])]), -d)]
            self.apply(shed)
            changes += shed
        if room[i] < -BELOW:
            path = _cheapest_path(net, d, i, True, first=i)
            if path is None:
                return None
            changes += path
        return changes

    def passes(self) -> None:
        """Up to ``REPAIR_PASSES`` passes over the small trades, smallest first (ties by pair order),
        each closed or raised, whichever costs less; a pass that repairs nothing ends them."""
        x, pairs, m, cost = self.x, self.pairs, self.m, self.cost
        for _ in range(REPAIR_PASSES):
            small = np.flatnonzero(breaks_minimum(x, m))
            if not small.size:
                return
            progress = False
            for k in small[np.argsort(x[small], kind="stable")]:
                if not breaks_minimum(x[k : k + 1], m)[0]:  # an earlier shift raised it, or closed it
                    continue
                f, i, j = float(x[k]), int(pairs.seller[k]), int(pairs.buyer[k])
                options = [
                    c
                    for c in (
                        self.tried(lambda: self.closing(k, f, i, j)),
                        self.tried(lambda: self.raising(k, f, i, j)),
                    )
                    if c
                ]
                if options:  # else left for the next pass: its peers' trades may have changed meanwhile
                    self.apply(min(options, key=lambda c: sum(cost[q] * change for q, change in c)))
                    progress = True
            if not progress:
                return


def repair_small_trades(
    flows: np.ndarray,
    pairs: PairData,
    surplus: np.ndarray,
    deficit: np.ndarray,
    allowed: np.ndarray,
    cost: np.ndarray,
    min_trade: float,
) -> np.ndarray | None:
    """Every trade in (0, m) raised to m or closed, its energy shifted along the cheapest path of
    trades (see the module's docstring); the flows, or None if the small trades that no pass can
    shift cannot be closed with their volume placed again.

    ``cost``: the level's objective per kWh of each pair, to be minimised (negate a maximised one).
    Smallest trades first, ties by pair order.
    """
    n_s = len(surplus)
    x = flows.copy()
    room = np.concatenate(
        [
            surplus - np.bincount(pairs.seller, weights=x, minlength=n_s),
            deficit - np.bincount(pairs.buyer, weights=x, minlength=len(deficit)),
        ]
    )
    net = _Network(x, pairs, room, cost, allowed, n_s, min_trade)
    _Repair(x, room, net, allowed, min_trade).passes()
    if not breaks_minimum(x, min_trade).any():
        return x
    # what is left: the trades among the small trades' peers searched again on their totals, or the
    # small trades closed and their volume placed again; the cheaper of the two
    local = local_flows_on_totals(x.copy(), pairs, allowed, min_trade, cost, (surplus, deficit))
    refilled = _closed_and_refilled(net)
    found = [f for f in (local, refilled) if f is not None]
    return min(found, key=lambda f: float(cost @ f)) if found else None


def _closed_and_refilled(net: _Network) -> np.ndarray | None:
    """The small trades no path can shift closed, and the volume they carried placed again between
    peers that both have room: on one pair (a trade raised, or a new one of at least m) or along a
    path from a buyer with room (``_cheapest_path``). Each step takes the cheapest option that places
    all that is left, else the one that places the most; the flows, or None if the volume cannot be
    placed again."""
    x, pairs, room, m, n_s = net.x, net.pairs, net.room, net.m, net.n_s
    small = breaks_minimum(x, m)
    need = float(x[small].sum())
    np.add.at(room, pairs.seller[small], x[small])
    np.add.at(room, n_s + pairs.buyer[small], x[small])
    x[small] = 0.0
    for _ in range(len(room)):  # each step fills a peer's room or places all that is left
        if need <= BELOW:
            return x
        both = np.minimum(room[pairs.seller], room[n_s + pairs.buyer])
        step = np.minimum(np.minimum(both, pairs.cap - x), need)
        raise_ = net.allowed & (x > FLOW_EPS) & (step > BELOW)
        open_ = net.allowed & (x <= FLOW_EPS) & (np.minimum(both, pairs.cap) >= m - BELOW)
        step = np.where(open_, np.maximum(step, m), step)  # a new trade carries at least m
        options = [
            (float(step[k]), float(net.cost[k] * step[k]), [(int(k), float(step[k]))])
            for k in np.flatnonzero(raise_ | open_)
        ]
        if not any(placed >= need - BELOW for placed, _, _ in options):
            for j in np.flatnonzero(room[n_s:] > BELOW):
                f = min(need, float(room[n_s + j]))
                path = _cheapest_path(net, f, int(j), True)
                if path is not None:
                    options.append((f, sum(net.cost[q] * c for q, c in path), path))
        if not options:
            return None
        placed = max(min(p, need) for p, _, _ in options)
        _, _, changes = min((o for o in options if min(o[0], need) >= placed - BELOW), key=lambda o: o[1])
        for k, change in changes:
            x[k] = 0.0 if abs(x[k] + change) <= BELOW else x[k] + change
            room[pairs.seller[k]] -= change
            room[n_s + pairs.buyer[k]] -= change
        need -= placed
    return x if need <= BELOW else None
