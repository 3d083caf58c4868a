"""Trades of at least m on given peer totals, found by a depth-first search without a solver
(models/FORMULATION.md §4, "Levels with a minimum trade", step 3(f)).

Given what each seller sells and each buyer buys (a relaxation's totals), find flows on the allowed
pairs with those row and column sums, each flow 0 or at least m. For an objective of the peers'
totals only (level 1, priority C) such flows attain the relaxation's value: optimal.

The search places one trade per step. It takes the peer with the fewest possible trades (a peer
whose total is below 2m must be served by one trade, so these go first), and tries its trades in
turn: the one that ends both peers, then the ones that end it, the partner keeping the least
(best fit), then trades that end the partner, then a partial trade leaving the smaller side m.
Every trade keeps both peers' rests at 0 or at least m, so a rest in (0, m) never arises; a peer
with a rest and no possible trade ends the branch. A depth-first search can spend its work deep
under one wrong early trade, so it runs ``RUNS`` times of ``RUN_NODES`` steps each, the best-fit
order of every run after the first perturbed by a random number of up to one m (its own seeded
stream): deterministic. A search that runs out returns None, as one that proves the totals cannot
be met on trades of at least m.
"""

from __future__ import annotations

import numpy as np

from lec_opt.market.pairs import PairData

RUNS = 10  # searches from the start, the first in the plain best-fit order
RUN_NODES = 200  # trades placed and taken back in one search at most
_EPS = 1e-9  # rests within this are equal (HiGHS's feasibility tolerance here)


class _Search:
    """The state of one search: what each peer has left, the trades placed, the work done."""

    def __init__(
        self,
        sold: np.ndarray,
        bought: np.ndarray,
        pairs: PairData,
        allowed: np.ndarray,
        m: float,
        run: int,
        cost: np.ndarray | None = None,
    ):
        self.m = m
        self.cost = cost
        self.noise = np.random.default_rng(run) if run else None  # the best-fit order perturbed, seeded
        self.left_s = np.where(sold > _EPS, sold, 0.0).astype(float)
        self.left_b = np.where(bought > _EPS, bought, 0.0).astype(float)
        self.index = np.full((len(sold), len(bought)), -1, dtype=np.int64)
        self.index[pairs.seller[allowed], pairs.buyer[allowed]] = np.flatnonzero(allowed)
        self.free = self.index >= 0  # a pair takes one trade at most
        self.flows = np.zeros(len(pairs.seller))
        self.nodes = 0

    def _options(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks (sellers × buyers) of the trades that end the buyer, end the seller, or leave the
        smaller side exactly m; each keeps both rests at 0 or >= m."""
        m = self.m
        s, b = self.left_s[:, None], self.left_b[None, :]
        live = self.free & (s > 0.0) & (b > 0.0)
        equal = np.abs(s - b) <= _EPS
        end_buyer = live & (equal | (s - b >= m - _EPS))
        end_seller = live & ~equal & (b - s >= m - _EPS)
        partial = live & ~equal & (np.minimum(s, b) >= 2.0 * m - _EPS)
        return end_buyer, end_seller, partial

    def _place(self, i: int, j: int, amount: float) -> None:
        self.flows[self.index[i, j]] = amount
        self.free[i, j] = False
        self.left_s[i] = 0.0 if self.left_s[i] - amount <= _EPS else self.left_s[i] - amount
        self.left_b[j] = 0.0 if self.left_b[j] - amount <= _EPS else self.left_b[j] - amount

    def _take_back(self, i: int, j: int, before: tuple[float, float]) -> None:
        self.flows[self.index[i, j]] = 0.0
        self.free[i, j] = True
        self.left_s[i], self.left_b[j] = before

    def _trades_of(self, options, peer: int, is_buyer: bool) -> list[tuple[int, int, float]]:
        """The possible trades of one peer, in the order they are tried."""
        end_buyer, end_seller, partial = options
        s, b = self.left_s, self.left_b
        pick = (lambda a: a[:, peer]) if is_buyer else (lambda a: a[peer, :])
        partners = np.arange(len(s) if is_buyer else len(b))
        pair = (lambda k: (int(k), peer)) if is_buyer else (lambda k: (peer, int(k)))
        ends_me, ends_partner = (pick(end_buyer), pick(end_seller)) if is_buyer else (pick(end_seller), pick(end_buyer))
        mine = b[peer] if is_buyer else s[peer]
        theirs = s if is_buyer else b
        trades: list[tuple[float, int, int, float]] = []  # (order key, i, j, amount)
        for k in partners[ends_me]:
            rest = (theirs[k] - mine) / self.m  # best fit: the partner keeping the least first (0 first of all)
            if self.noise is not None:
                rest += self.noise.random()
            trades.append((rest if theirs[k] - mine > _EPS else -1.0, *pair(k), float(mine)))
        for k in partners[ends_partner]:
            trades.append((1e6 - theirs[k], *pair(k), float(theirs[k])))  # the largest partner ended first
        for k in partners[pick(partial)]:
            trades.append((2e6, *pair(k), float(min(mine, theirs[k]) - self.m)))
        if self.cost is not None:  # the cheapest pair first, the order above among equal costs
            trades.sort(key=lambda t: (self.cost[self.index[t[1], t[2]]], t[0]))
        else:
            trades.sort(key=lambda t: t[0])  # stable: ties in index order
        return [(i, j, amount) for _, i, j, amount in trades]

    def run(self) -> bool:
        """Depth-first, most constrained peer first; True once every rest is 0."""
        if self.nodes >= RUN_NODES:
            return False
        self.nodes += 1
        open_s, open_b = self.left_s > 0.0, self.left_b > 0.0
        if not open_b.any() or not open_s.any():
            return not (open_b.any() or open_s.any())
        options = self._options()
        count = sum(o.astype(np.int64) for o in options)
        per_seller = np.where(open_s, count.sum(axis=1), np.iinfo(np.int64).max)
        per_buyer = np.where(open_b, count.sum(axis=0), np.iinfo(np.int64).max)
        i, j = int(np.argmin(per_seller)), int(np.argmin(per_buyer))
        if per_seller[i] == 0 or per_buyer[j] == 0:
            return False  # a peer with a rest and no trade left
        is_buyer = per_buyer[j] <= per_seller[i]
        for si, bj, amount in self._trades_of(options, j if is_buyer else i, is_buyer):
            before = (self.left_s[si], self.left_b[bj])
            self._place(si, bj, amount)
            if self.run():
                return True
            self._take_back(si, bj, before)
            if self.nodes >= RUN_NODES:
                return False
        return False


def flows_on_totals(
    sold: np.ndarray,
    bought: np.ndarray,
    pairs: PairData,
    allowed: np.ndarray,
    m: float,
    cost: np.ndarray | None = None,
) -> np.ndarray | None:
    """Flows (pair order) on the ``allowed`` pairs with these seller and buyer totals, each 0 or
    at least ``m``; None if a total lies in (0, m), the sums differ, or the search finds none.

    ``cost`` (per pair, to be minimised): the first run tries each peer's cheapest pairs first, a
    greedy start for an objective that is not one of the totals; the later runs as without it."""
    totals = np.concatenate([sold, bought])
    if ((totals > _EPS) & (totals < m - _EPS)).any() or abs(sold.sum() - bought.sum()) > _EPS * len(totals):
        return None
    allowed = np.asarray(allowed, dtype=bool)
    for run in range(RUNS):
        search = _Search(sold, bought, pairs, allowed, m, run, cost if run == 0 else None)
        if search.run():
            return search.flows
    return None


EXPAND_ROUNDS = 4  # neighbourhoods grown by one ring of partners at most this often


def _moved_totals(totals: np.ndarray, energy: np.ndarray, m: float, free: np.ndarray) -> None:
    """Each total in (0, m) moved onto the peer of the same side with the most room that keeps at
    least m after it (in place; both peers become free); one that no peer can take stays."""
    for p in np.flatnonzero((totals > _EPS) & (totals < m - _EPS)).tolist():
        room = np.where(totals + totals[p] >= m - _EPS, energy - totals, -np.inf)
        room[p] = -np.inf
        q = int(np.argmax(room))
        if room[q] >= totals[p] - _EPS:
            totals[q] += totals[p]
            totals[p] = 0.0
            free[[p, q]] = True


def local_flows_on_totals(
    flows: np.ndarray,
    pairs: PairData,
    allowed: np.ndarray,
    m: float,
    cost: np.ndarray | None = None,
    energies: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray | None:
    """``flows`` with its trades below m replaced, every peer's total kept: the trades between the
    peers of a small trade (free peers) are searched again on what those peers have left after their
    other trades (``flows_on_totals``), the rest kept. A free peer left with less than m, or a search
    that finds nothing, frees the partners of the free peers' kept trades too (``EXPAND_ROUNDS``
    times at most). None if that fails.

    ``energies`` (each seller's surplus, each buyer's deficit): a peer whose whole total is below m
    hands it to the peer of its side with the most room first (``_moved_totals``); the volume stays."""
    if energies is not None:  # every peer, also one without a candidate pair
        n_s, n_b = len(energies[0]), len(energies[1])
    else:
        n_s, n_b = int(pairs.seller.max(initial=-1)) + 1, int(pairs.buyer.max(initial=-1)) + 1
    trades = flows > _EPS
    small = trades & (flows < m - _EPS)
    if not small.any():
        return flows
    free_s = np.zeros(n_s, dtype=bool)
    free_b = np.zeros(n_b, dtype=bool)
    free_s[pairs.seller[small]] = True
    free_b[pairs.buyer[small]] = True
    sold = np.bincount(pairs.seller, weights=flows, minlength=n_s)
    bought = np.bincount(pairs.buyer, weights=flows, minlength=n_b)
    if energies is not None:
        _moved_totals(sold, energies[0], m, free_s)
        _moved_totals(bought, energies[1], m, free_b)
    for _ in range(EXPAND_ROUNDS + 1):
        inside = free_s[pairs.seller] & free_b[pairs.buyer]
        kept = np.where(inside, 0.0, flows)
        left_s = np.where(free_s, sold - np.bincount(pairs.seller, weights=kept, minlength=n_s), 0.0)
        left_b = np.where(free_b, bought - np.bincount(pairs.buyer, weights=kept, minlength=n_b), 0.0)
        short_s = (left_s > _EPS) & (left_s < m - _EPS)
        short_b = (left_b > _EPS) & (left_b < m - _EPS)
        if not (short_s.any() or short_b.any()):
            found = flows_on_totals(left_s, left_b, pairs, allowed & inside, m, cost)
            if found is not None:
                return kept + found
            short_s, short_b = free_s, free_b  # nothing on these peers: a ring of partners more
        # the partners of the short peers' kept trades become free
        touching = trades & ~inside & (short_s[pairs.seller] | short_b[pairs.buyer])
        free_s[pairs.seller[touching]] = True
        free_b[pairs.buyer[touching]] = True
    return None
