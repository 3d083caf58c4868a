"""Where a level's candidate points come from, as data (models/FORMULATION.md §4, "Levels with a
minimum trade", step 3, and level 4).

A ``Source`` names a way of finding a point; an ``Origin`` is that source with the free text a step
adds (``", improved window by window"``). Its ``text`` is the phrase a level's status carries
after ``incumbent from``, word for word as output files hold it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum


class Source(Enum):
    """A way of finding a candidate point; the value is the phrase status texts carry."""

    ROUNDED = "the relaxation with its small trades moved onto their peers' trades"
    LOCAL_TOTALS = "the relaxation with the trades of its small trades' peers searched again on their totals"
    SPARSE = "the sparsest vertex near the relaxation's optimum, its small trades moved onto their peers' trades"
    ON_TOTALS = "trades of at least m on the relaxation's peer totals"
    TRADES_BEFORE = "the trades before this level, the rest solved again"
    LP_ROUNDS = "LP rounds on the relaxation's repaired trades"
    PREVIOUS = "the previous solution"
    GREEDY = "the greedy matching"
    AROUND_KEPT = "the MILP around the relaxation with its trades kept"
    AROUND = "the MILP around the relaxation on its trades and its small trades' peers"
    HELD_TOTALS = "the MILP with every peer's total held at the relaxation's"
    LEVEL3_VERTEX = "the level-3 vertex"  # level 4's first incumbent
    RELAXED_VERTEX = "the vertex of its LP relaxation"  # level 4's LP relaxation


UNMOVED = (Source.TRADES_BEFORE, Source.PREVIOUS, Source.GREEDY)  # points the local moves have not improved


@dataclass(frozen=True)
class Origin:
    """A candidate's source and what later steps did to it (``detail``, its separator first)."""

    source: Source
    detail: str = ""

    @property
    def text(self) -> str:
        """The phrase a status carries: the source's, then the detail."""
        return f"{self.source.value}{self.detail}"

    @property
    def unmoved(self) -> bool:
        """A point from one of the ``UNMOVED`` sources that no later step has changed."""
        return self.source in UNMOVED and not self.detail

    def then(self, more: str) -> Origin:
        """This origin with ``more`` appended to its detail."""
        return replace(self, detail=self.detail + more)

    def __str__(self) -> str:
        """The text (in f-strings, as before the statuses were data)."""
        return self.text
