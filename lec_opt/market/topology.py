"""Where peers sit: distances on the community's ring or along its feeder, and positions in a snapshot.

Peers are numbered 1..n; on a ring (the paper) the distance between two peers is the number of
hops around it, on a feeder (``community.topology = "feeder"``) the length in metres of the
cable path between their buses (``lec_opt.network.feeder``), carried by the snapshot as a peer x
peer matrix. A snapshot lists its sellers and buyers by peer number, and the model, the greedy and
the settlement address them by position in those lists.
"""

from __future__ import annotations

import numpy as np


def ring_distance(i, j, n_peers: int):
    """Hops between peers i and j on a ring of n_peers: min(|i-j|, n-|i-j|)."""
    diff = np.abs(np.asarray(i) - np.asarray(j))
    return np.minimum(diff, n_peers - diff)


def peer_distance(snap, i, j):
    """Priority B's distance between peers i and j (peer numbers): ring hops, or cable metres on a feeder."""
    if snap.distance_m is None:
        return ring_distance(i, j, snap.n_peers)
    return snap.distance_m[np.asarray(i) - 1, np.asarray(j) - 1]


def fee_distance(snap, i: int, j: int) -> float:
    """The network fee's unit between two peers: ring hops, or km of cable on a feeder."""
    if snap.distance_m is None:
        return float(ring_distance(i, j, snap.n_peers))
    return float(snap.distance_m[i - 1, j - 1]) / 1000.0


def positions(peers: np.ndarray) -> dict[int, int]:
    """Peer number -> position in ``peers`` (a snapshot's sellers or buyers)."""
    return {int(p): n for n, p in enumerate(peers)}
