"""Analysis layer: data figures against the paper, the cooperative-game check of a day, sensitivity
sweeps, and sizing the CES at its price."""
