"""The pandapower engine: ``runpp_3ph`` interval by interval on the community's copy of the feeder."""

from __future__ import annotations

import importlib.util

import numpy as np

from lec_opt.network.bus_powers import BusPowers
from lec_opt.network.engine import FlowResults, community_net, empty_results
from lec_opt.network.feeder import PHASES, Feeder

# pandapower's optional accelerator (same results): asked for only when installed, so that
# pandapower does not print its "please install numba" warning at every flow
_NUMBA = importlib.util.find_spec("numba") is not None


class PandapowerFlow:
    """The feeder prepared for pandapower's unbalanced Newton-Raphson, one flow per interval."""

    def __init__(self, feeder: Feeder):
        import pandapower as pp

        self._pp = pp
        self.net, self._rows, self.buses, self.lines = community_net(feeder)
        self._connected = False

    def _set(self, powers: BusPowers, t: int) -> None:
        table = self.net.asymmetric_load
        for k, ph in enumerate(PHASES):
            table.loc[self._rows, f"p_{ph}_mw"] = powers.p_kw[t, :, k] / 1000.0
            table.loc[self._rows, f"q_{ph}_mvar"] = powers.q_kvar[t, :, k] / 1000.0

    def _converged(self) -> bool:
        try:
            # flat start: every interval is a function of its own injections only (no history);
            # connectivity is checked until a flow finds every bus supplied (the structure is fixed)
            self._pp.runpp_3ph(self.net, init="flat", check_connectivity=not self._connected, numba=_NUMBA)
        except self._pp.powerflow.LoadflowNotConverged:
            return False
        vm = self.net.res_bus_3ph.loc[self.buses, "vm_a_pu"]
        if not vm.notna().any():
            return False  # a flow that gives no voltage at all has not converged either
        if not self._connected:
            self._connected = bool(self.net.res_bus_3ph.vm_a_pu.notna().all())
        return True

    def _branch_losses_kw(self) -> float:
        """The feeder's lines' and transformers' losses, kW (not the source's impedance): with the
        community's draw, the feeder's import at its supply point.

        (``res_ext_grid_3ph`` is not used: on the IEEE European LV feeder it falls short of the
        branches' own losses by about 0.4 W an interval, so that import − draw ≠ losses.)
        """
        losses = [f"pl_{ph}_mw" for ph in PHASES]
        total = self.net.res_line_3ph.loc[self.lines, losses].to_numpy().sum() if len(self.lines) else 0.0
        if len(self.net.trafo):
            total += self.net.res_trafo_3ph[losses].to_numpy().sum()
        return 1000.0 * float(total)

    def solve(self, powers: BusPowers) -> FlowResults:
        """The flows of every interval of ``powers``."""
        out = empty_results(powers.n_intervals, len(self.buses), len(self.lines))
        net = self.net
        for t in range(powers.n_intervals):
            self._set(powers, t)
            if not self._converged():
                continue
            res = net.res_bus_3ph.loc[self.buses]
            out.converged[t] = True
            out.v_pu[t] = res[[f"vm_{ph}_pu" for ph in PHASES]].to_numpy()
            out.v_angle_rad[t] = np.radians(res[[f"va_{ph}_degree" for ph in PHASES]].to_numpy())
            if len(self.lines):
                out.line_loading_percent[t] = net.res_line_3ph.loading_percent.reindex(self.lines).to_numpy()
            if len(net.trafo):
                out.trafo_loading_percent[t] = float(net.res_trafo_3ph.loading_percent.max())
            out.source_kw[t] = powers.p_kw[t].sum() + self._branch_losses_kw()
        return out
