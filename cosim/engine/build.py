"""Building a simulation from a scenario: network, participants, profiles, grid and settlement.

:func:`build_simulation` does every check that needs files (network JSON, profile CSVs) and
returns a :class:`Simulation`; :func:`cosim.engine.run.run_simulation` then runs it. This is
the only place below the CLI that reads the :class:`~cosim.scenario.Scenario`: it turns its
sections into the value objects the layers below take (bidding policy, horizon settings,
network limits, run description) and asks each axis's registry for the implementation the
scenario names (power flow, battery strategy, settlement backend).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cosim.engine.checks import check_inputs
from cosim.engine.processes import Market
from cosim.errors import InputError
from cosim.faults import FaultEvents, build_fault_events
from cosim.grid.flows import POWER_FLOWS, PowerFlow
from cosim.grid.limits import NetworkLimits
from cosim.grid.linear import LinearGridModel, derate
from cosim.grid.networks import Attachment, attach_participants, load_network
from cosim.participants.devices import DeviceContext, DeviceSet, build_devices
from cosim.participants.fulfilment import BiddingPolicy
from cosim.participants.planner import HorizonSettings, stored_energy_price
from cosim.participants.population import (
    Population,
    ProfileFeed,
    build_population,
    load_profile_set,
    random_streams,
)
from cosim.participants.strategies import BATTERY_STRATEGIES, BatteryStrategy, StrategyContext
from cosim.privacy.groups import (
    bus_participants,
    line_participants,
    participant_groups,
)
from cosim.privacy.metering import PrivateMetering
from cosim.privacy.schemes import SharedKey
from cosim.results.recorder import RunInfo
from cosim.results.writer import ResultWriter
from cosim.scenario import Scenario
from cosim.settlement.backend import SETTLEMENT_BACKENDS, SettlementBackend, SettlementSetup
from cosim.settlement.schemes import SCHEMES
from cosim.settlement.terms import Prices

__all__ = [
    "Simulation",
    "bidding_policy",
    "build_simulation",
    "make_settlement",
    "network_limits",
    "open_writer",
    "run_info",
]


@dataclass
class Simulation:
    """Everything one run needs, built from a scenario (no I/O done yet).

    Attributes
    ----------
    scenario : Scenario
    attachment : Attachment
        Participants' connection points.
    population : Population
    feed : ProfileFeed
        Load and PV energy per slot.
    flow : PowerFlow
        Grid adapter (AC power flow), from the ``grid.backend`` registry.
    linear : LinearGridModel or None
        Linear network model of the network check (None without a check).
    slack_bus : int
        pandapower index of the external-grid bus.
    streams : dict of numpy.random.Generator
        Seeded random streams.
    slot_times : pandas.DatetimeIndex
        Start of each slot (tz-aware).
    build_seconds : float
        Time to build [s].
    strategy : BatteryStrategy
        From the ``participants.battery_strategy`` registry.
    market : Market
        The market step (auction and network check).
    devices : DeviceSet
        The participants' other devices (``devices:``, from the device registry; empty
        without any).
    privacy : PrivateMetering or None
        Privacy-preserving metering and role views (None: ``privacy.aggregation: none`` and
        ``privacy.views: none``).
    faults : FaultEvents or None
        The run's faults (``faults:``, docs/faults.md; None without any).
    chunk_slots : int
        Slots per chunk of results (and between checkpoints): ``output.chunk_slots``, fewer
        where a chunk would buffer more than ``output.chunk_rows`` rows.
    """

    scenario: Scenario
    attachment: Attachment
    population: Population
    feed: ProfileFeed
    flow: PowerFlow
    linear: LinearGridModel | None
    slack_bus: int
    streams: dict[str, np.random.Generator]
    slot_times: pd.DatetimeIndex
    build_seconds: float
    strategy: BatteryStrategy
    market: Market
    devices: DeviceSet
    privacy: PrivateMetering | None = None
    chunk_slots: int = 1
    faults: FaultEvents | None = None


def bidding_policy(scenario: Scenario) -> BiddingPolicy:
    """How participants forecast and bid, from ``fulfilment:`` and ``market:``."""
    m = scenario.market
    return BiddingPolicy(
        scenario.fulfilment.forecast_error,
        m.min_order_kwh,
        m.feed_in_tariff,
        m.retail_price,
        m.bid_strategy,
    )


def network_limits(scenario: Scenario, model: str) -> NetworkLimits:
    """Voltage band and margins of a linear network ``model`` (``dc``, ``lindistflow``)."""
    g, m = scenario.grid, scenario.market
    return NetworkLimits.for_model(
        model, g.v_min_pu, g.v_max_pu, m.network_margin, m.network_voltage_margin_pu
    )


def horizon_settings(scenario: Scenario) -> HorizonSettings:
    """The battery planners' horizon, from ``battery:`` and ``time:``."""
    b, m = scenario.battery, scenario.market
    return HorizonSettings(
        horizon_slots=b.horizon_slots,
        n_slots=scenario.time.slots,
        slot_hours=scenario.time.slot_hours,
        stored_energy_price=stored_energy_price(
            b.stored_energy_price_per_kwh, m.feed_in_tariff, m.retail_price
        ),
        rolling_objective=b.rolling_objective,
        trade_penalty_per_kwh=b.trade_penalty_per_kwh,
        target_import_kw=b.target_import_kw,
    )


def build_simulation(scenario: Scenario) -> Simulation:
    """Load the network and profiles, draw the participants, set up the grid adapter.

    Raises
    ------
    InputError
        For a network or profile file that cannot be used, or inputs a run would fail on or
        that are implausible (:func:`cosim.engine.checks.check_inputs`): every check of the inputs
        happens here, before any slot runs.
    """
    t0 = time.perf_counter()
    net = load_network(scenario.network.name, scenario.source_file)
    attachment = attach_participants(
        net, scenario.network.name, scenario.network.household_rating_kw
    )
    streams = random_streams(scenario.seed)
    profiles = load_profile_set(scenario.participants, scenario.source_file)
    population = build_population(
        scenario.participants,
        scenario.battery,
        scenario.settlement.suppliers,
        attachment,
        profiles,
        streams["population"],
    )
    check_inputs(scenario, net, attachment, population, profiles)
    start = pd.Timestamp(scenario.time.start)
    feed = ProfileFeed(
        population, profiles, start, scenario.time.slot_minutes, scenario.output.chunk_slots
    )
    g = scenario.grid
    net = derate(net, g.line_rating_factor, g.trafo_rating_factor)
    flow = _grid_adapter(scenario, net, population.bus)
    linear = _linear_model(scenario, net)
    on = net.ext_grid[net.ext_grid["in_service"].astype(bool)]
    slack_bus = int(on["bus"].iloc[0])
    times = pd.date_range(
        start, periods=scenario.time.slots, freq=pd.Timedelta(minutes=scenario.time.slot_minutes)
    )
    policy = bidding_policy(scenario)

    def feeder_model() -> LinearGridModel:
        if linear is not None and linear.kind == "lindistflow":
            return linear
        return _rolling_model(scenario, net)

    strategy = BATTERY_STRATEGIES.load(scenario.participants.battery_strategy)(
        StrategyContext(
            name=scenario.participants.battery_strategy,
            population=population,
            feed=feed,
            policy=policy,
            horizon=horizon_settings(scenario),
            horizon_rng=streams["horizon"],
            feeder_model=feeder_model,
            feeder_limits=network_limits(scenario, "lindistflow"),
            network=net,
            dispatch=scenario.dispatch,
        )
    )
    market = Market(
        scenario.market.mechanism,
        population.bus,
        population.tan_phi,
        scenario.time.slot_hours,
        linear,
        slack_bus,
        network_limits(scenario, scenario.market.network_check),
    )
    devices = build_devices(
        scenario.devices,
        DeviceContext(population.n, population.kind, scenario.time.slot_minutes, times),
        scenario.seed,
        scenario.source_file,
    )
    privacy = _private_metering(scenario, net, population, flow, times, streams["privacy"])
    faults = _fault_events(scenario, net, population, flow, linear)
    return Simulation(
        scenario,
        attachment,
        population,
        feed,
        flow,
        linear,
        slack_bus,
        streams,
        times,
        time.perf_counter() - t0,
        strategy,
        market,
        devices,
        privacy=privacy,
        chunk_slots=chunk_slots(
            scenario, population.n, flow.bus_ids.size, flow.line_ids.size, flow.trafo_ids.size
        ),
        faults=faults,
    )


def _fault_events(
    scenario: Scenario,
    net: Any,
    pop: Population,
    flow: PowerFlow,
    linear: LinearGridModel | None,
) -> FaultEvents | None:
    """The ``faults:`` of the run, drawn up front (None when none is configured)."""
    check = scenario.market.network_check
    return build_fault_events(
        scenario.faults, scenario.seed, scenario.time.slots, scenario.time.slot_minutes, net,
        pop.bus, flow.line_ids, flow.trafo_ids, None if check == "none" else check, linear,
        scenario.source_file,
    )  # fmt: skip


def run_info(sim: Simulation) -> RunInfo:
    """The description of a run that ``summary.json`` repeats."""
    sc, pop, flow = sim.scenario, sim.population, sim.flow
    st = sc.settlement
    return RunInfo(
        name=sc.name,
        seed=sc.seed,
        slots=sc.time.slots,
        slot_minutes=sc.time.slot_minutes,
        slot_times=tuple(t.isoformat() for t in sim.slot_times),
        network=sc.network.name,
        participants=pop.n,
        participants_with_pv=int((pop.pv_kwp > 0).sum()),
        participants_with_battery=int((pop.battery.capacity_kwh > 0).sum()),
        buses=int(flow.bus_ids.size),
        lines=int(flow.line_ids.size),
        trafos=int(flow.trafo_ids.size),
        build_seconds=sim.build_seconds,
        retail_price=sc.market.retail_price,
        feed_in_tariff=sc.market.feed_in_tariff,
        encryption=st.encryption,
        period=st.period,
        key_bits=st.key_bits
        if st.encryption in SCHEMES and SCHEMES[st.encryption].uses_key_bits
        else None,
        network_check=sc.market.network_check,
        line_rating_factor=sc.grid.line_rating_factor,
        trafo_rating_factor=sc.grid.trafo_rating_factor,
        battery_strategy=sc.participants.battery_strategy,
        faults=sim.faults is not None,
    )


def chunk_slots(scenario: Scenario, participants: int, buses: int, lines: int, trafos: int) -> int:
    """Slots per chunk: ``output.chunk_slots``, or fewer so a chunk buffers at most
    ``output.chunk_rows`` rows (trades counted at their bound, one per participant).

    >>> from cosim.scenario import scenario_from_mapping
    >>> sc = scenario_from_mapping({"name": "x", "output": {"chunk_rows": 100_000}})
    >>> chunk_slots(sc, participants=5000, buses=8000, lines=8000, trafos=100)
    3
    """
    out = scenario.output
    rows = 1 + participants + out.participants * participants + trafos
    rows += out.buses * buses + out.lines * lines
    return max(1, min(out.chunk_slots, out.chunk_rows // rows))


def privacy_min_members(scenario: Scenario) -> int:
    """k of every privacy release: the larger of the privacy and the settlement setting."""
    return max(scenario.privacy.min_group_members, scenario.settlement.min_aggregate_members)


def _private_metering(
    scenario: Scenario,
    net: Any,
    pop: Population,
    flow: PowerFlow,
    times: pd.DatetimeIndex,
    rng: np.random.Generator,
) -> PrivateMetering | None:
    """The ``privacy:`` component (None when it has nothing to do)."""
    cfg = scenario.privacy
    if cfg.aggregation == "none" and cfg.views == "none":
        return None
    try:
        groups = participant_groups(net, pop.bus, cfg.groups, cfg.explicit_groups)
    except ValueError as exc:
        raise InputError(scenario.source_file, "privacy.explicit_groups", str(exc)) from None
    fed = {g.name: int(g.members.size) for g in participant_groups(net, pop.bus, "transformer")}
    trafo_counts = np.array([fed.get(f"trafo_{int(t)}", 0) for t in flow.trafo_ids])
    key = None
    if cfg.aggregation == "threshold_paillier":
        key = SharedKey(cfg.key_bits)
    return PrivateMetering(
        cfg,
        privacy_min_members(scenario),
        groups,
        pop.kind,
        flow.bus_ids,
        flow.line_ids,
        flow.trafo_ids,
        bus_participants(flow.bus_ids, pop.bus),
        line_participants(net, flow.line_ids, pop.bus),
        trafo_counts,
        times,
        rng,
        key,
    )


def _rolling_model(scenario: Scenario, net: Any) -> LinearGridModel:
    """The LinDistFlow model of the ``rolling`` battery strategy."""
    try:
        return LinearGridModel.from_pandapower(net, "lindistflow")
    except ValueError as exc:
        raise InputError(
            scenario.source_file,
            "participants.battery_strategy",
            f"rolling needs a radial network for its LinDistFlow model ({exc})",
        ) from None


def _linear_model(scenario: Scenario, net: Any) -> LinearGridModel | None:
    """The linear network model of ``market.network_check`` (None for ``none``)."""
    kind = scenario.market.network_check
    if kind == "none":
        return None
    try:
        return LinearGridModel.from_pandapower(net, kind)
    except ValueError as exc:
        raise InputError(
            scenario.source_file,
            "market.network_check",
            f"{kind} cannot model this network ({exc})",
        ) from None


def _uses_key_bits(encryption: str) -> bool:
    """Whether ``settlement.key_bits`` applies (a Paillier scheme)."""
    scheme = SCHEMES.get(encryption)
    return scheme is not None and scheme.uses_key_bits


def make_settlement(
    scenario: Scenario,
    pop: Population,
    prices: Prices,
    slot_times: pd.DatetimeIndex,
    faults: FaultEvents | None = None,
) -> SettlementBackend:
    """The ``settlement.encryption`` backend from its registry: the plaintext ledger or the
    PPBSP protocol with an encryption scheme.

    With ``faults``, an encrypted backend is not delivered the payloads of missing readings
    (:meth:`cosim.faults.FaultEvents.payload_filter`; docs/faults.md).
    """
    st = scenario.settlement
    setup = SettlementSetup(
        models=tuple(st.models),
        supplier=pop.supplier,
        suppliers=st.suppliers,
        prices=prices,
        slot_times=slot_times,
        period=st.period,
        key_bits=st.key_bits,
        workers=st.workers,
        insecure_test_keys=st.insecure_test_keys,
        min_aggregate_members=st.min_aggregate_members,
        threshold_metering=scenario.privacy.aggregation == "threshold_paillier",
        tamper=faults.payload_filter() if faults is not None else None,
    )
    return SETTLEMENT_BACKENDS.load(st.encryption)(st.encryption, setup)


def _grid_adapter(scenario: Scenario, net: Any, bus: np.ndarray) -> PowerFlow:
    """The ``grid.backend`` power flow (each works on its own prepared copy of ``net``)."""
    name = scenario.grid.backend
    try:
        return POWER_FLOWS.load(name)(net, bus)
    except ValueError as exc:
        raise InputError(
            scenario.source_file, "grid.backend", f"{name} cannot model this network ({exc})"
        ) from None


def open_writer(
    sim: Simulation, out_dir: Path, resume_marks: Mapping[str, int] | None = None
) -> ResultWriter:
    """A :class:`ResultWriter` for the tables this simulation writes, into ``out_dir``.

    ``resume_marks`` (a checkpoint's ``table_bytes``) reopens the tables of an interrupted
    run, cut back to the checkpoint, instead of starting them afresh.
    """
    scenario = sim.scenario
    tables = ["slots", "trades", "trafos"]
    if scenario.output.participants:
        tables.append("participants")
    if scenario.output.buses:
        tables.append("buses")
    if scenario.output.lines:
        tables.append("lines")
    if scenario.output.aggregate != "none":
        tables += [
            f"participants_{scenario.output.aggregate}",
            f"buses_{scenario.output.aggregate}",
        ]
    if sim.faults is not None:
        tables.append("faults")
    extra = {"slots": [f"supplier_energy_kwh_{m}" for m in scenario.settlement.models]}
    if sim.strategy.plans_setpoints:
        extra["slots"].append("battery_plan_status")
        extra["participants"] = ["battery_setpoint_kwh"]
    if sim.devices:
        extra["slots"].append("device_kwh")
        extra.setdefault("participants", []).extend(sim.devices.column_names)
    out = scenario.output
    # a second process formats the CSVs while the run goes on, if there is more than one chunk
    background = out.background_writes and scenario.time.slots > sim.chunk_slots
    return ResultWriter(
        out_dir,
        tables,
        sim.chunk_slots,
        extra,
        background=background,
        resume_marks=resume_marks,
        table_format=out.format,
    )
