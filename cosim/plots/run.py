"""Figures of one run directory (see :mod:`cosim.plots`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from cosim.errors import InputError
from cosim.plots._common import DPI, read_csv, save, scenario_info

__all__ = ["plot_run"]


def plot_run(run_dir: str | Path) -> list[Path]:
    """Figures of one run (module docstring lists them) into ``run_dir/plots/``."""
    d = Path(run_dir)
    slots = read_csv(d / "slots.csv")
    for col in ("time", "vm_min_pu", "vm_max_pu", "clearing_price", "traded_kwh"):
        if col not in slots:
            raise InputError(d / "slots.csv", col, "required column is missing")
    info = scenario_info(d)
    times = pd.to_datetime(slots["time"], utc=False)
    offset = str(slots["time"].iloc[0])[19:] if len(slots) else ""
    tz_label = f"UTC{offset}" if offset and offset not in ("Z", "+00:00") else "UTC"
    naive = pd.DatetimeIndex(times).tz_localize(None) if len(times) else pd.DatetimeIndex([])
    out = d / "plots"
    out.mkdir(exist_ok=True)
    name = info.get("name", d.name)
    written = []
    if (d / "buses.csv").is_file():
        written.append(_voltage_heatmap(d, naive, tz_label, name, out))
    written.append(_grid_over_time(slots, naive, tz_label, name, out))
    written.append(_market_over_time(slots, naive, tz_label, name, info, out))
    written.append(_daily_profile(slots, naive, tz_label, name, info, out))
    if (d / "bills.csv").is_file():
        written.append(_bills(d, name, out))
    return written


def _voltage_heatmap(d: Path, times: pd.DatetimeIndex, tz: str, name: str, out: Path) -> Path:
    buses = read_csv(d / "buses.csv")
    grid = buses.pivot(index="bus", columns="slot", values="vm_pu").sort_index()
    values = grid.to_numpy(dtype=float)
    fig = Figure(figsize=(10, 5), dpi=DPI)
    ax = fig.add_subplot()
    finite = values[np.isfinite(values)]
    # colour range symmetric about 1 pu and fitted to the data, so small deviations show
    half = max(0.005, 1.02 * float(np.abs(finite - 1.0).max())) if finite.size else 0.05
    norm = TwoSlopeNorm(vcenter=1.0, vmin=1.0 - half, vmax=1.0 + half)
    x0, x1 = _time_edges(times, grid.columns.to_numpy())
    image = ax.imshow(
        values,
        aspect="auto",
        interpolation="nearest",
        cmap="RdBu_r",
        norm=norm,
        origin="lower",
        extent=(x0, x1, -0.5, len(grid) - 0.5),
    )
    ax.xaxis_date()
    ticks = np.linspace(0, len(grid) - 1, min(len(grid), 10)).round().astype(int)
    ax.set_yticks(ticks, [str(grid.index[i]) for i in ticks])
    ax.set_ylabel("Bus (pandapower index)")
    ax.set_xlabel(f"Time ({tz})")
    bar = fig.colorbar(image, ax=ax)
    bar.set_label("Voltage magnitude [pu]")
    for limit in (0.95, 1.05):
        if 1.0 - half < limit < 1.0 + half:
            bar.ax.axhline(limit, color="k", lw=1, ls="--")
    ax.set_title(
        f"{name}: bus voltages (red above, blue below 1 pu; scale dashes: 0.95, 1.05 pu)",
        fontsize=11,
    )
    fig.autofmt_xdate()
    return save(fig, out / "voltage_heatmap.png")


def _grid_over_time(
    slots: pd.DataFrame, times: pd.DatetimeIndex, tz: str, name: str, out: Path
) -> Path:
    fig = Figure(figsize=(10, 6.5), dpi=DPI)
    ax_v, ax_l = fig.subplots(2, 1, sharex=True)
    ax_v.fill_between(
        times,
        slots["vm_min_pu"],
        slots["vm_max_pu"],
        color="C0",
        alpha=0.15,
        step="post",
        label="range over buses",
    )
    ax_v.step(times, slots["vm_max_pu"], where="post", color="C3", label="max")
    ax_v.step(times, slots["vm_min_pu"], where="post", color="C0", label="min")
    for limit in (0.95, 1.05):
        ax_v.axhline(limit, color="0.4", ls="--", lw=1)
    ax_v.set_ylabel("Voltage [pu]")
    ax_v.set_title(
        f"{name}: voltage band and loading per slot (dashed: 0.95 / 1.05 pu, 100 %)", fontsize=11
    )
    ax_v.legend(loc="best", fontsize=9)
    ax_l.step(
        times, slots["loading_max_percent"], where="post", color="C1", label="max line loading"
    )
    if "trafo_loading_max_percent" in slots:
        ax_l.step(
            times,
            slots["trafo_loading_max_percent"],
            where="post",
            color="C2",
            label="max transformer loading",
        )
    ax_l.axhline(100.0, color="0.4", ls="--", lw=1)
    ax_l.set_ylabel("Loading [%]")
    ax_l.set_xlabel(f"Time ({tz})")
    ax_l.set_ylim(bottom=0)
    ax_l.legend(loc="best", fontsize=9)
    for ax in (ax_v, ax_l):
        ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return save(fig, out / "grid_over_time.png")


def _market_over_time(
    slots: pd.DataFrame,
    times: pd.DatetimeIndex,
    tz: str,
    name: str,
    info: dict[str, Any],
    out: Path,
) -> Path:
    fig = Figure(figsize=(10, 6.5), dpi=DPI)
    ax_p, ax_e = fig.subplots(2, 1, sharex=True)
    ax_p.step(times, slots["clearing_price"], where="post", color="C0", label="clearing price")
    market = info.get("market", {})
    for key, label, color in (
        ("retail_price", "retail price", "C3"),
        ("feed_in_tariff", "feed-in tariff", "C2"),
    ):
        if key in market:
            ax_p.axhline(market[key], color=color, ls="--", lw=1, label=label)
    ax_p.set_ylabel("Price [currency/kWh]")
    ax_p.set_title(f"{name}: local market per slot (gaps: no trade)", fontsize=11)
    ax_p.legend(loc="best", fontsize=9)
    ax_e.step(times, slots["traded_kwh"], where="post", color="C4", label="traded P2P")
    if "offer_kwh" in slots and "bid_kwh" in slots:
        ax_e.step(
            times, slots["bid_kwh"], where="post", color="C0", lw=0.8, alpha=0.6, label="bids"
        )
        ax_e.step(
            times, slots["offer_kwh"], where="post", color="C1", lw=0.8, alpha=0.6, label="offers"
        )
    ax_e.set_ylabel("Energy per slot [kWh]")
    ax_e.set_xlabel(f"Time ({tz})")
    ax_e.set_ylim(bottom=0)
    ax_e.legend(loc="best", fontsize=9)
    for ax in (ax_p, ax_e):
        ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return save(fig, out / "market_over_time.png")


def _daily_profile(
    slots: pd.DataFrame,
    times: pd.DatetimeIndex,
    tz: str,
    name: str,
    info: dict[str, Any],
    out: Path,
) -> Path:
    slot_h = float(info.get("time", {}).get("slot_minutes", 30)) / 60.0
    hour = times.hour + times.minute / 60.0
    fig = Figure(figsize=(8, 4.8), dpi=DPI)
    ax = fig.add_subplot()
    series = (
        ("load_kwh", "load", "C0"),
        ("pv_kwh", "PV", "C1"),
        ("import_kwh", "grid import", "C3"),
        ("export_kwh", "grid export", "C2"),
    )
    for col, label, color in series:
        if col in slots:
            mean_kw = slots[col].to_numpy(dtype=float) / slot_h
            profile = pd.Series(mean_kw).groupby(np.asarray(hour)).mean()
            ax.plot(
                profile.index.to_numpy(),
                profile.to_numpy(),
                color=color,
                label=label,
                drawstyle="steps-post",
                lw=1.8,
            )
    days = len(slots) * slot_h / 24.0
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 3))
    ax.set_xlabel(f"Time of day ({tz}) [h]")
    ax.set_ylabel("Mean power, all participants [kW]")
    ax.set_title(f"{name}: average daily profile over {days:.3g} days", fontsize=11)
    ax.legend(loc="best", fontsize=9)
    ax.grid(alpha=0.3)
    return save(fig, out / "daily_profile.png")


def _bills(d: Path, name: str, out: Path) -> Path:
    bills = read_csv(d / "bills.csv")
    table = bills.pivot(index="participant", columns="model", values="amount")
    models = list(dict.fromkeys(bills["model"]))
    table = table[models]
    base = models[0]
    table = table.sort_values(base)
    rank = np.arange(len(table))
    fig = Figure(figsize=(10, 6.5), dpi=DPI)
    ax_b, ax_d = fig.subplots(2, 1, sharex=True)
    small = len(table) <= 30
    width = 0.8 / len(models)
    for i, model in enumerate(models):
        values = table[model].to_numpy(dtype=float)
        if small:
            ax_b.bar(
                rank + (i - (len(models) - 1) / 2) * width,
                values,
                width,
                label=model,
                color=f"C{i}",
            )
        else:
            ax_b.plot(rank, values, ls="none", marker="o", ms=3.5, label=model, color=f"C{i}")
        if i:
            ax_d.plot(
                rank,
                values - table[base].to_numpy(dtype=float),
                ls="none",
                marker="o",
                ms=3.5,
                label=f"{model} - {base}",
                color=f"C{i}",
            )
    amounts = np.abs(table.to_numpy(dtype=float))
    typical = float(np.nanmedian(amounts)) if amounts.size else 0.0
    if typical > 0 and np.nanmax(amounts) > 30 * typical:  # a few large consumers dominate
        ax_b.set_yscale("symlog", linthresh=typical)
        ax_b.set_ylabel("Bill [currency], symlog scale\n(> 0 pays, < 0 receives)")
    else:
        ax_b.set_ylabel("Bill [currency]\n(> 0 pays, < 0 receives)")
    ax_b.axhline(0, color="k", lw=0.8)
    ax_d.axhline(0, color="k", lw=0.8)
    ax_b.set_title(
        f"{name}: bill per participant by billing model "
        f"(participants ordered by their {base} bill)",
        fontsize=11,
    )
    ax_b.legend(loc="best", fontsize=9, ncols=min(len(models), 4))
    ax_d.set_ylabel(f"Difference to {base} [currency]\n(< 0 saves)")
    ax_d.set_xlabel(f"Participant rank by {base} bill")
    if len(models) > 1:
        ax_d.legend(loc="best", fontsize=9, ncols=min(len(models) - 1, 3))
    for ax in (ax_b, ax_d):
        ax.grid(alpha=0.3)
    return save(fig, out / "bills.png")


def _time_edges(times: pd.DatetimeIndex, slots: Sequence[int] | np.ndarray) -> tuple[float, float]:
    """Matplotlib date numbers of the first slot's start and the last slot's end."""
    from matplotlib.dates import date2num

    if len(times) == 0:
        return 0.0, 1.0
    step = times[1] - times[0] if len(times) > 1 else pd.Timedelta(minutes=30)
    first = times[int(np.min(slots))] if len(slots) else times[0]
    last = times[int(np.max(slots))] + step if len(slots) else times[-1] + step
    return float(date2num(first)), float(date2num(last))
