"""Linear models of an LV network (DC and LinDistFlow) for the network check of P2P trades.

A :class:`LinearGridModel` is built once per network from the pandapower tables and then
answers, with matrix products only, "which active flows and voltages do these injections give".
:mod:`cosim.market.network_check` uses its sensitivities in a linear program.

Conventions (the same as :meth:`cosim.grid.powerflow.PandapowerFlow.solve`):

* injections are per pandapower bus, in the order of :attr:`LinearGridModel.bus_ids` (all rows
  of ``net.bus``), in the **load convention**: ``p_kw > 0`` is consumption, ``p_kw < 0`` is
  generation/export [kW]; ``q_kvar`` likewise [kvar];
* branch flows are from ``line.from_bus`` to ``line.to_bus`` and from ``trafo.hv_bus`` to
  ``trafo.lv_bus``: ``> 0`` when active power flows that way [kW];
* voltages are magnitudes in per unit of each bus's ``vn_kv``.

Internally everything is per unit on ``S_base = net.sn_mva`` (1 MVA by default) and each bus's
nominal voltage: ``Z_base = vn_kv**2 / S_base`` [ohm].

* Lines: ``r_pu = r_ohm_per_km * length_km / parallel / Z_base`` (``x`` likewise); shunt
  capacitance and conductance are neglected.
* Two-winding transformers, as pandapower builds them: ``z_pu = vk_percent / 100 / sn_mva *
  S_base * (vn_lv_kv' / vn_lv_bus)**2 / parallel``, ``r_pu`` from ``vkr_percent``,
  ``x_pu = sqrt(z_pu**2 - r_pu**2)``; the off-nominal ratio ``n = (vn_hv_kv' / vn_hv_bus) /
  (vn_lv_kv' / vn_lv_bus)`` where ``'`` marks the tap-adjusted rated voltage (``tap_pos``,
  ``tap_neutral``, ``tap_step_percent``, ``tap_step_degree`` on ``tap_side``). Magnetising
  losses (``pfe_kw``, ``i0_percent``) and phase shifts (``shift_degree``) are neglected.
* Switches: a closed bus-bus switch fuses its two buses into one node (its ``z_ohm`` is
  neglected); an open line or transformer switch takes that branch out; open bus-bus switches
  and closed branch switches change nothing.
* Buses not connected to the external grid (after the above) get no flow and NaN voltage.

Models:

* ``"dc"``: lossless, flat voltage; bus angles from ``B theta = p_inj`` with branch
  susceptance ``1 / x_pu`` (tap ratios ignored), slack at the external grid; flows
  ``b (theta_from - theta_to)``. Works on meshed networks. No voltages, no reactive power.
* ``"lindistflow"``: radial networks only (checked after fusing). Lossless branch flows are
  sums of the downstream consumption (``P`` and ``Q``); voltages follow the linear voltage-drop
  form ``V_child = V_parent / n - (r P + x Q)`` with the reference voltage 1 pu (``n`` the
  transformer ratio, 1 for lines), ``V_slack = ext_grid.vm_pu``.

Thermal ratings are converted from current to apparent power at nominal voltage:
``S_max = sqrt(3) * vn_kv(from_bus) * max_i_ka * df * parallel`` for lines and
``S_max = sn_mva * df * parallel * min(vn_hv_bus / vn_hv_kv, vn_lv_bus / vn_lv_kv)`` for
transformers (pandapower rates a transformer's current at its own rated voltages), see
:attr:`LinearGridModel.branch_rating_kva`.

Examples
--------
>>> import numpy as np
>>> from cosim.grid.networks import load_network
>>> from cosim.grid.linear import LinearGridModel
>>> model = LinearGridModel.from_pandapower(load_network("village"), "lindistflow")
>>> p = np.zeros(model.bus_ids.size)
>>> p[model.bus_ids == 10] = 5.0  # 5 kW consumed at bus 10
>>> flows = model.flows_kw(p)
>>> float(flows[(model.branch_kind == "trafo")][0])  # all of it through the transformer
5.0
"""

from __future__ import annotations

import copy
import math
from typing import Final, Literal, get_args

import numpy as np
from pandapower.auxiliary import pandapowerNet

from cosim.grid.sensitivities import (
    BranchTopology,
    dc_sensitivity,
    lindistflow_sensitivities,
)

__all__ = ["MODEL_KINDS", "LinearGridModel", "ModelKind", "derate"]

ModelKind = Literal["dc", "lindistflow"]
"""Which linear model: ``"dc"`` (PTDF on susceptances) or ``"lindistflow"`` (radial)."""

MODEL_KINDS: Final[tuple[str, ...]] = get_args(ModelKind)


def derate(
    net: pandapowerNet, line_factor: float = 1.0, trafo_factor: float = 1.0
) -> pandapowerNet:
    """Return a deep copy of ``net`` with lower (or higher) thermal ratings.

    Lines get ``max_i_ka * line_factor``; transformers get ``df * trafo_factor`` (pandapower's
    derating factor: the rated current, not ``sn_mva``, which would also change the
    transformer's per-unit impedance). Impedances, and so the power flow itself, are unchanged;
    only ``loading_percent`` and the limits of :class:`LinearGridModel` change.

    Parameters
    ----------
    net : pandapowerNet
        The network; it is not modified.
    line_factor : float, default 1.0
        Factor on every line's ``max_i_ka`` [-]; > 0.
    trafo_factor : float, default 1.0
        Factor on every two-winding transformer's ``df`` [-]; > 0.

    Returns
    -------
    pandapowerNet
        The derated copy.

    Raises
    ------
    ValueError
        A factor is not a positive finite number.
    """
    for name, value in (("line_factor", line_factor), ("trafo_factor", trafo_factor)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    out = copy.deepcopy(net)
    if len(out.line):
        out.line["max_i_ka"] = out.line["max_i_ka"].astype(np.float64) * line_factor
    if len(out.trafo):
        out.trafo["df"] = out.trafo["df"].astype(np.float64) * trafo_factor
    return out


class LinearGridModel:
    """Linearised network: active-flow and voltage sensitivities to bus injections.

    Build it with :meth:`from_pandapower`. All arrays are read-only.

    Attributes
    ----------
    kind : {"dc", "lindistflow"}
        The model.
    bus_ids : numpy.ndarray of int64
        pandapower bus indices (every row of ``net.bus``, in table order); the order of every
        per-bus array (the same as ``PandapowerFlow.bus_ids``).
    supplied : numpy.ndarray of bool
        Per bus: connected to the external grid through in-service branches.
    line_ids, trafo_ids : numpy.ndarray of int64
        Line and two-winding transformer indices (every row of the tables).
    branch_ids : numpy.ndarray of int64
        ``line_ids`` followed by ``trafo_ids``; the order of every per-branch array.
    branch_kind : numpy.ndarray of str
        ``"line"`` or ``"trafo"`` per branch.
    branch_active : numpy.ndarray of bool
        Per branch: in service, not opened by a switch and connecting supplied buses. Inactive
        branches carry no flow and have no limit.
    branch_rating_kva : numpy.ndarray of float64
        Thermal rating as apparent power at nominal voltage [kVA] (module docstring).
    flow_sensitivity : numpy.ndarray of float64, shape (n_branch, n_bus)
        Active flow of each branch (from -> to) per kW **consumed** at each bus [kW/kW]; the
        power comes from the external grid. In LinDistFlow it is also reactive flow per kvar.
    voltage_sensitivity_p, voltage_sensitivity_q : numpy.ndarray or None, shape (n_bus, n_bus)
        LinDistFlow only: voltage change per kW (kvar) consumed [pu/kW], [pu/kvar].
    v_noload_pu : numpy.ndarray or None
        LinDistFlow only: voltage of each bus with no injections [pu].
    s_base_mva : float
        Per-unit power base [MVA].
    """

    def __init__(
        self,
        kind: ModelKind,
        bus_ids: np.ndarray,
        supplied: np.ndarray,
        line_ids: np.ndarray,
        trafo_ids: np.ndarray,
        branch_active: np.ndarray,
        branch_rating_kva: np.ndarray,
        branch_ends: np.ndarray,
        flow_sensitivity: np.ndarray,
        voltage_sensitivity_p: np.ndarray | None,
        voltage_sensitivity_q: np.ndarray | None,
        v_noload_pu: np.ndarray | None,
        s_base_mva: float,
    ) -> None:
        if kind not in MODEL_KINDS:
            raise ValueError(f"kind must be one of {MODEL_KINDS}, got {kind!r}")
        self.kind: ModelKind = kind
        self.bus_ids = _frozen(bus_ids, np.int64)
        self.supplied = _frozen(supplied, np.bool_)
        self.line_ids = _frozen(line_ids, np.int64)
        self.trafo_ids = _frozen(trafo_ids, np.int64)
        self.branch_ids = _frozen(np.concatenate([line_ids, trafo_ids]), np.int64)
        kinds = np.array(["line"] * len(line_ids) + ["trafo"] * len(trafo_ids), dtype="<U5")
        kinds.setflags(write=False)
        self.branch_kind = kinds
        self.branch_active = _frozen(branch_active, np.bool_)
        self.branch_rating_kva = _frozen(branch_rating_kva, np.float64)
        self._branch_ends = _frozen(branch_ends, np.intp)  # positions in bus_ids, (n_branch, 2)
        self.flow_sensitivity = _frozen(flow_sensitivity, np.float64)
        self.voltage_sensitivity_p = (
            None if voltage_sensitivity_p is None else _frozen(voltage_sensitivity_p, np.float64)
        )
        self.voltage_sensitivity_q = (
            None if voltage_sensitivity_q is None else _frozen(voltage_sensitivity_q, np.float64)
        )
        self.v_noload_pu = None if v_noload_pu is None else _frozen(v_noload_pu, np.float64)
        self.s_base_mva = float(s_base_mva)
        self._bus_pos = {int(b): i for i, b in enumerate(self.bus_ids.tolist())}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pandapower(cls, net: pandapowerNet, kind: ModelKind) -> LinearGridModel:
        """Build the linear model of a pandapower network.

        Parameters
        ----------
        net : pandapowerNet
            The network (not modified). Its loads and static generators are ignored: the
            injections are passed to each method.
        kind : {"dc", "lindistflow"}
            The model (module docstring).

        Returns
        -------
        LinearGridModel

        Raises
        ------
        ValueError
            Unknown ``kind``; no in-service external grid, or external grids at more than one
            (fused) bus; in-service three-winding transformers, impedances or DC lines; a
            connected line or transformer with zero reactance (``"dc"``) or a meshed network
            (``"lindistflow"``; use ``"dc"``).
        """
        if kind not in MODEL_KINDS:
            raise ValueError(f"kind must be one of {MODEL_KINDS}, got {kind!r}")
        topo = BranchTopology(net)
        n_bus = topo.bus_ids.size
        n_branch = topo.n_branch
        node_count = topo.node_count
        sens_node = np.zeros((n_branch, node_count))
        vp_node = vq_node = v0_node = None
        if kind == "dc":
            sens_node = dc_sensitivity(topo)
        else:
            sens_node, vp_node, vq_node, v0_node = lindistflow_sensitivities(topo)

        # Expand node columns to bus columns (fused buses share a node; unsupplied: zero).
        bus_node = topo.bus_node
        cols = np.flatnonzero(topo.bus_supplied)
        kw_to_pu = 1.0 / (1000.0 * topo.s_base_mva)
        flow = np.zeros((n_branch, n_bus))
        flow[:, cols] = sens_node[:, bus_node[cols]]
        vp = vq = v0 = None
        if vp_node is not None and vq_node is not None and v0_node is not None:
            vp = np.zeros((n_bus, n_bus))
            vq = np.zeros((n_bus, n_bus))
            rows = cols
            vp[np.ix_(rows, cols)] = vp_node[np.ix_(bus_node[rows], bus_node[cols])] * kw_to_pu
            vq[np.ix_(rows, cols)] = vq_node[np.ix_(bus_node[rows], bus_node[cols])] * kw_to_pu
            v0 = np.full(n_bus, np.nan)
            v0[rows] = v0_node[bus_node[rows]]
        return cls(
            kind=kind,
            bus_ids=topo.bus_ids,
            supplied=topo.bus_supplied,
            line_ids=topo.line_ids,
            trafo_ids=topo.trafo_ids,
            branch_active=topo.active,
            branch_rating_kva=topo.rating_kva,
            branch_ends=topo.branch_bus_pos,
            flow_sensitivity=flow,
            voltage_sensitivity_p=vp,
            voltage_sensitivity_q=vq,
            v_noload_pu=v0,
            s_base_mva=topo.s_base_mva,
        )

    # ------------------------------------------------------------------ queries
    @property
    def n_bus(self) -> int:
        """Number of buses (length of :attr:`bus_ids`)."""
        return int(self.bus_ids.size)

    @property
    def n_branch(self) -> int:
        """Number of branches (length of :attr:`branch_ids`)."""
        return int(self.branch_ids.size)

    @property
    def branch_end_positions(self) -> np.ndarray:
        """Positions in :attr:`bus_ids` of each branch's from (hv) and to (lv) bus.

        Shape (n_branch, 2).
        """
        return self._branch_ends

    def bus_positions(self, buses: np.ndarray) -> np.ndarray:
        """Return the positions in :attr:`bus_ids` of pandapower bus indices.

        Raises
        ------
        ValueError
            A bus is not in the network.
        """
        arr = np.asarray(buses).reshape(-1)
        try:
            return np.array([self._bus_pos[int(b)] for b in arr.tolist()], dtype=np.intp)
        except KeyError as exc:
            raise ValueError(f"bus {exc.args[0]} is not in the network") from None

    def bus_vector(self, participant_bus: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Sum per-participant values per bus, in the order of :attr:`bus_ids`.

        Parameters
        ----------
        participant_bus : numpy.ndarray of int
            pandapower bus index of each participant.
        values : numpy.ndarray
            One value per participant (e.g. ``p_kw``, load convention).

        Returns
        -------
        numpy.ndarray of float64, shape (n_bus,)
        """
        vals = np.asarray(values, dtype=np.float64).reshape(-1)
        pos = self.bus_positions(participant_bus)
        if pos.shape != vals.shape:
            raise ValueError("participant_bus and values must have the same length")
        return np.bincount(pos, weights=vals, minlength=self.n_bus).astype(np.float64)

    def flows_kw(self, p_kw: np.ndarray, q_kvar: np.ndarray | None = None) -> np.ndarray:
        """Active branch flows for bus injections.

        Parameters
        ----------
        p_kw : numpy.ndarray, shape (n_bus,)
            Active power consumed per bus [kW] (> 0 consumption, < 0 generation).
        q_kvar : numpy.ndarray, optional
            Accepted for symmetry; active flows of both models do not depend on it [kvar].

        Returns
        -------
        numpy.ndarray of float64, shape (n_branch,)
            Active flow from -> to (line ``from_bus`` -> ``to_bus``, trafo hv -> lv) [kW].
        """
        return np.asarray(self.flow_sensitivity @ self.as_bus_vector(p_kw, "p_kw"))

    def reactive_flows_kvar(self, q_kvar: np.ndarray) -> np.ndarray:
        """Reactive branch flows from -> to [kvar] (LinDistFlow; lossless sums downstream).

        Raises
        ------
        ValueError
            For the ``"dc"`` model, which has no reactive power.
        """
        self._needlindistflow_sensitivities("reactive_flows_kvar")
        return np.asarray(self.flow_sensitivity @ self.as_bus_vector(q_kvar, "q_kvar"))

    def voltages_pu(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> np.ndarray:
        """Bus voltage magnitudes [pu] (LinDistFlow only); NaN at unsupplied buses.

        Parameters
        ----------
        p_kw, q_kvar : numpy.ndarray, shape (n_bus,)
            Power consumed per bus [kW], [kvar] (load convention).

        Raises
        ------
        ValueError
            For the ``"dc"`` model, which assumes flat voltages.
        """
        self._needlindistflow_sensitivities("voltages_pu")
        assert self.voltage_sensitivity_p is not None  # for mypy
        assert self.voltage_sensitivity_q is not None
        assert self.v_noload_pu is not None
        p = self.as_bus_vector(p_kw, "p_kw")
        q = self.as_bus_vector(q_kvar, "q_kvar")
        return np.asarray(
            self.v_noload_pu + self.voltage_sensitivity_p @ p + self.voltage_sensitivity_q @ q
        )

    def loading_percent(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> np.ndarray:
        """Estimated thermal loading of each branch [%] (pandapower's definition).

        ``"dc"``: ``|P| / S_max``. ``"lindistflow"``: ``sqrt(P**2 + Q**2) / (S_max * V)`` with
        ``V`` the lower model voltage of the branch's two ends (current = S / V). Inactive
        branches give 0.

        Parameters
        ----------
        p_kw, q_kvar : numpy.ndarray, shape (n_bus,)
            Power consumed per bus [kW], [kvar] (load convention).

        Returns
        -------
        numpy.ndarray of float64, shape (n_branch,)
        """
        p_flow = self.flows_kw(p_kw)
        rating = np.where(self.branch_active, self.branch_rating_kva, np.inf)
        if self.kind == "dc":
            return np.asarray(100.0 * np.abs(p_flow) / rating)
        q_flow = self.reactive_flows_kvar(q_kvar)
        v_end = self.branch_end_voltages(self.voltages_pu(p_kw, q_kvar))
        return np.asarray(100.0 * np.hypot(p_flow, q_flow) / (rating * v_end))

    def branch_end_voltages(self, vm_pu: np.ndarray) -> np.ndarray:
        """Lower voltage of each branch's two end buses [pu] (1.0 for inactive branches)."""
        v = np.asarray(vm_pu, dtype=np.float64)
        ends = self._branch_ends
        lower = np.minimum(v[ends[:, 0]], v[ends[:, 1]])
        return np.where(self.branch_active, lower, 1.0)

    # ------------------------------------------------------------------ helpers
    def as_bus_vector(self, values: np.ndarray, name: str = "values") -> np.ndarray:
        """Return ``values`` as a float64 per-bus vector after checking shape and finiteness."""
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != (self.n_bus,):
            raise ValueError(f"{name} must have shape ({self.n_bus},), got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} must be finite")
        return arr

    def _needlindistflow_sensitivities(self, what: str) -> None:
        if self.kind != "lindistflow":
            raise ValueError(f"{what} needs the 'lindistflow' model, this one is {self.kind!r}")


# ---------------------------------------------------------------------- topology


def _frozen(values: np.ndarray, dtype: type) -> np.ndarray:
    """Return a read-only copy of ``values`` with ``dtype``."""
    out: np.ndarray = np.array(values, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out
