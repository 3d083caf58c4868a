"""The power flow linearised around one interval's operating point: voltage and cable sensitivities.

For a set of controllable injections (a prosumer's PV on its phase, the CES balanced over three
phases: rows of ``BusPowers``), each bus-phase voltage and each cable's loading is written as

    V(x)       ≈ V⁰ + Σ_k (∂V/∂x_k) · x_k
    loading(x) ≈ L⁰ + Σ_k (∂L/∂x_k) · x_k

with x_k the extra power the control injects, in kW (models/FORMULATION.md §11). The derivatives
come from the full unbalanced power flow by central differences: one batch of 1 + 2K flows (the
point, and each control ± ``STEP_KW``), so the engine's own network model (zero sequence, the
transformer, the source) is in them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lec_opt.network.bus_powers import BusPowers, connection_rows
from lec_opt.network.feeder import BALANCED, PHASES, Feeder

STEP_KW = 0.5  # the central difference's step: small against a house, large against the flow's tolerance


@dataclass(frozen=True)
class Sensitivities:
    """A linearised flow: the point's values and their derivatives per kW injected by each control.

    ``v0_pu``: [bus, phase] over the flow's buses; ``dv_dkw``: [bus, phase, control];
    ``loading0_percent``: [line]; ``dloading_dkw``: [line, control]; ``trafo0_percent`` and
    ``dtrafo_dkw`` [control]: the most loaded transformer (NaN without one); ``controls``: the
    ``BusPowers`` rows, in the order of the last axis.
    """

    v0_pu: np.ndarray
    dv_dkw: np.ndarray
    loading0_percent: np.ndarray
    dloading_dkw: np.ndarray
    controls: tuple[int, ...]
    trafo0_percent: float = float("nan")
    dtrafo_dkw: np.ndarray | None = None

    def voltages(self, injection_kw: np.ndarray) -> np.ndarray:
        """The linear model's [bus, phase] voltages with ``injection_kw`` (one value per control)."""
        return self.v0_pu + self.dv_dkw @ np.asarray(injection_kw, float)


def phase_shares(feeder: Feeder, row: int) -> np.ndarray:
    """How a ``BusPowers`` row's power splits over the phases: all on its phase, or a third each."""
    phase = connection_rows(feeder)[row][2]
    if phase == BALANCED:
        return np.full(len(PHASES), 1.0 / len(PHASES))
    return np.eye(len(PHASES))[PHASES.index(phase)]


def _perturbed(feeder: Feeder, point: BusPowers, controls: tuple[int, ...], step_kw: float) -> BusPowers:
    """The point, then each control's row with ``step_kw`` more and less injected on its phases."""
    p = np.repeat(point.p_kw[:1], 1 + 2 * len(controls), axis=0)
    q = np.repeat(point.q_kvar[:1], 1 + 2 * len(controls), axis=0)
    for k, row in enumerate(controls):
        share = phase_shares(feeder, row)
        p[1 + 2 * k, row] -= step_kw * share  # injection is negative draw
        p[2 + 2 * k, row] += step_kw * share
    return BusPowers(p, q)


def sensitivities(
    flow, feeder: Feeder, point: BusPowers, controls: tuple[int, ...], step_kw: float = STEP_KW
) -> Sensitivities:
    """The flow linearised at ``point`` (one interval) for the ``controls`` (rows of ``BusPowers``);
    ValueError when a perturbed flow does not converge (the point is too close to collapse)."""
    if point.n_intervals != 1:
        raise ValueError("sensitivities are taken at one interval's operating point")
    results = flow.solve(_perturbed(feeder, point, controls, step_kw))
    if not results.converged.all():
        raise ValueError("a perturbed power flow did not converge: no linear model at this point")
    plus, minus = slice(1, None, 2), slice(2, None, 2)
    dv = (results.v_pu[plus] - results.v_pu[minus]) / (2 * step_kw)  # [control, bus, phase]
    loading = results.line_loading_percent
    dl = (loading[plus] - loading[minus]) / (2 * step_kw)  # [control, line]
    trafo = results.trafo_loading_percent
    return Sensitivities(
        v0_pu=results.v_pu[0],
        dv_dkw=np.moveaxis(dv, 0, -1),
        loading0_percent=loading[0],
        dloading_dkw=dl.T,
        controls=tuple(controls),
        trafo0_percent=float(trafo[0]),
        dtrafo_dkw=(trafo[plus] - trafo[minus]) / (2 * step_kw),
    )
