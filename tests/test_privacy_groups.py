"""Aggregation groups from the topology and the counts behind buses and lines."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandapower as pp
import pytest

from cosim.errors import InputError
from cosim.grid.networks import attach_participants, load_network
from cosim.privacy.groups import bus_participants, line_participants, participant_groups
from cosim.scenario import load_scenario
from cosim.simulation import build_simulation


@pytest.mark.parametrize("name", ["village", "cigre_lv"])
def test_groups_partition_the_participants(name: str) -> None:
    net = load_network(name)
    bus = attach_participants(net, name).bus
    by_trafo = participant_groups(net, bus, "transformer")
    by_feeder = participant_groups(net, bus, "feeder")
    for groups in (by_trafo, by_feeder):
        members = np.sort(np.concatenate([g.members for g in groups]))
        np.testing.assert_array_equal(members, np.arange(bus.size))
    # every feeder lies inside one transformer's group
    owner = {int(i): g.name for g in by_trafo for i in g.members}
    for g in by_feeder:
        assert len({owner[int(i)] for i in g.members}) == 1
    assert len(by_feeder) >= len(by_trafo)


def test_line_counts_match_an_opened_line() -> None:
    """Opening a line in pandapower de-energises exactly the participants counted behind it."""
    net = load_network("village")
    bus = attach_participants(net, "village").bus
    counts = line_participants(net, net.line.index.to_numpy(), bus)
    for line in (0, 10, 18, 50):
        cut = copy.deepcopy(net)
        cut.line.loc[line, "in_service"] = False
        unsupplied = pp.topology.unsupplied_buses(cut)
        assert counts[list(net.line.index).index(line)] == int(np.isin(bus, list(unsupplied)).sum())
    assert bus_participants(np.array([int(bus[0]), -1]), bus)[1] == 0


def test_explicit_groups_must_cover_everyone(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(
        "name: x\ntime: {slots: 2}\nnetwork: {name: village}\n"
        "privacy: {groups: explicit, explicit_groups: [[0, 1], [2]]}\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError, match=r"privacy\.explicit_groups"):
        build_simulation(load_scenario(path))
