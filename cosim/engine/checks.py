"""Build-time input checks: everything a run needs is checked before its first slot.

:func:`check_inputs` is called by :func:`cosim.engine.build.build_simulation`, so ``cosim
validate`` and ``cosim run`` refuse the same scenarios, and a run stops before it writes
anything. Two kinds of checks (docs/checks.md):

* **hard checks**, always on: the profile tables cover the simulated period (shifts included),
  and every participant's bus is in service and connected to the external grid;
* **plausibility limits** (section ``checks``): values far outside what an LV household or
  business uses, with a message naming the likely unit mistake ("mean household load 412 kW:
  is the file in W?"). Each limit is a scenario key, and ``checks.plausibility: false``
  switches them all off, for a scenario that really means it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cosim.errors import InputError
from cosim.grid.networks import Attachment, check_participant_buses
from cosim.participants.population import Population, ProfileSet, load_scaling
from cosim.participants.profiles import ProfileTable, check_coverage
from cosim.scenario import Scenario

__all__ = ["check_inputs"]

_OVERRIDE = "raise {key} or set checks.plausibility: false if you mean it"


def check_inputs(
    scenario: Scenario,
    net: Any,
    attachment: Attachment,
    population: Population,
    profiles: ProfileSet,
) -> None:
    """Refuse inputs a run would fail on, or that are implausible (see module docstring).

    Parameters
    ----------
    scenario : Scenario
    net : pandapowerNet
        The network as loaded.
    attachment : Attachment
    population : Population
    profiles : ProfileSet

    Raises
    ------
    InputError
        Naming the file, the scenario key and the likely cause.
    """
    c = scenario.checks
    file = scenario.source_file
    check_participant_buses(
        net, attachment, file, c.max_participant_bus_kv if c.plausibility else None
    )
    _check_coverage(scenario, population, profiles)
    if c.plausibility:
        _check_scenario_values(scenario)
        _check_loads(scenario, population, profiles)
        _check_pv(scenario, population, profiles)


def _check_coverage(scenario: Scenario, pop: Population, profiles: ProfileSet) -> None:
    """Every table a participant reads covers the simulated period."""
    t = scenario.time
    start = pd.Timestamp(t.start)
    comm = pop.kind == "commercial"
    uses = [
        (profiles.household, pop.load_shift_minutes[~comm]),
        (profiles.commercial, pop.load_shift_minutes[comm]),
        (profiles.pv, pop.pv_shift_minutes[pop.pv_kwp > 0]),
    ]
    for table, shifts in uses:
        if shifts.size:
            check_coverage(table, shifts, start, t.slots, t.slot_minutes)


def _check_scenario_values(scenario: Scenario) -> None:
    c, p, b = scenario.checks, scenario.participants, scenario.battery
    file = scenario.source_file
    if p.pv_penetration > 0 and p.pv_kwp > c.max_pv_kwp:
        raise InputError(
            file,
            "participants.pv_kwp",
            f"at most checks.max_pv_kwp = {c.max_pv_kwp:g} kWp per participant, got "
            f"{p.pv_kwp:g} kWp: is it in W? ({_OVERRIDE.format(key='checks.max_pv_kwp')})",
        )
    if p.battery_penetration > 0 and b.capacity_kwh > c.max_battery_kwh:
        raise InputError(
            file,
            "battery.capacity_kwh",
            f"at most checks.max_battery_kwh = {c.max_battery_kwh:g} kWh per participant, got "
            f"{b.capacity_kwh:g} kWh: is it in Wh? "
            f"({_OVERRIDE.format(key='checks.max_battery_kwh')})",
        )


def _where(scenario: Scenario, table: ProfileTable, key: str) -> tuple[str, str]:
    """Scenario key to blame and a description of where a load table's values came from."""
    if load_scaling(scenario.participants, table) == "as_given":
        return key, f"from {table.source} used as given in kW: is the file in W?"
    return (
        "participants.annual_load_kwh",
        f"from participants.annual_load_kwh = {scenario.participants.annual_load_kwh:g}: "
        "is it in Wh?",
    )


def _check_loads(scenario: Scenario, pop: Population, profiles: ProfileSet) -> None:
    c = scenario.checks
    file = scenario.source_file
    comm = pop.kind == "commercial"
    house = ~comm
    if house.any():
        table = profiles.household
        column_mean_kw = table.values.mean(axis=0)
        mean_kw = float(np.mean(pop.load_factor[house] * column_mean_kw[pop.profile_column[house]]))
        key, cause = _where(scenario, table, "participants.load_profiles")
        if mean_kw > c.max_household_mean_kw:
            raise InputError(
                file,
                key,
                f"mean household load {mean_kw:.4g} kW {cause} (expected at most "
                f"checks.max_household_mean_kw = {c.max_household_mean_kw:g} kW; "
                f"{_OVERRIDE.format(key='checks.max_household_mean_kw')})",
            )
        if mean_kw < c.min_household_mean_kw:
            cause = cause.replace(" in W?", " in MW?").replace(" in Wh?", " in MWh?")
            raise InputError(
                file,
                key,
                f"mean household load {mean_kw:.4g} kW {cause} (expected at least "
                f"checks.min_household_mean_kw = {c.min_household_mean_kw:g} kW; lower it or "
                "set checks.plausibility: false if you mean it)",
            )
    if comm.any():
        table = profiles.commercial
        column_mean_kw = table.values.mean(axis=0)
        each = pop.load_factor[comm] * column_mean_kw[pop.profile_column[comm]]
        if each.max() > c.max_commercial_mean_kw:
            if load_scaling(scenario.participants, table) == "as_given":
                key, cause = (
                    "participants.commercial_profiles",
                    f"from {table.source} used as given in kW: is the file in W?",
                )
            else:
                key, cause = (
                    "network.name",
                    "(its peak is its load's rating in the network): is the load's p_mw in kW?",
                )
            raise InputError(
                file,
                key,
                f"mean load of a business {each.max():.4g} kW {cause} (expected at most "
                f"checks.max_commercial_mean_kw = {c.max_commercial_mean_kw:g} kW; "
                f"{_OVERRIDE.format(key='checks.max_commercial_mean_kw')})",
            )


def _check_pv(scenario: Scenario, pop: Population, profiles: ProfileSet) -> None:
    c = scenario.checks
    has_pv = pop.pv_kwp > 0
    if not has_pv.any():
        return
    table = profiles.pv
    used = np.unique(pop.pv_column[has_pv])
    peak = table.values[:, used].max(axis=0)
    worst = int(np.argmax(peak))
    if peak[worst] > c.max_pv_kw_per_kwp:
        raise InputError(
            scenario.source_file,
            "participants.pv_profiles",
            f"PV output {peak[worst]:.4g} kW/kWp at its peak (column "
            f"{table.names[int(used[worst])]}_p_kw_per_kwp of {table.source}): is the file in "
            f"W/kWp, or in kW rather than per kWp? (expected at most "
            f"checks.max_pv_kw_per_kwp = {c.max_pv_kw_per_kwp:g}; "
            f"{_OVERRIDE.format(key='checks.max_pv_kw_per_kwp')})",
        )
