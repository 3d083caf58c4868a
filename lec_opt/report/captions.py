"""What each figure of a report shows: the paper's figure it corresponds to, and what to look at."""

from __future__ import annotations

# figure file name prefix -> (the paper's figure it corresponds to, what to look at)
CAPTIONS = {
    "01": (
        "Fig. 3 (and Fig. 14)",
        "Demand of all peers and PV generation over the day, kW: look at the midday hours, where PV exceeds demand "
        "and the community has energy to trade.",
    ),
    "02": (
        "Fig. 4",
        "EV charging demand, kW, and whether the CES or the grid supplied it: the evening charging is where the CES "
        "discharges.",
    ),
    "03": (
        "Fig. 5",
        "Community surplus (sellers, above zero) and deficit (buyers, below zero) per interval, kW, and the balance α: "
        "P2P trading happens only where both are non-zero.",
    ),
    "04": (
        "Fig. 6 (and Fig. 13)",
        "CES charge and discharge per interval, kW, and its state of charge: the SoC should stay inside the band "
        "and rise while the community has surplus.",
    ),
    "05": (
        "Figs. 7–9 (a, b)",
        "P2P energy traded per interval under priorities A, B and C, kWh per interval; the band marks the "
        "aggregator's choice: look for intervals where the priorities differ.",
    ),
    "06": ("Figs. 7–9 (a, b)", "P2P transactions per interval under each priority: more pairs is not more energy."),
    "07": (
        "Figs. 7–9 (c, d)",
        "Trades of one interval on the ring, edge width proportional to kWh traded: which sellers supply which "
        "buyers under the chosen priority.",
    ),
    "08": (
        "Figs. 10–11",
        "Per-peer revenue of prosumers and bill of consumers over the day, P2P against grid-only: every prosumer "
        "should earn more and every consumer pay less.",
    ),
    "09_core": (
        "none (lec-opt's cooperative-game check)",
        "Largest core violation per interval of the cooperative game (stability.csv): zero means no coalition "
        "would do better on its own.",
    ),
    "10": (
        "Fig. 12",
        "The aggregator's chosen priority in each interval and its counts by period of the day, beside the "
        "paper's description: compare the periods where they differ.",
    ),
    "11": (
        "none (lec-opt's foresight comparison)",
        "CES state of charge under the paper's myopic rule and with perfect foresight, and the cumulative gain "
        "of foresight: how much a planned CES schedule would be worth.",
    ),
    "12": (
        "none (lec-opt's feeder power flow)",
        "Lowest and highest phase voltage of the feeder per interval (unbalanced three-phase power flow, "
        "network.csv) against EN 50160's ±10 % band, and the largest line loading: any point outside the band "
        "is a voltage problem.",
    ),
    "13": (
        "none (lec-opt's feeder power flow)",
        "The feeder in the interval furthest from 1 p.u.: buses coloured by their lowest phase voltage, peers as "
        "sellers or buyers, the CES and EV chargers, and that interval's trades from seller to buyer (width "
        "proportional to kWh): look for the buses far from the transformer.",
    ),
    "14": (
        "none (lec-opt's feeder power flow)",
        "Every peer's voltage at its bus and phase over the day (voltages.parquet): the rows that turn red at "
        "noon are the houses whose PV raises the voltage, the blue rows in the evening the ones at the end of "
        "long cables.",
    ),
    "15": (
        "none (lec-opt's feeder power flow)",
        "The feeder's cables coloured and widened by their highest loading of the day (lines.csv), the most "
        "loaded named with when: the cables to reinforce first.",
    ),
    "16": (
        "none (lec-opt's network limits)",
        "Each prosumer's PV curtailed over the day to keep the network's limits, and the revenue the limits "
        "cost it, against its cable distance from the transformer: under 'least' the far end gives up most, "
        "under 'equal_share' everyone the same share of its surplus.",
    ),
    "sweep_": (
        "none (lec-opt's parameter sweep)",
        "A sweep's metrics against one swept field (sweep.csv): one panel per metric, one line per value of the "
        "other swept fields; look at the slope and where the lines cross.",
    ),
}


def caption_of(name: str) -> tuple[str, str]:
    """(the paper's figure, what to look at) of a figure file; ("", "") when unknown."""
    keys = [k for k in CAPTIONS if name.startswith(k)]
    return CAPTIONS[max(keys, key=len)] if keys else ("", "")
