"""Figures of a sweep directory (see :mod:`cosim.plots`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from cosim.errors import InputError
from cosim.plots._common import DPI, PlotOptions, save
from cosim.results.rundir import RunDir

__all__ = ["SWEEP_METRICS", "plot_sweep"]

_PV_KEY = "participants.pv_penetration"

#: Sweep metric -> (label, unit, scale, reference lines).
SWEEP_METRICS: dict[str, tuple[str, str, float, tuple[float, ...]]] = {
    "self_sufficiency": ("Self-sufficiency", "%", 100.0, ()),
    "p2p_share_of_load": ("P2P traded share of load", "%", 100.0, ()),
    "clearing_price_vwap": ("Volume-weighted clearing price", "currency/kWh", 1.0, ()),
    "clearing_price_mean": ("Mean clearing price", "currency/kWh", 1.0, ()),
    "import_kwh": ("Grid import", "kWh", 1.0, ()),
    "export_kwh": ("Grid export", "kWh", 1.0, ()),
    "losses_kwh": ("Network losses", "kWh", 1.0, ()),
    "vm_min_pu": ("Minimum bus voltage", "pu", 1.0, (0.95, 0.90)),
    "vm_max_pu": ("Maximum bus voltage", "pu", 1.0, (1.05, 1.10)),
    "slots_outside_5pct": ("Slots with a bus outside 0.95-1.05 pu", "slots", 1.0, ()),
    "slots_outside_10pct": ("Slots with a bus outside 0.90-1.10 pu", "slots", 1.0, ()),
    "line_loading_max_percent": ("Maximum line loading", "%", 1.0, (100.0,)),
    "trafo_loading_max_percent": ("Maximum transformer loading", "%", 1.0, (100.0,)),
    "slots_overloaded": ("Slots with a line or transformer above 100 %", "slots", 1.0, ()),
    "failed_power_flows": ("Failed power flows", "slots", 1.0, ()),
}

#: Known varied keys -> (axis label, unit, scale).
_KEY_LABELS: dict[str, tuple[str, str, float]] = {
    _PV_KEY: ("PV penetration", "% of participants", 100.0),
    "participants.battery_penetration": ("Battery penetration", "% of participants", 100.0),
    "participants.pv_kwp": ("PV size", "kWp", 1.0),
    "fulfilment.forecast_error": ("Forecast error", "relative SD", 1.0),
    "market.retail_price": ("Retail price", "currency/kWh", 1.0),
    "market.feed_in_tariff": ("Feed-in tariff", "currency/kWh", 1.0),
    "battery.capacity_kwh": ("Battery capacity", "kWh", 1.0),
    "seed": ("Seed", "", 1.0),
}


def plot_sweep(sweep_dir: str | Path | RunDir, options: PlotOptions | None = None) -> list[Path]:
    """Figures of a sweep (module docstring lists them) into ``sweep_dir/plots/``.

    Parameters
    ----------
    sweep_dir : str, Path or RunDir
        The sweep directory (with ``sweep.csv``).
    options : PlotOptions, optional
        Format and currency label (default: PNG, ``currency``).

    Returns
    -------
    list of Path
        The files written.
    """
    opts = options or PlotOptions()
    run = sweep_dir if isinstance(sweep_dir, RunDir) else RunDir(sweep_dir)
    d = run.path
    table = run.sweep()
    keys = run.sweep_keys()
    if not keys:
        raise InputError(d / "sweep.csv", "(columns)", "no varied keys before run_dir")
    done = table[table["status"] == "completed"]
    if done.empty:
        raise InputError(d / "sweep.csv", "status", "no completed run to plot")
    xkey = _PV_KEY if _PV_KEY in keys else keys[0]
    others = [k for k in keys if k != xkey]
    spread = ", ".join(others) if others else "no other key"
    out = d / "plots"
    out.mkdir(exist_ok=True)
    name = d.resolve().name
    written = []
    for metric, (label, unit, scale, refs) in SWEEP_METRICS.items():
        if metric not in done or not np.isfinite(done[metric].to_numpy(dtype=float)).any():
            continue
        unit, scale = _energy_unit(done[metric], unit, scale)
        unit = unit.replace("currency", opts.currency)
        fig = Figure(figsize=(7.5, 4.8), dpi=DPI)
        ax = fig.add_subplot()
        _spread_line(ax, done, xkey, metric, scale, "C0", label)
        for ref in refs:
            ax.axhline(ref * scale, color="0.4", ls="--", lw=1)
            ax.annotate(
                f"{ref:g} {unit}",
                (1.0, ref * scale),
                xycoords=("axes fraction", "data"),
                ha="right",
                va="bottom",
                fontsize=8,
                color="0.3",
            )
        ax.set_ylabel(f"{label} [{unit}]")
        _x_axis(ax, xkey)
        ax.set_title(f"{label} vs {_KEY_LABELS.get(xkey, (xkey, '', 1))[0]}", fontsize=12)
        _put_spread_note(fig, name, done, xkey, spread)
        ax.grid(alpha=0.3)
        written.append(save(fig, out, f"sweep_{metric}", opts))
    billing = _sweep_billing(done, xkey, spread, name, out, opts)
    if billing is not None:
        written.append(billing)
    return written


def _put_spread_note(fig: Figure, name: str, done: pd.DataFrame, xkey: str, spread: str) -> None:
    """Small grey note in the figure's corner: what the line and the band are."""
    fig.text(
        0.99, 0.01, _spread_note(name, done, xkey, spread),
        ha="right", va="bottom", fontsize=8, color="0.35",
    )  # fmt: skip


def _sweep_billing(
    done: pd.DataFrame, xkey: str, spread: str, name: str, out: Path, opts: PlotOptions
) -> Path | None:
    models = [
        c.removeprefix("supplier_profit_") for c in done.columns if c.startswith("supplier_profit_")
    ]
    if not models:
        return None
    fig = Figure(figsize=(11, 4.8), dpi=DPI)
    ax_p, ax_b = fig.subplots(1, 2)
    for i, model in enumerate(models):
        shift = (i - (len(models) - 1) / 2) * 0.08  # side by side on a categorical axis
        color = f"C{i}"
        _spread_line(ax_p, done, xkey, f"supplier_profit_{model}", 1.0, color, model, 0.1, shift)
        if f"mean_bill_{model}" in done:
            _spread_line(ax_b, done, xkey, f"mean_bill_{model}", 1.0, color, model, 0.1, shift)
    ax_p.set_ylabel(f"Supplier profit, all suppliers [{opts.currency}]")
    ax_p.set_title("Supplier profit by billing model", fontsize=11)
    ax_b.set_ylabel(f"Mean bill per participant [{opts.currency}]")
    ax_b.set_title("Mean bill by billing model", fontsize=11)
    for ax in (ax_p, ax_b):
        _x_axis(ax, xkey)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=9)
    fig.suptitle(f"Billing models vs {_KEY_LABELS.get(xkey, (xkey, '', 1))[0]}", fontsize=12)
    _put_spread_note(fig, name, done, xkey, spread)
    return save(fig, out, "sweep_billing", opts)


def _spread_note(name: str, done: pd.DataFrame, xkey: str, spread: str) -> str:
    runs = int(done.groupby(xkey).size().max())
    if runs <= 1:
        return f"{name}: one run per point"
    shape = "line = median, band" if _is_numeric(done[xkey]) else "dot = median, bar"
    return f"{name}: {shape} = min-max over {runs} runs per point ({spread})"


def _is_numeric(values: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values))


def _spread_line(
    ax: Axes,
    done: pd.DataFrame,
    xkey: str,
    metric: str,
    scale: float,
    color: str,
    label: str,
    alpha: float = 0.2,
    offset: float = 0.0,
) -> None:
    """Median over runs sharing an x value with their min-max spread.

    Numeric x: a line and a band. Categorical x (in sweep order): a marker per category and
    a min-max whisker, shifted by ``offset`` [category widths] so that series sit side by side.
    """
    frame = pd.DataFrame({"x": done[xkey], "y": done[metric].astype(float) * scale})
    numeric = _is_numeric(frame["x"])
    stats = frame.groupby("x", sort=numeric)["y"].agg(["median", "min", "max", "count"])
    runs = int(stats["count"].max()) if len(stats) else 0
    med = stats["median"].to_numpy(dtype=float)
    if numeric:
        xs = stats.index.to_numpy(dtype=float) * _KEY_LABELS.get(xkey, ("", "", 1.0))[2]
        ax.plot(xs, med, marker="o", color=color, label=label)
        if runs > 1:
            ax.fill_between(xs, stats["min"], stats["max"], color=color, alpha=alpha, lw=0)
        return
    xs = np.arange(len(stats), dtype=float)
    ax.set_xticks(xs, [str(v) for v in stats.index])
    ax.set_xlim(-0.5, len(stats) - 0.5)
    spread = np.vstack([med - stats["min"].to_numpy(), stats["max"].to_numpy() - med])
    ax.errorbar(
        xs + offset,
        med,
        yerr=spread if runs > 1 else None,
        fmt="o",
        ms=7,
        capsize=5,
        color=color,
        label=label,
    )


def _x_axis(ax: Axes, xkey: str) -> None:
    label, unit, _ = _KEY_LABELS.get(xkey, (xkey, "", 1.0))
    ax.set_xlabel(f"{label} [{unit}]" if unit else label)


def _energy_unit(values: pd.Series, unit: str, scale: float) -> tuple[str, float]:
    """Switch kWh to MWh for large values, for legible tick labels."""
    if unit == "kWh" and np.nanmax(np.abs(values.to_numpy(dtype=float))) >= 10_000:
        return "MWh", scale / 1000.0
    return unit, scale
