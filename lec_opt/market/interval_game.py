"""The cooperative game of one interval as plain data: its players and v(T) (models/FORMULATION.md §9).

``IntervalGame`` holds the players' supply and demand, the price spread and the CES player's
gains and room; ``values`` is v(T) for many coalitions at once. It sits below both its users:
the game check (``lec_opt.analysis.game``, which builds it from an interval's result) and the
game's Pyomo models (``lec_opt.model.coalitions``, which read it), so that the model layer never
imports the analysis layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class IntervalGame:
    """A transferable-utility game; players are indexed 0..n-1."""

    labels: tuple[str, ...]
    supply: np.ndarray  # kWh each player can sell (0 for buyers and the CES)
    demand: np.ndarray  # kWh each player needs
    spread: float  # Δπ
    ces: int | None = None  # index of the CES player, if any
    ces_discharge_gain: float = 0.0  # a
    ces_charge_gain: float = 0.0  # b
    ces_discharge_kwh: float = 0.0  # E_dis
    ces_charge_kwh: float = 0.0  # E_ch

    @property
    def n(self) -> int:
        """Number of players."""
        return len(self.labels)

    def values(self, masks: np.ndarray) -> np.ndarray:
        """v(T) for many coalitions at once; ``masks`` is (k, n) boolean."""
        masks = np.atleast_2d(np.asarray(masks, dtype=bool))
        s = masks @ self.supply
        d = masks @ self.demand
        v = self.spread * np.minimum(s, d)
        if self.ces is not None:
            with_ces = masks[:, self.ces]
            v = v + with_ces * (
                self.ces_discharge_gain * np.minimum(np.clip(d - s, 0, None), self.ces_discharge_kwh)
                + self.ces_charge_gain * np.minimum(np.clip(s - d, 0, None), self.ces_charge_kwh)
            )
        return v

    def value(self, mask) -> float:
        """v(T) of one coalition given as a boolean mask over the players."""
        return float(self.values(np.asarray(mask, dtype=bool)[None, :])[0])

    @property
    def grand_value(self) -> float:
        """v(N): the value of the grand coalition."""
        return self.value(np.ones(self.n, dtype=bool))
