"""Levels 1-3 with a minimum trade size: semi-continuous flows, a proven bound, work limits
(models/FORMULATION.md §4, "Levels with a minimum trade").

With ``min_trade_kwh = m > 0`` a pair trades x[i,j] ∈ {0} ∪ [m, min(s_i, r_j)]. Each level is
solved in steps, each a fixed amount of work (nodes, never time), cheapest first, until a point is
within the accepted gap of the level's bound. One module per step:

- ``levels``: the driver (``MinTradeLevels.solve``), which runs the steps below in order;
- ``context``: what every step shares (``MinTradeContext``: solver, snapshot, pairs, m, the closed
  pairs) and the level being solved (``LevelTask``), and the answer so far (``Incumbent``);
- ``nested_totals``: level 1 and C's level 3 on nested pairs, before any relaxation (step 2);
- ``relaxation_repair``: the relaxation's small trades repaired, without a solve or by LP rounds (3(a)-(c));
- ``local_moves``: swaps, shifts and cycles that improve a point without a solve (3(a));
- ``peer_totals``: trades on the peers' totals, and the MILP with those totals held (3(f));
- ``neighbourhood``: sub-MILPs around the relaxation's trades (3(d));
- ``window_sweep``: a candidate improved window by window (3(g));
- ``reduced_cost_fixing``: the pairs a point within the accepted gap may use (step 4);
- ``node_search``: HiGHS's node-limited searches from the incumbent (step 4);
- ``carry_over``: the model without linking rows first, and where a level got there (step 0).

Solver-free helpers on arrays: ``small_trades`` (the repair), ``trade_moves`` (the moves),
``totals_search`` (trades on given totals). Small MILPs on arrays, through ``lec_opt.solver``:
``chain_totals`` (the totals' MILP along the chain), ``trade_windows`` (one window's MILP).

Pairs with min(s_i, r_j) < m never trade: their flows are fixed to 0 once (``close_small_pairs``).
Between levels the model stays the MILP (``min_trade`` on, binaries integer) for every later solve.
"""
