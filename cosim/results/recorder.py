"""What a run records: the rows of every per-slot table, the run totals, the summary and the
end-of-run files. The result schema of a run lives here and in :data:`TABLE_COLUMNS`.

The engine's recorder process (:class:`cosim.engine.processes.RecorderProcess`) hands each
completed slot (its meter readings, power flow and settlement) to :meth:`Recorder.record_slot`;
at the end :meth:`Recorder.write_final_tables` writes the tables the settlement backend holds
and :meth:`Recorder.summary` the content of ``summary.json``. Nothing here reads the scenario:
the run's description comes as a :class:`RunInfo`.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cosim import __version__
from cosim.grid.powerflow import FlowResult
from cosim.jsonio import write_json
from cosim.results.checkpoint import CHECKPOINT_FILE, read_checkpoint, restore_parts
from cosim.results.periods import PeriodTables
from cosim.results.writer import ResultWriter
from cosim.settlement.backend import SettlementBackend

if TYPE_CHECKING:
    from cosim.engine.messages import SlotReading

__all__ = [
    "FAILED_FLOW_WARN_SHARE",
    "SETTLEMENT_TABLES",
    "Recorder",
    "RunInfo",
    "RunTotals",
    "StageTimer",
]

#: Share of slots with a failed power flow above which a run warns (stderr and summary.json).
FAILED_FLOW_WARN_SHARE = 0.01

#: Tables written once at the end of a run from the settlement backend.
SETTLEMENT_TABLES = ("bills", "suppliers", "settlement_slots", "rejected_payloads")

_SIDE_NAMES = np.array(["sell", "none", "buy"])


class StageTimer:
    """Wall-clock seconds per stage of a run (``summary.json`` ``timings_s``)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Add the time spent in the ``with`` block to ``name`` [s]."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - t0


@dataclass(frozen=True)
class RunInfo:
    """The description of a run that ``summary.json`` repeats (built by the orchestrator).

    Prices are in currency/kWh; ``retail_price`` and ``feed_in_tariff`` value the P2P
    benefits (what buyers and sellers would have paid or got from their supplier).
    """

    name: str
    seed: int
    slots: int
    slot_minutes: int
    slot_times: tuple[str, ...]
    network: str
    participants: int
    participants_with_pv: int
    participants_with_battery: int
    buses: int
    lines: int
    trafos: int
    build_seconds: float
    retail_price: float
    feed_in_tariff: float
    encryption: str
    period: str
    key_bits: int | None
    network_check: str
    line_rating_factor: float
    trafo_rating_factor: float
    battery_strategy: str
    faults: bool = False  # faults configured: faults.csv and the summary's faults part

    @property
    def slot_hours(self) -> float:
        """Slot length [h]."""
        return self.slot_minutes / 60.0


@dataclass
class RunTotals:
    """Run-wide totals for ``summary.json`` (checkpointed with the recorder)."""

    sums: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    failed_flows: int = 0
    failed_checks: int = 0
    vm_min: float = np.inf
    vm_max: float = -np.inf
    loading_max: float = 0.0
    trafo_loading_max: float = 0.0
    slots_done: int = 0
    stopped_at: int | None = None  # first slot not run, when the run was stopped
    privacy: Any = None  # the run's PrivateMetering (its keys, buffers and logs travel here)
    periods: PeriodTables | None = None  # running sums of output.aggregate's tables
    fault_events: dict[str, int] = field(default_factory=dict)  # faults.csv rows per rule


class Recorder:
    """Row building, run totals and the result files of one run.

    Parameters
    ----------
    writer : ResultWriter
        Where the rows go.
    info : RunInfo
        The run's description.
    participant_bus, participant_supplier : numpy.ndarray
        Per participant: pandapower bus index and supplier index.
    has_battery : numpy.ndarray of bool
        Per participant.
    bus_ids, line_ids, trafo_ids : numpy.ndarray
        The grid adapter's element indices (rows of buses, lines and trafos).
    extra_columns : callable, optional
        Called after each slot for additional per-participant columns (device columns).
    """

    def __init__(
        self,
        writer: ResultWriter,
        info: RunInfo,
        participant_bus: np.ndarray,
        participant_supplier: np.ndarray,
        has_battery: np.ndarray,
        bus_ids: np.ndarray,
        line_ids: np.ndarray,
        trafo_ids: np.ndarray,
        extra_columns: Callable[[], Mapping[str, np.ndarray]] | None = None,
    ) -> None:
        self.writer = writer
        self.info = info
        self.totals = RunTotals()
        self._ids = np.arange(participant_bus.size)
        self._bus = participant_bus
        self._supplier = participant_supplier
        self._has_battery = has_battery
        self._bus_ids, self._line_ids, self._trafo_ids = bus_ids, line_ids, trafo_ids
        self._extra = extra_columns

    def record_slot(
        self, reading: SlotReading, flow: FlowResult, supplier_energy_kwh: Mapping[str, float]
    ) -> dict[str, Any]:
        """Add the rows of one completed slot to every table and update the totals.

        Returns the participants' columns of the slot (for the private metering).
        """
        totals, info, writer = self.totals, self.info, self.writer
        slot_h = info.slot_hours
        m, d = reading.market, reading.delivery
        o, k = m.orders, m.k
        if not flow.converged:
            totals.failed_flows += 1
        else:
            totals.vm_min = min(totals.vm_min, float(flow.vm_pu.min()))
            totals.vm_max = max(totals.vm_max, float(flow.vm_pu.max()))
            if flow.line_loading_percent.size:
                totals.loading_max = max(totals.loading_max, float(flow.line_loading_percent.max()))
            if flow.trafo_loading_percent.size:
                totals.trafo_loading_max = max(
                    totals.trafo_loading_max, float(flow.trafo_loading_percent.max())
                )
        imp = flow.grid_import_kw * slot_h
        s = totals.sums
        s["load_kwh"] += float(m.load_kwh.sum())
        pv_used = m.pv_kwh - d.pv_curtailed_kwh
        curtailed = float(d.pv_curtailed_kwh.sum())
        s["pv_kwh"] += float(pv_used.sum())
        s["pv_curtailed_kwh"] += curtailed
        requested = m.check.p2p_requested_kwh if m.check is not None else m.clearing.traded_kwh
        s["p2p_requested_kwh"] += requested
        if m.check is not None and m.check.status == "solver_failed":
            totals.failed_checks += 1
        s["battery_kwh"] += float(d.battery_kwh.sum())
        s["net_kwh"] += float(d.net_kwh.sum())
        s["traded_kwh"] += m.clearing.traded_kwh
        t = m.clearing.trades
        # against the retailer: buyers would have paid RP, sellers would have got FiT
        buyer_benefit = float((t.energy_kwh * (info.retail_price - t.price)).sum())
        seller_benefit = float((t.energy_kwh * (t.price - info.feed_in_tariff)).sum())
        s["p2p_buyer_benefit"] += buyer_benefit
        s["p2p_seller_benefit"] += seller_benefit
        slot_load = float(m.load_kwh.sum())
        s["import_kwh"] += max(imp, 0.0) if np.isfinite(imp) else 0.0
        s["export_kwh"] += max(-imp, 0.0) if np.isfinite(imp) else 0.0
        s["losses_kwh"] += flow.losses_kw * slot_h if np.isfinite(flow.losses_kw) else 0.0
        if m.device_kwh is not None:
            s["device_kwh"] += float(m.device_kwh.sum())
        slot_row: dict[str, Any] = {
            "slot": k,
            "time": info.slot_times[k],
            "clearing_price": m.clearing.clearing_price,
            "traded_kwh": m.clearing.traded_kwh,
            "import_kwh": max(imp, 0.0) if np.isfinite(imp) else np.nan,
            "export_kwh": max(-imp, 0.0) if np.isfinite(imp) else np.nan,
            "vm_min_pu": float(flow.vm_pu.min()) if flow.converged else np.nan,
            "vm_max_pu": float(flow.vm_pu.max()) if flow.converged else np.nan,
            "loading_max_percent": _max_or_nan(flow.line_loading_percent, flow.converged),
            "losses_kwh": flow.losses_kw * slot_h,
            "pf_converged": flow.converged,
            "trafo_loading_max_percent": _max_or_nan(flow.trafo_loading_percent, flow.converged),
            "load_kwh": slot_load,
            "pv_kwh": float(pv_used.sum()),
            "battery_kwh": float(d.battery_kwh.sum()),
            "net_kwh": float(d.net_kwh.sum()),
            "buy_orders": int((o.side > 0).sum()),
            "sell_orders": int((o.side < 0).sum()),
            "bid_kwh": float(o.energy_kwh[o.side > 0].sum()),
            "offer_kwh": float(o.energy_kwh[o.side < 0].sum()),
            "p2p_requested_kwh": requested,
            "p2p_executable_kwh": m.clearing.traded_kwh,
            "p2p_share_of_load": m.clearing.traded_kwh / slot_load if slot_load > 0 else np.nan,
            "p2p_buyer_benefit": buyer_benefit,
            "p2p_seller_benefit": seller_benefit,
            "export_requested_kwh": m.check.export_requested_kwh if m.check is not None else np.nan,
            "export_allowed_kwh": m.check.export_allowed_kwh if m.check is not None else np.nan,
            "pv_curtailed_kwh": curtailed,
            "network_check_status": m.check.status if m.check is not None else "none",
        }
        for model, e in supplier_energy_kwh.items():
            slot_row[f"supplier_energy_kwh_{model}"] = e
        slot_row["battery_plan_status"] = m.plan_status  # written for price and rolling only
        if m.device_kwh is not None:
            slot_row["device_kwh"] = float(m.device_kwh.sum())
        writer.add("slots", {key: np.asarray([v]) for key, v in slot_row.items()})
        rows: dict[str, Any] = {
            "slot": k,
            "participant": self._ids,
            "bus": self._bus,
            "supplier": self._supplier,
            "load_kwh": m.load_kwh,
            "pv_kwh": pv_used,
            "battery_kwh": d.battery_kwh,
            "soc_kwh": d.soc_kwh,
            "net_kwh": d.net_kwh,
            "side": _SIDE_NAMES[o.side + 1],
            "accepted": d.accepted,
            "committed_kwh": d.committed_kwh,
            "delivered_kwh": d.delivered_kwh,
            "deviation_kwh": d.deviation_kwh,
            "order_kwh": o.energy_kwh,
            "pv_curtailed_kwh": d.pv_curtailed_kwh,
            "limit_price": o.limit_price,
            "p2p_price": m.p2p_price,
            "battery_setpoint_kwh": _setpoint_column(m.setpoint_kwh, self._has_battery),
        }
        if m.device_columns:
            rows.update(m.device_columns)
        writer.add("participants", rows)
        if totals.periods is not None:  # output.aggregate: rows of the periods ending here
            for table, period_rows in totals.periods.add(
                k, rows, m.device_kwh, flow.vm_pu, flow.bus_p_mw, flow.converged
            ):
                writer.add(table, period_rows)
        writer.add(
            "buses", {"slot": k, "bus": self._bus_ids, "vm_pu": flow.vm_pu, "p_mw": flow.bus_p_mw}
        )
        writer.add(
            "lines",
            {"slot": k, "line": self._line_ids, "loading_percent": flow.line_loading_percent},
        )
        writer.add(
            "trafos",
            {"slot": k, "trafo": self._trafo_ids, "loading_percent": flow.trafo_loading_percent},
        )
        writer.add(
            "trades",
            {
                "slot": k,
                "buyer": t.buyer,
                "seller": t.seller,
                "energy_kwh": t.energy_kwh,
                "price": t.price,
            },
        )
        totals.slots_done = k + 1
        return rows

    def record_faults(self, rows: Mapping[str, np.ndarray]) -> None:
        """Add one slot's fault events (columns of ``faults.csv``) and count them per rule.

        ``time`` (ISO 8601, the slots' time zone) is added from ``time_minutes`` after the
        start of slot 0.
        """
        start = pd.Timestamp(self.info.slot_times[0])
        minutes = np.asarray(rows["time_minutes"], dtype=np.float64)
        when = start + pd.to_timedelta(minutes, unit="min")
        self.writer.add("faults", {**rows, "time": np.array([t.isoformat() for t in when])})
        totals = self.totals
        totals.sums["unserved_load_kwh"] += float(np.nansum(rows["energy_kwh"]))
        for rule in np.asarray(rows["handling"]).tolist():
            totals.fault_events[rule] = totals.fault_events.get(rule, 0) + 1

    def remove_settlement_files(self) -> None:
        """Remove the end-of-run settlement tables (left by an earlier, interrupted part)."""
        for table in SETTLEMENT_TABLES:
            self.writer.path(table).unlink(missing_ok=True)

    def write_final_tables(
        self, ledger: SettlementBackend, participants_info: pd.DataFrame, encrypted: bool
    ) -> None:
        """Write the tables the settlement backend holds, once, at the end of the run."""
        writer = self.writer
        writer.write_frame("bills", ledger.bills_frame())
        writer.write_frame("suppliers", ledger.suppliers_frame())
        writer.write_frame("participants_info", participants_info)
        writer.write_frame(
            "settlement_slots", ledger.settlement_slots_frame(self.totals.slots_done)
        )
        if encrypted:
            rejected = pd.DataFrame(
                ledger.rejected_payloads, columns=["participant", "slot", "reason"]
            )
            writer.write_frame("rejected_payloads", rejected)

    def running_summary(self, k0: int, resumed: bool) -> dict[str, Any]:
        """``summary.json`` while the run is going: a killed run's folder says what it is."""
        info = self.info
        return {
            "cosim_version": __version__,
            "name": info.name,
            "seed": info.seed,
            "status": "running",
            "slots": info.slots,
            "slots_completed": k0,
            "resumed_from_slot": k0 if resumed else None,
            "pid": os.getpid(),
        }

    def summary(
        self,
        ledger: SettlementBackend | None,
        timer: StageTimer,
        wall_s: float,
        status: str,
        error: str | None,
        battery: Mapping[str, Any],
        totals: RunTotals | None = None,
    ) -> dict[str, Any]:
        """``summary.json``; without ``ledger`` (a failed run) the settlement part is left out.

        ``totals`` defaults to the recorder's own (a failed run passes the checkpoint's).
        """
        info = self.info
        totals = self.totals if totals is None else totals
        s = totals.sums
        load = s["load_kwh"] + s.get("device_kwh", 0.0)  # demand: base load and devices
        done = totals.slots_done
        failed_share = totals.failed_flows / done if done else 0.0
        warnings = []
        if failed_share > FAILED_FLOW_WARN_SHARE:
            warnings.append(
                f"the power flow failed in {totals.failed_flows} of {done} slots "
                f"({failed_share:.1%}); their grid results are empty (NaN)"
            )
        settlement: dict[str, Any] = {"encryption": info.encryption}
        setup_s = ledger.setup_seconds if ledger is not None else 0.0
        if ledger is not None:
            settlement |= {
                "models": {
                    m: {
                        "pot": ledger.pot[m],
                        "max_abs_slot_pot": ledger.max_abs_slot_pot[m],
                        "total_bills": float(ledger.bills[m].sum()),
                        "supplier_profit": float(ledger.supplier_profit[m].sum()),
                        "supplier_energy_kwh": float(ledger.supplier_energy_kwh[m].sum()),
                    }
                    for m in ledger.models
                },
                "period": info.period,
                "key_bits": info.key_bits,
                "crypto_operations": ledger.crypto_counts(),
                "rejected_payloads": len(ledger.rejected_payloads),
                "privacy": ledger.privacy_summary(),
            }
        summary = {
            "cosim_version": __version__,
            "name": info.name,
            "seed": info.seed,
            "status": status,
            "error": error,
            "warnings": warnings,
            "slots": info.slots,
            "slots_completed": done,
            "slot_minutes": info.slot_minutes,
            "start": info.slot_times[0] if info.slot_times else None,
            "network": info.network,
            "participants": info.participants,
            "participants_with_pv": info.participants_with_pv,
            "participants_with_battery": info.participants_with_battery,
            "buses": info.buses,
            "lines": info.lines,
            "trafos": info.trafos,
            # the settlement's set-up (keys, workers, warm randomizer pools) is part of the build
            "timings_s": {
                "build": info.build_seconds + setup_s,
                "settlement_setup": setup_s,
                **dict(timer.seconds),
                "total_run": wall_s,
            },
            "slots_per_second": done / wall_s if wall_s > 0 else None,
            "totals": {
                **dict(s),
                "p2p_share_of_load": s["traded_kwh"] / load if load > 0 else None,
                # share of local demand (load, devices, network losses) not met by imports
                "self_sufficiency": 1.0 - s["import_kwh"] / (load + s["losses_kwh"])
                if load > 0
                else None,
            },
            "grid": {
                "failed_power_flows": totals.failed_flows,
                "failed_power_flow_share": failed_share,
                "vm_min_pu": totals.vm_min if np.isfinite(totals.vm_min) else None,
                "vm_max_pu": totals.vm_max if np.isfinite(totals.vm_max) else None,
                "line_loading_max_percent": totals.loading_max,
                "trafo_loading_max_percent": totals.trafo_loading_max,
                "network_check": info.network_check,
                "network_check_failures": totals.failed_checks,
                "line_rating_factor": info.line_rating_factor,
                "trafo_rating_factor": info.trafo_rating_factor,
            },
            "battery": {"strategy": info.battery_strategy, **battery},
            "settlement": settlement,
        }
        if info.faults:  # docs/faults.md
            summary["faults"] = {
                "events": dict(sorted(totals.fault_events.items())),
                "unserved_load_kwh": s["unserved_load_kwh"],
            }
        return summary

    def leave_consistent(
        self,
        exc: BaseException,
        timer: StageTimer,
        wall_s: float,
        battery: Mapping[str, Any],
    ) -> None:
        """After a failure: cut the tables back to the last checkpoint and say so in the summary.

        Best effort: a failure here (a full disk, say) leaves the ``running`` summary, which a
        resume handles the same way.
        """
        interrupted = isinstance(exc, KeyboardInterrupt)
        out = self.writer.out_dir
        try:
            checkpoint = read_checkpoint(out / CHECKPOINT_FILE)
            self.writer.cut_back(checkpoint.table_bytes)
            self.remove_settlement_files()
            summary = self.summary(
                None,
                timer,
                wall_s,
                "interrupted" if interrupted else "failed",
                "interrupted twice" if interrupted else f"{type(exc).__name__}: {exc}",
                battery,
                totals=restore_parts(checkpoint)["recorder"],
            )
            summary["settlement"]["files"] = (
                f"not written: the run stopped abnormally; the tables end at slot "
                f"{checkpoint.slot}, where it can be resumed"
            )
            write_json(out / "summary.json", summary)
        except Exception:  # the original error is the one to report
            return


def _setpoint_column(setpoint: np.ndarray | None, has_battery: np.ndarray) -> np.ndarray:
    """``battery_setpoint_kwh`` of participants.csv: empty without a battery or on a fallback."""
    if setpoint is None:
        return np.full(has_battery.shape, np.nan)
    return np.where(has_battery, setpoint, np.nan)


def _max_or_nan(values: np.ndarray, converged: bool) -> float:
    return float(values.max()) if converged and values.size else float("nan")
