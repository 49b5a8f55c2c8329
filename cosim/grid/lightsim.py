"""AC power flow through lightsim2grid: the fast grid backend (``grid.backend: lightsim2grid``).

:class:`LightsimFlow` has the constructor, attributes and :meth:`~LightsimFlow.solve` of
:class:`~cosim.grid.powerflow.PandapowerFlow` and returns the same
:class:`~cosim.grid.powerflow.FlowResult`; pandapower stays the reference it is tested against
(``tests/test_lightsim.py``). The network is read from the same pandapower net once, at
construction, into a lightsim2grid ``LSGrid``; a slot then only changes the load injections and
runs lightsim2grid's C++ Newton-Raphson (KLU, through its ``InjectionSweep`` batch class with one
row), without pandapower's conversion to and from its internal format.
:meth:`LightsimFlow.solve_batch` solves many independent slots in one C++ call, for horizons
where nothing in a slot depends on the flow of an earlier one; a row is bit for bit the result
of :meth:`LightsimFlow.solve`.

What the conversion does that ``lightsim2grid.network.init_from_pandapower`` alone does not
(see ``docs/performance.md``, "Power flow"):

* **bus-bus switches**: lightsim2grid ignores switches. :func:`cosim.grid.topology.read_topology`
  fuses closed bus-bus switches (as pandapower does) and opens branch ends behind open
  line/transformer switches. Without the fusion CIGRE LV's three transformers hang on 20 kV
  buses that nothing connects to the external grid, and every power flow fails.
* **the external grid** becomes a slack generator at its voltage setpoint; transformer tap
  data that pandapower 3 ignores (no ``tap_changer_type``) is neutralised instead of warned
  about; parallel lines and transformers become one equivalent branch each.
* **the start point**: every slot starts from one fixed voltage vector (a no-load DC flow:
  the transformer phase shifts as angles, the slack setpoint as magnitude), so results are
  history-free and deterministic, like pandapower's ``init="dc"``.

This module converts kW to MW for lightsim2grid exactly as :mod:`cosim.grid.powerflow` does for
pandapower (the adapters are cosim's only unit boundary).

Examples
--------
>>> import numpy as np
>>> from cosim.grid.lightsim import LightsimFlow
>>> from cosim.grid.networks import attach_participants, load_network
>>> net = load_network("cigre_lv")
>>> att = attach_participants(net, "cigre_lv")
>>> flow = LightsimFlow(net, att.bus)
>>> res = flow.solve(np.full(len(att), 2.0), np.zeros(len(att)))
>>> bool(res.converged), bool(abs(res.grid_import_kw - 2.0 * len(att) - res.losses_kw) < 1e-6)
(True, True)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandapower as pp
import pandas as pd
from lightsim2grid.lightsim2grid_cpp import InjectionSweepCPP
from lightsim2grid.network import init_from_pandapower
from pandapower.auxiliary import pandapowerNet

from cosim.grid.networks import prepare_for_participants
from cosim.grid.powerflow import RUNPP_OPTIONS, FlowResult
from cosim.grid.topology import Topology, closed_bus_switches, in_service, read_topology

if TYPE_CHECKING:
    from cosim.faults import Outage

__all__ = ["UNSUPPORTED_TABLES", "LightsimFlow"]

#: pandapower tables this backend cannot model; an in-service row in any of them makes
#: :class:`LightsimFlow` raise ``ValueError`` (use ``grid.backend: pandapower`` for such nets).
UNSUPPORTED_TABLES: Final[tuple[str, ...]] = (
    "gen",
    "sgen",
    "load",
    "storage",
    "shunt",
    "impedance",
    "ward",
    "xward",
    "trafo3w",
    "dcline",
    "motor",
    "asymmetric_load",
    "asymmetric_sgen",
    "svc",
    "tcsc",
    "ssc",
    "vsc",
)

#: Newton-Raphson settings, the same as the pandapower reference (:data:`RUNPP_OPTIONS`).
_MAX_ITERATION: Final[int] = int(RUNPP_OPTIONS["max_iteration"])
_TOLERANCE_MVA: Final[float] = float(RUNPP_OPTIONS["tolerance_mva"])
_SQRT3: Final[float] = float(np.sqrt(3))
#: Outage states :meth:`LightsimFlow.set_outage` keeps besides the one without outage.
_KEEP_OUTAGE_STATES: Final[int] = 4


@dataclass
class _Network:
    """One state of the network (no outage, or one outage set) and its batch solvers.

    ``unsupplied`` marks the participants on buses without supply; ``sweeps`` holds the
    solvers built from ``grid`` (by rows and threads).
    """

    topo: Topology
    grid: Any
    line_open_end: np.ndarray
    trafo_open_end: np.ndarray
    unsupplied: np.ndarray
    sweeps: dict[tuple[int, int], Any] = field(default_factory=dict)


class LightsimFlow:
    """Solve AC power flows for per-participant injections with lightsim2grid.

    Same constructor, attributes and results as :class:`~cosim.grid.powerflow.PandapowerFlow`
    (the reference backend); see there for the sign conventions of
    :class:`~cosim.grid.powerflow.FlowResult`.

    Parameters
    ----------
    net : pandapowerNet
        The network, normally already passed through
        :func:`~cosim.grid.networks.prepare_for_participants` (done again here on a deep copy;
        ``net`` is never modified).
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
        The buses that carry one constant-power load each (sorted, unique participant buses).

    Raises
    ------
    ValueError
        ``participant_bus`` is not one-dimensional integers or names a missing or out-of-service
        bus; or the network holds something this backend does not model: an in-service row of
        a table in :data:`UNSUPPORTED_TABLES`, not exactly one in-service external grid, a
        closed bus-bus switch with an impedance, or a transformer tap away from neutral other
        than a plain hv-side ratio tap (``tap_changer_type="Ratio"``, ``tap_side="hv"``, no
        phase step, tables or second tap changer).

    Notes
    -----
    Supported: buses, lines, two-winding transformers (T model, hv ratio taps, any phase shift,
    ``parallel``), switches (closed bus-bus switches fused, open line/transformer switches
    open that end), one external grid, out-of-service elements and islands without supply
    (NaN voltages and loadings there, as pandapower reports with ``check_connectivity``).
    The Newton-Raphson tolerance and iteration limit are those of
    :data:`~cosim.grid.powerflow.RUNPP_OPTIONS`.
    """

    def __init__(self, net: pandapowerNet, participant_bus: np.ndarray) -> None:
        bus = np.asarray(participant_bus)
        if bus.ndim != 1 or (bus.size and not np.issubdtype(bus.dtype, np.integer)):
            raise ValueError("participant_bus must be a one-dimensional integer array")
        prepared = prepare_for_participants(net)
        _check_supported(prepared)
        on_buses = prepared.bus.index[in_service(prepared.bus)]
        unknown = np.setdiff1d(bus, on_buses.to_numpy())
        if unknown.size:
            raise ValueError(f"participant buses missing or out of service: {unknown.tolist()}")
        self.load_bus, slot = np.unique(bus.astype(np.int64), return_inverse=True)
        self._participant_slot = slot.reshape(-1)
        self._n_participants = int(bus.size)
        self.bus_ids = prepared.bus.index.to_numpy(dtype=np.int64)
        self.line_ids = prepared.line.index.to_numpy(dtype=np.int64)
        self.trafo_ids = prepared.trafo.index.to_numpy(dtype=np.int64)

        ext_grid = prepared.ext_grid["bus"][in_service(prepared.ext_grid)]
        slack_pos = int(prepared.bus.index.get_indexer(ext_grid)[0])
        topo = read_topology(prepared, slack_pos, fuse_out_of_service=True)
        self._prepared = prepared
        self._slack_pos = slack_pos
        self._load_pos = prepared.bus.index.get_indexer(self.load_bus).astype(np.intp)
        self._tol_pu = _TOLERANCE_MVA / float(prepared.sn_mva)
        self._slack_gen = 0
        base = self._network(topo, _build_grid(prepared, topo, self._load_pos))
        self._v0 = _initial_voltage(base.grid)
        self._states: dict[tuple[tuple[int, ...], tuple[int, ...]], _Network] = {((), ()): base}
        self._state = base

        bus_vn = prepared.bus["vn_kv"].to_numpy(dtype=np.float64)
        line = prepared.line
        trafo = prepared.trafo
        self._line_vn = bus_vn[topo.line_ends]
        self._trafo_vn = bus_vn[topo.trafo_ends]
        self._line_i_max = (
            line["max_i_ka"].to_numpy(dtype=np.float64)
            * line["df"].to_numpy(dtype=np.float64)
            * line["parallel"].to_numpy(dtype=np.float64)
        )
        self._trafo_vn_rated = np.column_stack(
            [trafo["vn_hv_kv"].to_numpy(np.float64), trafo["vn_lv_kv"].to_numpy(np.float64)]
        )
        self._trafo_sn = trafo["sn_mva"].to_numpy(dtype=np.float64)[:, np.newaxis]
        self._trafo_parallel = trafo["parallel"].to_numpy(dtype=np.float64)
        self._trafo_df = trafo["df"].to_numpy(dtype=np.float64)

    @property
    def n_participants(self) -> int:
        """Number of participants the adapter expects per solve."""
        return self._n_participants

    def set_outage(self, outage: Outage) -> None:
        """Take ``outage.lines`` and ``outage.trafos`` (pandapower indices) out of service.

        Until the next call, every solve uses the network without them; an empty
        :class:`~cosim.faults.Outage` restores the network. The first time an outage set is
        seen, the supply is searched again on the prepared net and a copy of the lightsim2grid
        grid gets the extra branch ends and loads deactivated (what the constructor does for
        elements out of service); the state without outage and the last few outage states are
        kept, so switching back and forth costs nothing, and a set always solves from the same
        state (a rebuilt one equals the one it replaces). Buses cut off from the external
        grid get NaN voltages as in pandapower; the participants there are summed in
        ``FlowResult.unsupplied_kw``.

        Raises
        ------
        ValueError
            A line or transformer index the network does not have.
        """
        key = (tuple(outage.lines), tuple(outage.trafos))
        state = self._states.pop(key, None)
        if state is None:
            state = self._outaged(key)
            outaged = [k for k in self._states if k != ((), ())]
            for old in outaged[: max(len(outaged) + 1 - _KEEP_OUTAGE_STATES, 0)]:
                del self._states[old]  # least recently used first
        self._states[key] = state
        self._state = state

    def _outaged(self, key: tuple[tuple[int, ...], tuple[int, ...]]) -> _Network:
        """The network state with the lines ``key[0]`` and transformers ``key[1]`` out."""
        work = copy.copy(self._prepared)  # shallow: the two tables are replaced below
        for table, ids in zip(("line", "trafo"), key, strict=True):
            pos = work[table].index.get_indexer(np.asarray(ids, dtype=np.int64))
            if (pos < 0).any():
                unknown = np.asarray(ids)[pos < 0].tolist()
                raise ValueError(f"outage names {table}s the network does not have: {unknown}")
            if ids:
                frame = work[table].copy()
                on = frame["in_service"].to_numpy(dtype=bool, copy=True)
                on[pos] = False
                frame["in_service"] = on
                work[table] = frame
        topo = read_topology(work, self._slack_pos, fuse_out_of_service=True)
        base = self._states[((), ())]
        grid = base.grid.copy()
        for element, now, before in (
            ("powerline", topo.line_side_open, base.topo.line_side_open),
            ("trafo", topo.trafo_side_open, base.topo.trafo_side_open),
        ):
            for i in np.flatnonzero((now != before).any(axis=1)).tolist():
                open_1, open_2 = bool(now[i, 0]), bool(now[i, 1])
                end = "" if open_1 and open_2 else "_side1" if open_1 else "_side2"
                getattr(grid, f"deactivate_{element}{end}")(i)
        was = base.topo.supplied[self._load_pos]
        for i in np.flatnonzero(was & ~topo.supplied[self._load_pos]).tolist():
            grid.deactivate_load(i)
        return self._network(topo, grid)

    def _network(self, topo: Topology, grid: Any) -> _Network:
        """Bundle a topology and its grid with what the results need from them."""
        # ends with no current: opened by a switch (pandapower's auxiliary bus) or at a bus out
        # of service (pandapower keeps such a bus in its internal model, the flow is 0)
        return _Network(
            topo=topo,
            grid=grid,
            line_open_end=_open_end(topo.line_side_open) | ~topo.bus_on[topo.line_ends],
            trafo_open_end=_open_end(topo.trafo_side_open) | ~topo.bus_on[topo.trafo_ends],
            unsupplied=~topo.supplied[self._load_pos][self._participant_slot],
        )

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
            the power flow does not converge (this method never raises for that). Bit for bit
            the result :meth:`solve_batch` gives for the same injections.

        Raises
        ------
        ValueError
            Wrong shape or non-finite values.
        """
        p = self._check(p_kw, "p_kw", 1)[np.newaxis]
        q = self._check(q_kvar, "q_kvar", 1)[np.newaxis]
        return self._run(self._sweep(1, 1), p, q)[0]

    def solve_batch(
        self, p_kw: np.ndarray, q_kvar: np.ndarray, *, threads: int = 1
    ) -> list[FlowResult]:
        """Run many independent AC power flows in one call (lightsim2grid's ``InjectionSweep``).

        Every row starts from the same voltage vector as :meth:`solve`: a row's result does not
        depend on the other rows, their order or ``threads``, and is bit for bit what
        :meth:`solve` gives for it. Use it when nothing in the slots depends on the flow
        results (no grid-aware control); otherwise call :meth:`solve` slot by slot.

        Parameters
        ----------
        p_kw : numpy.ndarray
            Active power per slot and participant [kW], > 0 consumption; shape
            ``(n_slots, n_participants)``.
        q_kvar : numpy.ndarray
            Reactive power per slot and participant [kvar], same convention and shape.
        threads : int, default 1
            OS threads lightsim2grid splits the rows over (results do not depend on it).

        Returns
        -------
        list of FlowResult
            One result per slot (row), in order; rows that did not converge are all-NaN with
            ``converged=False``. The arrays of all rows are read-only views of one block.

        Raises
        ------
        ValueError
            Wrong shape or non-finite values, ``p_kw`` and ``q_kvar`` of different shapes, or
            ``threads < 1``.
        """
        p = self._check(p_kw, "p_kw", 2)
        q = self._check(q_kvar, "q_kvar", 2)
        if p.shape != q.shape:
            raise ValueError(f"p_kw and q_kvar shapes differ: {p.shape} vs {q.shape}")
        if int(threads) != threads or threads < 1:
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        if p.shape[0] == 0:
            return []
        return self._run(self._sweep(p.shape[0], int(threads)), p, q)

    def _sweep(self, n_slots: int, threads: int) -> Any:
        """Return a batch solver for ``n_slots`` rows, reused while the shape is the same.

        Each is built from the pristine grid (no load), so its base case -- the admittance
        matrix, the bus labelling and the Jacobian's pivot order, which lightsim2grid keeps
        between calls -- is the same whatever was solved before.
        """
        key = (n_slots, threads)
        state = self._state
        sweep = state.sweeps.get(key)
        if sweep is None:
            if n_slots > 1:  # keep the single-slot solver, replace the previous batch one
                state.sweeps = {k: v for k, v in state.sweeps.items() if k[0] == 1}
            sweep = InjectionSweepCPP(state.grid)
            sweep.compute_gen_results = True
            sweep.nb_thread = threads
            state.sweeps[key] = sweep
        return sweep

    def _run(self, sweep: Any, p_kw: np.ndarray, q_kvar: np.ndarray) -> list[FlowResult]:
        """Solve the rows of ``p_kw`` / ``q_kvar`` [kW, kvar] with ``sweep``."""
        load_p = self._load_mw(p_kw)
        sweep.modify_load_p(load_p)
        sweep.modify_load_q(self._load_mw(q_kvar))
        sweep.compute(self._v0, _MAX_ITERATION, self._tol_pu)
        converged = np.array(sweep.converged_mask(), dtype=bool)
        vm = np.abs(np.asarray(sweep.get_voltages()))
        vm[~converged] = 1.0  # placeholder (rows reported all-NaN), avoids 0 / 0 below
        branch = np.array(sweep.compute_branch_results(), dtype=np.float64)
        slack_p = np.array(np.asarray(sweep.get_gen_results())[:, self._slack_gen, 0])
        n_line = self.line_ids.size
        unsupplied = np.abs(p_kw[:, self._state.unsupplied]).sum(axis=1)
        return self._results(
            vm, branch[:, :n_line], branch[:, n_line:], slack_p, load_p, converged, unsupplied
        )

    def _load_mw(self, values_kw: np.ndarray) -> np.ndarray:
        """Sum participants per load bus and convert: (T, n_participants) kW -> (T, n_load) MW."""
        summed = np.zeros((values_kw.shape[0], self.load_bus.size))
        # in participant order, like numpy.bincount in PandapowerFlow: the same sums
        np.add.at(summed.T, self._participant_slot, values_kw.T)
        return summed / 1000.0

    def _results(
        self,
        vm_solver: np.ndarray,
        line: np.ndarray,
        trafo: np.ndarray,
        slack_p_mw: np.ndarray,
        load_p_mw: np.ndarray,
        converged: np.ndarray | None = None,
        unsupplied_kw: np.ndarray | None = None,
    ) -> list[FlowResult]:
        """Turn solver output of ``T`` slots into :class:`FlowResult` objects.

        Parameters
        ----------
        vm_solver : numpy.ndarray, shape (T, n_bus)
            Voltage magnitude per solver bus [p.u.].
        line, trafo : numpy.ndarray, shape (T, n_branch, 4)
            ``p1, q1, p2, q2`` entering each branch at side 1 (from / hv) and 2 [MW, Mvar].
        slack_p_mw : numpy.ndarray, shape (T,)
            Active power of the external grid [MW], > 0 feeding the network.
        load_p_mw : numpy.ndarray, shape (T, n_load)
            Active power drawn per participant load [MW].
        converged : numpy.ndarray of bool, shape (T,), optional
            Rows to report as converged (all when omitted).
        unsupplied_kw : numpy.ndarray, shape (T,), optional
            ``FlowResult.unsupplied_kw`` of each row (0 when omitted).
        """
        state = self._state
        topo = state.topo
        vm = vm_solver[:, topo.rep]
        bus_p = np.zeros_like(vm)
        bus_p[:, self._load_pos] = load_p_mw
        if not topo.supplied.all():  # as pandapower: NaN voltage at unsupplied buses, power
            vm[:, ~topo.supplied] = np.nan  # 0 at in-service ones, NaN at out-of-service ones
            bus_p[:, ~topo.supplied] = 0.0
            bus_p[:, ~topo.bus_on] = np.nan
        bus_p[:, topo.slack_pos] -= slack_p_mw
        line_i = _currents(line, vm[:, topo.line_ends], self._line_vn, state.line_open_end)
        trafo_i = _currents(trafo, vm[:, topo.trafo_ends], self._trafo_vn, state.trafo_open_end)
        # pandapower's formulas and operation order (pandapower.results_branch)
        if self._line_i_max.all():
            line_loading = np.max(line_i, axis=2) / self._line_i_max * 100.0
        else:  # pandapower: inf where max_i_ka * df * parallel is 0
            line_loading = np.full(line_i.shape[:2], np.inf)
            np.divide(
                np.max(line_i, axis=2),
                self._line_i_max,
                where=self._line_i_max != 0,
                out=line_loading,
            )
            line_loading *= 100.0
        trafo_loading = (
            np.max(trafo_i * self._trafo_vn_rated * _SQRT3 / self._trafo_sn * 100.0, axis=2)
            / self._trafo_parallel
            / self._trafo_df
        )
        losses_mw = (line[..., 0] + line[..., 2]).sum(axis=1) + (trafo[..., 0] + trafo[..., 2]).sum(
            axis=1
        )
        for block in (vm, bus_p, line_loading, trafo_loading):
            block.setflags(write=False)
        out: list[FlowResult] = []
        for t in range(vm.shape[0]):
            if converged is not None and not converged[t]:
                out.append(self._not_converged())
                continue
            out.append(
                FlowResult(
                    converged=True,
                    vm_pu=vm[t],
                    bus_p_mw=bus_p[t],
                    line_loading_percent=line_loading[t],
                    trafo_loading_percent=trafo_loading[t],
                    losses_kw=float(losses_mw[t]) * 1000.0,
                    grid_import_kw=float(slack_p_mw[t]) * 1000.0,
                    unsupplied_kw=float(unsupplied_kw[t]) if unsupplied_kw is not None else 0.0,
                )
            )
        return out

    def _check(self, values: np.ndarray, name: str, ndim: int) -> np.ndarray:
        """Return ``values`` as float64 after checking shape and finiteness."""
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim != ndim or arr.shape[-1] != self._n_participants:
            want = "(n_slots, " if ndim == 2 else "("
            raise ValueError(
                f"{name} must have shape {want}{self._n_participants},), got {arr.shape}"
            )
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


def _check_supported(net: pandapowerNet) -> None:
    """Raise ``ValueError`` for anything in ``net`` that :class:`LightsimFlow` cannot model."""
    for name in UNSUPPORTED_TABLES:
        table = net.get(name)
        if isinstance(table, pd.DataFrame) and len(table) and in_service(table).any():
            raise ValueError(
                f"grid.backend lightsim2grid does not model in-service {name!r} elements; "
                "use grid.backend: pandapower for this network"
            )
    if int(in_service(net.ext_grid).sum()) != 1:
        raise ValueError("grid.backend lightsim2grid needs exactly one in-service ext_grid")
    closed_bb = closed_bus_switches(net)
    z_ohm = net.switch.get("z_ohm", pd.Series(0.0, index=net.switch.index))
    if (closed_bb & (z_ohm.fillna(0.0).to_numpy(dtype=np.float64) != 0.0)).any():
        raise ValueError("grid.backend lightsim2grid does not model bus-bus switches with z_ohm")
    trafo = net.trafo
    if len(trafo) == 0:
        return
    has_tap, _ = _ratio_taps(trafo)
    kind = trafo.get("tap_changer_type", pd.Series(None, index=trafo.index))
    degree = trafo.get("tap_step_degree", pd.Series(np.nan, index=trafo.index)).fillna(0.0)
    table = trafo.get("tap_dependency_table", pd.Series(False, index=trafo.index))
    side = trafo.get("tap_side", pd.Series("hv", index=trafo.index)).to_numpy()
    odd = (
        (has_tap & (kind.to_numpy() != "Ratio"))
        | (has_tap & (side != "hv"))
        | (has_tap & (degree.to_numpy(dtype=np.float64) != 0.0))
        | (table.fillna(False).to_numpy(dtype=bool) & kind.notna().to_numpy())
    )
    for column in ("tap2_pos", "tap2_step_percent"):
        if column in trafo:
            odd |= trafo[column].notna().to_numpy() & (trafo[column].to_numpy() != 0)
    for column in ("leakage_resistance_ratio_hv", "leakage_reactance_ratio_hv"):
        if column in trafo:
            odd |= trafo[column].fillna(0.5).to_numpy(dtype=np.float64) != 0.5
    if odd.any():
        raise ValueError(
            "grid.backend lightsim2grid models plain ratio taps on the hv side only "
            "(tap_changer_type 'Ratio', no phase step, tables or second tap changer); transformers "
            f"{trafo.index[odd].tolist()} have something else"
        )


def _ratio_taps(trafo: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(has a tap pandapower 3 applies, effective tap position ``tap_pos - tap_neutral``).

    pandapower 3 applies a tap only with a ``tap_changer_type``; a NaN position, neutral or
    step means no tap either.
    """
    index = trafo.index
    kind = trafo.get("tap_changer_type", pd.Series(None, index=index))
    pos = trafo.get("tap_pos", pd.Series(np.nan, index=index)).to_numpy(dtype=np.float64)
    neutral = trafo.get("tap_neutral", pd.Series(np.nan, index=index)).to_numpy(np.float64)
    step = trafo.get("tap_step_percent", pd.Series(np.nan, index=index)).to_numpy(np.float64)
    has_kind = kind.notna().to_numpy() & (kind.astype(str).to_numpy() != "")
    offset = pos - neutral
    has_tap = has_kind & np.isfinite(offset) & np.isfinite(step) & (offset != 0) & (step != 0)
    return has_tap, np.where(has_tap, offset, 0.0)


def _build_grid(net: pandapowerNet, topo: Topology, load_pos: np.ndarray) -> Any:
    """Build the lightsim2grid ``LSGrid`` of the prepared ``net``.

    A clean pandapower net is assembled first (buses renumbered to positions, switches fused
    into ``topo.rep``, one load per participant bus, the external grid as a slack generator,
    parallel branches as one equivalent branch, taps pandapower ignores neutralised), so that
    ``init_from_pandapower`` reads exactly what pandapower solves and has nothing to warn
    about; switched and unsupplied branch ends are then opened on the ``LSGrid``.
    """
    clean = pp.create_empty_network(sn_mva=float(net.sn_mva), f_hz=float(net.f_hz))
    pp.create_buses(clean, len(net.bus), vn_kv=net.bus["vn_kv"].to_numpy(dtype=np.float64))
    rep = topo.rep
    line = net.line
    if len(line):
        pos = topo.line_ends
        par = line["parallel"].to_numpy(dtype=np.float64)
        pp.create_lines_from_parameters(
            clean,
            from_buses=rep[pos[:, 0]],
            to_buses=rep[pos[:, 1]],
            length_km=line["length_km"].to_numpy(dtype=np.float64),
            r_ohm_per_km=line["r_ohm_per_km"].to_numpy(dtype=np.float64) / par,
            x_ohm_per_km=line["x_ohm_per_km"].to_numpy(dtype=np.float64) / par,
            c_nf_per_km=line["c_nf_per_km"].to_numpy(dtype=np.float64) * par,
            g_us_per_km=line["g_us_per_km"].fillna(0.0).to_numpy(dtype=np.float64) * par,
            max_i_ka=line["max_i_ka"].to_numpy(dtype=np.float64) * par,
        )
    trafo = net.trafo
    if len(trafo):
        pos = topo.trafo_ends
        par = trafo["parallel"].to_numpy(dtype=np.float64)
        has_tap, tap_pos = _ratio_taps(trafo)
        step = trafo["tap_step_percent"].to_numpy(dtype=np.float64)
        side = trafo["tap_side"].to_numpy(dtype=object)
        pp.create_transformers_from_parameters(
            clean,
            hv_buses=rep[pos[:, 0]],
            lv_buses=rep[pos[:, 1]],
            sn_mva=trafo["sn_mva"].to_numpy(dtype=np.float64) * par,
            vn_hv_kv=trafo["vn_hv_kv"].to_numpy(dtype=np.float64),
            vn_lv_kv=trafo["vn_lv_kv"].to_numpy(dtype=np.float64),
            vk_percent=trafo["vk_percent"].to_numpy(dtype=np.float64),
            vkr_percent=trafo["vkr_percent"].to_numpy(dtype=np.float64),
            pfe_kw=trafo["pfe_kw"].to_numpy(dtype=np.float64) * par,
            i0_percent=trafo["i0_percent"].to_numpy(dtype=np.float64),
            shift_degree=trafo["shift_degree"].fillna(0.0).to_numpy(dtype=np.float64),
            tap_side=np.where(has_tap, side, "hv"),
            tap_neutral=0.0,
            tap_pos=tap_pos,
            tap_step_percent=np.where(has_tap, step, 0.0),
            tap_step_degree=0.0,
            tap_changer_type="Ratio",
        )
    pp.create_loads(clean, buses=rep[load_pos], p_mw=0.0, q_mvar=0.0)
    ext = net.ext_grid[in_service(net.ext_grid)].iloc[0]
    pp.create_gen(
        clean,
        bus=int(rep[topo.slack_pos]),
        p_mw=0.0,
        vm_pu=float(ext["vm_pu"]),
        slack=True,
        slack_weight=1.0,
        min_q_mvar=-1e9,
        max_q_mvar=1e9,
    )
    grid = init_from_pandapower(clean, pp_orig_file="pandapower_v3")
    for side_open, element in ((topo.line_side_open, "powerline"), (topo.trafo_side_open, "trafo")):
        for i, (open_1, open_2) in enumerate(side_open.tolist()):
            if open_1 or open_2:  # deactivate_powerline, deactivate_trafo_side1, ...
                end = "" if open_1 and open_2 else "_side1" if open_1 else "_side2"
                getattr(grid, f"deactivate_{element}{end}")(i)
    for i, on in enumerate(topo.supplied[load_pos].tolist()):
        if not on:
            grid.deactivate_load(i)
    return grid


def _initial_voltage(grid: Any) -> np.ndarray:
    """Fixed Newton-Raphson start: a DC flow of the unloaded grid (phase shifts as angles).

    Magnitudes are the slack setpoint (``init_vm_pu`` for the other buses, 1.0); if the DC
    flow fails, a flat start is returned.
    """
    flat = np.ones(grid.total_bus(), dtype=np.complex128)
    v = grid.dc_pf(flat.copy(), _MAX_ITERATION, _TOLERANCE_MVA)
    out = np.array(v if v.size else flat, dtype=np.complex128)
    out.setflags(write=False)
    return out


def _currents(
    flows: np.ndarray, vm_ends: np.ndarray, vn_kv_ends: np.ndarray, open_end: np.ndarray
) -> np.ndarray:
    """Branch-end currents [kA] the way pandapower computes them: ``|S| / (vm * vn) / sqrt(3)``.

    Parameters
    ----------
    flows : numpy.ndarray, shape (T, n_branch, 4)
        ``p1, q1, p2, q2`` per branch [MW, Mvar] (0 for a branch out of service).
    vm_ends : numpy.ndarray, shape (T, n_branch, 2)
        Voltage magnitude at both ends [p.u.]; NaN at an unsupplied bus, so an out-of-service
        branch reads 0 between supplied buses and NaN at an unsupplied one, as in pandapower.
    vn_kv_ends : numpy.ndarray, shape (n_branch, 2)
        Nominal voltage of both end buses [kV].
    open_end : numpy.ndarray of bool, shape (n_branch, 2)
        Ends that read 0 whatever the voltage behind them: opened by a switch while the other
        end is connected (pandapower's auxiliary bus), or at a bus out of service.
    """
    s = np.sqrt(flows[..., 0::2] ** 2 + flows[..., 1::2] ** 2)
    i_ka = s / (vm_ends * vn_kv_ends) / _SQRT3
    if open_end.any():
        i_ka[:, open_end] = 0.0
    return i_ka


def _open_end(side_open: np.ndarray) -> np.ndarray:
    """Ends that are open while the other end of the branch is not, shape (n, 2)."""
    return side_open & ~side_open.all(axis=1, keepdims=True)


def _frozen(values: np.ndarray) -> np.ndarray:
    """Return a read-only copy of ``values``."""
    out = np.array(values, dtype=np.float64, copy=True)
    out.setflags(write=False)
    return out


def _nan(size: int) -> np.ndarray:
    """Return a read-only NaN array of length ``size``."""
    return _frozen(np.full(size, np.nan))
