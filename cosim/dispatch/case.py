"""Dispatch cases: a radial network, devices per node, a time axis; and partitions into DES.

A :class:`DispatchCase` is read from the package (``cosim/dispatch/data/<case>/``: a pandapower
JSON network and a ``devices.json`` device table, both written by
``scripts/derive_dispatch_cases.py``) or built in code. A partition maps every node to a
distributed energy system (DES): :func:`partition` splits per bus, per feeder (the subtrees
below the root), into ``k`` connected parts of similar size, or follows an explicit map.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

from cosim.dispatch.devices import DispatchDevice, TimeAxis, make_device

__all__ = ["SHIPPED_CASES", "DispatchCase", "load_case", "partition"]

SHIPPED_CASES: tuple[str, ...] = ("six_bus", "yingkou60", "village")
"""Cases shipped in ``cosim/dispatch/data/``."""


@dataclass(frozen=True, eq=False)
class DispatchCase:
    """A radial network with devices on its nodes.

    Attributes
    ----------
    name : str
    parent : numpy.ndarray of int, shape (n,)
        Parent node of each node; ``-1`` for the root (node 0).
    r_ohm, x_ohm : numpy.ndarray, shape (n,)
        Resistance and reactance of the line from the parent into each node [ohm] (0 at root).
    vn_kv : float
        Nominal voltage [kV]; per-unit voltage drops use ``1000 * vn_kv**2`` [kW ohm per pu].
    time : TimeAxis
    devices : tuple of tuple of DispatchDevice
        Devices per node.
    v_min_pu, v_max_pu : float
        Voltage band of every non-root node [pu]; the root is held at ``v_root_pu``.
    export_levy_per_kwh : float
        Levy on each non-root node's net export (the source model's "tax") [currency/kWh].
    line_max_kw : numpy.ndarray, shape (n,)
        Limit of ``|P|`` and ``|Q|`` on the line into each node [kW, kvar] (``inf``: none).
    voltage_penalty_per_pu_h : float
        0: the voltage band is hard. > 0: elastic; a node's voltage may leave the band at this
        cost per pu and hour (slack variables ``under_pu``/``over_pu`` of the node, local to
        its DES) [currency/(pu h)].
    """

    name: str
    parent: np.ndarray
    r_ohm: np.ndarray
    x_ohm: np.ndarray
    vn_kv: float
    time: TimeAxis
    devices: tuple[tuple[DispatchDevice, ...], ...]
    v_min_pu: float = 0.95
    v_max_pu: float = 1.05
    v_root_pu: float = 1.0
    export_levy_per_kwh: float = 0.0
    line_max_kw: np.ndarray = field(default_factory=lambda: np.zeros(0))
    voltage_penalty_per_pu_h: float = 0.0

    @property
    def n(self) -> int:
        """Number of nodes."""
        return int(self.parent.size)

    @property
    def drop_scale(self) -> float:
        """``1000 * vn_kv**2`` [kW ohm / pu]: ``dV = (r P + x Q) / drop_scale``."""
        return 1000.0 * self.vn_kv**2

    def children(self) -> list[list[int]]:
        """Children of every node."""
        out: list[list[int]] = [[] for _ in range(self.n)]
        for v, u in enumerate(self.parent):
            if u >= 0:
                out[int(u)].append(v)
        return out

    def with_steps(self, steps: int) -> DispatchCase:
        """The same case on its first ``steps`` steps (storage end targets kept)."""
        from dataclasses import replace

        return replace(self, time=TimeAxis(steps, self.time.step_hours))


def _network_arrays(
    net_json: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray, list[int]]:
    """Parent, r, x, vn and line limits from a pandapower JSON network (radial, one ext_grid)."""
    import pandapower as pp

    net = pp.from_json_string(net_json)
    buses = [int(b) for b in net.bus.index]
    pos = {b: k for k, b in enumerate(buses)}
    root = int(net.ext_grid.bus.iloc[0])
    n = len(buses)
    adj: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for li, row in net.line.iterrows():
        if not bool(row.in_service):
            continue
        a, b = pos[int(row.from_bus)], pos[int(row.to_bus)]
        adj[a].append((b, int(li)))
        adj[b].append((a, int(li)))
    order = [pos[root]]
    parent = {pos[root]: (-1, -1)}
    for u in order:
        for v, li in adj[u]:
            if v not in parent:
                parent[v] = (u, li)
                order.append(v)
    if len(order) != n:
        raise ValueError("the dispatch network must be connected")
    new = {old: k for k, old in enumerate(order)}
    par = np.full(n, -1)
    r = np.zeros(n)
    x = np.zeros(n)
    lim = np.full(n, np.inf)
    vn = float(net.bus.vn_kv.iloc[0])
    for old in order[1:]:
        u, li = parent[old]
        k = new[old]
        par[k] = new[u]
        line = net.line.loc[li]
        r[k] = float(line.r_ohm_per_km * line.length_km / line.parallel)
        x[k] = float(line.x_ohm_per_km * line.length_km / line.parallel)
        rating = float(line.max_i_ka) * vn * np.sqrt(3.0) * 1000.0
        lim[k] = rating if rating < 1e6 else np.inf
    return par, r, x, vn, lim, [buses[o] for o in order]


def load_case(name: str) -> DispatchCase:
    """A shipped case (:data:`SHIPPED_CASES`) from ``cosim/dispatch/data/<name>/``.

    Examples
    --------
    >>> case = load_case("six_bus")
    >>> case.n, case.time.steps
    (7, 24)
    """
    if name not in SHIPPED_CASES:
        raise ValueError(f"unknown dispatch case {name!r}; expected one of {SHIPPED_CASES}")
    root = resources.files("cosim.dispatch") / "data" / name
    net_json = (root / "network.json").read_text()
    table = json.loads((root / "devices.json").read_text())
    return case_from_tables(name, net_json, table)


def case_from_tables(name: str, net_json: str, table: Mapping[str, Any]) -> DispatchCase:
    """Build a case from a pandapower JSON string and a device table (see ``devices.json``)."""
    parent, r, x, vn, lim, bus_ids = _network_arrays(net_json)
    pos = {b: k for k, b in enumerate(bus_ids)}
    per_node: list[list[DispatchDevice]] = [[] for _ in range(parent.size)]
    for record in table["devices"]:
        per_node[pos[int(record["node"])]].append(make_device(record))
    return DispatchCase(
        name=name,
        parent=parent,
        r_ohm=r,
        x_ohm=x,
        vn_kv=vn,
        time=TimeAxis(int(table["steps"]), float(table["step_hours"])),
        devices=tuple(tuple(d) for d in per_node),
        v_min_pu=float(table.get("v_min_pu", 0.95)),
        v_max_pu=float(table.get("v_max_pu", 1.05)),
        v_root_pu=float(table.get("v_root_pu", 1.0)),
        export_levy_per_kwh=float(table.get("export_levy_per_kwh", 0.0)),
        line_max_kw=lim,
    )


def _subtree_sizes(parent: np.ndarray, children: list[list[int]]) -> np.ndarray:
    size = np.ones(parent.size, dtype=int)
    order = _bfs(children)
    for v in reversed(order):
        if parent[v] >= 0:
            size[parent[v]] += size[v]
    return size


def _bfs(children: list[list[int]]) -> list[int]:
    order = [0]
    for u in order:
        order.extend(children[u])
    return order


def partition(
    case: DispatchCase, mode: str = "bus", parts: int = 0, mapping: Sequence[int] | None = None
) -> np.ndarray:
    """DES index of every node (DES 0 holds the root).

    Parameters
    ----------
    mode : {"bus", "feeder", "balanced", "explicit"}
        ``bus``: one DES per node. ``feeder``: the root alone, then one DES per subtree below
        it. ``balanced``: ``parts`` connected parts of similar node count (greedy: cut the
        deepest subtree that reaches ``n / parts`` nodes, repeatedly). ``explicit``: ``mapping``.
    parts : int
        Number of DES for ``balanced``.
    mapping : sequence of int
        ``explicit``: DES of each node (each DES must be connected).

    Examples
    --------
    >>> case = load_case("six_bus")
    >>> partition(case, "feeder").tolist()
    [0, 1, 1, 1, 1, 1, 1]
    """
    n = case.n
    children = case.children()
    if mode == "bus":
        return np.arange(n)
    if mode == "feeder":
        out = np.zeros(n, dtype=int)
        for k, c in enumerate(children[0], start=1):
            stack = [c]
            while stack:
                v = stack.pop()
                out[v] = k
                stack.extend(children[v])
        return out
    if mode == "explicit":
        if mapping is None or len(mapping) != n:
            raise ValueError(f"an explicit partition needs one DES per node ({n})")
        out = np.asarray(mapping, dtype=int)
        _check_connected(case, out)
        return _renumber(out)
    if mode == "balanced":
        if not 1 <= parts <= n:
            raise ValueError(f"parts must be in 1..{n}")
        target = n / parts
        alive = np.ones(n, dtype=bool)
        label = np.full(n, -1)
        order = _bfs(children)
        for k in range(parts - 1, 0, -1):
            kids = [[c for c in children[v] if alive[c]] for v in range(n)]
            size = np.zeros(n, dtype=int)
            for v in reversed(order):
                if alive[v]:
                    size[v] = 1 + sum(size[c] for c in kids[v])
            remaining = int(alive.sum())
            goal = remaining / (k + 1) if k + 1 > 1 else target
            # a cut leaves at least one node for each part still to come
            fits = [c for c in order[1:] if alive[c] and size[c] <= remaining - k]
            cands = [c for c in fits if size[c] >= goal]
            v = (
                min(cands, key=lambda c: (size[c], c))
                if cands
                else max(fits, key=lambda c: (size[c], -c))
            )
            stack = [v]
            while stack:
                w = stack.pop()
                alive[w] = False
                label[w] = k
                stack.extend(c for c in kids[w])
        label[alive] = 0
        return _renumber(label)
    raise ValueError(f"unknown partition mode {mode!r}; expected bus, feeder, balanced, explicit")


def _renumber(labels: np.ndarray) -> np.ndarray:
    """Renumber DES in order of first appearance (node 0's DES becomes 0)."""
    seen: dict[int, int] = {}
    return np.array([seen.setdefault(int(v), len(seen)) for v in labels])


def _check_connected(case: DispatchCase, labels: np.ndarray) -> None:
    heads = [v for v in range(case.n) if case.parent[v] < 0 or labels[case.parent[v]] != labels[v]]
    if len(heads) != len(set(labels.tolist())):
        raise ValueError("every DES of an explicit partition must be a connected part of the tree")
