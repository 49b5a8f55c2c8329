"""Building a simulation from a scenario: network, participants, profiles, grid and settlement.

:func:`build_simulation` does every check that needs files (network JSON, profile CSVs) and
returns a :class:`Simulation`; :func:`cosim.engine.run.run_simulation` then runs it. The builders
of the configured backends (power flow, network check, settlement) live here too.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cosim.checks import check_inputs
from cosim.errors import InputError
from cosim.grid.lightsim import LightsimFlow
from cosim.grid.linear import LinearGridModel, derate
from cosim.grid.networks import Attachment, attach_participants, load_network
from cosim.grid.powerflow import PandapowerFlow
from cosim.participants.fulfilment import Orders, plan_orders
from cosim.participants.population import (
    Population,
    ProfileFeed,
    build_population,
    load_profile_set,
    random_streams,
)
from cosim.participants.strategies import BatteryPlanner
from cosim.privacy.groups import (
    bus_participants,
    line_participants,
    participant_groups,
)
from cosim.privacy.metering import PrivateMetering
from cosim.privacy.schemes import SharedKey
from cosim.results.writer import ResultWriter
from cosim.scenario import Scenario
from cosim.settlement.billing import Prices
from cosim.settlement.ledger import Ledger
from cosim.settlement.protocol import EncryptedSettlement

__all__ = ["Simulation", "build_simulation", "check_margins", "make_settlement", "open_writer"]


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
    flow : PandapowerFlow
        Grid adapter (AC power flow).
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
    planner : BatteryPlanner or None
        Battery set-points of ``price`` and ``rolling`` (None: self-consumption).
    privacy : PrivateMetering or None
        Privacy-preserving metering and role views (None: ``privacy.aggregation: none`` and
        ``privacy.views: none``).
    chunk_slots : int
        Slots per chunk of results (and between checkpoints): ``output.chunk_slots``, fewer
        where a chunk would buffer more than ``output.chunk_rows`` rows.
    """

    scenario: Scenario
    attachment: Attachment
    population: Population
    feed: ProfileFeed
    flow: PandapowerFlow | LightsimFlow
    linear: LinearGridModel | None
    slack_bus: int
    streams: dict[str, np.random.Generator]
    slot_times: pd.DatetimeIndex
    build_seconds: float
    planner: BatteryPlanner | None = None
    privacy: PrivateMetering | None = None
    chunk_slots: int = 1

    def self_consumption_orders(
        self, load_kwh: np.ndarray, pv_kwh: np.ndarray, soc_kwh: np.ndarray
    ) -> Orders:
        """Orders of one slot with self-consumption batteries, from the scenario's settings.

        :func:`cosim.participants.fulfilment.plan_orders` with the run's forecast error, order
        threshold,
        prices, bid strategy and random streams (it draws from ``forecast`` and ``prices``).
        """
        sc = self.scenario
        return plan_orders(
            load_kwh,
            pv_kwh,
            soc_kwh,
            self.population.battery,
            sc.time.slot_hours,
            sc.fulfilment.forecast_error,
            sc.market.min_order_kwh,
            sc.market.feed_in_tariff,
            sc.market.retail_price,
            sc.market.bid_strategy,
            self.streams["forecast"],
            self.streams["prices"],
        )


def build_simulation(scenario: Scenario) -> Simulation:
    """Load the network and profiles, draw the participants, set up the grid adapter.

    Raises
    ------
    InputError
        For a network or profile file that cannot be used, or inputs a run would fail on or
        that are implausible (:func:`cosim.checks.check_inputs`): every check of the inputs
        happens here, before any slot runs.
    """
    t0 = time.perf_counter()
    net = load_network(scenario.network.name, scenario.source_file)
    attachment = attach_participants(
        net, scenario.network.name, scenario.network.household_rating_kw
    )
    streams = random_streams(scenario.seed)
    profiles = load_profile_set(scenario)
    population = build_population(scenario, attachment, profiles, streams["population"])
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
    planner = None
    if scenario.participants.battery_strategy != "self_consumption":
        model = linear if linear is not None and linear.kind == "lindistflow" else None
        if scenario.participants.battery_strategy == "rolling" and model is None:
            model = _rolling_model(scenario, net)
        planner = BatteryPlanner(scenario, population, feed, streams["horizon"], model)
    privacy = _private_metering(scenario, net, population, flow, times, streams["privacy"])
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
        planner,
        privacy=privacy,
        chunk_slots=chunk_slots(
            scenario, population.n, flow.bus_ids.size, flow.line_ids.size, flow.trafo_ids.size
        ),
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
    flow: PandapowerFlow | LightsimFlow,
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


def check_margins(scenario: Scenario) -> tuple[float, float]:
    """Thermal and voltage margins of the network check."""
    m = scenario.market
    default = {"lindistflow": 0.04, "dc": 0.15}.get(m.network_check, 0.0)
    thermal = m.network_margin if m.network_margin is not None else default
    return thermal, m.network_voltage_margin_pu


def make_settlement(
    scenario: Scenario, pop: Population, prices: Prices, slot_times: pd.DatetimeIndex
) -> Ledger | EncryptedSettlement:
    """The configured settlement backend: the plaintext Ledger or the PPBSP protocol."""
    st = scenario.settlement
    if st.encryption == "plain":
        return Ledger(st.models, pop.supplier, st.suppliers, prices)
    return EncryptedSettlement(
        st.models,
        pop.supplier,
        st.suppliers,
        prices,
        backend=st.encryption,
        key_bits=st.key_bits,
        period=st.period,
        slot_times=slot_times,
        workers=st.workers,
        insecure_test_keys=st.insecure_test_keys,
        min_aggregate_members=st.min_aggregate_members,
        go_key_sharing=scenario.privacy.aggregation == "threshold_paillier"
        and st.encryption.startswith("paillier"),
    )


def _grid_adapter(scenario: Scenario, net: Any, bus: np.ndarray) -> PandapowerFlow | LightsimFlow:
    """The configured power-flow backend (each works on its own prepared copy of ``net``)."""
    if scenario.grid.backend == "lightsim2grid":
        try:
            return LightsimFlow(net, bus)
        except ValueError as exc:
            raise InputError(
                scenario.source_file,
                "grid.backend",
                f"lightsim2grid cannot model this network ({exc}); use pandapower",
            ) from None
    return PandapowerFlow(net, bus)


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
    extra = {"slots": [f"supplier_energy_kwh_{m}" for m in scenario.settlement.models]}
    if scenario.participants.battery_strategy != "self_consumption":
        extra["slots"].append("battery_plan_status")
        extra["participants"] = ["battery_setpoint_kwh"]
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
