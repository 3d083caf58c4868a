"""Where peers sit: distances on the community's ring, and positions in a snapshot.

Peers are numbered 1..n around the ring; a snapshot lists its sellers and buyers by peer number,
and the model, the greedy and the settlement address them by position in those lists.
"""

from __future__ import annotations

import numpy as np


def ring_distance(i, j, n_peers: int):
    """Hops between peers i and j on a ring of n_peers: min(|i-j|, n-|i-j|)."""
    diff = np.abs(np.asarray(i) - np.asarray(j))
    return np.minimum(diff, n_peers - diff)


def positions(peers: np.ndarray) -> dict[int, int]:
    """Peer number -> position in ``peers`` (a snapshot's sellers or buyers)."""
    return {int(p): n for n, p in enumerate(peers)}
