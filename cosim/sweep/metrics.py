"""Metrics of a run for sweep.csv, computed from the run directory's files.

Reading the files (not values sent back by a worker) makes the metrics identical whichever
executor ran the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cosim.jsonio import read_json
from cosim.results.formats import has_table, read_table
from cosim.sweep.plan import SweepPlan

__all__ = ["METRIC_COLUMNS", "MODEL_METRICS", "run_metrics", "sweep_columns"]

#: Metric columns of sweep.csv (before the per-billing-model ones), in order.
METRIC_COLUMNS: tuple[str, ...] = (
    "slots_completed",
    "participants",
    "participants_with_pv",
    "load_kwh",
    "pv_kwh",
    "import_kwh",
    "export_kwh",
    "losses_kwh",
    "traded_kwh",
    "self_sufficiency",
    "p2p_share_of_load",
    "clearing_price_mean",
    "clearing_price_vwap",
    "vm_min_pu",
    "vm_max_pu",
    "slots_outside_5pct",
    "slots_outside_10pct",
    "line_loading_max_percent",
    "trafo_loading_max_percent",
    "slots_overloaded",
    "failed_power_flows",
)
#: Per billing model ``m``: ``<prefix>_<m>`` columns of sweep.csv.
MODEL_METRICS: tuple[str, ...] = ("total_bills", "mean_bill", "supplier_profit")


#: Per-run bookkeeping file written by the sweep runner.
RUN_JSON = "run.json"


def _bool_column(series: pd.Series) -> np.ndarray:
    return series.astype(str).str.strip().str.lower().isin(["true", "1"]).to_numpy()


def run_metrics(run_dir: Path) -> dict[str, Any]:
    """Summary metrics of a run, computed from its files (executor-independent).

    Reads ``slots``, ``bills`` and ``suppliers`` (CSV or Parquet), ``summary.json`` and
    ``run.json``.
    Energies in [kWh], prices in [currency/kWh], voltages in [pu], loadings in [%], money in
    [currency]. ``slots_outside_5pct``/``_10pct`` count slots with any bus outside
    [0.95, 1.05]/[0.90, 1.10] pu; ``slots_overloaded`` counts slots with a line or
    transformer above 100 %. Per billing model ``m``: ``total_bills_m``, ``mean_bill_m`` (per
    participant) and ``supplier_profit_m``. ``wall_s`` is the run's wall time (from
    ``run.json``), the only value that depends on the machine.

    Parameters
    ----------
    run_dir : Path
        A run directory.

    Returns
    -------
    dict
        Metric name -> value (NaN where a file is missing).
    """
    run_dir = Path(run_dir)
    out: dict[str, Any] = dict.fromkeys(METRIC_COLUMNS, np.nan)
    summary = read_json(run_dir / "summary.json") or {}
    for key in ("slots_completed", "participants", "participants_with_pv"):
        out[key] = summary.get(key, np.nan)
    if has_table(run_dir, "slots"):
        s = read_table(run_dir, "slots")
        for col in ("load_kwh", "pv_kwh", "import_kwh", "export_kwh", "losses_kwh", "traded_kwh"):
            out[col] = float(s[col].sum()) if col in s else np.nan
        load = out["load_kwh"]
        demand = load + out["losses_kwh"]
        out["self_sufficiency"] = 1.0 - out["import_kwh"] / demand if load > 0 else np.nan
        out["p2p_share_of_load"] = out["traded_kwh"] / load if load > 0 else np.nan
        price = s["clearing_price"].to_numpy(dtype=float)
        traded = s["traded_kwh"].to_numpy(dtype=float)
        has_price = np.isfinite(price)
        out["clearing_price_mean"] = float(price[has_price].mean()) if has_price.any() else np.nan
        volume = traded[has_price].sum()
        out["clearing_price_vwap"] = (
            float((price[has_price] * traded[has_price]).sum() / volume) if volume > 0 else np.nan
        )
        vmin = s["vm_min_pu"].to_numpy(dtype=float)
        vmax = s["vm_max_pu"].to_numpy(dtype=float)
        out["vm_min_pu"] = float(np.nanmin(vmin)) if np.isfinite(vmin).any() else np.nan
        out["vm_max_pu"] = float(np.nanmax(vmax)) if np.isfinite(vmax).any() else np.nan
        out["slots_outside_5pct"] = int(((vmin < 0.95) | (vmax > 1.05)).sum())
        out["slots_outside_10pct"] = int(((vmin < 0.90) | (vmax > 1.10)).sum())
        line = s["loading_max_percent"].to_numpy(dtype=float)
        trafo = (
            s["trafo_loading_max_percent"].to_numpy(dtype=float)
            if "trafo_loading_max_percent" in s
            else np.full(len(s), np.nan)
        )
        out["line_loading_max_percent"] = (
            float(np.nanmax(line)) if np.isfinite(line).any() else np.nan
        )
        out["trafo_loading_max_percent"] = (
            float(np.nanmax(trafo)) if np.isfinite(trafo).any() else np.nan
        )
        out["slots_overloaded"] = int(((line > 100.0) | (trafo > 100.0)).sum())
        out["failed_power_flows"] = int((~_bool_column(s["pf_converged"])).sum())
    if has_table(run_dir, "bills"):
        bills = read_table(run_dir, "bills")
        for model, group in bills.groupby("model", sort=False):
            out[f"total_bills_{model}"] = float(group["amount"].sum())
            out[f"mean_bill_{model}"] = float(group["amount"].mean())
    if has_table(run_dir, "suppliers"):
        suppliers = read_table(run_dir, "suppliers")
        for model, group in suppliers.groupby("model", sort=False):
            out[f"supplier_profit_{model}"] = float(group["profit"].sum())
    info = read_json(run_dir / RUN_JSON) or {}
    out["wall_s"] = info.get("wall_s", np.nan)
    return out


def sweep_columns(plan: SweepPlan) -> list[str]:
    """Columns of sweep.csv, in order: varied keys, run identity and status, metrics."""
    models: dict[str, None] = {}
    for run in plan.runs:
        models.update(dict.fromkeys(run.scenario.settlement.models))
    per_model = [f"{prefix}_{m}" for prefix in MODEL_METRICS for m in models]
    return [
        *plan.vary,
        "run_dir",
        "status",
        "error",
        "reused",
        "hash",
        *METRIC_COLUMNS,
        *per_model,
        "wall_s",
    ]
