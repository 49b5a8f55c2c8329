"""Participants behind each line (what a line's power would reveal), against brute force."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandapower as pp
import pandapower.topology as top
import pytest

from cosim.grid.networks import load_network
from cosim.privacy.groups import line_participants


def _brute_force(net, line_ids: np.ndarray, bus: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Open each line in turn and count the participants no external grid reaches."""
    total = bus.size
    out = np.full(line_ids.size, total)
    slack = set(net.ext_grid["bus"].astype(int))
    for i, line in enumerate(line_ids):
        in_service = net.line.at[line, "in_service"]
        net.line.at[line, "in_service"] = False
        graph = top.create_nxgraph(net, include_trafos=True)
        net.line.at[line, "in_service"] = in_service
        fed = set().union(*(nx.node_connected_component(graph, s) for s in slack))
        cut = int(sum(b not in fed for b in bus))
        if cut:
            out[i] = cut
    return out


@pytest.mark.parametrize("name", ["village", "cigre_lv"])
def test_counts_equal_brute_force_on_radial_and_meshed_networks(name: str) -> None:
    net = load_network(name, None)
    rng = np.random.default_rng(3)
    buses = net.bus.index.to_numpy()
    bus = rng.choice(buses, size=120)
    lines = net.line.index.to_numpy()
    radial = line_participants(net, lines, bus)
    np.testing.assert_array_equal(radial, _brute_force(net, lines, bus))
    assert (radial < bus.size).any()  # a radial feeder has lines with few participants behind
    # close a loop and double a line: lines in a mesh or in parallel reveal nobody
    far = lines[radial == radial.min()][0]
    a, b = int(net.line.at[far, "from_bus"]), int(net.line.at[far, "to_bus"])
    pp.create_line_from_parameters(net, a, b, 0.1, 0.2, 0.1, 0.0, 0.2)
    pp.create_line_from_parameters(net, int(buses[1]), int(buses[-1]), 0.1, 0.2, 0.1, 0.0, 0.2)
    lines = net.line.index.to_numpy()
    meshed = line_participants(net, lines, bus)
    np.testing.assert_array_equal(meshed, _brute_force(net, lines, bus))
    assert meshed[lines == far][0] == bus.size
