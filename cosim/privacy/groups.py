"""Aggregation groups from the network topology, and which results reveal small groups.

``privacy.groups``:

- ``transformer``: the participants fed by one transformer (the connected part of the LV
  network on its low-voltage side, transformers removed);
- ``feeder``: the participants of one feeder, i.e. of one line leaving a transformer's LV
  busbar (participants on the busbar itself form a group of their own);
- ``explicit``: ``privacy.explicit_groups``, lists of participant ids, each exactly once.

:func:`line_participants` counts the participants downstream of each line (radial networks):
a line that feeds fewer than k of them carries, in its loading, what those few draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pandapower.topology as top
from numpy.typing import NDArray

__all__ = ["Group", "bus_participants", "line_participants", "participant_groups"]


@dataclass(frozen=True)
class Group:
    """One aggregation group: a name and its members (participant ids, ascending)."""

    name: str
    members: NDArray[np.int64]


def _graph(net: Any, trafos: bool) -> nx.MultiGraph:
    return top.create_nxgraph(net, include_trafos=trafos, include_trafo3ws=trafos)


def participant_groups(
    net: Any, bus: NDArray[np.int64], kind: str, explicit: Sequence[Sequence[int]] = ()
) -> list[Group]:
    """Groups of participants (each participant in exactly one group).

    Parameters
    ----------
    net : pandapowerNet
        The network.
    bus : ndarray of int
        Connection bus of each participant.
    kind : {"transformer", "feeder", "explicit"}
        How to group.
    explicit : sequence of sequence of int
        The groups for ``explicit``.

    Raises
    ------
    ValueError
        For explicit groups that do not cover every participant exactly once.
    """
    n = int(bus.size)
    if kind == "explicit":
        flat = [int(i) for g in explicit for i in g]
        if sorted(flat) != list(range(n)):
            raise ValueError(f"explicit groups must list every participant 0..{n - 1} exactly once")
        return [
            Group(f"group_{g}", np.array(sorted(int(i) for i in m), dtype=np.int64))
            for g, m in enumerate(explicit)
        ]
    graph = _graph(net, trafos=False)
    lv_buses = [int(b) for b in net.trafo["lv_bus"]] if len(net.trafo) else []
    label: dict[int, str] = {}
    if kind == "transformer":
        for t, b in zip(net.trafo.index, lv_buses, strict=True):
            for node in nx.node_connected_component(graph, b):
                label.setdefault(int(node), f"trafo_{int(t)}")
    elif kind == "feeder":
        busbars = set(lv_buses)
        for b in busbars:
            label[b] = f"busbar_{b}"
        cut = graph.copy()
        cut.remove_nodes_from(busbars)
        for b in sorted(busbars):
            for _, nbr, key in graph.edges(b, keys=True):
                if nbr in busbars or int(nbr) in label:
                    continue
                name = (
                    f"feeder_{key[0]}_{int(key[1])}" if isinstance(key, tuple) else f"feeder_{nbr}"
                )
                for node in nx.node_connected_component(cut, nbr):
                    label.setdefault(int(node), name)
    else:
        raise ValueError(f"unknown grouping {kind!r}")
    names = np.array([label.get(int(b), "unfed") for b in bus])
    return [
        Group(str(g), np.flatnonzero(names == g).astype(np.int64))
        for g in sorted(set(names.tolist()))
    ]


def bus_participants(bus_ids: NDArray[np.int64], bus: NDArray[np.int64]) -> NDArray[np.int64]:
    """Participants connected at each bus of ``bus_ids``."""
    counts = {int(b): int(c) for b, c in zip(*np.unique(bus, return_counts=True), strict=True)}
    return np.array([counts.get(int(b), 0) for b in bus_ids], dtype=np.int64)


def line_participants(
    net: Any, line_ids: NDArray[np.int64], bus: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Participants whose supply would be cut by opening each line (downstream of it).

    For a line in a mesh (opening it cuts nobody off) the count is the whole network's, so
    such a line is never treated as revealing a small group.

    Linear in the network's size: a line cuts participants off only if it is a bridge of the
    network (parallel lines never are); the participants it cuts off are those of the subtree
    below it in a search tree rooted at the external grids.
    """
    graph = _graph(net, trafos=True)
    per_bus = {int(b): int(c) for b, c in zip(*np.unique(bus, return_counts=True), strict=True)}
    total = int(bus.size)
    out = np.full(line_ids.size, total, dtype=np.int64)
    simple = nx.Graph()
    simple.add_nodes_from(graph.nodes)
    multiplicity: dict[frozenset[Any], int] = {}
    for u, v in graph.edges():
        if u != v:
            pair = frozenset((u, v))
            multiplicity[pair] = multiplicity.get(pair, 0) + 1
            simple.add_edge(u, v)
    root = ("external grids",)
    simple.add_edges_from((root, int(b)) for b in net.ext_grid["bus"])
    bridges = {frozenset(e) for e in nx.bridges(simple)}
    order = list(nx.dfs_preorder_nodes(simple, root))
    parent = dict(nx.dfs_predecessors(simple, root))
    below = {node: per_bus.get(node, 0) if node != root else 0 for node in order}
    for node in reversed(order):
        if node in parent:
            below[parent[node]] += below[node]
    unfed = total - below[root]  # participants no external grid reaches at all
    ends = {
        int(k[1]): (u, v)
        for u, v, k in graph.edges(keys=True)
        if isinstance(k, tuple) and k[0] == "line"
    }
    for i, line in enumerate(line_ids):
        if int(line) not in ends:
            continue
        u, v = ends[int(line)]
        pair = frozenset((u, v))
        cut = unfed
        if pair in bridges and multiplicity.get(pair, 0) == 1 and u in below and v in below:
            child = v if parent.get(v) == u else u
            cut += below[child]
        if cut:
            out[i] = cut
    return out
