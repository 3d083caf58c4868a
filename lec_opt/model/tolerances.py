"""What counts as a flow and what as solver dust, in kWh: plain constants, no solver, no Pyomo.

``FLOW_EPS``: a flow above it is a flow (below: solver noise, read as 0). ``DUST_KWH``: a flow below
it is HiGHS's feasibility tolerance, not a trade (moved to the grid side of its peers).
"""

FLOW_EPS = 1e-9
DUST_KWH = 1e-6  # flows below this are solver tolerance, not trades
