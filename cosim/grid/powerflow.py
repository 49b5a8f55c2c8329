"""AC power flow through pandapower: the reference grid backend.

This module is the only place in cosim where kW becomes MW and where pandapower is asked for a
power flow. Everything outside speaks kW, kvar and per-unit voltage.

Each :meth:`PandapowerFlow.solve` call is independent of earlier calls: the Newton-Raphson
iteration always starts from the same point (``init="dc"``), so the same injections give
bit-identical results whatever was solved before. The options passed to
:func:`pandapower.runpp` are in :data:`RUNPP_OPTIONS` and documented in ``docs/networks.md``.

Examples
--------
>>> import numpy as np
>>> from cosim.grid.networks import attach_participants, load_network
>>> from cosim.grid.powerflow import PandapowerFlow
>>> net = load_network("village")
>>> att = attach_participants(net, "village")
>>> flow = PandapowerFlow(net, att.bus)
>>> res = flow.solve(np.full(len(att), 2.0), np.zeros(len(att)))
>>> bool(res.converged), bool(abs(res.grid_import_kw - 2.0 * len(att) - res.losses_kw) < 1e-6)
(True, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandapower as pp
from pandapower.auxiliary import LoadflowNotConverged, pandapowerNet

from cosim.grid.networks import prepare_for_participants

if TYPE_CHECKING:
    from cosim.faults import Outage

__all__ = ["RUNPP_OPTIONS", "FlowResult", "PandapowerFlow"]

#: Keyword arguments of every :func:`pandapower.runpp` call made by :class:`PandapowerFlow`.
#:
#: * ``algorithm="nr"``: Newton-Raphson, pandapower's reference solver.
#: * ``init="dc"``: start every solve from a DC power flow (angles, including transformer phase
#:   shifts) and flat magnitudes; never from the previous result, so results do not depend on
#:   history. A flat start does not converge on the village network (its Yzn5 transformer shifts
#:   the LV side by 150 degrees).
#: * ``calculate_voltage_angles=True``: model transformer phase shifts (30 degrees in CIGRE LV,
#:   150 in the village); magnitudes, flows and losses of these radial networks are the same
#:   either way, angles are physical.
#: * ``tolerance_mva=1e-9``: largest bus power mismatch at convergence, 1 W.
#: * ``max_iteration=20``: LV feeders converge in 3-5 iterations; 20 leaves room for heavy but
#:   feasible loading before a slot is reported as not converged.
#: * ``numba=True``: JIT-compiled Jacobian (needs numba, a cosim dependency).
#: * ``lightsim2grid=False``: this is the pandapower reference, even if lightsim2grid is
#:   installed (the fast backend is chosen with ``grid.backend``).
#: * ``voltage_depend_loads=False``: participants are constant-power (P, Q) injections.
#: * ``check_connectivity=True``: buses cut off by open switches are reported as NaN instead of
#:   making the Jacobian singular.
#: * ``trafo_model="t"``, ``trafo_loading="current"``: pandapower's defaults, stated explicitly.
RUNPP_OPTIONS: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "algorithm": "nr",
        "init": "dc",
        "calculate_voltage_angles": True,
        "tolerance_mva": 1e-9,
        "max_iteration": 20,
        "numba": True,
        "lightsim2grid": False,
        "voltage_depend_loads": False,
        "check_connectivity": True,
        "trafo_model": "t",
        "trafo_loading": "current",
    }
)

_LOAD_NAME = "cosim participants"


@dataclass(frozen=True, eq=False)
class FlowResult:
    """Outcome of one AC power flow (arrays are read-only).

    Parameters
    ----------
    converged : bool
        False when Newton-Raphson did not converge; every other field is then NaN.
    vm_pu : numpy.ndarray
        Voltage magnitude per bus, in the order of ``PandapowerFlow.bus_ids`` [p.u.].
    bus_p_mw : numpy.ndarray
        Active power per bus, pandapower's ``res_bus.p_mw`` sign: positive = consumption [MW].
    line_loading_percent : numpy.ndarray
        Loading per line, in the order of ``PandapowerFlow.line_ids`` [%].
    trafo_loading_percent : numpy.ndarray
        Loading per two-winding transformer, order of ``PandapowerFlow.trafo_ids`` [%].
    losses_kw : float
        Active losses of lines and transformers (plus three-winding transformers and
        impedances, if the network has any) [kW].
    grid_import_kw : float
        Active power the external grid(s) feed into the network: > 0 import, < 0 export [kW].
    unsupplied_kw : float
        Sum of ``|p_kw|`` of the participants on buses cut off from the external grid (an
        outage, :meth:`PandapowerFlow.set_outage`): power the flow could not serve or take,
        0 when every participant is supplied [kW]. NaN when the flow did not converge.
    """

    converged: bool
    vm_pu: np.ndarray
    bus_p_mw: np.ndarray
    line_loading_percent: np.ndarray
    trafo_loading_percent: np.ndarray
    losses_kw: float
    grid_import_kw: float
    unsupplied_kw: float = 0.0


class PandapowerFlow:
    """Solve AC power flows for per-participant injections with pandapower.

    Parameters
    ----------
    net : pandapowerNet
        The network, normally already passed through
        :func:`~cosim.grid.networks.prepare_for_participants`. The adapter works on its own
        prepared deep copy, so ``net`` is never modified and built-in loads/sgens never count.
    participant_bus : numpy.ndarray of int
        Bus index of each participant (``Attachment.bus``).

    Attributes
    ----------
    bus_ids : numpy.ndarray of int64
        Bus indices, the order of ``FlowResult.vm_pu`` and ``FlowResult.bus_p_mw``.
    line_ids : numpy.ndarray of int64
        Line indices, the order of ``FlowResult.line_loading_percent``.
    trafo_ids : numpy.ndarray of int64
        Transformer indices, the order of ``FlowResult.trafo_loading_percent``.
    load_bus : numpy.ndarray of int64
        The buses that received one pandapower load each (sorted, unique participant buses).

    Raises
    ------
    ValueError
        ``participant_bus`` is not one-dimensional integers, or names a bus that does not exist
        or is out of service.

    Notes
    -----
    One constant-power pandapower load is created per distinct participant bus; a solve sums
    the participants of each bus with :func:`numpy.bincount` (in participant order, hence
    deterministically), converts kW to MW and writes only the ``p_mw`` and ``q_mvar`` columns.
    :meth:`set_outage` takes lines and transformers out of service for the following solves.
    """

    def __init__(self, net: pandapowerNet, participant_bus: np.ndarray) -> None:
        bus = np.asarray(participant_bus)
        if bus.ndim != 1 or (bus.size and not np.issubdtype(bus.dtype, np.integer)):
            raise ValueError("participant_bus must be a one-dimensional integer array")
        self._net = prepare_for_participants(net)
        in_service = self._net.bus.index[self._net.bus["in_service"].astype(bool)]
        unknown = np.setdiff1d(bus, in_service.to_numpy())
        if unknown.size:
            raise ValueError(f"participant buses missing or out of service: {unknown.tolist()}")
        self.load_bus, self._participant_slot = np.unique(bus.astype(np.int64), return_inverse=True)
        self._participant_slot = self._participant_slot.reshape(-1)
        self._n_participants = int(bus.size)
        if self.load_bus.size:
            created = pp.create_loads(
                self._net,
                buses=self.load_bus,
                p_mw=0.0,
                q_mvar=0.0,
                name=[f"{_LOAD_NAME} @ bus {b}" for b in self.load_bus],
            )
        else:
            created = []
        load_rows = self._net.load.index.get_indexer(np.asarray(created, dtype=np.int64))
        self._load_rows = load_rows.astype(np.intp)
        self._p_mw = self._net.load["p_mw"].to_numpy(dtype=np.float64, copy=True)
        self._q_mvar = self._net.load["q_mvar"].to_numpy(dtype=np.float64, copy=True)
        self.bus_ids = self._net.bus.index.to_numpy(dtype=np.int64)
        self.line_ids = self._net.line.index.to_numpy(dtype=np.int64)
        self.trafo_ids = self._net.trafo.index.to_numpy(dtype=np.int64)
        self._loss_tables = tuple(
            t
            for t in ("res_line", "res_trafo", "res_trafo3w", "res_impedance")
            if len(self._net[t.removeprefix("res_")]) > 0
        )
        self._participant_bus_pos = self._net.bus.index.get_indexer(bus.astype(np.int64))
        self._line_on = self._net.line["in_service"].to_numpy(dtype=bool, copy=True)
        self._trafo_on = self._net.trafo["in_service"].to_numpy(dtype=bool, copy=True)
        self._outage_key: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())

    def set_outage(self, outage: Outage) -> None:
        """Take ``outage.lines`` and ``outage.trafos`` (pandapower indices) out of service.

        Until the next call, every solve uses the network without them; elements not named
        are back in their original state (an empty :class:`~cosim.faults.Outage` restores the
        network). Buses cut off from the external grid get NaN voltages (the flow still
        converges), and the participants there are summed in ``FlowResult.unsupplied_kw``.

        Raises
        ------
        ValueError
            A line or transformer index the network does not have.
        """
        key = (tuple(outage.lines), tuple(outage.trafos))
        if key == self._outage_key:
            return
        states = []
        for table, ids, base in (
            ("line", key[0], self._line_on),
            ("trafo", key[1], self._trafo_on),
        ):
            pos = self._net[table].index.get_indexer(np.asarray(ids, dtype=np.int64))
            if (pos < 0).any():
                unknown = np.asarray(ids)[pos < 0].tolist()
                raise ValueError(f"outage names {table}s the network does not have: {unknown}")
            on = base.copy()
            on[pos] = False
            states.append((table, on))
        for table, on in states:
            self._net[table]["in_service"] = on
        self._outage_key = key

    @property
    def n_participants(self) -> int:
        """Number of participants the adapter expects per solve."""
        return self._n_participants

    def solve_batch(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> list[FlowResult]:
        """Run the AC power flows of consecutive slots, one after the other.

        The interface of :meth:`cosim.grid.lightsim.LightsimFlow.solve_batch`: rows of
        ``p_kw`` and ``q_kvar`` (shape ``(slots, n_participants)``) are slots; the results are
        those of :meth:`solve` called row by row, in order.
        """
        return [self.solve(p, q) for p, q in zip(p_kw, q_kvar, strict=True)]

    def solve(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> FlowResult:
        """Run one AC power flow.

        Parameters
        ----------
        p_kw : numpy.ndarray
            Mean active power each participant draws in the slot [kW]: > 0 consumption,
            < 0 injection. Shape ``(n_participants,)``.
        q_kvar : numpy.ndarray
            Mean reactive power each participant draws [kvar], same sign convention and shape.

        Returns
        -------
        FlowResult
            Voltages, flows, losses and grid exchange; all NaN with ``converged=False`` when
            the power flow does not converge (this method never raises for that).

        Raises
        ------
        ValueError
            Wrong shape or non-finite values.
        """
        p = self._check(p_kw, "p_kw")
        q = self._check(q_kvar, "q_kvar")
        n_bus = self.load_bus.size
        self._p_mw[self._load_rows] = (
            np.bincount(self._participant_slot, weights=p, minlength=n_bus) / 1000.0
        )
        self._q_mvar[self._load_rows] = (
            np.bincount(self._participant_slot, weights=q, minlength=n_bus) / 1000.0
        )
        net = self._net
        net.load["p_mw"] = self._p_mw
        net.load["q_mvar"] = self._q_mvar
        try:
            pp.runpp(net, **RUNPP_OPTIONS)
        except LoadflowNotConverged:
            return self._not_converged()
        losses_mw = sum(float(net[t]["pl_mw"].sum()) for t in self._loss_tables)
        ext = net.res_ext_grid["p_mw"].to_numpy(dtype=np.float64)
        vm = net.res_bus["vm_pu"].to_numpy(dtype=np.float64)
        unsupplied = np.isnan(vm[self._participant_bus_pos])
        return FlowResult(
            converged=True,
            vm_pu=_frozen(net.res_bus["vm_pu"].to_numpy(dtype=np.float64)),
            bus_p_mw=_frozen(net.res_bus["p_mw"].to_numpy(dtype=np.float64)),
            line_loading_percent=_frozen(
                net.res_line["loading_percent"].to_numpy(dtype=np.float64)
            ),
            trafo_loading_percent=_frozen(
                net.res_trafo["loading_percent"].to_numpy(dtype=np.float64)
            ),
            losses_kw=losses_mw * 1000.0,
            grid_import_kw=float(np.nansum(ext)) * 1000.0,
            unsupplied_kw=float(np.abs(p[unsupplied]).sum()),
        )

    def _check(self, values: np.ndarray, name: str) -> np.ndarray:
        """Return ``values`` as float64 after checking shape and finiteness."""
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != (self._n_participants,):
            raise ValueError(f"{name} must have shape ({self._n_participants},), got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} must be finite")
        return arr

    def _not_converged(self) -> FlowResult:
        """Return the all-NaN result of a failed power flow."""
        return FlowResult(
            converged=False,
            vm_pu=_nan(self.bus_ids.size),
            bus_p_mw=_nan(self.bus_ids.size),
            line_loading_percent=_nan(self.line_ids.size),
            trafo_loading_percent=_nan(self.trafo_ids.size),
            losses_kw=float("nan"),
            grid_import_kw=float("nan"),
            unsupplied_kw=float("nan"),
        )


def _frozen(values: np.ndarray) -> np.ndarray:
    """Return a read-only copy of ``values``."""
    out = np.array(values, dtype=np.float64, copy=True)
    out.setflags(write=False)
    return out


def _nan(size: int) -> np.ndarray:
    """Return a read-only NaN array of length ``size``."""
    return _frozen(np.full(size, np.nan))
