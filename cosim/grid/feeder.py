"""The feeder seen by the rolling-horizon scheduler: a radial LinDistFlow model per node.

:class:`FeederModel` holds squared-voltage and line-flow sensitivities, limits and the fixed
reactive injections; build it with :meth:`FeederModel.radial`,
:meth:`FeederModel.four_node_reference` (docs/rolling.md) or
:meth:`FeederModel.from_linear_model` (any radial pandapower net via
:class:`cosim.grid.linear.LinearGridModel`). Used by the feeder-wide battery LP
(:func:`cosim.participants.storage.plan_feeder`) and by the reference LP of the tests
(``tests/reference/rolling_lp.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cosim.grid.linear import LinearGridModel

__all__ = ["FeederModel", "frozen_checked", "reactive_terms"]


def frozen_checked(values: object, shape: tuple[int, ...], name: str) -> np.ndarray:
    """Return a read-only float64 copy of ``values`` after checking shape and NaN."""
    arr = np.array(values, dtype=np.float64, copy=True)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    if np.isnan(arr).any():
        raise ValueError(f"{name} must not contain NaN")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class FeederModel:
    """Linear (LinDistFlow) feeder seen from the scheduler's nodes; arrays are read-only.

    Node 0 is the slack (utility); its injection changes no flow or voltage. Build it with
    :meth:`radial`, :meth:`four_node_reference` or :meth:`from_linear_model`.

    Parameters
    ----------
    v_sq_sensitivity : numpy.ndarray, shape (n_v, n)
        Squared voltage of each monitored point per kW injected at each node [pu^2/kW].
    v_sq_base : numpy.ndarray, shape (n_v,)
        Squared voltage with zero active injection (fixed reactive injections included)
        [pu^2].
    v_sq_min, v_sq_max : numpy.ndarray, shape (n_v,)
        Squared voltage band [pu^2].
    flow_sensitivity : numpy.ndarray, shape (n_line, n)
        Active flow of each line (parent -> child, or from -> to) per kW injected [kW/kW].
    flow_max_kw : numpy.ndarray, shape (n_line,)
        Limit on ``|flow|`` [kW] (``inf`` for none).
    p_max_kw : numpy.ndarray, shape (n,)
        Limit on ``|p_i|``, the net injection of each node [kW] (``inf`` for none).
    """

    v_sq_sensitivity: np.ndarray
    v_sq_base: np.ndarray
    v_sq_min: np.ndarray
    v_sq_max: np.ndarray
    flow_sensitivity: np.ndarray
    flow_max_kw: np.ndarray
    p_max_kw: np.ndarray

    def __post_init__(self) -> None:
        p_max = np.asarray(self.p_max_kw)
        if p_max.ndim != 1 or p_max.size < 2:
            raise ValueError("p_max_kw must be one limit per node, at least two nodes")
        n = p_max.size
        n_v = np.asarray(self.v_sq_base).reshape(-1).size
        n_line = np.asarray(self.flow_max_kw).reshape(-1).size
        shapes = {
            "v_sq_sensitivity": (n_v, n),
            "v_sq_base": (n_v,),
            "v_sq_min": (n_v,),
            "v_sq_max": (n_v,),
            "flow_sensitivity": (n_line, n),
            "flow_max_kw": (n_line,),
            "p_max_kw": (n,),
        }
        for name, shape in shapes.items():
            object.__setattr__(self, name, frozen_checked(getattr(self, name), shape, name))
        if np.any(self.p_max_kw < 0) or np.any(self.flow_max_kw < 0):
            raise ValueError("p_max_kw and flow_max_kw must be >= 0")

    @property
    def n_node(self) -> int:
        """Number of nodes, slack included."""
        return int(self.p_max_kw.size)

    @classmethod
    def radial(
        cls,
        parent: np.ndarray,
        r_pu: np.ndarray,
        x_pu: np.ndarray,
        *,
        s_base_kw: float,
        q_kvar: np.ndarray,
        p_max_kw: np.ndarray,
        flow_max_kw: np.ndarray,
        v_min_pu: float = 0.95,
        v_max_pu: float = 1.05,
        v_slack_pu: float = 1.0,
    ) -> FeederModel:
        """Squared-voltage LinDistFlow of a radial feeder given by parent pointers.

        Line ``k`` (``k = 1 .. n-1``) joins ``parent[k]`` to node ``k``; its flow ``P_k`` is
        the power consumed below it, ``P_k = -sum_{j below k} p_j``, and
        ``v_k = v_parent - 2 (r_k P_k + x_k Q_k)`` (per unit), so ``v = v_bar + R p`` with
        ``R_ij = 2 * (resistance of the common part of the paths of i and j to the slack)``.

        Parameters
        ----------
        parent : numpy.ndarray of int, shape (n,)
            Parent node of each node; ``parent[0]`` is ignored (slack), ``parent[k] < k``.
        r_pu, x_pu : numpy.ndarray, shape (n,)
            Resistance and reactance of the line into each node [pu]; entry 0 ignored.
        s_base_kw : float
            Power base [kW]; injections are divided by it.
        q_kvar : numpy.ndarray, shape (n,)
            Fixed reactive injection of each node [kvar] (> 0 generation); entry 0 ignored.
        p_max_kw : numpy.ndarray, shape (n,)
            Limit on each node's ``|net injection|`` [kW].
        flow_max_kw : numpy.ndarray, shape (n,)
            Limit on ``|flow|`` of the line into each node [kW]; entry 0 ignored.
        v_min_pu, v_max_pu : float, default 0.95, 1.05
            Voltage band [pu] (squared inside).
        v_slack_pu : float, default 1.0
            Slack voltage [pu].

        Returns
        -------
        FeederModel
            With one voltage row per node (row 0 constant) and one flow row per line.
        """
        par = np.asarray(parent, dtype=np.intp).reshape(-1)
        n = par.size
        if n < 2 or np.any(par[1:] < 0) or np.any(par[1:] >= np.arange(1, n)):
            raise ValueError("parent must list, for nodes 1..n-1, a parent node of lower index")
        if not (math.isfinite(s_base_kw) and s_base_kw > 0):
            raise ValueError(f"s_base_kw must be > 0 [kW], got {s_base_kw!r}")
        r = np.asarray(r_pu, dtype=np.float64).reshape(-1)
        x = np.asarray(x_pu, dtype=np.float64).reshape(-1)
        q = np.asarray(q_kvar, dtype=np.float64).reshape(-1)
        if not (r.shape == x.shape == q.shape == (n,)):
            raise ValueError("r_pu, x_pu and q_kvar must have one entry per node")
        # below[k, j]: node j lies in the subtree of node k (line k feeds it).
        below = np.eye(n)
        for j in range(n - 1, 0, -1):
            below[par[j]] += below[j]
        below = np.minimum(below, 1.0)
        lines = np.arange(1, n)
        flow = -below[lines]  # kW flow per kW injected
        # v_i = v0 + 2 sum_{lines k on path(i)} (r_k / S_b) * (sum_{j below k} p_j) (+ q)
        on_path = below[lines].T  # (node i, line k): line k is on the path of node i
        r_sens = 2.0 * (on_path * r[lines]) @ below[lines] / s_base_kw
        x_sens = 2.0 * (on_path * x[lines]) @ below[lines] / s_base_kw
        q_inj = q.copy()
        q_inj[0] = 0.0
        v_bar = v_slack_pu**2 + x_sens @ q_inj
        f_max = np.asarray(flow_max_kw, dtype=np.float64).reshape(-1)
        if f_max.shape != (n,):
            raise ValueError("flow_max_kw must have one entry per node")
        return cls(
            v_sq_sensitivity=r_sens,
            v_sq_base=v_bar,
            v_sq_min=np.full(n, v_min_pu**2),
            v_sq_max=np.full(n, v_max_pu**2),
            flow_sensitivity=flow,
            flow_max_kw=f_max[lines],
            p_max_kw=p_max_kw,
        )

    @classmethod
    def four_node_reference(cls) -> FeederModel:
        """The 4-node chain of the rolling-horizon reference case (docs/rolling.md).

        Per unit on ``S_b = 1 kW`` and ``V_b = 10 kV``, so ``Z_b = V_b**2 / S_b = 1e5 ohm``;
        lines 0-1, 1-2, 2-3 with ``r = 1.3509, 1.17024, 0.84111 ohm`` and
        ``x = 1.32349, 1.14464, 0.82271 ohm``; reactive injection 2 pu (2 kvar) at nodes 1-3;
        ``|p_i| <= 38.4 kW`` at every node (the slack included); ``|flow| <= 100 kW``;
        voltage in ``[0.95, 1.05] pu`` with the slack at 1 pu.
        """
        s_base_kw = 1.0
        z_base_ohm = (10.0e3) ** 2 / (s_base_kw * 1.0e3)
        r_ohm = np.array([0.0, 1.3509, 1.17024, 0.84111])
        x_ohm = np.array([0.0, 1.32349, 1.14464, 0.82271])
        return cls.radial(
            np.array([-1, 0, 1, 2]),
            r_ohm / z_base_ohm,
            x_ohm / z_base_ohm,
            s_base_kw=s_base_kw,
            q_kvar=np.array([0.0, 2.0, 2.0, 2.0]) * s_base_kw,
            p_max_kw=np.full(4, 38.4),
            flow_max_kw=np.full(4, 100.0),
        )

    @classmethod
    def from_linear_model(
        cls,
        model: LinearGridModel,
        participant_bus: np.ndarray,
        *,
        q_kvar: np.ndarray | None = None,
        p_max_kw: float | np.ndarray = math.inf,
        v_min_pu: float = 0.95,
        v_max_pu: float = 1.05,
    ) -> FeederModel:
        """Feeder model of participants on a pandapower network (``"lindistflow"`` model).

        Node 0 is the external grid, node ``k`` is participant ``k - 1`` (participants on the
        same bus share its sensitivities). Monitored voltages are every supplied bus, with
        ``V**2 ~ V0**2 + 2 V0 (V - V0)`` around the no-load voltage ``V0``; lines and
        transformers are limited to ``sqrt(S_max**2 - Q**2)`` with ``Q`` the reactive flow of
        the fixed ``q_kvar``.

        Parameters
        ----------
        model : LinearGridModel
            ``LinearGridModel.from_pandapower(net, "lindistflow")``.
        participant_bus : numpy.ndarray of int, shape (m,)
            pandapower bus index of each participant.
        q_kvar : numpy.ndarray, shape (m,), optional
            Fixed reactive injection of each participant [kvar] (> 0 generation); default 0.
        p_max_kw : float or numpy.ndarray, default inf
            Limit on each node's ``|net injection|`` [kW]; an array has ``m + 1`` entries
            (slack first).
        v_min_pu, v_max_pu : float, default 0.95, 1.05
            Voltage band [pu].

        Returns
        -------
        FeederModel
        """
        if model.kind != "lindistflow":
            raise ValueError(f"need the 'lindistflow' model, got {model.kind!r}")
        assert model.voltage_sensitivity_p is not None  # for mypy
        assert model.voltage_sensitivity_q is not None
        assert model.v_noload_pu is not None
        pos = model.bus_positions(np.asarray(participant_bus))
        m = pos.size
        q = np.zeros(m) if q_kvar is None else np.asarray(q_kvar, dtype=np.float64).reshape(-1)
        if q.shape != (m,):
            raise ValueError("q_kvar must have one entry per participant")
        q_bus = model.bus_vector(np.asarray(participant_bus), -q)  # load convention
        rows = np.flatnonzero(model.supplied)
        v0 = model.v_noload_pu[rows]
        v_lin_q = v0 + model.voltage_sensitivity_q[rows] @ q_bus
        sens = np.zeros((rows.size, m + 1))
        sens[:, 1:] = -2.0 * v0[:, None] * model.voltage_sensitivity_p[np.ix_(rows, pos)]
        v_bar = v0**2 + 2.0 * v0 * (v_lin_q - v0)
        act = np.flatnonzero(model.branch_active)
        flow = np.zeros((act.size, m + 1))
        flow[:, 1:] = -model.flow_sensitivity[np.ix_(act, pos)]
        q_flow = model.reactive_flows_kvar(q_bus)[act]
        rating = model.branch_rating_kva[act]
        f_max = np.sqrt(np.maximum(rating**2 - q_flow**2, 0.0))
        return cls(
            v_sq_sensitivity=sens,
            v_sq_base=v_bar,
            v_sq_min=np.full(rows.size, v_min_pu**2),
            v_sq_max=np.full(rows.size, v_max_pu**2),
            flow_sensitivity=flow,
            flow_max_kw=f_max,
            p_max_kw=np.broadcast_to(np.asarray(p_max_kw, dtype=np.float64), (m + 1,)),
        )


def reactive_terms(
    model: LinearGridModel, participant_bus: np.ndarray, q_kvar: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-step ``v_sq_base`` and ``flow_max_kw`` of :meth:`FeederModel.from_linear_model`.

    Row ``t`` equals the attributes of ``FeederModel.from_linear_model(model,
    participant_bus, q_kvar=q_kvar[t])``, computed for all steps at once (the reactive
    injections of loads change from step to step; the sensitivities do not).

    Parameters
    ----------
    model : LinearGridModel
        ``"lindistflow"`` model.
    participant_bus : numpy.ndarray of int, shape (m,)
        pandapower bus index of each participant.
    q_kvar : numpy.ndarray, shape (T, m)
        Reactive injection of each participant per step [kvar] (> 0 generation).

    Returns
    -------
    v_sq_base : numpy.ndarray, shape (T, n_v)
        Squared voltages with zero active injection [pu^2].
    flow_max_kw : numpy.ndarray, shape (T, n_line)
        Active-power limit of each branch given its reactive flow [kW].
    """
    if model.kind != "lindistflow":
        raise ValueError(f"need the 'lindistflow' model, got {model.kind!r}")
    assert model.voltage_sensitivity_q is not None  # for mypy
    assert model.v_noload_pu is not None
    pos = model.bus_positions(np.asarray(participant_bus))
    q = np.asarray(q_kvar, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] != pos.size:
        raise ValueError(f"q_kvar must have shape (T, {pos.size}), got {q.shape}")
    incidence = np.zeros((pos.size, model.n_bus))
    incidence[np.arange(pos.size), pos] = 1.0
    q_bus = -q @ incidence  # load convention, (T, n_bus)
    rows = np.flatnonzero(model.supplied)
    v0 = model.v_noload_pu[rows]
    dv = q_bus @ model.voltage_sensitivity_q[rows].T
    act = np.flatnonzero(model.branch_active)
    q_flow = q_bus @ model.flow_sensitivity[act].T
    rating = model.branch_rating_kva[act]
    return v0**2 + 2.0 * v0 * dv, np.sqrt(np.maximum(rating**2 - q_flow**2, 0.0))
