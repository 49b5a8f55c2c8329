"""Network topology of a pandapower net: fused buses, open branch ends, supplied buses.

The fast grid models, :class:`~cosim.grid.lightsim.LightsimFlow` and
:class:`~cosim.grid.linear.LinearGridModel`, read the same structure from the pandapower
tables before they build anything of their own; :func:`read_topology` is that one reading.
Everything is in bus *positions* (row order of ``net.bus``), not bus indices.

* **Switches**: closed bus-bus switches fuse their buses (union-find; the group is represented
  by its smallest position), open line and transformer switches open the branch end at the
  switch's bus; open bus-bus switches and closed branch switches change nothing. The
  switches' ``z_ohm`` is not read here (each model decides what to do with it).
* **Supply**: a breadth-first search from the external grid's bus over branches closed at both
  ends (in service, between in-service buses, no open switch) finds the supplied buses; every
  end of a branch at an unsupplied bus counts as open.

Examples
--------
>>> from cosim.grid.networks import load_network
>>> from cosim.grid.topology import read_topology
>>> net = load_network("cigre_lv")
>>> topo = read_topology(net, 0, fuse_out_of_service=True)
>>> [int(topo.rep[i]) for i in net.bus.index.get_indexer([1, 20, 23])]  # fused with bus 0
[0, 0, 0]
>>> bool(topo.supplied.all())
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandapower.auxiliary import pandapowerNet

__all__ = ["Topology", "bus_positions", "closed_bus_switches", "in_service", "read_topology"]


@dataclass(frozen=True)
class Topology:
    """Static topology of a net, in bus *positions* (row order of ``net.bus``).

    Parameters
    ----------
    rep : numpy.ndarray of intp
        Representative bus of each bus position: closed bus-bus switches fused, the smallest
        position of each fused group.
    bus_on : numpy.ndarray of bool
        Bus position is in service.
    supplied : numpy.ndarray of bool
        Bus position is in service and connected to the external grid.
    slack_pos : int
        Bus position of the external grid the supply search starts from.
    line_ends, trafo_ends : numpy.ndarray of intp, shape (n, 2)
        Bus positions of each line's ``from_bus``, ``to_bus`` and each transformer's
        ``hv_bus``, ``lv_bus``.
    line_side_open, trafo_side_open : numpy.ndarray of bool, shape (n, 2)
        Branch end cut by an open switch or at an unsupplied bus; both ends of a branch out
        of service or at a bus out of service.
    """

    rep: np.ndarray
    bus_on: np.ndarray
    supplied: np.ndarray
    slack_pos: int
    line_ends: np.ndarray
    trafo_ends: np.ndarray
    line_side_open: np.ndarray
    trafo_side_open: np.ndarray


def in_service(table: pd.DataFrame) -> np.ndarray:
    """The ``in_service`` column as booleans."""
    return table["in_service"].to_numpy(dtype=bool)


def closed_bus_switches(net: pandapowerNet) -> np.ndarray:
    """Mask of ``net.switch`` rows that are closed bus-bus switches."""
    switch = net.switch
    if len(switch) == 0:
        return np.zeros(0, dtype=bool)
    return (switch["et"].to_numpy() == "b") & switch["closed"].to_numpy(dtype=bool)


def bus_positions(net: pandapowerNet, table: pd.DataFrame, columns: tuple[str, str]) -> np.ndarray:
    """Bus positions (rows of ``net.bus``) of two bus columns of ``table``, shape (n, 2).

    Raises
    ------
    ValueError
        A column names a bus that does not exist.
    """
    ends = table[list(columns)].to_numpy(dtype=np.int64).reshape(-1, 2)
    pos = net.bus.index.get_indexer(ends.reshape(-1)).reshape(-1, 2)
    if (pos < 0).any():
        raise ValueError(f"{columns} name buses that do not exist")
    return pos.astype(np.intp)


def read_topology(net: pandapowerNet, slack_pos: int, *, fuse_out_of_service: bool) -> Topology:
    """Fuse closed bus-bus switches, open switched branch ends and find the supplied buses.

    Parameters
    ----------
    net : pandapowerNet
        The network (not modified).
    slack_pos : int
        Bus position (row of ``net.bus``) of the external grid.
    fuse_out_of_service : bool
        Fuse across a closed bus-bus switch even when one of its buses is out of service (as
        pandapower does; a group represented by such a bus is then unsupplied). ``False``
        fuses only pairs of in-service buses.

    Returns
    -------
    Topology

    Raises
    ------
    ValueError
        A branch or a closed bus-bus switch names a bus that does not exist.
    """
    bus_on = in_service(net.bus)
    rep = _fuse(net, bus_on, fuse_out_of_service)
    switch = net.switch
    sides = {}
    for kind, table, columns in (
        ("l", net.line, ("from_bus", "to_bus")),
        ("t", net.trafo, ("hv_bus", "lv_bus")),
    ):
        pos = bus_positions(net, table, columns)
        off = ~in_service(table) | ~bus_on[pos[:, 0]] | ~bus_on[pos[:, 1]]
        side_open = np.repeat(off[:, np.newaxis], 2, axis=1)
        if len(switch):
            opened = (switch["et"].to_numpy() == kind) & ~switch["closed"].to_numpy(dtype=bool)
            rows = table.index.get_indexer(switch["element"].to_numpy()[opened].astype(np.int64))
            at = switch["bus"].to_numpy()[opened]
            for row, bus in zip(rows.tolist(), at.tolist(), strict=True):
                if row >= 0:
                    side_open[row, int(table[columns[1]].iloc[row] == bus)] = True
        sides[kind] = (pos, side_open)

    supplied = _reached(rep, bus_on, slack_pos, list(sides.values()))
    for pos, side_open in sides.values():
        dead = ~supplied[pos[:, 0]] & ~supplied[pos[:, 1]]
        side_open[dead] = True
        side_open[~supplied[pos[:, 0]], 0] = True
        side_open[~supplied[pos[:, 1]], 1] = True
    return Topology(
        rep=rep,
        bus_on=bus_on,
        supplied=supplied,
        slack_pos=int(slack_pos),
        line_ends=sides["l"][0],
        trafo_ends=sides["t"][0],
        line_side_open=sides["l"][1],
        trafo_side_open=sides["t"][1],
    )


def _fuse(net: pandapowerNet, bus_on: np.ndarray, out_of_service: bool) -> np.ndarray:
    """Representative (smallest) bus position of each bus after closed bus-bus switches."""
    n_bus = len(net.bus)
    rep = np.arange(n_bus, dtype=np.intp)

    def root(i: int) -> int:
        while rep[i] != i:
            i = int(rep[i])
        return i

    closed_bb = closed_bus_switches(net)
    if closed_bb.any():
        switch = net.switch
        a = net.bus.index.get_indexer(switch["bus"].to_numpy()[closed_bb])
        b = net.bus.index.get_indexer(switch["element"].to_numpy()[closed_bb].astype(np.int64))
        if (a < 0).any() or (b < 0).any():
            raise ValueError("closed bus-bus switches name buses that do not exist")
        if not out_of_service:
            keep = bus_on[a] & bus_on[b]
            a, b = a[keep], b[keep]
        for i, j in zip(a.tolist(), b.tolist(), strict=True):
            ri, rj = root(i), root(j)
            rep[max(ri, rj)] = min(ri, rj)
    return np.array([root(i) for i in range(n_bus)], dtype=np.intp)


def _reached(
    rep: np.ndarray,
    bus_on: np.ndarray,
    slack_pos: int,
    branches: list[tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """Buses connected to ``slack_pos`` over branches closed at both ends (breadth first).

    ``branches`` holds ``(ends, side_open)`` per branch table; the search runs over the fused
    buses (``rep``) and enters only in-service ones.
    """
    neighbours: dict[int, list[int]] = {}
    for pos, side_open in branches:
        closed = ~side_open.any(axis=1)
        for i, j in zip(rep[pos[closed, 0]].tolist(), rep[pos[closed, 1]].tolist(), strict=True):
            neighbours.setdefault(i, []).append(j)
            neighbours.setdefault(j, []).append(i)
    reached = {int(rep[slack_pos])}
    frontier = [int(rep[slack_pos])]
    while frontier:
        nxt = []
        for i in frontier:
            for j in neighbours.get(i, []):
                if j not in reached and bus_on[j]:
                    reached.add(j)
                    nxt.append(j)
        frontier = nxt
    return np.isin(rep, np.fromiter(reached, dtype=np.intp)) & bus_on
