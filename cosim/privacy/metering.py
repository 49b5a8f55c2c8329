"""The privacy-preserving metering component of a run, and what each actor learns from it.

:class:`PrivateMetering` is built by :func:`cosim.engine.build.build_simulation` from the
``privacy:`` section and is called from one place per slot (:meth:`PrivateMetering.record_slot`,
after the slot's power flow) and once at the end (:meth:`PrivateMetering.finish`). Per batch
of ``privacy.batch_slots`` slots the meters of each group run the configured aggregation
scheme (:mod:`cosim.privacy.schemes`), with differential-privacy noise made on the meters when
``privacy.dp.enabled`` (:mod:`cosim.privacy.dp`). The grid operator receives the released
group sums; the actors' logs (:class:`GridOperatorLog`, :class:`ConsumerLog`) are what the role
views (:mod:`cosim.privacy.views`) are built from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cosim.privacy import dp
from cosim.privacy.groups import Group
from cosim.privacy.schemes import AggregationScheme, SharedKey, encode_kwh, make_scheme
from cosim.settlement.paillier import FIXED_POINT_BITS

__all__ = ["AGGREGATE_COLUMNS", "ConsumerLog", "GridOperatorLog", "PrivateMetering"]

AGGREGATE_COLUMNS = ("slot", "time", "group", "members", "net_kwh")
"""Columns of ``aggregates.csv``: released group sums of the meters' net import [kWh]."""

CONSUMER_COLUMNS = (
    "slot participant bus supplier load_kwh pv_kwh battery_kwh soc_kwh net_kwh side accepted "
    "committed_kwh delivered_kwh deviation_kwh order_kwh pv_curtailed_kwh limit_price "
    "p2p_price".split()
)
"""What a consumer's own meter and home system know of each slot (its rows of participants.csv)."""


class GridOperatorLog:
    """What the grid operator learned: released group sums and its network monitoring.

    Network monitoring stands in for the operator's SCADA: voltages of every bus, active power
    only of buses with no participant or at least k, line and transformer loadings only where
    they feed no participant or at least k (NaN otherwise). Per-slot values are kept in
    preallocated arrays (slot x element), filled as the slots are recorded.
    """

    SLOT_COLUMNS = ("import_kwh", "export_kwh", "losses_kwh", "vm_min_pu", "vm_max_pu")

    def __init__(self, n_slots: int, n_buses: int, n_lines: int, n_trafos: int) -> None:
        self.aggregates: list[tuple[int, str, str, int, float]] = []
        self.recorded = 0
        self.slot_values = {c: np.full(n_slots, np.nan) for c in self.SLOT_COLUMNS}
        self.pf_converged = np.zeros(n_slots, dtype=bool)
        self.vm_pu = np.full((n_slots, n_buses), np.nan)
        self.bus_p_mw = np.full((n_slots, n_buses), np.nan)
        self.line_loading_percent = np.full((n_slots, n_lines), np.nan)
        self.trafo_loading_percent = np.full((n_slots, n_trafos), np.nan)


@dataclass
class ConsumerLog:
    """Each consumer's own slot records (:data:`CONSUMER_COLUMNS`), kept by its meter."""

    columns: dict[str, list[NDArray[Any]]] = field(default_factory=dict)
    _stacked: dict[str, NDArray[Any]] = field(default_factory=dict)

    def add(self, rows: Mapping[str, Any], n: int) -> None:
        for name in CONSUMER_COLUMNS:
            value = np.asarray(rows[name])
            self.columns.setdefault(name, []).append(
                np.broadcast_to(value, (n,)).copy() if value.ndim == 0 else value.copy()
            )

    def frame(self, participant: int) -> pd.DataFrame:
        """This consumer's own rows."""
        if not self._stacked:
            self._stacked = {c: np.stack(v) for c, v in self.columns.items()}
        return pd.DataFrame({c: v[:, participant] for c, v in self._stacked.items()})


class PrivateMetering:
    """Meters -> aggregator -> grid operator, per group and batch of slots.

    Parameters
    ----------
    config : cosim.scenario.PrivacyConfig
        The ``privacy:`` section.
    k : int
        Smallest group released (the larger of ``privacy.min_group_members`` and
        ``settlement.min_aggregate_members``).
    groups : list of Group
        Aggregation groups.
    kind : ndarray of str
        Participant kind (``household``, ``commercial``), for the DP clipping bounds.
    bus_ids, line_ids, trafo_ids : ndarray of int
        Element ids in the power flow's order.
    bus_counts, line_counts, trafo_counts : ndarray of int
        Participants at each bus / downstream of each line / fed by each transformer.
    slot_times : pandas.DatetimeIndex
        Slot starts.
    rng : numpy.random.Generator
        The run's ``privacy`` stream (masking graphs, meters' noise).
    settlement_key : SharedKey, optional
        The dealt 2-of-2 key (``threshold_paillier``).
    dropouts : callable, optional
        Test hook ``f(batch, participant) -> bool``: that meter's batch goes missing.
    """

    def __init__(
        self,
        config: Any,
        k: int,
        groups: Sequence[Group],
        kind: NDArray[np.str_],
        bus_ids: NDArray[np.int64],
        line_ids: NDArray[np.int64],
        trafo_ids: NDArray[np.int64],
        bus_counts: NDArray[np.int64],
        line_counts: NDArray[np.int64],
        trafo_counts: NDArray[np.int64],
        slot_times: pd.DatetimeIndex,
        rng: np.random.Generator,
        shared_key: SharedKey | None = None,
        dropouts: Callable[[int, int], bool] | None = None,
    ) -> None:
        self.config = config
        self.k = k
        self.groups = list(groups)
        self.kind = np.asarray(kind)
        self.n = int(self.kind.size)
        self.slot_times = slot_times
        self._times = [t.isoformat() for t in slot_times]
        self._dropouts = dropouts
        self.grid_operator = GridOperatorLog(
            len(slot_times), bus_ids.size, line_ids.size, trafo_ids.size
        )
        self.consumers = ConsumerLog() if config.views == "all" else None
        self.group_of = np.zeros(self.n, dtype=np.int64)
        for g, group in enumerate(self.groups):
            self.group_of[group.members] = g
        self.bus_ids, self.line_ids, self.trafo_ids = bus_ids, line_ids, trafo_ids
        self._bus_ok = (bus_counts == 0) | (bus_counts >= k)
        self._line_ok = (line_counts == 0) | (line_counts >= k)
        self._trafo_ok = (trafo_counts == 0) | (trafo_counts >= k)
        self.schemes: list[AggregationScheme | None] = []
        if config.aggregation != "none":
            self.schemes = [
                make_scheme(
                    config.aggregation,
                    int(g.members.size),
                    degree=config.masking_degree,
                    rng=rng,
                    key=shared_key,
                )
                if g.members.size >= k
                else None  # too small to release anything: no scheme
                for g in self.groups
            ]
        seeds = np.random.SeedSequence(int(rng.integers(2**63))).spawn(self.n)
        self._meter_rngs = [np.random.default_rng(s) for s in seeds]
        self.dp = config.dp
        self.account = dp.DPAccount(config.dp.epsilon, config.dp.delta)
        self.account.releases_per_participant = np.zeros(self.n, dtype=np.int64)
        self._buffer: list[NDArray[np.float64]] = []
        self._first = 0
        self._batch = 0
        self.withheld = 0
        self.failed = 0
        self.missing_readings = 0
        self.bytes_per_meter: list[float] = []
        self.exact = True

    def __getstate__(self) -> dict[str, Any]:
        """Pickle for checkpoints (the test hook ``dropouts`` is not kept)."""
        return {**self.__dict__, "_dropouts": None}

    # ----------------------------------------------------------------- per slot

    def record_slot(
        self, k: int, participants: Mapping[str, Any], flow: Any, slot_hours: float
    ) -> None:
        """One slot: the meters buffer their reading, the grid operator monitors the network.

        Parameters
        ----------
        k : int
            Slot number.
        participants : mapping
            The slot's ``participants.csv`` columns (each meter reads its own entry).
        flow : cosim.grid.powerflow.FlowResult
            The slot's power flow.
        slot_hours : float
            Slot length [h].
        """
        if self.consumers is not None:
            self.consumers.add(participants, self.n)
        go = self.grid_operator
        imp = flow.grid_import_kw * slot_hours
        row = go.slot_values
        row["import_kwh"][k] = max(imp, 0.0) if np.isfinite(imp) else np.nan
        row["export_kwh"][k] = max(-imp, 0.0) if np.isfinite(imp) else np.nan
        row["losses_kwh"][k] = flow.losses_kw * slot_hours
        row["vm_min_pu"][k] = float(flow.vm_pu.min()) if flow.converged else np.nan
        row["vm_max_pu"][k] = float(flow.vm_pu.max()) if flow.converged else np.nan
        go.pf_converged[k] = flow.converged
        go.vm_pu[k] = flow.vm_pu
        go.bus_p_mw[k] = np.where(self._bus_ok, flow.bus_p_mw, np.nan)
        go.line_loading_percent[k] = np.where(self._line_ok, flow.line_loading_percent, np.nan)
        go.trafo_loading_percent[k] = np.where(self._trafo_ok, flow.trafo_loading_percent, np.nan)
        go.recorded = k + 1
        self._buffer.append(np.asarray(participants["net_kwh"], dtype=np.float64))
        if len(self._buffer) == self.config.batch_slots:
            self._close_batch()

    # ----------------------------------------------------------------- batches

    def _meter_values(
        self, x: NDArray[np.float64], members: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], float]:
        """What the members' meters submit: fixed-point readings, or clipped, rounded and
        noised ones with DP (each meter draws its own noise share). Returns the values and
        the kWh of one unit of their sum."""
        if not self.dp.enabled:
            return encode_kwh(x), 2.0**-FIXED_POINT_BITS
        q = self.dp.resolution_kwh
        clip = np.array([self.dp.clip_kwh[str(c)] for c in self.kind[members]])
        units = np.rint(np.clip(x, -clip[:, None], clip[:, None]) / q).astype(np.int64)
        sensitivity = float(2.0 * clip.max() / q)
        alpha = dp.alpha_of(self.dp.epsilon, sensitivity)
        m, length = x.shape
        noise = np.stack(
            [dp.meter_noise(self._meter_rngs[int(i)], alpha, m, length) for i in members]
        )
        return units + noise, q

    def _close_batch(self) -> None:
        if not self._buffer:
            return
        x_all = np.stack(self._buffer)  # (T, n)
        length = x_all.shape[0]
        first, batch = self._first, self._batch
        for g, group in enumerate(self.groups):
            scheme = self.schemes[g] if self.schemes else None
            if scheme is None:
                if self.schemes:
                    self.withheld += length
                continue
            members = group.members
            present = np.array(
                [not (self._dropouts and self._dropouts(batch, int(i))) for i in members]
            )
            self.missing_readings += int((~present).sum()) * length
            x = x_all[:, members].T
            values, unit = self._meter_values(x, members)
            if present.sum() < self.k:
                self.withheld += length
                continue
            total, sent = scheme.aggregate(batch, values, present)
            self.bytes_per_meter.append(sent)
            if total is None:
                self.failed += length
                continue
            self.exact &= bool(np.array_equal(total, values[present].sum(axis=0)))
            released = total.astype(np.float64) * unit
            if self.dp.enabled:
                self.account.add(released, x[present].sum(axis=0))
                assert self.account.releases_per_participant is not None
                self.account.releases_per_participant[members[present]] += length
                if not present.all():
                    self.account.degraded_releases += length
            live = int(present.sum())
            for t in range(length):
                slot = first + t
                self.grid_operator.aggregates.append(
                    (slot, self._times[slot], group.name, live, float(released[t]))
                )
        self._first += length
        self._batch += 1
        self._buffer = []

    # ----------------------------------------------------------------- end of run

    def aggregates_frame(self, group: str | None = None) -> pd.DataFrame:
        """Released aggregates (of one group, or all) as ``aggregates.csv``."""
        frame = pd.DataFrame(self.grid_operator.aggregates, columns=list(AGGREGATE_COLUMNS))
        return frame if group is None else frame[frame["group"] == group].reset_index(drop=True)

    def report(self) -> dict[str, Any]:
        """``privacy.json`` (and, with DP, ``summary.json``'s ``privacy``)."""
        out: dict[str, Any] = {
            "aggregation": self.config.aggregation,
            "groups": {g.name: int(g.members.size) for g in self.groups},
            "min_group_members": self.k,
            "batch_slots": self.config.batch_slots,
            "releases": len(self.grid_operator.aggregates),
            "withheld_group_slots": self.withheld,
            "failed_group_slots": self.failed,
            "missing_readings": self.missing_readings,
            "bytes_per_meter_per_batch": float(np.mean(self.bytes_per_meter))
            if self.bytes_per_meter
            else None,
            "sums_exact": self.exact,
            "masking_rekeys": sum(
                getattr(getattr(s, "group", None), "rekeyed", 0) for s in self.schemes
            ),
            "views": self.config.views,
            "withheld_buses": [int(b) for b in self.bus_ids[~self._bus_ok]],
            "withheld_lines": [int(b) for b in self.line_ids[~self._line_ok]],
            "withheld_trafos": [int(b) for b in self.trafo_ids[~self._trafo_ok]],
        }
        out["dp"] = self.account.report() if self.dp.enabled else None
        return out

    def finish(self, out_dir: Path, settlement: Any) -> dict[str, Any]:
        """Close the last batch, write ``privacy.json`` and the role views; return the report."""
        from cosim.jsonio import write_json
        from cosim.privacy.views import write_views

        self._close_batch()
        report = self.report()
        write_json(Path(out_dir) / "privacy.json", report)
        if self.config.views != "none":
            write_views(Path(out_dir), self, settlement)
        return report
