"""Branch topology and the sensitivities of the linear network models (DC and LinDistFlow).

:class:`BranchTopology` turns a pandapower net into fused nodes and per-unit branches;
:func:`dc_sensitivity` and :func:`lindistflow_sensitivities` compute the matrices that
:class:`cosim.grid.linear.LinearGridModel` holds. Per-unit conventions: docs/network_check.md.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pandas as pd
from pandapower.auxiliary import pandapowerNet

from cosim.grid.topology import in_service, read_topology

__all__ = ["BranchTopology", "branch_parameters", "dc_sensitivity", "lindistflow_sensitivities"]

_SQRT3 = math.sqrt(3.0)


class BranchTopology:
    """Fused nodes, active branches and their per-unit parameters (internal)."""

    def __init__(self, net: pandapowerNet) -> None:
        self.s_base_mva = float(net.sn_mva) if "sn_mva" in net else 1.0
        for table in ("trafo3w", "impedance", "dcline", "tcsc", "vsc"):
            if table in net and len(net[table]) and net[table]["in_service"].astype(bool).any():
                raise ValueError(f"the linear models do not support in-service {table} elements")
        bus = net.bus
        self.bus_ids = bus.index.to_numpy(dtype=np.int64)
        pos = pd.Series(np.arange(self.bus_ids.size), index=bus.index)
        bus_on = in_service(bus)
        vn_kv = bus["vn_kv"].to_numpy(dtype=np.float64)

        # External grids (in service, at in-service buses) -> slack.
        eg = net.ext_grid
        eg_on = eg[eg["in_service"].astype(bool)] if len(eg) else eg
        eg_on = eg_on[bus_on[pos[eg_on["bus"].to_numpy()].to_numpy()]] if len(eg_on) else eg_on
        if len(eg_on) == 0:
            raise ValueError("the network has no in-service external grid")
        eg_pos = pos[eg_on["bus"].to_numpy()].to_numpy()
        self.v_slack = float(eg_on["vm_pu"].iloc[0])

        # Fused nodes (closed bus-bus switches between in-service buses), supplied buses.
        topo = read_topology(net, int(eg_pos[0]), fuse_out_of_service=False)
        _, node_of_root = np.unique(topo.rep, return_inverse=True)
        node = node_of_root.reshape(-1).astype(np.intp)
        node_count = int(node.max()) + 1 if node.size else 0
        slack_nodes = np.unique(node[eg_pos])
        if slack_nodes.size != 1:
            raise ValueError(
                "the linear models support external grids at one (fused) bus only; "
                f"found {slack_nodes.size}"
            )
        self.slack = int(slack_nodes[0])

        # Branches: lines then trafos; active = closed at both ends and supplied.
        self.line_ids = net.line.index.to_numpy(dtype=np.int64)
        self.trafo_ids = net.trafo.index.to_numpy(dtype=np.int64)
        self.n_branch = self.line_ids.size + self.trafo_ids.size
        self.branch_bus_pos = np.concatenate([topo.line_ends, topo.trafo_ends])
        f_pos, t_pos = self.branch_bus_pos[:, 0], self.branch_bus_pos[:, 1]
        r_pu, x_pu, ratio, rating = branch_parameters(
            net.line, net.trafo, vn_kv[f_pos], vn_kv[t_pos], self.s_base_mva
        )
        fn, tn = node[f_pos], node[t_pos]
        side_open = np.concatenate([topo.line_side_open, topo.trafo_side_open])
        # a branch inside a fused node carries nothing we can compute
        active = ~side_open.any(axis=1) & (fn != tn)
        node_supplied = np.zeros(node_count, dtype=bool)
        node_supplied[node[topo.supplied]] = True
        adjacency: list[list[int]] = [[] for _ in range(node_count)]
        for branch in np.flatnonzero(active).tolist():
            adjacency[fn[branch]].append(branch)
            adjacency[tn[branch]].append(branch)

        self.node_count = node_count
        self.bus_node = node
        self.bus_supplied = topo.supplied
        self.node_supplied = node_supplied
        self.active = active
        self.from_node, self.to_node = fn, tn
        self.r_pu, self.x_pu, self.ratio = r_pu, x_pu, ratio
        self.rating_kva = np.where(active, rating, 0.0)
        self.adjacency = adjacency


def branch_parameters(
    line: pd.DataFrame,
    trafo: pd.DataFrame,
    vn_from_kv: np.ndarray,
    vn_to_kv: np.ndarray,
    s_base_mva: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-unit r, x, off-nominal ratio and rating [kVA] of lines then transformers."""
    n_line = len(line)
    vn_f_line = vn_from_kv[:n_line]
    parallel_l = line["parallel"].to_numpy(dtype=np.float64)
    z_base_l = vn_f_line**2 / s_base_mva
    length = line["length_km"].to_numpy(dtype=np.float64)
    r_l = line["r_ohm_per_km"].to_numpy(dtype=np.float64) * length / parallel_l / z_base_l
    x_l = line["x_ohm_per_km"].to_numpy(dtype=np.float64) * length / parallel_l / z_base_l
    rating_l = (
        _SQRT3
        * vn_f_line
        * line["max_i_ka"].to_numpy(dtype=np.float64)
        * line["df"].to_numpy(dtype=np.float64)
        * parallel_l
        * 1000.0
    )

    vn_hv_bus = vn_from_kv[n_line:]
    vn_lv_bus = vn_to_kv[n_line:]
    vn_hv, vn_lv = tap_adjusted_voltages(trafo)
    sn = trafo["sn_mva"].to_numpy(dtype=np.float64)
    parallel_t = trafo["parallel"].to_numpy(dtype=np.float64)
    scale = (vn_lv / vn_lv_bus) ** 2 * s_base_mva / sn / parallel_t
    z_t = trafo["vk_percent"].to_numpy(dtype=np.float64) / 100.0 * scale
    r_t = trafo["vkr_percent"].to_numpy(dtype=np.float64) / 100.0 * scale
    x_t = np.sqrt(np.maximum(z_t**2 - r_t**2, 0.0))
    ratio_t = (vn_hv / vn_hv_bus) / (vn_lv / vn_lv_bus)
    rated_hv = trafo["vn_hv_kv"].to_numpy(dtype=np.float64)
    rated_lv = trafo["vn_lv_kv"].to_numpy(dtype=np.float64)
    rating_t = (
        sn
        * trafo["df"].to_numpy(dtype=np.float64)
        * parallel_t
        * np.minimum(vn_hv_bus / rated_hv, vn_lv_bus / rated_lv)
        * 1000.0
    )
    return (
        np.concatenate([r_l, r_t]),
        np.concatenate([x_l, x_t]),
        np.concatenate([np.ones(n_line), ratio_t]),
        np.concatenate([rating_l, rating_t]),
    )


def tap_adjusted_voltages(trafo: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Rated hv and lv voltages of each transformer at its tap position [kV].

    A tap of ``d = tap_pos - tap_neutral`` steps on side ``tap_side`` moves that side's rated
    voltage as pandapower does for ``"Ratio"`` tap changers:
    ``vn' = sqrt((vn + du cos a)**2 + (du sin a)**2)`` with ``du = vn * d * tap_step_percent /
    100`` and ``a = tap_step_degree``. Missing tap data means no adjustment.
    """
    vn_hv = trafo["vn_hv_kv"].to_numpy(dtype=np.float64).copy()
    vn_lv = trafo["vn_lv_kv"].to_numpy(dtype=np.float64).copy()
    if len(trafo) == 0 or "tap_pos" not in trafo or "tap_side" not in trafo:
        return vn_hv, vn_lv
    d = column(trafo, "tap_pos") - column(trafo, "tap_neutral")
    step = column(trafo, "tap_step_percent")
    angle = np.radians(column(trafo, "tap_step_degree"))
    side = trafo["tap_side"].astype(object).where(trafo["tap_side"].notna(), "").to_numpy()
    for name, vn in (("hv", vn_hv), ("lv", vn_lv)):
        mask = (side == name) & (d != 0) & (step != 0)
        if mask.any():
            du = vn[mask] * d[mask] * step[mask] / 100.0
            a = angle[mask]
            vn[mask] = np.hypot(vn[mask] + du * np.cos(a), du * np.sin(a))
    return vn_hv, vn_lv


def column(table: pd.DataFrame, name: str) -> np.ndarray:
    """Numeric column of ``table`` with NaN (and a missing column) read as 0."""
    if name not in table:
        return np.zeros(len(table))
    values = pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=np.float64)
    return np.nan_to_num(values, nan=0.0)


# ---------------------------------------------------------------------- models


def dc_sensitivity(topo: BranchTopology) -> np.ndarray:
    """Flow per unit consumption at each node (DC, PTDF with the slack at the external grid)."""
    act = np.flatnonzero(topo.active)
    sens = np.zeros((topo.n_branch, topo.node_count))
    if act.size == 0:
        return sens
    x = topo.x_pu[act]
    if np.any(x <= 0):
        bad = act[np.flatnonzero(x <= 0)[0]]
        raise ValueError(f"branch {bad} (lines first, then trafos) has zero reactance: no DC model")
    nodes = np.flatnonzero(topo.node_supplied)
    index = np.full(topo.node_count, -1)
    index[nodes] = np.arange(nodes.size)
    b = 1.0 / x
    f = index[topo.from_node[act]]
    t = index[topo.to_node[act]]
    n = nodes.size
    incidence = np.zeros((act.size, n))
    incidence[np.arange(act.size), f] = 1.0
    incidence[np.arange(act.size), t] = -1.0
    b_bus = incidence.T @ (b[:, None] * incidence)
    keep = np.flatnonzero(nodes != topo.slack)
    # theta = B_red^-1 p_inj; flow = b * (A theta); consumption = -injection.
    inv = np.linalg.inv(b_bus[np.ix_(keep, keep)])
    ptdf = (b[:, None] * incidence[:, keep]) @ inv
    sens_act = np.zeros((act.size, topo.node_count))
    sens_act[:, nodes[keep]] = -ptdf
    sens[act] = sens_act
    return sens


def lindistflow_sensitivities(
    topo: BranchTopology,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flow and voltage sensitivities of a radial network (per unit, node space)."""
    nodes = np.flatnonzero(topo.node_supplied)
    act = np.flatnonzero(topo.active)
    if act.size != nodes.size - 1:
        raise ValueError(
            "lindistflow needs a radial network: after fusing closed bus-bus switches the "
            f"supplied part has {nodes.size} nodes and {act.size} branches (a tree has "
            f"{nodes.size - 1}); use network_check 'dc' for meshed networks"
        )
    n_node = topo.node_count
    # Breadth-first tree from the slack: parent branch and orientation of each node.
    parent_branch = np.full(n_node, -1)
    parent_node = np.full(n_node, -1)
    order = [topo.slack]
    seen = np.zeros(n_node, dtype=bool)
    seen[topo.slack] = True
    queue = deque([topo.slack])
    while queue:
        u = queue.popleft()
        for k in topo.adjacency[u]:
            v = int(topo.to_node[k] if topo.from_node[k] == u else topo.from_node[k])
            if not seen[v]:
                seen[v] = True
                parent_branch[v] = k
                parent_node[v] = u
                order.append(v)
                queue.append(v)
    # subtree[k, j] = 1 if node j lies below branch k (the branch feeds j's consumption).
    subtree = np.zeros((topo.n_branch, n_node))
    for j in order[1:]:
        v = j
        while v != topo.slack:
            subtree[parent_branch[v], j] = 1.0
            v = parent_node[v]
    # Flow from -> to = orientation * (flow parent -> child).
    orient = np.zeros(topo.n_branch)
    for v in order[1:]:
        k = parent_branch[v]
        orient[k] = 1.0 if topo.from_node[k] == parent_node[v] else -1.0
    flow = orient[:, None] * subtree
    # Voltages: V_child = V_parent / n - (r P + x Q) (hv -> lv), or n (V_parent - r P - x Q).
    vp = np.zeros((n_node, n_node))
    vq = np.zeros((n_node, n_node))
    v0 = np.full(n_node, np.nan)
    v0[topo.slack] = topo.v_slack
    for v in order[1:]:
        k = parent_branch[v]
        u = parent_node[v]
        r, x, n = topo.r_pu[k], topo.x_pu[k], topo.ratio[k]
        if orient[k] > 0:  # parent is the from (hv) side
            vp[v] = vp[u] / n - r * subtree[k]
            vq[v] = vq[u] / n - x * subtree[k]
            v0[v] = v0[u] / n
        else:
            vp[v] = n * (vp[u] - r * subtree[k])
            vq[v] = n * (vq[u] - x * subtree[k])
            v0[v] = v0[u] * n
    return flow, vp, vq, v0
