"""Market layer, no solver: interval snapshots, ring topology and candidate pairs, priorities,
pricing, the CES, the paper's greedy matching, results and settlement."""
