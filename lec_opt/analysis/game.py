"""The cooperative game of one interval: is the settlement in the core? (models/FORMULATION.md §9)

Players are the interval's willing sellers and buyers, and optionally the CES (paper §3.5). A
coalition T that trades only inside itself saves against the grid

    v(T) = Δπ · min(S_T, D_T)                      Δπ = π_buy − π_sell
         + [CES ∈ T] · ( a · min((D_T − S_T)+, E_dis) + b · min((S_T − D_T)+, E_ch) )

with S_T, D_T the surplus and deficit of T's peers, a = π_buy − Pd (a buyer served by the CES
instead of the grid; the CES gives up energy it would sell at Pd), b = (η_c η_d Pd − π_sell)+
(a seller's leftover stored instead of exported, valued at what the CES will sell it for), and
E_dis, E_ch what the CES can still give and take in the interval after the EVs. The same value of
stored energy, η_d·Pd per stored kWh, is what the aggregator's score uses. EVs are not players.

Because a < Δπ and b < Δπ (Pd > π_sell and η_c η_d Pd < π_buy), the separation MILP
(``lec_opt.model.coalitions``, like the least-core and stable-price LPs) may write min(·,·) as a
maximised variable bounded by both arguments: it never gains by lowering it.

The game as data, ``IntervalGame`` (importable from here as well), lives in
``lec_opt.market.interval_game``, below both this module and the models that read it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lec_opt.errors import LecOptError
from lec_opt.market.ces import CesParams
from lec_opt.market.interval_game import IntervalGame
from lec_opt.market.result import IntervalResult
from lec_opt.model.coalitions import LeastCoreLP, Separator, stable_price_lp

TOL = 1e-7


def interval_game(result: IntervalResult, ces: CesParams, ces_player: bool = False) -> tuple[IntervalGame, np.ndarray]:
    """The game of an interval and the settlement's imputation (each player's saving vs grid-only).

    Without the CES as a player a peer's share is its P2P gain: (TP − π_sell)·x for a seller and
    (π_buy − TP)·x for a buyer. With it, a peer also gains (Pc − π_sell)·c or (π_buy − Pd)·d from
    the CES, and the CES keeps (η_c η_d Pd − Pc)·Σc: its cash plus the value of what it stored.
    """
    snap = result.snapshot
    sellers = np.flatnonzero(snap.willing_seller)
    buyers = np.flatnonzero(snap.willing_buyer)
    labels = [f"peer {snap.sellers[i]}" for i in sellers] + [f"peer {snap.buyers[j]}" for j in buyers]
    supply = np.concatenate([snap.surplus_kwh[sellers], np.zeros(len(buyers))])
    demand = np.concatenate([np.zeros(len(sellers)), snap.deficit_kwh[buyers]])
    pos_s = {int(snap.sellers[i]): k for k, i in enumerate(sellers)}
    pos_b = {int(snap.buyers[j]): len(sellers) + k for k, j in enumerate(buyers)}
    phi = np.zeros(len(labels))
    for t in result.trades:
        phi[pos_s[t.seller]] += (t.price_usd_per_kwh - snap.sell_price) * t.kwh
        phi[pos_b[t.buyer]] += (snap.buy_price - t.price_usd_per_kwh) * t.kwh
    spread = snap.buy_price - snap.sell_price
    if not ces_player:
        return IntervalGame(tuple(labels), supply, demand, spread), phi
    stored_value = ces.eta_c * ces.eta_d * ces.pd
    phi = np.concatenate([phi, [0.0]])
    phi[: len(sellers)] += (ces.pc - snap.sell_price) * result.seller_to_ces_kwh[sellers]
    phi[len(sellers) : -1] += (snap.buy_price - ces.pd) * result.ces_to_buyer_kwh[buyers]
    phi[-1] = (stored_value - ces.pc) * float(result.seller_to_ces_kwh[sellers].sum())
    dis_room = max(ces.discharge_limit_kwh - result.ces_to_ev_kwh, 0.0)
    game = IntervalGame(
        (*labels, "CES"),
        np.append(supply, 0.0),
        np.append(demand, 0.0),
        spread,
        len(labels),
        snap.buy_price - ces.pd,
        max(stored_value - snap.sell_price, 0.0),
        dis_room,
        ces.charge_limit_kwh,
    )
    return game, phi


# --- core membership: the most violated coalition -------------------------------------------


def most_violated(game: IntervalGame, phi: np.ndarray) -> tuple[float, np.ndarray]:
    """max over proper coalitions T of v(T) − φ(T), and that coalition (separation MILP, HiGHS)."""
    if game.n <= 1:
        return 0.0, np.zeros(game.n, dtype=bool)
    return Separator(game)(phi)


def all_coalitions(n: int) -> np.ndarray:
    """Every non-empty coalition of n players as a (2^n − 1, n) boolean array."""
    if n > 20:
        raise LecOptError(f"{n} players: 2^{n} coalitions are too many to enumerate")
    codes = np.arange(1, 2**n)
    return ((codes[:, None] >> np.arange(n)) & 1).astype(bool)


def most_violated_brute_force(game: IntervalGame, phi: np.ndarray) -> tuple[float, np.ndarray]:
    """The most violated coalition by enumerating all 2^n − 2 of them (small games; checks the MILP)."""
    masks = all_coalitions(game.n)
    excess = game.values(masks) - masks @ phi
    k = int(np.argmax(excess))
    return float(excess[k]), masks[k]


def individual_rationality_violations(phi: np.ndarray, tol: float = TOL) -> int:
    """Players worse off than trading alone with the grid (v({k}) = 0 for every single player)."""
    return int(np.sum(phi < -tol))


# --- Shapley value ------------------------------------------------------------------------


def shapley_exact(game: IntervalGame) -> np.ndarray:
    """φ_k = Σ_{T ∌ k} |T|!(n−|T|−1)!/n! (v(T ∪ k) − v(T)), by enumeration (small n)."""
    n = game.n
    if n == 0:
        return np.zeros(0)
    masks = np.vstack([np.zeros((1, n), dtype=bool), all_coalitions(n)])
    v = game.values(masks)
    code = (masks * (1 << np.arange(n))).sum(axis=1)
    index = np.empty(2**n, dtype=int)
    index[code] = np.arange(len(code))
    size = masks.sum(axis=1)
    fact = [float(np.prod(np.arange(1, k + 1))) for k in range(n + 1)]
    weight = np.array([fact[s] * fact[n - s - 1] / fact[n] if s < n else 0.0 for s in size])
    phi = np.zeros(n)
    for k in range(n):
        without = ~masks[:, k]
        with_k = index[code[without] | (1 << k)]
        phi[k] = np.sum(weight[without] * (v[with_k] - v[without]))
    return phi


def shapley_sampled(game: IntervalGame, samples: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Permutation sampling: the mean marginal contribution and its standard error per player."""
    n = game.n
    if n == 0:
        return np.zeros(0), np.zeros(0)
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((samples, n)), axis=1)
    prefix = np.zeros((samples, n + 1, n), dtype=bool)
    rows = np.arange(samples)
    for step in range(n):
        prefix[:, step + 1] = prefix[:, step]
        prefix[rows, step + 1, order[:, step]] = True
    v = game.values(prefix.reshape(-1, n)).reshape(samples, n + 1)
    marginal = np.empty((samples, n))
    marginal[rows[:, None], order] = np.diff(v, axis=1)
    return marginal.mean(axis=0), marginal.std(axis=0, ddof=1) / np.sqrt(samples)


# --- least core and nucleolus ---------------------------------------------------------------


def inessential_player(game: IntervalGame) -> bool:
    """Without the CES: is there a player the others can do without (v(N − k) = v(N))?

    Then the least-core ε is exactly 0: for such a k, φ(N − k) ≥ v(N) − ε gives φ_k ≤ ε and
    φ({k}) ≥ v({k}) − ε = −ε gives φ_k ≥ −ε, so ε ≥ 0; and a market game has a non-empty core
    (the competitive price is in it), so ε ≤ 0.
    """
    if game.ces is not None or game.n < 2:
        return False
    total_s, total_d = game.supply.sum(), game.demand.sum()
    full = min(total_s, total_d)
    return bool(np.any(np.minimum(total_s - game.supply, total_d - game.demand) >= full - 1e-12))


def least_core(game: IntervalGame, max_rounds: int = 2000) -> tuple[float, np.ndarray]:
    """Smallest ε with a φ in the ε-core and one such φ, by constraint generation."""
    if game.n <= 1:
        return 0.0, np.full(game.n, game.grand_value)
    lp, separate = LeastCoreLP(game), Separator(game)
    eps, phi, _ = _generate(game, lp, separate, max_rounds)
    return eps, phi


def _generate(game, lp: LeastCoreLP, separate: Separator, max_rounds: int):
    generated = []
    for k in range(game.n):
        mask = np.eye(game.n, dtype=bool)[k]
        if not any((mask == g).all() for g, _ in lp.fixed):
            lp.cut(mask)
            generated.append(mask)
    for _ in range(max_rounds):
        eps, phi = lp.solve()
        excess, mask = separate(phi)
        if excess <= eps + 1e-9:
            return eps, phi, generated
        lp.cut(mask)
        generated.append(mask)
    raise LecOptError(f"least core: no convergence in {max_rounds} rounds")


def nucleolus(game: IntervalGame, max_stages: int = 100, max_rounds: int = 2000) -> np.ndarray:
    """The nucleolus by the sequence of least-core LPs (Maschler-Peleg-Shapley), with the
    separation MILP generating coalitions. After each stage, every generated coalition whose excess
    is pinned at the stage's ε on the whole optimal face is fixed there (and excluded from the
    oracle); the next stage minimises the largest excess among the rest, until φ is unique.
    """
    if game.n <= 1:
        return np.full(game.n, game.grand_value)
    lp, separate = LeastCoreLP(game), Separator(game)
    phi = np.full(game.n, game.grand_value / game.n)
    for _ in range(max_stages):
        eps, phi, generated = _generate(game, lp, separate, max_rounds)
        pinned = [mask for mask in generated if lp.slack_is_forced(mask, eps)]
        if not pinned:
            break
        for mask in pinned:
            lp.fix(mask, eps)
            separate.exclude(mask)
        unique = lp.unique_solution()
        if unique is not None:
            return unique
        lp.drop_cuts()  # the next stage starts from the fixed coalitions only
    return phi


def nucleolus_brute_force(game: IntervalGame) -> np.ndarray:
    """Sequential LPs over all 2^n − 2 proper coalitions at once (the reference for small n)."""
    masks = all_coalitions(game.n)[:-1]
    lp = LeastCoreLP(game)
    free = list(range(len(masks)))
    phi = np.full(game.n, game.grand_value / max(game.n, 1))
    while free:
        lp.drop_cuts()
        for k in free:
            lp.cut(masks[k])
        eps, phi = lp.solve()
        pinned = [k for k in free if lp.slack_is_forced(masks[k], eps)]
        if not pinned:
            break
        for k in pinned:
            lp.fix(masks[k], eps)
        free = [k for k in free if k not in pinned]
        unique = lp.unique_solution()
        if unique is not None:
            return unique
    return phi


# --- prices that keep the coalition stable --------------------------------------------------


@dataclass(frozen=True)
class StablePrices:
    """Per-trade prices that move the P2P gains to the most stable allocation reachable by prices."""

    prices: tuple[float, ...]  # $/kWh, aligned with result.trades
    phi: np.ndarray  # the players' gains under those prices
    epsilon: float  # largest remaining excess max_T v(T) − φ(T) (≤ 0: in the core)
    money_moved: float  # $ that changes hands against the settlement: Σ|Δφ| / 2


def stable_prices(game: IntervalGame, result: IntervalResult, phi0: np.ndarray, max_rounds: int = 200) -> StablePrices:
    """Reprice the interval's trades (same energy, π_sell ≤ TP ≤ π_buy) to minimise the largest
    coalition excess, then move as little money as possible from the settlement's gains ``phi0``.

    Without the CES as a player only: a trade's gain splits between its seller and buyer,
    g = (TP − π_sell)·x to the seller and Δπ·x − g to the buyer. Two LPs with constraint
    generation (separation MILP as the oracle): first min ε, then min Σ|φ − φ0| at that ε.
    """
    if game.ces is not None:
        raise LecOptError("stable prices are computed for the game without the CES as a player")
    snap = result.snapshot
    pos = {label: k for k, label in enumerate(game.labels)}
    trades = list(result.trades)
    pairs = [(pos[f"peer {t.seller}"], pos[f"peer {t.buyer}"], t.kwh) for t in trades]
    separate = Separator(game)
    coalitions = [np.eye(game.n, dtype=bool)[k] for k in range(game.n)]

    def generate(eps_fixed: float | None) -> tuple[float, np.ndarray, np.ndarray]:
        for _ in range(max_rounds):
            eps, gains, phi = stable_price_lp(game, pairs, phi0, coalitions, eps_fixed)
            excess, mask = separate(phi)
            if excess <= (eps if eps_fixed is None else eps_fixed) + 1e-9:
                return eps, gains, phi
            coalitions.append(mask)
        raise LecOptError(f"stable prices: no convergence in {max_rounds} rounds")

    eps, _, phi = generate(None)  # min ε
    eps = max(eps, separate(phi)[0])
    eps, gains, phi = generate(eps)  # the least money moved at that ε
    prices = tuple(float(snap.sell_price + g / t.kwh) for g, t in zip(gains, trades, strict=True))
    return StablePrices(prices, phi, eps, float(np.abs(phi - phi0).sum() / 2))
