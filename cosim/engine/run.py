"""The discrete-event engine: one SimPy environment per simulation.

Simulated time is in minutes from the start of slot 0. Each component is a SimPy process;
they hand each slot's data to one another through ``simpy.Store`` queues, so the phase order
inside a slot is the data flow itself, not an accident of process creation order
(docs/architecture.md has the table):

=========  ===============  ===============================  ==================================
sim time   process          does                             waits for
=========  ===============  ===============================  ==================================
k*L        participants     forecast, orders (gate closure)  slot start; SoC metered after k-1
k*L        market           double auction -> commitments    orders of slot k
k*L..      meters           delivery during the slot         commitments of slot k
(k+1)*L    meters           readings at the slot's end       the slot's length L elapsing
(k+1)*L    grid             AC power flow of the readings    readings of slot k
(k+1)*L    settlement       bills of the slot                readings + commitments of slot k
(k+1)*L    recorder         buffers the slot's rows          grid and settlement of slot k
=========  ===============  ===============================  ==================================

The engine calls pure functions (:mod:`cosim.participants.fulfilment`, :mod:`cosim.market.auction`,
:mod:`cosim.settlement`) and the grid adapter; it does no I/O except through the
:class:`~cosim.results.writer.ResultWriter` it is given.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import simpy

from cosim import __version__
from cosim.engine.build import (
    Simulation,
    build_simulation,
    check_margins,
    make_settlement,
    open_writer,
)
from cosim.engine.checkpoint import (
    CHECKPOINT_FILE,
    Checkpoint,
    CheckpointAssembler,
    read_checkpoint,
    restore_parts,
    scenario_digest,
)
from cosim.grid.powerflow import FlowResult
from cosim.market.auction import ClearingResult, clear
from cosim.market.export_limits import ExportDecision, apply_fractions, limit_exports
from cosim.market.orders import OrderBook
from cosim.participants.fulfilment import Delivery, Orders, deliver
from cosim.participants.strategies import setpoint_column
from cosim.results.writer import ResultWriter, output_errors, write_json
from cosim.scenario import Scenario, scenario_to_yaml
from cosim.settlement.billing import Prices
from cosim.settlement.ledger import Ledger
from cosim.settlement.protocol import EncryptedSettlement

__all__ = ["run_scenario", "run_simulation"]

ProgressCallback = Callable[[int], None]
StopRequest = Callable[[], bool]


class _Timer:
    """Wall-clock seconds per stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - t0


@dataclass
class _SlotMarket:
    k: int
    load_kwh: np.ndarray
    pv_kwh: np.ndarray
    soc_kwh: np.ndarray
    orders: Orders
    clearing: ClearingResult
    filled_kwh: np.ndarray
    p2p_price: np.ndarray
    check: ExportDecision | None
    setpoint_kwh: np.ndarray | None = None  # battery plan (None: self-consumption)
    plan_status: str = "self_consumption"


@dataclass
class _SlotReading:
    market: _SlotMarket
    delivery: Delivery


@dataclass
class _Stop:
    """Passed down the pipeline instead of a slot when the run stops before its end."""

    slot: int  # the first slot not run


class _Totals:
    """Run-wide totals for summary.json."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = defaultdict(float)
        self.failed_flows = 0
        self.failed_checks = 0
        self.vm_min = np.inf
        self.vm_max = -np.inf
        self.loading_max = 0.0
        self.trafo_loading_max = 0.0
        self.slots_done = 0
        self.stopped_at: int | None = None  # first slot not run, when the run was stopped
        self.privacy: Any = None  # the run's PrivateMetering (checkpointed with the recorder)


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
    checkpoint (:mod:`cosim.engine.checkpoint`) from which :func:`run_simulation` can ``resume``.

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
        From :func:`build_simulation`.
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
    n_slots = sc.time.slots
    slot_min = sc.time.slot_minutes
    slot_h = sc.time.slot_hours
    chunk = sim.chunk_slots
    timer = _Timer()
    digest = scenario_digest(scenario_to_yaml(sc))
    assembler = CheckpointAssembler(digest, writer.checkpoint, sc.source_file)
    if resume is not None:
        if resume.scenario_digest != digest:
            raise ValueError("the checkpoint belongs to another scenario")
        state = restore_parts(resume)
        k0 = resume.slot
        soc0 = state["participants"]["soc"]
        for name, stream in sim.streams.items():
            stream.bit_generator.state = state["participants"]["streams"][name]
        if sim.planner is not None:
            sim.planner.restore(state["participants"]["planner"])
        ledger: Ledger | EncryptedSettlement = state["settlement"]
        totals: _Totals = state["recorder"]
    else:
        k0 = 0
        soc0 = pop.soc_initial_kwh.copy()
        prices = Prices(
            retail_price=sc.market.retail_price, feed_in_tariff=sc.market.feed_in_tariff
        )
        ledger = make_settlement(sc, pop, prices, sim.slot_times)
        totals = _Totals()
    if resume is not None:  # the metering's keys, buffers and logs travel with the recorder
        sim.privacy = totals.privacy
    totals.privacy = sim.privacy
    ids = np.arange(pop.n)
    has_battery = pop.battery.capacity_kwh > 0
    margins = check_margins(sc)
    time_strings = [t.isoformat() for t in sim.slot_times]

    env = simpy.Environment()
    orders_q: simpy.Store = simpy.Store(env)
    committed_q: simpy.Store = simpy.Store(env)
    to_grid_q: simpy.Store = simpy.Store(env)
    to_settle_q: simpy.Store = simpy.Store(env)
    soc_q: simpy.Store = simpy.Store(env)
    grid_out_q: simpy.Store = simpy.Store(env)
    settle_out_q: simpy.Store = simpy.Store(env)

    def boundary(k: int) -> bool:
        """Whether a checkpoint is taken at the start of slot ``k`` (after each chunk)."""
        return k0 < k < n_slots and (k - k0) % chunk == 0

    def participants_state(soc: np.ndarray) -> dict[str, Any]:
        return {
            "soc": soc,
            "streams": {name: g.bit_generator.state for name, g in sim.streams.items()},
            "planner": sim.planner.state() if sim.planner is not None else None,
        }

    def participants() -> Generator[simpy.Event, Any, None]:
        soc = soc0
        for k in range(k0, n_slots):
            if env.now < k * slot_min:
                yield env.timeout(k * slot_min - env.now)
            if k > k0:
                soc = yield soc_q.get()  # SoC metered at the end of slot k-1
            if stop is not None and stop():
                assembler.contribute(k, "participants", participants_state(soc))
                yield orders_q.put(_Stop(k))
                return
            if boundary(k):
                assembler.contribute(k, "participants", participants_state(soc))
            with timer.stage("profiles"):
                load, pv = sim.feed.slot(k, n_slots)
            plan: tuple[np.ndarray | None, str] = (None, "self_consumption")
            if sim.planner is None:
                with timer.stage("orders"):
                    orders = sim.self_consumption_orders(load, pv, soc)
            else:
                with timer.stage("battery_plan"):
                    orders, setpoint, status = sim.planner.plan_orders(
                        k, load, pv, soc, sim.streams["forecast"], sim.streams["prices"]
                    )
                plan = (setpoint, status)
            yield orders_q.put((k, load, pv, soc, orders, plan))

    def market() -> Generator[simpy.Event, Any, None]:
        for _ in range(k0, n_slots):
            item = yield orders_q.get()
            if isinstance(item, _Stop):
                yield committed_q.put(item)
                return
            k, load, pv, soc, orders, plan = item
            with timer.stage("clearing"):
                has = orders.side != 0
                book = OrderBook(
                    participant=ids[has],
                    side=orders.side[has],
                    energy_kwh=orders.energy_kwh[has],
                    limit_price=orders.limit_price[has],
                )
                result = clear(book, sc.market.mechanism)
                check = None
                if sim.linear is not None:
                    check = limit_exports(
                        sim.linear, sim.slack_bus, pop.bus, orders.side, orders.forecast_net_kwh,
                        load / slot_h * pop.tan_phi, result.trades, slot_h,
                        sc.grid.v_min_pu, sc.grid.v_max_pu, *margins,
                    )  # fmt: skip
                    result = apply_fractions(result, book, check.trade_fraction)
                filled = np.zeros(pop.n)
                filled[has] = result.filled_kwh
                p2p_price = np.full(pop.n, np.nan)
                p2p_price[has] = result.avg_price
            slot_market = _SlotMarket(
                k, load, pv, soc, orders, result, filled, p2p_price, check, *plan
            )
            yield committed_q.put(slot_market)

    def meters() -> Generator[simpy.Event, Any, None]:
        for _ in range(k0, n_slots):
            m: _SlotMarket | _Stop = yield committed_q.get()
            if isinstance(m, _Stop):
                yield to_grid_q.put(m)
                yield to_settle_q.put(m)
                return
            with timer.stage("delivery"):
                d = deliver(
                    m.load_kwh,
                    m.pv_kwh,
                    m.soc_kwh,
                    pop.battery,
                    slot_h,
                    m.orders.side,
                    m.filled_kwh,
                    m.check.export_cap_kwh if m.check is not None else None,
                    m.setpoint_kwh,
                    m.orders.forecast_net_kwh if m.setpoint_kwh is not None else None,
                )
            yield env.timeout((m.k + 1) * slot_min - env.now)  # delivery lasts the slot
            reading = _SlotReading(m, d)
            yield to_grid_q.put(reading)
            yield to_settle_q.put(reading)
            yield soc_q.put(d.soc_kwh)

    def grid() -> Generator[simpy.Event, Any, None]:
        # Nothing in a slot reads the flow's result, so a backend that can solve a batch gets
        # a chunk of slots at once (lightsim2grid: bit-identical to solving slot by slot).
        batch = getattr(sim.flow, "solve_batch", None)
        size = chunk if batch is not None else 1
        pending: list[_SlotReading] = []
        for k in range(k0, n_slots):
            r: _SlotReading | _Stop = yield to_grid_q.get()
            stopped = isinstance(r, _Stop)
            if not isinstance(r, _Stop):
                pending.append(r)
                if len(pending) < size and k < n_slots - 1:
                    continue
            flows: list[FlowResult] = []
            if pending:
                with timer.stage("power_flow"):
                    p_kw = np.stack([x.delivery.net_kwh for x in pending]) / slot_h
                    q_kvar = np.stack([x.market.load_kwh for x in pending]) / slot_h * pop.tan_phi
                    if batch is not None:
                        flows = batch(p_kw, q_kvar)
                    else:
                        flows = [sim.flow.solve(p_kw[0], q_kvar[0])]
            pending = []
            for flow in flows:
                yield grid_out_q.put(flow)
            if stopped:
                yield grid_out_q.put(r)
                return

    def settlement() -> Generator[simpy.Event, Any, None]:
        # Nothing in a slot reads its bills either: the plaintext ledger bills a chunk of
        # slots with array operations (bit-identical to slot by slot), at most about
        # _SETTLE_CHUNK_VALUES participant-slots at a time; a chunk ends at each checkpoint.
        size = 1
        if isinstance(ledger, Ledger):
            size = min(chunk, max(1, _SETTLE_CHUNK_VALUES // pop.n))
        pending: list[_SlotReading] = []
        for _ in range(k0, n_slots):
            r: _SlotReading | _Stop = yield to_settle_q.get()
            if not isinstance(r, _Stop):
                pending.append(r)
                k = r.market.k
                if len(pending) < size and k < n_slots - 1 and not boundary(k + 1):
                    continue
            if pending:
                with timer.stage("settlement"):
                    energies = _settle(ledger, pending)
                last = pending[-1].market.k
                if boundary(last + 1):
                    with timer.stage("checkpoint"):
                        assembler.contribute(last + 1, "settlement", ledger)
                for reading, energy in zip(pending, energies, strict=True):
                    yield settle_out_q.put((reading, energy))
                pending = []
            if isinstance(r, _Stop):
                assembler.contribute(r.slot, "settlement", ledger)
                yield settle_out_q.put(r)
                return

    def recorder() -> Generator[simpy.Event, Any, None]:
        for k in range(k0, n_slots):
            flow: FlowResult | _Stop = yield grid_out_q.get()
            settled = yield settle_out_q.get()
            if isinstance(flow, _Stop):
                with timer.stage("writing"):
                    writer.flush()
                    assembler.contribute(flow.slot, "recorder", totals)
                totals.stopped_at = flow.slot
                return
            r, energy = settled
            with timer.stage("recording"):
                _record(k, r, flow, energy)
                totals.slots_done = k + 1
                writer.end_slot()  # flushes after each chunk
            if boundary(k + 1):
                with timer.stage("checkpoint"):
                    writer.flush()  # the checkpoint follows the rows of every slot before it
                    assembler.contribute(k + 1, "recorder", totals)
            if progress is not None:
                progress(k + 1)

    def _record(k: int, r: _SlotReading, flow: FlowResult, energy: dict[str, float]) -> None:
        m, d, o = r.market, r.delivery, r.market.orders
        if not flow.converged:
            totals.failed_flows += 1
        else:
            totals.vm_min = min(totals.vm_min, float(flow.vm_pu.min()))
            totals.vm_max = max(totals.vm_max, float(flow.vm_pu.max()))
            if flow.line_loading_percent.size:
                totals.loading_max = max(totals.loading_max, float(flow.line_loading_percent.max()))
            if flow.trafo_loading_percent.size:
                totals.trafo_loading_max = max(
                    totals.trafo_loading_max, float(flow.trafo_loading_percent.max())
                )
        imp = flow.grid_import_kw * slot_h
        s = totals.sums
        s["load_kwh"] += float(m.load_kwh.sum())
        pv_used = m.pv_kwh - d.pv_curtailed_kwh
        curtailed = float(d.pv_curtailed_kwh.sum())
        s["pv_kwh"] += float(pv_used.sum())
        s["pv_curtailed_kwh"] += curtailed
        requested = m.check.p2p_requested_kwh if m.check is not None else m.clearing.traded_kwh
        s["p2p_requested_kwh"] += requested
        if m.check is not None and m.check.status == "solver_failed":
            totals.failed_checks += 1
        s["battery_kwh"] += float(d.battery_kwh.sum())
        s["net_kwh"] += float(d.net_kwh.sum())
        s["traded_kwh"] += m.clearing.traded_kwh
        t = m.clearing.trades
        # against the retailer: buyers would have paid RP, sellers would have got FiT
        buyer_benefit = float((t.energy_kwh * (sc.market.retail_price - t.price)).sum())
        seller_benefit = float((t.energy_kwh * (t.price - sc.market.feed_in_tariff)).sum())
        s["p2p_buyer_benefit"] += buyer_benefit
        s["p2p_seller_benefit"] += seller_benefit
        slot_load = float(m.load_kwh.sum())
        s["import_kwh"] += max(imp, 0.0) if np.isfinite(imp) else 0.0
        s["export_kwh"] += max(-imp, 0.0) if np.isfinite(imp) else 0.0
        s["losses_kwh"] += flow.losses_kw * slot_h if np.isfinite(flow.losses_kw) else 0.0
        slot_row: dict[str, Any] = {
            "slot": k,
            "time": time_strings[k],
            "clearing_price": m.clearing.clearing_price,
            "traded_kwh": m.clearing.traded_kwh,
            "import_kwh": max(imp, 0.0) if np.isfinite(imp) else np.nan,
            "export_kwh": max(-imp, 0.0) if np.isfinite(imp) else np.nan,
            "vm_min_pu": float(flow.vm_pu.min()) if flow.converged else np.nan,
            "vm_max_pu": float(flow.vm_pu.max()) if flow.converged else np.nan,
            "loading_max_percent": _max_or_nan(flow.line_loading_percent, flow.converged),
            "losses_kwh": flow.losses_kw * slot_h,
            "pf_converged": flow.converged,
            "trafo_loading_max_percent": _max_or_nan(flow.trafo_loading_percent, flow.converged),
            "load_kwh": float(m.load_kwh.sum()),
            "pv_kwh": float(pv_used.sum()),
            "battery_kwh": float(d.battery_kwh.sum()),
            "net_kwh": float(d.net_kwh.sum()),
            "buy_orders": int((o.side > 0).sum()),
            "sell_orders": int((o.side < 0).sum()),
            "bid_kwh": float(o.energy_kwh[o.side > 0].sum()),
            "offer_kwh": float(o.energy_kwh[o.side < 0].sum()),
            "p2p_requested_kwh": requested,
            "p2p_executable_kwh": m.clearing.traded_kwh,
            "p2p_share_of_load": m.clearing.traded_kwh / slot_load if slot_load > 0 else np.nan,
            "p2p_buyer_benefit": buyer_benefit,
            "p2p_seller_benefit": seller_benefit,
            "export_requested_kwh": m.check.export_requested_kwh if m.check is not None else np.nan,
            "export_allowed_kwh": m.check.export_allowed_kwh if m.check is not None else np.nan,
            "pv_curtailed_kwh": curtailed,
            "network_check_status": m.check.status if m.check is not None else "none",
        }
        for model, e in energy.items():
            slot_row[f"supplier_energy_kwh_{model}"] = e
        slot_row["battery_plan_status"] = m.plan_status  # written for price and rolling only
        writer.add("slots", {key: np.asarray([v]) for key, v in slot_row.items()})
        rows = {
                "slot": k,
                "participant": ids,
                "bus": pop.bus,
                "supplier": pop.supplier,
                "load_kwh": m.load_kwh,
                "pv_kwh": pv_used,
                "battery_kwh": d.battery_kwh,
                "soc_kwh": d.soc_kwh,
                "net_kwh": d.net_kwh,
                "side": _SIDE_NAMES[o.side + 1],
                "accepted": d.accepted,
                "committed_kwh": d.committed_kwh,
                "delivered_kwh": d.delivered_kwh,
                "deviation_kwh": d.deviation_kwh,
                "order_kwh": o.energy_kwh,
                "pv_curtailed_kwh": d.pv_curtailed_kwh,
                "limit_price": o.limit_price,
                "p2p_price": m.p2p_price,
                "battery_setpoint_kwh": setpoint_column(m.setpoint_kwh, has_battery),
            }  # fmt: skip
        writer.add("participants", rows)
        if sim.privacy is not None:  # the meters' private aggregation and the GO's monitoring
            sim.privacy.record_slot(k, rows, flow, slot_h)
        writer.add(
            "buses",
            {"slot": k, "bus": sim.flow.bus_ids, "vm_pu": flow.vm_pu, "p_mw": flow.bus_p_mw},
        )
        writer.add(
            "lines",
            {"slot": k, "line": sim.flow.line_ids, "loading_percent": flow.line_loading_percent},
        )
        writer.add(
            "trafos",
            {"slot": k, "trafo": sim.flow.trafo_ids, "loading_percent": flow.trafo_loading_percent},
        )
        writer.add(
            "trades",
            {
                "slot": k,
                "buyer": t.buyer,
                "seller": t.seller,
                "energy_kwh": t.energy_kwh,
                "price": t.price,
            },
        )

    for proc in (participants, market, meters, grid, settlement, recorder):
        env.process(proc())

    out = writer.out_dir
    with output_errors(out):
        (out / "scenario.yaml").write_text(scenario_to_yaml(sc), encoding="utf-8")
        _remove_settlement_files(writer)  # from an earlier, interrupted part of this run
        write_json(out / "summary.json", _running_summary(sim, k0, resume is not None))
    if resume is None:  # a run killed before its first chunk resumes from its start
        assembler.contribute(0, "participants", participants_state(soc0))
        assembler.contribute(0, "settlement", ledger)
        assembler.contribute(0, "recorder", totals)

    wall0 = time.perf_counter()
    privacy_report: dict[str, Any] | None = None
    try:
        env.run()
        stopped = totals.stopped_at is not None
        if not stopped and totals.slots_done != n_slots:
            raise RuntimeError(f"simulation stopped after {totals.slots_done} of {n_slots} slots")
        with timer.stage("settlement"):
            ledger.finish()  # closes the last billing period (suppliers decrypt the bills)
        if sim.privacy is not None and not stopped:  # last batch, privacy.json, role views
            privacy_report = sim.privacy.finish(out, ledger)
        with timer.stage("writing"):
            writer.flush()
            writer.close()  # waits for the background CSV writer
            writer.write_frame("bills", ledger.bills_frame())
            writer.write_frame("suppliers", ledger.suppliers_frame())
            writer.write_frame("participants_info", pop.info_frame())
            writer.write_frame("settlement_slots", _settlement_slots(ledger, totals.slots_done))
            if sc.settlement.encryption != "plain":
                rejected = pd.DataFrame(
                    ledger.rejected_payloads, columns=["participant", "slot", "reason"]
                )
                writer.write_frame("rejected_payloads", rejected)
    except BaseException as exc:
        writer.abort()
        if isinstance(ledger, EncryptedSettlement):
            ledger.close()
        _leave_consistent(sim, writer, exc, timer, time.perf_counter() - wall0)
        raise
    status = "interrupted" if stopped else "completed"
    summary = _summary(sim, totals, ledger, timer, time.perf_counter() - wall0, status, None)
    summary["resumed_from_slot"] = k0 if resume is not None else None
    if privacy_report is not None and privacy_report["dp"] is not None:
        summary["privacy"] = privacy_report  # epsilon, composition, measured error
    with output_errors(out):
        write_json(out / "summary.json", summary)
        if not stopped:
            (out / CHECKPOINT_FILE).unlink(missing_ok=True)
    return summary


#: Tables written once at the end of a run from the settlement backend.
SETTLEMENT_TABLES = ("bills", "suppliers", "settlement_slots", "rejected_payloads")


def _remove_settlement_files(writer: ResultWriter) -> None:
    for table in SETTLEMENT_TABLES:
        writer.path(table).unlink(missing_ok=True)


#: Share of slots with a failed power flow above which a run warns (stderr and summary.json).
FAILED_FLOW_WARN_SHARE = 0.01


def _running_summary(sim: Simulation, k0: int, resumed: bool) -> dict[str, Any]:
    """``summary.json`` while the run is going: a killed run's folder says what it is."""
    sc = sim.scenario
    return {
        "cosim_version": __version__,
        "name": sc.name,
        "seed": sc.seed,
        "status": "running",
        "slots": sc.time.slots,
        "slots_completed": k0,
        "resumed_from_slot": k0 if resumed else None,
        "pid": os.getpid(),
    }


def _leave_consistent(
    sim: Simulation, writer: ResultWriter, exc: BaseException, timer: _Timer, wall_s: float
) -> None:
    """After a failure: cut the tables back to the last checkpoint and say so in summary.json.

    Best effort: a failure here (a full disk, say) leaves the ``running`` summary, which a
    resume handles the same way.
    """
    interrupted = isinstance(exc, KeyboardInterrupt)
    out = writer.out_dir
    try:
        checkpoint = read_checkpoint(out / CHECKPOINT_FILE)
        writer.cut_back(checkpoint.table_bytes)
        _remove_settlement_files(writer)
        totals = restore_parts(checkpoint)["recorder"]
        summary = _summary(
            sim,
            totals,
            None,
            timer,
            wall_s,
            "interrupted" if interrupted else "failed",
            "interrupted twice" if interrupted else f"{type(exc).__name__}: {exc}",
        )
        summary["settlement"]["files"] = (
            f"not written: the run stopped abnormally; the tables end at slot "
            f"{checkpoint.slot}, where it can be resumed"
        )
        write_json(out / "summary.json", summary)
    except Exception:  # the original error is the one to report
        return


def _settlement_slots(ledger: Ledger | EncryptedSettlement, n_slots: int) -> pd.DataFrame:
    """``settlement_slots.csv``: per slot and model, the supplier balancing energy [kWh]."""
    models = ledger.models
    energy = [np.asarray(ledger.slot_supplier_energy_kwh[m], dtype=float)[:n_slots] for m in models]
    done = min((e.size for e in energy), default=0)
    return pd.DataFrame(
        {
            "slot": np.tile(np.arange(done), len(models)),
            "model": np.repeat(models, done),
            "supplier_energy_kwh": np.concatenate([e[:done] for e in energy]) if models else [],
        }
    )


def _settle(
    ledger: Ledger | EncryptedSettlement, readings: list[_SlotReading]
) -> list[dict[str, float]]:
    """Bill consecutive slots: the plaintext ledger all at once, the encrypted one slot by slot.

    Returns per slot and model the supplier balancing energy [kWh].
    """
    side = np.stack([x.market.orders.side for x in readings])
    acc, c, dev, net = (
        np.stack([getattr(x.delivery, name) for x in readings])
        for name in ("accepted", "committed_kwh", "deviation_kwh", "net_kwh")
    )
    p2p = np.stack([x.market.p2p_price for x in readings])
    slot_price = np.array([x.market.clearing.clearing_price for x in readings])
    if isinstance(ledger, Ledger):
        per_model = ledger.settle_chunk(side, acc, c, dev, net, p2p, slot_price)
        return [{m: float(e[t]) for m, e in per_model.items()} for t in range(len(readings))]
    return [
        ledger.settle(side[t], acc[t], c[t], dev[t], net[t], p2p[t], float(slot_price[t]))
        for t in range(len(readings))
    ]


def run_scenario(
    scenario: Scenario, out_dir: Path, progress: ProgressCallback | None = None
) -> dict[str, Any]:
    """Build and run one scenario into ``out_dir``; return the summary.

    The one-call entry point used by the CLI and by sweeps (it is picklable by reference, so
    process pools and Dask workers can call it).
    """
    sim = build_simulation(scenario)
    return run_simulation(sim, open_writer(sim, Path(out_dir)), progress=progress)


_SIDE_NAMES = np.array(["sell", "none", "buy"])

#: Participant-slots the plaintext ledger bills at once: arrays of 256 kB stay in the CPU caches
#: (measured: 2**14 to 2**16 fastest from 47 to 5,000 participants, 2**20 twice as slow).
_SETTLE_CHUNK_VALUES = 1 << 15


def _max_or_nan(values: np.ndarray, converged: bool) -> float:
    return float(values.max()) if converged and values.size else float("nan")


def _summary(
    sim: Simulation,
    totals: _Totals,
    ledger: Ledger | EncryptedSettlement | None,
    timer: _Timer,
    wall_s: float,
    status: str,
    error: str | None,
) -> dict[str, Any]:
    """``summary.json``; without ``ledger`` (a failed run) the settlement part is left out."""
    sc = sim.scenario
    s = totals.sums
    load = s["load_kwh"]
    done = totals.slots_done
    failed_share = totals.failed_flows / done if done else 0.0
    warnings = []
    if failed_share > FAILED_FLOW_WARN_SHARE:
        warnings.append(
            f"the power flow failed in {totals.failed_flows} of {done} slots "
            f"({failed_share:.1%}); their grid results are empty (NaN)"
        )
    settlement: dict[str, Any] = {"encryption": sc.settlement.encryption}
    if ledger is not None:
        settlement |= {
            "models": {
                m: {
                    "pot": ledger.pot[m],
                    "max_abs_slot_pot": ledger.max_abs_slot_pot[m],
                    "total_bills": float(ledger.bills[m].sum()),
                    "supplier_profit": float(ledger.supplier_profit[m].sum()),
                    "supplier_energy_kwh": float(ledger.supplier_energy_kwh[m].sum()),
                }
                for m in ledger.models
            },
            "period": sc.settlement.period,
            "key_bits": sc.settlement.key_bits
            if sc.settlement.encryption.startswith("paillier")
            else None,
            "crypto_operations": ledger.crypto_counts(),
            "rejected_payloads": len(ledger.rejected_payloads),
            "privacy": ledger.privacy_summary()
            if isinstance(ledger, EncryptedSettlement)
            else None,
        }
    return {
        "cosim_version": __version__,
        "name": sc.name,
        "seed": sc.seed,
        "status": status,
        "error": error,
        "warnings": warnings,
        "slots": sc.time.slots,
        "slots_completed": done,
        "slot_minutes": sc.time.slot_minutes,
        "start": sim.slot_times[0].isoformat() if len(sim.slot_times) else None,
        "network": sc.network.name,
        "participants": sim.population.n,
        "participants_with_pv": int((sim.population.pv_kwp > 0).sum()),
        "participants_with_battery": int((sim.population.battery.capacity_kwh > 0).sum()),
        "buses": int(sim.flow.bus_ids.size),
        "lines": int(sim.flow.line_ids.size),
        "trafos": int(sim.flow.trafo_ids.size),
        "timings_s": {"build": sim.build_seconds, **dict(timer.seconds), "total_run": wall_s},
        "slots_per_second": done / wall_s if wall_s > 0 else None,
        "totals": {
            **dict(s),
            "p2p_share_of_load": s["traded_kwh"] / load if load > 0 else None,
            # share of local demand (load + network losses) not met by imports
            "self_sufficiency": 1.0 - s["import_kwh"] / (load + s["losses_kwh"])
            if load > 0
            else None,
        },
        "grid": {
            "failed_power_flows": totals.failed_flows,
            "failed_power_flow_share": failed_share,
            "vm_min_pu": totals.vm_min if np.isfinite(totals.vm_min) else None,
            "vm_max_pu": totals.vm_max if np.isfinite(totals.vm_max) else None,
            "line_loading_max_percent": totals.loading_max,
            "trafo_loading_max_percent": totals.trafo_loading_max,
            "network_check": sc.market.network_check,
            "network_check_failures": totals.failed_checks,
            "line_rating_factor": sc.grid.line_rating_factor,
            "trafo_rating_factor": sc.grid.trafo_rating_factor,
        },
        "battery": {
            "strategy": sc.participants.battery_strategy,
            "horizon_slots": sc.battery.horizon_slots if sim.planner is not None else None,
            **(sim.planner.summary() if sim.planner is not None else {}),
        },
        "settlement": settlement,
    }
