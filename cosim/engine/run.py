"""Running a simulation: one SimPy environment, the slot processes wired by stores.

:func:`run_simulation` creates the stores between the named slot processes of
:mod:`cosim.engine.processes`, restores a checkpoint when resuming, runs the environment and
ends the run (the end-of-run files through :class:`cosim.results.recorder.Recorder`, a failure
leaving consistent files). :func:`run_scenario` is the one-call entry point of the CLI and of
sweeps. docs/architecture.md has the data path from the scenario to the files.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import simpy

from cosim.engine.build import Simulation, build_simulation, make_settlement, open_writer, run_info
from cosim.engine.processes import (
    GridProcess,
    MarketProcess,
    MetersProcess,
    ParticipantsProcess,
    RecorderProcess,
    SettlementProcess,
    SlotClock,
)
from cosim.jsonio import write_json
from cosim.results.checkpoint import (
    CHECKPOINT_FILE,
    Checkpoint,
    CheckpointAssembler,
    restore_parts,
    scenario_digest,
)
from cosim.results.periods import PeriodTables
from cosim.results.recorder import Recorder, RunTotals, StageTimer
from cosim.results.writer import ResultWriter, output_errors
from cosim.scenario import Scenario, scenario_to_yaml
from cosim.settlement.terms import Prices

__all__ = ["run_scenario", "run_simulation"]

ProgressCallback = Callable[[int], None]
StopRequest = Callable[[], bool]


def run_simulation(
    sim: Simulation,
    writer: ResultWriter,
    progress: ProgressCallback | None = None,
    *,
    resume: Checkpoint | None = None,
    stop: StopRequest | None = None,
) -> dict[str, Any]:
    """Run the slots, write the result files and return the summary.

    Rows are flushed to disk every ``output.chunk_slots`` slots, each time followed by a
    checkpoint (:mod:`cosim.results.checkpoint`) from which :func:`run_simulation` can
    ``resume``.

    How a run ends, and what it leaves (every table always ends at the same slot):

    * ``completed``: every slot; the checkpoint is removed.
    * ``interrupted`` (``stop`` returned True): the slots already started are finished, no new
      one starts; the tables, ``bills.csv``, ``suppliers.csv`` and ``settlement_slots.csv``
      cover exactly the completed slots, and a checkpoint at that slot is kept for ``resume``.
      Returns normally.
    * ``failed`` (an exception, a second interruption): the tables are cut back to the last
      checkpoint, the settlement files are not written (``summary.json`` says so), and the
      exception propagates.

    Parameters
    ----------
    sim : Simulation
        From :func:`cosim.engine.build.build_simulation`.
    writer : ResultWriter
        Where per-slot rows go (opened with the checkpoint's ``table_bytes`` when resuming).
    progress : callable, optional
        Called with the number of slots done (counted from slot 0) after each slot.
    resume : Checkpoint, optional
        Go on from this checkpoint of the same scenario.
    stop : callable, optional
        Polled before each slot starts; True stops the run (e.g. after a SIGINT).

    Returns
    -------
    dict
        The content of ``summary.json``.
    """
    sc = sim.scenario
    pop = sim.population
    timer = StageTimer()
    digest = scenario_digest(scenario_to_yaml(sc))
    assembler = CheckpointAssembler(digest, writer.checkpoint, sc.source_file)
    recorder = Recorder(
        writer,
        run_info(sim),
        pop.bus,
        pop.supplier,
        pop.battery.capacity_kwh > 0,
        sim.flow.bus_ids,
        sim.flow.line_ids,
        sim.flow.trafo_ids,
    )
    k0 = 0 if resume is None else resume.slot
    clock = SlotClock(k0, sc.time.slots, sc.time.slot_minutes, sim.chunk_slots)
    participants = ParticipantsProcess(
        clock,
        sim.feed,
        sim.strategy,
        sim.devices,
        sim.streams,
        pop.soc_initial_kwh.copy(),
        assembler,
        timer,
        stop,
    )
    if resume is not None:
        if resume.scenario_digest != digest:
            raise ValueError("the checkpoint belongs to another scenario")
        state = restore_parts(resume)
        participants.restore(state["participants"])
        ledger = state["settlement"]
        totals: RunTotals = state["recorder"]
        recorder.totals = totals
        sim.privacy = totals.privacy  # the metering's keys, buffers and logs
    else:
        prices = Prices(
            retail_price=sc.market.retail_price, feed_in_tariff=sc.market.feed_in_tariff
        )
        ledger = make_settlement(sc, pop, prices, sim.slot_times, sim.faults)
    recorder.totals.privacy = sim.privacy
    if resume is None and sc.output.aggregate != "none":  # the period tables' running sums
        recorder.totals.periods = PeriodTables(
            sc.output.aggregate, sim.slot_times, sc.time.slot_hours, sim.flow.bus_ids
        )

    env = simpy.Environment()
    orders_q, committed_q, to_grid_q, to_settle_q, soc_q, flows_q, settled_q = (
        simpy.Store(env) for _ in range(7)
    )
    faults = sim.faults
    processes = (
        participants.run(env, soc_q, orders_q),
        MarketProcess(sim.market, clock, timer, faults).run(env, orders_q, committed_q),
        MetersProcess(pop.battery, clock, timer, faults, sim.devices).run(
            env, committed_q, to_grid_q, to_settle_q, soc_q
        ),
        GridProcess(sim.flow, pop.tan_phi, clock, timer, faults).run(env, to_grid_q, flows_q),
        SettlementProcess(ledger, pop.n, clock, assembler, timer, faults).run(
            env, to_settle_q, settled_q
        ),
        RecorderProcess(recorder, clock, assembler, timer, progress, sim.privacy, faults).run(
            env, flows_q, settled_q
        ),
    )
    for process in processes:
        env.process(process)
    if faults is not None:  # outage starts and ends (docs/faults.md)
        env.process(faults.outages(env, k0))

    out = writer.out_dir
    with output_errors(out):
        (out / "scenario.yaml").write_text(scenario_to_yaml(sc), encoding="utf-8")
        recorder.remove_settlement_files()  # from an earlier, interrupted part of this run
        write_json(out / "summary.json", recorder.running_summary(k0, resume is not None))
    if resume is None:  # a run killed before its first chunk resumes from its start
        assembler.contribute(0, "participants", participants.state())
        assembler.contribute(0, "settlement", ledger)
        assembler.contribute(0, "recorder", recorder.totals)

    totals = recorder.totals
    wall0 = time.perf_counter()
    privacy_report: dict[str, Any] | None = None
    try:
        env.run()
        stopped = totals.stopped_at is not None
        if not stopped and totals.slots_done != clock.n_slots:
            raise RuntimeError(
                f"simulation stopped after {totals.slots_done} of {clock.n_slots} slots"
            )
        with timer.stage("settlement"):
            ledger.finish()  # closes the last billing period (suppliers decrypt the bills)
        if sim.privacy is not None and not stopped:  # last batch, privacy.json, role views
            privacy_report = sim.privacy.finish(out, ledger)
        with timer.stage("writing"):
            writer.flush()
            writer.close()  # waits for the background CSV writer
            recorder.write_final_tables(
                ledger, pop.info_frame(), encrypted=sc.settlement.encryption != "plain"
            )
            sim.strategy.finish(out)  # the strategy's own files (admm: dispatch.csv)
    except BaseException as exc:
        writer.abort()
        ledger.close()
        recorder.leave_consistent(exc, timer, time.perf_counter() - wall0, _battery(sim))
        raise
    status = "interrupted" if stopped else "completed"
    summary = recorder.summary(
        ledger, timer, time.perf_counter() - wall0, status, None, _battery(sim)
    )
    summary["resumed_from_slot"] = k0 if resume is not None else None
    if sim.devices:
        summary["devices"] = sim.devices.summary()
    if privacy_report is not None and privacy_report["dp"] is not None:
        summary["privacy"] = privacy_report  # epsilon, composition, measured error
    with output_errors(out):
        write_json(out / "summary.json", summary)
        if not stopped:
            (out / CHECKPOINT_FILE).unlink(missing_ok=True)
    return summary


def _battery(sim: Simulation) -> dict[str, Any]:
    """The battery strategy's part of ``summary.json``."""
    return sim.strategy.summary()


def run_scenario(
    scenario: Scenario, out_dir: Path, progress: ProgressCallback | None = None
) -> dict[str, Any]:
    """Build and run one scenario into ``out_dir``; return the summary.

    The one-call entry point used by the CLI and by sweeps (it is picklable by reference, so
    process pools and Dask workers can call it).
    """
    sim = build_simulation(scenario)
    return run_simulation(sim, open_writer(sim, Path(out_dir)), progress=progress)
