"""A period of days: every (day, interval) matched independently, then the CES walked across days.

models/FORMULATION.md §12. Phase 1 (``lec_opt.period.matching``) matches every interval of every
day, distributed and checkpointed per day. Phase 2 runs in the client, in date order, as soon as
a day and every day before it are matched: the day layer's walk (``lec_opt.day.run.walk``: the
exact CES dispatch from the current SoC, settlement, the aggregator's choice per interval) starts
each day from the SoC the day before ended with; the scenario's ``ces.soc_initial`` is the SoC
at 00:00 of the first day only. Each walked day goes straight to the period's outputs
(``lec_opt.period.outputs``), so a year never sits in memory as objects.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from lec_opt.day.run import DayRun, check_method_priority, walk
from lec_opt.engine.executors import check_executor
from lec_opt.errors import InputError, LecOptError
from lec_opt.io.period_profiles import PeriodProfiles, folder_period, read_period
from lec_opt.market.snapshot import DayInputs, build_day
from lec_opt.period.matching import MatchingStore, Progress, period_matchings
from lec_opt.period.outputs import PeriodOutputs
from lec_opt.scenario.schema import Period, Scenario

CHECKPOINTS = "checkpoints"  # in the partial folder while a run works: one file per matched day


def with_period(scenario: Scenario, start: datetime.date | str | None = None, days: int | None = None) -> Scenario:
    """The scenario with ``[period]`` replaced where ``start`` or ``days`` are given (CLI ``--start``, ``--days``)."""
    update = {}
    if start is not None:
        update["start"] = start
    if days is not None:
        update["days"] = days
    if not update:
        return scenario
    try:
        period = Period.model_validate({**scenario.period.model_dump(), **update})
    except ValueError as err:
        raise LecOptError(f"--start/--days: {err}") from None
    return scenario.model_copy(update={"period": period})


def with_folder_period(scenario: Scenario) -> Scenario:
    """A scenario without a ``[period]`` whose data folder holds dated days gets the folder's whole
    period (as ``solve-period`` reads it); any other scenario is returned as it is."""
    if scenario.period.start is not None or scenario.period.days is not None:
        return scenario
    span = folder_period(scenario.data_dir)
    return scenario if span is None else with_period(scenario, span[0], span[1])


def period_dates(scenario: Scenario, data: PeriodProfiles) -> tuple[datetime.date, ...]:
    """The dates of the scenario's period; InputError when the data folder does not hold them."""
    start = scenario.period.start
    if start is None:
        if data.repeats:
            raise InputError(
                scenario.origin("period.start"),
                f"the data folder {data.folder} holds one day (times HH:MM), which stands for any date: "
                "give the period's first date (period.start = YYYY-MM-DD, or --start)",
                field="period.start",
            )
        start = data.dates[0]
    days = scenario.period.days
    if days is None:  # to the folder's last date; a one-day folder: one day
        days = 1 if data.repeats else (data.dates[-1] - start).days + 1
        if days < 1:
            raise InputError(
                scenario.origin("period.start"),
                f"{start} is after the data folder's last date {data.dates[-1]}",
                field="period.start",
            )
    data.check_covers(start, days)
    return tuple(start + datetime.timedelta(days=d) for d in range(days))


def period_days(scenario: Scenario) -> tuple[tuple[datetime.date, ...], list[DayInputs]]:
    """The period's dates and each date's ``DayInputs`` (data read and checked once, before any solve)."""
    if scenario.ces.policy == "foresight":
        raise InputError(
            scenario.origin("ces.policy"),
            "the foresight CES schedule is solved for one day; a period walks the myopic policy",
            field="ces.policy",
        )
    data = read_period(scenario.data_dir, scenario.community.n_peers, scenario.bids.file)
    dates = period_dates(scenario, data)
    first = build_day(scenario, data.day(dates[0]))
    if data.repeats:  # the same day on every date: one set of arrays
        return dates, [first] * len(dates)
    return dates, [first] + [build_day(scenario, data.day(d)) for d in dates[1:]]


def run_period(
    scenario: Scenario,
    method: str = "milp",
    priority: str = "best",
    *,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    outputs: PeriodOutputs | None = None,
    store: MatchingStore | str | Path | None = None,
    progress: Progress | None = None,
    inputs: tuple[tuple[datetime.date, ...], list[DayInputs]] | None = None,
    network=None,
) -> dict:
    """Solve the scenario's period and return its summary (``summary.json``'s content).

    ``priority``: best (the aggregator's choice per interval) or A, B, C all period. ``executor``:
    serial, local (``workers`` processes matching, default 2 or the cores, the walk beside them)
    or dask (``scheduler`` address, or a LocalCluster of ``workers``). ``outputs``: where the
    walked days go (``PeriodOutputs(folder)`` writes the period's files; default: totals only).
    ``store``: a folder (or ``MatchingStore``) of finished days' matchings, reused when found.
    ``inputs``: ``period_days(scenario)`` when the caller has it already. ``network``: a
    ``lec_opt.network.period_flows.FeederFlows`` to run every walked day's power flows with.

    >>> summary = run_period(with_period(load_scenario(), "2025-06-01", 7), method="greedy")
    >>> summary["community_saving_usd"], summary["months"]["2025-06"]["p2p_energy_kwh"]
    """
    check_method_priority(method, priority)
    check_executor(executor, scheduler, workers)
    if scenario.network is not None and scenario.network.limits == "enforced":
        raise LecOptError(
            f"{scenario.origin('network')}: network.limits = 'enforced' is kept by solve-day (one day at a time); "
            "a period with the limits enforced is not supported yet: set limits = 'off' or solve the days one by one"
        )
    dates, days = inputs or period_days(scenario)
    workers = workers or min(os.cpu_count() or 1, 2)  # the walk runs in the client beside them
    if isinstance(store, (str, Path)):
        store = MatchingStore(store)
    outputs = outputs or PeriodOutputs(None)
    outputs.start(scenario, method, priority, dates)
    total = sum(d.n_intervals for d in days)
    soc = scenario.ces.soc_initial
    walked = 0
    try:
        for n, matchings, _ in period_matchings(
            days, dates, method, executor=executor, workers=workers, scheduler=scheduler, store=store, progress=progress
        ):
            day = days[n]
            if priority == "best":
                steps = walk(day, matchings, "best", soc_start=soc)
            else:
                steps = walk(day, matchings, priority, (priority,), soc_start=soc)
            run = DayRun(day, method, priority, steps, {}, 0.0, 0.0)
            outputs.add(dates[n], run, soc, network.day(day, run) if network is not None else None)
            soc = steps[-1].result.soc_end
            walked += day.n_intervals
            if progress:
                progress("dispatch", walked, total, n + 1, len(days))
    except BaseException as err:
        outputs.close(err)
        raise
    return outputs.finish()


def solve_period(
    scenario: Scenario,
    out: str | Path,
    method: str = "milp",
    priority: str = "best",
    *,
    resume: bool = False,
    overwrite: bool = False,
    figures: bool = True,
    power_flow: bool = False,
    **options,
) -> dict:
    """Solve the period and write its folder whole (``lec_opt.io.results_folder.writing``).

    Each matched day is checkpointed in the partial folder (``checkpoints/``); a stopped run keeps
    it, and ``resume`` continues it: finished days are not matched again, the CES walk (cheap,
    sequential) is done again, and the files end byte for byte as an uninterrupted run's.
    ``power_flow``: a feeder scenario's flows of every interval (on its ``network.engine``), the
    feeder checked before any work. ``options``: ``executor``, ``workers``,
    ``scheduler``, ``progress`` of ``run_period``.
    """
    import shutil

    from lec_opt.io.results_folder import writing

    inputs = period_days(scenario)  # bad data or dates stop the run before the folder is touched
    network = feeder_flows(scenario, inputs[1][0]) if power_flow else None
    command = "python: lec_opt.solve_period"
    with writing(
        out, "period", scenario=scenario, resume=resume, overwrite=overwrite, keep_partial=True, command=command
    ) as folder:
        for stale in folder.glob(".*.tmp"):  # a file a killed run was writing
            stale.unlink()
        outputs = PeriodOutputs(folder, figures=figures)
        summary = run_period(
            scenario,
            method,
            priority,
            outputs=outputs,
            store=folder / CHECKPOINTS,
            inputs=inputs,
            network=network,
            **options,
        )
        shutil.rmtree(folder / CHECKPOINTS, ignore_errors=True)
    return summary


def feeder_flows(scenario: Scenario, day: DayInputs):
    """The scenario's feeder ready for a period's flows (``FeederFlows``), checked before any work;
    LecOptError for a ring community."""
    if scenario.community.topology != "feeder":
        raise LecOptError("power flows need a feeder scenario (community.topology = 'feeder')")
    from lec_opt.network.period_flows import FeederFlows

    return FeederFlows(scenario, day)
