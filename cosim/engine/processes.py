"""The slot phases of a run, one named SimPy process each.

Simulated time is in minutes from the start of slot 0; a slot lasts ``L`` minutes. The
processes hand each slot to one another through ``simpy.Store`` queues
(:mod:`cosim.engine.messages`), so the phase order inside a slot is the data flow itself:

=============  ========  ===================================  ===============================
process        sim time  does                                 waits for
=============  ========  ===================================  ===============================
participants   k*L       devices, forecast, battery plan,     slot start; SoC metered after
                         orders (gate closure)                k-1
market         k*L       double auction, network check        the orders of slot k
meters         k*L..     delivery during the slot; readings   the commitments of slot k and
               (k+1)*L   at its end                           the slot's length elapsing
grid           (k+1)*L   AC power flow of the readings        the readings of slot k
settlement     (k+1)*L   bills of the slot                    the readings of slot k
recorder       (k+1)*L   the slot's rows, totals, metering    grid and settlement of slot k
=============  ========  ===================================  ===============================

Each process holds the implementation of its axis behind an interface (the battery strategy,
the devices, the clearing mechanism, the power-flow backend, the settlement backend) and never
asks which one it holds. :class:`Market` is the market step on its own, callable outside a run.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
import simpy

from cosim.engine.messages import (
    SlotCommitments,
    SlotOrders,
    SlotReading,
    SlotSettled,
    Stop,
    consumption,
    generation,
)
from cosim.faults import FaultEvents, mark_missing
from cosim.grid.flows import PowerFlow
from cosim.grid.limits import NetworkLimits
from cosim.grid.linear import LinearGridModel
from cosim.grid.powerflow import FlowResult
from cosim.market.auction import ClearingResult, clear
from cosim.market.export_limits import ExportDecision, apply_fractions, limit_exports
from cosim.market.orders import OrderBook
from cosim.participants.battery import BatteryFleet
from cosim.participants.devices import DeviceSet
from cosim.participants.fulfilment import Orders, deliver
from cosim.participants.strategies import BatteryStrategy
from cosim.results.checkpoint import CheckpointAssembler
from cosim.results.recorder import Recorder, StageTimer
from cosim.results.writer import ResultWriter
from cosim.settlement.backend import SettlementBackend

__all__ = [
    "GridProcess",
    "Market",
    "MarketProcess",
    "MetersProcess",
    "ParticipantsProcess",
    "RecorderProcess",
    "SettlementProcess",
    "SlotClock",
]

Event = Generator[simpy.Event, Any, None]

#: Participant-slots the settlement bills at once: arrays of 256 kB stay in the CPU caches
#: (measured: 2**14 to 2**16 fastest from 47 to 5,000 participants, 2**20 twice as slow).
SETTLE_CHUNK_VALUES = 1 << 15


@dataclass(frozen=True)
class SlotClock:
    """The slots a run covers and where its checkpoints fall.

    Attributes
    ----------
    k0 : int
        First slot of this run (> 0 when resuming).
    n_slots : int
        Slots of the scenario.
    slot_minutes : int
        Slot length [min].
    chunk_slots : int
        Slots per chunk of results; a checkpoint follows each chunk.
    """

    k0: int
    n_slots: int
    slot_minutes: int
    chunk_slots: int

    @property
    def slot_hours(self) -> float:
        """Slot length [h]."""
        return self.slot_minutes / 60.0

    def slots(self) -> range:
        """The slots this run goes through."""
        return range(self.k0, self.n_slots)

    def boundary(self, k: int) -> bool:
        """Whether a checkpoint is taken at the start of slot ``k`` (after each chunk).

        >>> clock = SlotClock(k0=0, n_slots=10, slot_minutes=30, chunk_slots=4)
        >>> [k for k in range(11) if clock.boundary(k)]
        [4, 8]
        """
        return self.k0 < k < self.n_slots and (k - self.k0) % self.chunk_slots == 0


class ProfileSource(Protocol):
    """Actual load and PV energy per slot [kWh] (a ``ProfileFeed``)."""

    def slot(self, k: int, n_slots: int) -> tuple[np.ndarray, np.ndarray]: ...


class ParticipantsProcess:
    """Gate closure of each slot: devices, forecasts, the battery strategy's plan and orders.

    Its state (metered state of charge, random streams, the strategy's and the devices'
    state) goes into every checkpoint.
    """

    def __init__(
        self,
        clock: SlotClock,
        feed: ProfileSource,
        strategy: BatteryStrategy,
        devices: DeviceSet,
        streams: Mapping[str, np.random.Generator],
        soc_kwh: np.ndarray,
        assembler: CheckpointAssembler,
        timer: StageTimer,
        stop: Callable[[], bool] | None = None,
    ) -> None:
        self.clock, self.feed, self.strategy, self.devices = clock, feed, strategy, devices
        self.streams, self.soc_kwh = streams, soc_kwh
        self.assembler, self.timer, self.stop = assembler, timer, stop

    def state(self) -> dict[str, Any]:
        """Checkpoint part ``participants``."""
        return {
            "soc": self.soc_kwh,
            "streams": {name: g.bit_generator.state for name, g in self.streams.items()},
            "strategy": self.strategy.state(),
            "devices": self.devices.state(),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Take back a :meth:`state` (resuming a run)."""
        self.soc_kwh = state["soc"]
        for name, stream in self.streams.items():
            stream.bit_generator.state = state["streams"][name]
        self.strategy.restore(state["strategy"])
        self.devices.restore(state["devices"])

    def submit(self, k: int) -> SlotOrders:
        """Form the orders of slot ``k`` from the current state of charge."""
        clock, timer = self.clock, self.timer
        with timer.stage("profiles"):
            load, pv = self.feed.slot(k, clock.n_slots)
        device_kwh = None
        columns: Mapping[str, np.ndarray] = {}
        if self.devices:
            with timer.stage("devices"):
                device_kwh = self.devices.energy_kwh(k, load, pv, clock.slot_hours)
                columns = self.devices.columns()
        demand, supply = load, pv
        if device_kwh is not None:  # consumption with the load, generation with the PV
            demand, supply = load + consumption(device_kwh), pv + generation(device_kwh)
        # a strategy that plans set-points spends its time in the horizon LP
        stage = "battery_plan" if self.strategy.plans_setpoints else "orders"
        with timer.stage(stage):
            orders, setpoint, status = self.strategy.plan_orders(
                k, demand, supply, self.soc_kwh, self.streams["forecast"], self.streams["prices"]
            )
        return SlotOrders(k, load, pv, self.soc_kwh, orders, setpoint, status, device_kwh, columns)

    def run(self, env: simpy.Environment, soc_in: simpy.Store, out: simpy.Store) -> Event:
        """One gate closure per slot, at the slot's start."""
        clock = self.clock
        for k in clock.slots():
            if env.now < k * clock.slot_minutes:
                yield env.timeout(k * clock.slot_minutes - env.now)
            if k > clock.k0:
                self.soc_kwh = yield soc_in.get()  # SoC metered at the end of slot k-1
            if self.stop is not None and self.stop():
                self.assembler.contribute(k, "participants", self.state())
                yield out.put(Stop(k))
                return
            if clock.boundary(k):
                self.assembler.contribute(k, "participants", self.state())
            submitted = self.submit(k)
            # the strategy's message rounds (none for most) take simulated time before the
            # orders reach the market
            yield from self.strategy.message_rounds(env, k)
            yield out.put(submitted)


class Market:
    """The market step of one slot: the double auction and the network check of its trades.

    Callable on its own (benchmarks and tests use it outside a run).

    Parameters
    ----------
    mechanism : str
        Price rule of the auction (``market.mechanism``).
    participant_bus : numpy.ndarray
        pandapower bus of each participant.
    tan_phi : float or numpy.ndarray
        Reactive-to-active power ratio of the participants' loads [-].
    slot_hours : float
        Slot length [h].
    linear : LinearGridModel, optional
        Linear network model of the network check (None: no check).
    slack_bus : int
        pandapower index of the external-grid bus.
    limits : NetworkLimits, optional
        Voltage band and margins of the network check.
    """

    def __init__(
        self,
        mechanism: str,
        participant_bus: np.ndarray,
        tan_phi: float | np.ndarray,
        slot_hours: float,
        linear: LinearGridModel | None = None,
        slack_bus: int = 0,
        limits: NetworkLimits | None = None,
    ) -> None:
        self.mechanism = mechanism
        self.bus = participant_bus
        self.tan_phi = tan_phi
        self.slot_hours = slot_hours
        self.linear = linear
        self.slack_bus = slack_bus
        self.limits = limits if limits is not None else NetworkLimits(0.0, np.inf)
        self._ids = np.arange(participant_bus.size)

    def order_book(self, orders: Orders) -> OrderBook:
        """The orders of the participants that submitted one."""
        has = orders.side != 0
        return OrderBook(
            participant=self._ids[has],
            side=orders.side[has],
            energy_kwh=orders.energy_kwh[has],
            limit_price=orders.limit_price[has],
        )

    def clear(
        self, orders: Orders, load_kwh: np.ndarray, linear: LinearGridModel | None = None
    ) -> tuple[ClearingResult, np.ndarray, np.ndarray, ExportDecision | None]:
        """Clear one slot's orders.

        Returns the clearing (after the network check), each participant's matched volume
        [kWh] and average trade price [currency/kWh] (NaN without an order), and the check's
        decision (None without a check). ``load_kwh`` sets the reactive power the check sees;
        ``linear`` replaces the check's model for this slot (the network of an outage).
        """
        book = self.order_book(orders)
        result = clear(book, self.mechanism)
        check = None
        model = self.linear if linear is None else linear
        if model is not None:
            lim = self.limits
            check = limit_exports(
                model, self.slack_bus, self.bus, orders.side, orders.forecast_net_kwh,
                load_kwh / self.slot_hours * self.tan_phi, result.trades, self.slot_hours,
                lim.v_min_pu, lim.v_max_pu, lim.thermal_margin, lim.voltage_margin_pu,
            )  # fmt: skip
            result = apply_fractions(result, book, check.trade_fraction)
        has = orders.side != 0
        filled = np.zeros(self._ids.size)
        filled[has] = result.filled_kwh
        p2p_price = np.full(self._ids.size, np.nan)
        p2p_price[has] = result.avg_price
        return result, filled, p2p_price, check

    def commit(
        self, submitted: SlotOrders, linear: LinearGridModel | None = None
    ) -> SlotCommitments:
        """The commitments of one slot's submitted orders (``linear``: as in :meth:`clear`)."""
        result, filled, price, check = self.clear(submitted.orders, submitted.load_kwh, linear)
        fields = {f: getattr(submitted, f) for f in SlotOrders.__dataclass_fields__}
        return SlotCommitments(
            **fields, clearing=result, filled_kwh=filled, p2p_price=price, check=check
        )


class MarketProcess:
    """Clears each slot as soon as its orders arrive.

    With ``faults`` (:class:`cosim.faults.FaultEvents`), orders that missed gate closure are
    excluded and the network check sees the slot's network (docs/faults.md).
    """

    def __init__(
        self,
        market: Market,
        clock: SlotClock,
        timer: StageTimer,
        faults: FaultEvents | None = None,
    ) -> None:
        self.market, self.clock, self.timer, self.faults = market, clock, timer, faults

    def commit(self, submitted: SlotOrders) -> SlotCommitments:
        """Clear one slot (with faults: without the late orders, on the slot's network)."""
        if self.faults is None:
            return self.market.commit(submitted)
        k = submitted.k
        gated = replace(submitted, orders=self.faults.gate(k, submitted.orders))
        return self.market.commit(gated, self.faults.check_model(k))

    def run(self, env: simpy.Environment, inbox: simpy.Store, out: simpy.Store) -> Event:
        """One clearing per slot."""
        for _ in self.clock.slots():
            item: SlotOrders | Stop = yield inbox.get()
            if isinstance(item, Stop):
                yield out.put(item)
                return
            with self.timer.stage("clearing"):
                committed = self.commit(item)
            yield out.put(committed)


class MetersProcess:
    """Delivery during each slot; the meters publish their readings at its end.

    With ``faults``, participants cut off from the grid by an outage are disconnected, and
    their devices are told so before the next gate closure (which waits for this slot's
    state of charge).
    """

    def __init__(
        self,
        fleet: BatteryFleet,
        clock: SlotClock,
        timer: StageTimer,
        faults: FaultEvents | None = None,
        devices: DeviceSet | None = None,
    ) -> None:
        self.fleet, self.clock, self.timer, self.faults = fleet, clock, timer, faults
        self.devices = devices

    def disconnect(self, reading: SlotReading) -> SlotReading:
        """Anti-islanding: participants the slot's outage cuts off neither draw nor inject.

        Their meters read 0 and their served load (base and devices) is 0; the demand is
        logged as unserved (:meth:`cosim.faults.FaultEvents.deliver`).
        """
        if self.faults is None:
            return reading
        m = reading.market
        # cut off, the devices neither draw nor generate (disconnect below): PV is all that
        # the inverters curtail
        d, cut = self.faults.deliver(m.k, reading.delivery, m.demand_kwh, m.pv_kwh, m.soc_kwh)
        if cut is None:
            return reading
        device = None if m.device_kwh is None else np.where(cut, 0.0, m.device_kwh)
        columns = m.device_columns
        if self.devices:  # the devices drew nothing either
            self.devices.disconnect(cut)
            columns = self.devices.columns()
        served = replace(
            m, load_kwh=np.where(cut, 0.0, m.load_kwh), device_kwh=device, device_columns=columns
        )
        return SlotReading(served, d)

    @staticmethod
    def read(m: SlotCommitments, fleet: BatteryFleet, slot_hours: float) -> SlotReading:
        """What the meters read after delivering the commitments ``m``."""
        # the devices' net energy with the load: an export cap curtails PV only (a CHP or a
        # wind turbine behind the meter is not curtailed by the PV inverter)
        d = deliver(
            m.load_kwh if m.device_kwh is None else m.load_kwh + m.device_kwh,
            m.pv_kwh,
            m.soc_kwh,
            fleet,
            slot_hours,
            m.orders.side,
            m.filled_kwh,
            m.check.export_cap_kwh if m.check is not None else None,
            m.setpoint_kwh,
            m.orders.forecast_net_kwh if m.setpoint_kwh is not None else None,
        )
        return SlotReading(m, d)

    def run(
        self,
        env: simpy.Environment,
        inbox: simpy.Store,
        to_grid: simpy.Store,
        to_settle: simpy.Store,
        soc_out: simpy.Store,
    ) -> Event:
        """Deliver each slot over its length, then hand the reading on."""
        clock = self.clock
        for _ in clock.slots():
            m: SlotCommitments | Stop = yield inbox.get()
            if isinstance(m, Stop):
                yield to_grid.put(m)
                yield to_settle.put(m)
                return
            with self.timer.stage("delivery"):
                reading = self.disconnect(self.read(m, self.fleet, clock.slot_hours))
            yield env.timeout((m.k + 1) * clock.slot_minutes - env.now)  # delivery lasts the slot
            yield to_grid.put(reading)
            yield to_settle.put(reading)
            yield soc_out.put(reading.delivery.soc_kwh)


class GridProcess:
    """The AC power flow of the readings, a chunk of slots per batch.

    Nothing in a slot reads the flow's result, so the backend gets a chunk of slots at once
    (lightsim2grid solves them in one call, bit-identical to slot by slot).
    """

    def __init__(
        self,
        flow: PowerFlow,
        tan_phi: float | np.ndarray,
        clock: SlotClock,
        timer: StageTimer,
        faults: FaultEvents | None = None,
    ) -> None:
        self.flow, self.tan_phi, self.clock, self.timer = flow, tan_phi, clock, timer
        self.faults = faults

    def solve(self, readings: list[SlotReading]) -> list[FlowResult]:
        """Power flows of consecutive readings (reactive power from the base load)."""
        slot_h = self.clock.slot_hours
        p_kw = np.stack([x.delivery.net_kwh for x in readings]) / slot_h
        q_kvar = np.stack([x.market.load_kwh for x in readings]) / slot_h * self.tan_phi
        if self.faults is None:
            return self.flow.solve_batch(p_kw, q_kvar)
        return self.solve_per_network(readings, p_kw, q_kvar)

    def solve_per_network(
        self, readings: list[SlotReading], p_kw: np.ndarray, q_kvar: np.ndarray
    ) -> list[FlowResult]:
        """Runs of slots on the same network (outage set), each on its own (docs/faults.md)."""
        assert self.faults is not None
        outages = [self.faults.outage(x.market.k) for x in readings]
        out: list[FlowResult] = []
        i = 0
        while i < len(readings):
            j = i + 1
            while j < len(readings) and outages[j] == outages[i]:
                j += 1
            self.flow.set_outage(outages[i])
            out.extend(self.flow.solve_batch(p_kw[i:j], q_kvar[i:j]))
            i = j
        return out

    def run(self, env: simpy.Environment, inbox: simpy.Store, out: simpy.Store) -> Event:
        """Collect a chunk of readings, solve them, pass the flows on in slot order."""
        clock = self.clock
        pending: list[SlotReading] = []
        for k in clock.slots():
            r: SlotReading | Stop = yield inbox.get()
            if not isinstance(r, Stop):
                pending.append(r)
                if len(pending) < clock.chunk_slots and k < clock.n_slots - 1:
                    continue
            flows: list[FlowResult] = []
            if pending:
                with self.timer.stage("power_flow"):
                    flows = self.solve(pending)
            pending = []
            for flow in flows:
                yield out.put(flow)
            if isinstance(r, Stop):
                yield out.put(r)
                return


class SettlementProcess:
    """Bills each slot under every model, a chunk of slots per call of the backend.

    Nothing in a slot reads its bills either; a chunk holds at most about
    :data:`SETTLE_CHUNK_VALUES` participant-slots and ends at each checkpoint, where the
    backend's state is contributed.
    """

    def __init__(
        self,
        backend: SettlementBackend,
        participants: int,
        clock: SlotClock,
        assembler: CheckpointAssembler,
        timer: StageTimer,
        faults: FaultEvents | None = None,
    ) -> None:
        self.backend, self.clock, self.assembler, self.timer = backend, clock, assembler, timer
        self.size = min(clock.chunk_slots, max(1, SETTLE_CHUNK_VALUES // max(participants, 1)))
        self.faults = faults

    def await_readings(
        self, env: simpy.Environment, reading: SlotReading
    ) -> Generator[simpy.Event, Any, SlotReading]:
        """Faults: wait for the slot's late readings until the deadline; mark the missing."""
        if self.faults is None:
            return reading
        missing = yield from self.faults.readings(env, reading.market.k)
        return replace(reading, missing=missing) if missing.any() else reading

    def send(self, env: simpy.Environment, settled: SlotSettled) -> Event:
        """Faults: the slot's settlement messages on their way (a delay, if any)."""
        if self.faults is not None:
            yield from self.faults.settlement_messages(env, settled.reading.market.k)

    def settle(self, readings: list[SlotReading]) -> list[dict[str, float]]:
        """Bill consecutive slots; per slot and model the supplier energy [kWh]."""
        side = np.stack([x.market.orders.side for x in readings])
        acc, c, dev, net = (
            np.stack([getattr(x.delivery, name) for x in readings])
            for name in ("accepted", "committed_kwh", "deviation_kwh", "net_kwh")
        )
        p2p = np.stack([x.market.p2p_price for x in readings])
        slot_price = np.array([x.market.clearing.clearing_price for x in readings])
        if any(x.missing is not None for x in readings):  # not accepted: docs/faults.md
            missing = np.stack(
                [
                    np.zeros(side.shape[1], bool) if x.missing is None else x.missing
                    for x in readings
                ]
            )
            acc, c, dev, p2p = mark_missing(side, acc, c, dev, p2p, missing)
        per_model = self.backend.settle_chunk(side, acc, c, dev, net, p2p, slot_price)
        return [{m: float(e[t]) for m, e in per_model.items()} for t in range(len(readings))]

    def run(self, env: simpy.Environment, inbox: simpy.Store, out: simpy.Store) -> Event:
        """Collect readings up to a chunk, settle them, pass them on in slot order."""
        clock = self.clock
        pending: list[SlotReading] = []
        for _ in clock.slots():
            r: SlotReading | Stop = yield inbox.get()
            if not isinstance(r, Stop):
                r = yield from self.await_readings(env, r)
                pending.append(r)
                k = r.market.k
                if len(pending) < self.size and k < clock.n_slots - 1 and not clock.boundary(k + 1):
                    continue
            if pending:
                with self.timer.stage("settlement"):
                    energies = self.settle(pending)
                last = pending[-1].market.k
                if clock.boundary(last + 1):
                    with self.timer.stage("checkpoint"):
                        self.assembler.contribute(last + 1, "settlement", self.backend)
                for reading, energy in zip(pending, energies, strict=True):
                    settled = SlotSettled(reading, energy)
                    yield from self.send(env, settled)
                    yield out.put(settled)
                pending = []
            if isinstance(r, Stop):
                self.assembler.contribute(r.slot, "settlement", self.backend)
                yield out.put(r)
                return


class PrivateMeteringHook(Protocol):
    """The meters' private aggregation (:class:`cosim.privacy.metering.PrivateMetering`)."""

    def record_slot(
        self, k: int, rows: Mapping[str, Any], flow: FlowResult, slot_hours: float
    ) -> None: ...


class RecorderProcess:
    """Records each completed slot, flushes after each chunk and contributes the checkpoint."""

    def __init__(
        self,
        recorder: Recorder,
        clock: SlotClock,
        assembler: CheckpointAssembler,
        timer: StageTimer,
        progress: Callable[[int], None] | None = None,
        privacy: PrivateMeteringHook | None = None,
        faults: FaultEvents | None = None,
    ) -> None:
        self.recorder, self.clock, self.assembler, self.timer = recorder, clock, assembler, timer
        self.progress, self.privacy, self.faults = progress, privacy, faults

    @property
    def writer(self) -> ResultWriter:
        """The recorder's result writer."""
        return self.recorder.writer

    def run(self, env: simpy.Environment, flows_in: simpy.Store, settled_in: simpy.Store) -> Event:
        """One slot at a time, in order, once both its flow and its bills are in."""
        clock, timer, totals = self.clock, self.timer, self.recorder.totals
        for k in clock.slots():
            flow: FlowResult | Stop = yield flows_in.get()
            settled: SlotSettled | Stop = yield settled_in.get()
            if isinstance(flow, Stop) or isinstance(settled, Stop):
                stop = flow if isinstance(flow, Stop) else settled
                assert isinstance(stop, Stop)
                with timer.stage("writing"):
                    self.writer.flush()
                    self.assembler.contribute(stop.slot, "recorder", totals)
                totals.stopped_at = stop.slot
                return
            with timer.stage("recording"):
                rows = self.recorder.record_slot(settled.reading, flow, settled.supplier_energy_kwh)
                if self.privacy is not None:  # the meters' aggregation and the GO's monitoring
                    self.privacy.record_slot(k, rows, flow, clock.slot_hours)
                if self.faults is not None:  # every event of the slot has happened by now
                    self.recorder.record_faults(self.faults.log.take(k))
                self.writer.end_slot()  # flushes after each chunk
            if clock.boundary(k + 1):
                with timer.stage("checkpoint"):
                    self.writer.flush()  # the checkpoint follows the rows of every slot before it
                    self.assembler.contribute(k + 1, "recorder", totals)
            if self.progress is not None:
                self.progress(k + 1)
