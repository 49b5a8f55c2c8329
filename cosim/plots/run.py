"""Figures of one run directory (see :mod:`cosim.plots`), read through :class:`RunDir`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.dates import date2num
from matplotlib.figure import Figure

from cosim.errors import InputError
from cosim.plots._common import DPI, PlotOptions, save
from cosim.results.rundir import RunDir, bucket_rule, bucket_starts, naive_times

__all__ = ["plot_run"]

_STEP = {"slot": "per slot", "day": "per day", "week": "per week"}
#: At most this many participants get a bar each in the bills figure; more get box plots.
_BARS_MAX = 30


def plot_run(run_dir: str | Path | RunDir, options: PlotOptions | None = None) -> list[Path]:
    """Figures of one run (module docstring lists them) into ``run_dir/plots/``.

    Parameters
    ----------
    run_dir : str, Path or RunDir
        The run directory.
    options : PlotOptions, optional
        Format, currency label and time aggregation (default: PNG, ``currency``, auto).

    Returns
    -------
    list of Path
        The files written.
    """
    opts = options or PlotOptions()
    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    required = ["time", "vm_min_pu", "vm_max_pu", "clearing_price", "traded_kwh"]
    have = run.columns("slots")
    if not have:
        raise InputError(run.path / "slots.csv", "(file)", "file not found")
    for col in required:
        if col not in have:
            raise InputError(run.path / "slots.csv", col, "required column is missing")
    slots = run.table("slots")
    info = run.scenario()
    offset = str(slots["time"].iloc[0])[19:] if len(slots) else ""
    tz = f"UTC{offset}" if offset and offset not in ("Z", "+00:00") else "UTC"
    times = naive_times(slots["time"]) if len(slots) else pd.Series(pd.DatetimeIndex([]))
    slot_minutes = float(info.get("time", {}).get("slot_minutes", 30))
    rule = bucket_rule(len(slots), slot_minutes, opts.aggregate)
    out = run.path / "plots"
    out.mkdir(exist_ok=True)
    name = str(info.get("name", run.path.name))
    written = []
    if run.has("buses"):
        written.append(_voltage_heatmap(run, slots, times, rule, tz, name, out, opts))
    written.append(_grid_over_time(slots, times, rule, tz, name, out, opts))
    written.append(_market_over_time(slots, times, rule, tz, name, info, out, opts))
    written.append(_daily_profile(slots, times, slot_minutes, tz, name, out, opts))
    if run.has("bills"):
        written.append(_bills(run, name, out, opts))
    return written


def _bucketed(slots: pd.DataFrame, times: pd.Series, rule: str) -> Any:
    return slots.assign(bucket=bucket_starts(times, rule).to_numpy()).groupby("bucket", sort=True)


def _step_edges(index: pd.Index, rule: str, times: pd.Series) -> pd.DatetimeIndex:
    """Bucket starts plus the end of the last bucket (for step plots that cover the period)."""
    idx = pd.DatetimeIndex(index)
    if len(idx) == 0:
        return idx
    if rule == "slot":
        step = times.iloc[1] - times.iloc[0] if len(times) > 1 else pd.Timedelta(minutes=30)
    else:
        step = pd.Timedelta(days=1 if rule == "day" else 7)
    return pd.DatetimeIndex(idx.append(pd.DatetimeIndex([idx[-1] + step])))


def _steps(values: np.ndarray) -> np.ndarray:
    """Values repeated at the end so that a ``where='post'`` step covers the last bucket."""
    return np.append(values, values[-1]) if len(values) else values


def _voltage_heatmap(
    run: RunDir,
    slots: pd.DataFrame,
    times: pd.Series,
    rule: str,
    tz: str,
    name: str,
    out: Path,
    opts: PlotOptions,
) -> Path:
    buses = run.table("buses", ["slot", "bus", "vm_pu"])
    start = pd.Series(bucket_starts(times, rule).to_numpy(), index=slots["slot"].to_numpy())
    buses = buses.assign(bucket=start.reindex(buses["slot"].to_numpy()).to_numpy())
    grid = buses.pivot_table(index="bus", columns="bucket", values="vm_pu", aggfunc="mean")
    grid = grid.sort_index()
    values = grid.to_numpy(dtype=float)
    names = run.bus_names()
    labels = [names.get(int(b), f"bus {b}") for b in grid.index]
    fig = Figure(figsize=(11, min(9.0, max(5.0, 0.11 * len(grid) + 2.0))), dpi=DPI)
    ax = fig.add_subplot()
    finite = values[np.isfinite(values)]
    # colour range symmetric about 1 pu and fitted to the data, so small deviations show
    half = max(0.005, 1.02 * float(np.abs(finite - 1.0).max())) if finite.size else 0.05
    norm = TwoSlopeNorm(vcenter=1.0, vmin=1.0 - half, vmax=1.0 + half)
    edges = _step_edges(grid.columns, rule, times)
    x0, x1 = (float(date2num(edges[0])), float(date2num(edges[-1]))) if len(edges) else (0, 1)
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
    every = max(1, int(np.ceil(len(grid) / 45)))  # at most ~45 readable names
    ticks = np.arange(0, len(grid), every)
    ax.set_yticks(ticks, [labels[i] for i in ticks], fontsize=7 if len(ticks) > 25 else 9)
    ax.set_ylabel("Bus" + (f" (one name in {every} shown)" if every > 1 else ""))
    ax.set_xlabel(f"Time ({tz})")
    bar = fig.colorbar(image, ax=ax)
    bar.set_label("Voltage magnitude [pu]" + ("" if rule == "slot" else f", mean {_STEP[rule]}"))
    for limit in (0.95, 1.05):
        if 1.0 - half < limit < 1.0 + half:
            bar.ax.axhline(limit, color="k", lw=1, ls="--")
    ax.set_title(
        f"{name}: bus voltages {_STEP[rule]} (red above, blue below 1 pu; "
        "scale dashes: 0.95, 1.05 pu)",
        fontsize=11,
    )
    fig.autofmt_xdate()
    return save(fig, out, "voltage_heatmap", opts)


def _grid_over_time(
    slots: pd.DataFrame,
    times: pd.Series,
    rule: str,
    tz: str,
    name: str,
    out: Path,
    opts: PlotOptions,
) -> Path:
    agg = {"vm_min_pu": "min", "vm_max_pu": "max", "loading_max_percent": "max"}
    if "trafo_loading_max_percent" in slots:
        agg["trafo_loading_max_percent"] = "max"
    grouped = _bucketed(slots[list(agg)], times, rule).agg(agg)
    x = _step_edges(grouped.index, rule, times)
    fig = Figure(figsize=(10, 6.5), dpi=DPI)
    ax_v, ax_l = fig.subplots(2, 1, sharex=True)
    vmin = _steps(grouped["vm_min_pu"].to_numpy(dtype=float))
    vmax = _steps(grouped["vm_max_pu"].to_numpy(dtype=float))
    ax_v.fill_between(x, vmin, vmax, color="C0", alpha=0.15, step="post", label="range over buses")
    ax_v.step(x, vmax, where="post", color="C3", label="max")
    ax_v.step(x, vmin, where="post", color="C0", label="min")
    for limit in (0.95, 1.05):
        ax_v.axhline(limit, color="0.4", ls="--", lw=1)
    ax_v.set_ylabel("Voltage [pu]")
    what = "per slot" if rule == "slot" else f"{_STEP[rule]} (extremes over its slots)"
    ax_v.set_title(
        f"{name}: voltage band and loading {what} (dashed: 0.95 / 1.05 pu, 100 %)", fontsize=11
    )
    ax_v.legend(loc="best", fontsize=9)
    ax_l.step(
        x,
        _steps(grouped["loading_max_percent"].to_numpy(dtype=float)),
        where="post",
        color="C1",
        label="max line loading",
    )
    if "trafo_loading_max_percent" in grouped:
        ax_l.step(
            x,
            _steps(grouped["trafo_loading_max_percent"].to_numpy(dtype=float)),
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
    return save(fig, out, "grid_over_time", opts)


def _market_over_time(
    slots: pd.DataFrame,
    times: pd.Series,
    rule: str,
    tz: str,
    name: str,
    info: dict[str, Any],
    out: Path,
    opts: PlotOptions,
) -> Path:
    price = slots["clearing_price"].to_numpy(dtype=float)
    traded = slots["traded_kwh"].to_numpy(dtype=float)
    has = np.isfinite(price)
    energy = [c for c in ("traded_kwh", "bid_kwh", "offer_kwh") if c in slots]
    frame = slots[energy].assign(
        value=np.where(has, price * traded, 0.0),
        volume=np.where(has, traded, 0.0),
        pmin=np.where(has, price, np.nan),
        pmax=np.where(has, price, np.nan),
        price=price,
    )
    grouped = _bucketed(frame, times, rule).agg(
        {**dict.fromkeys([*energy, "value", "volume"], "sum"), "pmin": "min", "pmax": "max",
         "price": "mean"}
    )  # fmt: skip
    x = _step_edges(grouped.index, rule, times)
    fig = Figure(figsize=(10, 6.5), dpi=DPI)
    ax_p, ax_e = fig.subplots(2, 1, sharex=True)
    cur = opts.currency
    if rule == "slot":
        ax_p.step(x, _steps(grouped["price"].to_numpy()), where="post", color="C0",
                  label="clearing price")  # fmt: skip
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            vwap = np.where(grouped["volume"] > 0, grouped["value"] / grouped["volume"], np.nan)
        ax_p.fill_between(
            x, _steps(grouped["pmin"].to_numpy()), _steps(grouped["pmax"].to_numpy()),
            step="post", color="C0", alpha=0.2, lw=0, label=f"min-max {_STEP[rule]}",
        )  # fmt: skip
        ax_p.step(x, _steps(vwap), where="post", color="C0", label="volume-weighted price")
    market = info.get("market", {})
    for key, label, color in (
        ("retail_price", "retail price", "C3"),
        ("feed_in_tariff", "feed-in tariff", "C2"),
    ):
        if key in market:
            ax_p.axhline(market[key], color=color, ls="--", lw=1, label=label)
    ax_p.set_ylabel(f"Price [{cur}/kWh]")
    ax_p.set_title(f"{name}: local market {_STEP[rule]} (gaps: no trade)", fontsize=11)
    ax_p.legend(loc="best", fontsize=9)
    unit = "slot" if rule == "slot" else rule
    labels = {"traded_kwh": "traded P2P", "bid_kwh": "bids", "offer_kwh": "offers"}
    styles = {
        "traded_kwh": ("C4", 1.6, 1.0),
        "bid_kwh": ("C0", 0.8, 0.6),
        "offer_kwh": ("C1", 0.8, 0.6),
    }
    for col in energy:
        color, lw, alpha = styles[col]
        ax_e.step(x, _steps(grouped[col].to_numpy()), where="post", color=color, lw=lw,
                  alpha=alpha, label=labels[col])  # fmt: skip
    ax_e.set_ylabel(f"Energy per {unit} [kWh]")
    ax_e.set_xlabel(f"Time ({tz})")
    ax_e.set_ylim(bottom=0)
    ax_e.legend(loc="best", fontsize=9)
    for ax in (ax_p, ax_e):
        ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return save(fig, out, "market_over_time", opts)


def _daily_profile(
    slots: pd.DataFrame,
    times: pd.Series,
    slot_minutes: float,
    tz: str,
    name: str,
    out: Path,
    opts: PlotOptions,
) -> Path:
    slot_h = slot_minutes / 60.0
    hour = times.dt.hour + times.dt.minute / 60.0
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
    if ax.get_lines():
        ax.legend(loc="best", fontsize=9)
    else:
        ax.text(0.5, 0.5, "no energy columns in slots.csv", ha="center", transform=ax.transAxes)
    ax.grid(alpha=0.3)
    return save(fig, out, "daily_profile", opts)


def _bills(run: RunDir, name: str, out: Path, opts: PlotOptions) -> Path:
    bills = run.table("bills", ["participant", "model", "amount"])
    models = list(dict.fromkeys(bills["model"]))
    table = bills.pivot(index="participant", columns="model", values="amount")[models]
    base = models[0]
    table = table.sort_values(base)
    cur = opts.currency
    fig = Figure(figsize=(11, 6.5), dpi=DPI)
    ax_b, ax_d = fig.subplots(2, 1)
    if len(table) <= _BARS_MAX:
        rank = np.arange(len(table))
        width = 0.8 / len(models)
        for i, model in enumerate(models):
            ax_b.bar(rank + (i - (len(models) - 1) / 2) * width, table[model].to_numpy(dtype=float),
                     width, label=model, color=f"C{i}")  # fmt: skip
        ax_b.set_xticks(rank, [str(p) for p in table.index], fontsize=8)
        ax_b.set_xlabel(f"Participant (ordered by the {base} bill)")
        ax_b.legend(loc="best", fontsize=9, ncols=min(len(models), 4))
    else:
        _boxes(ax_b, [table[m].to_numpy(dtype=float) for m in models], models)
        ax_b.set_xlabel("Billing model")
    ax_b.set_ylabel(f"Bill [{cur}]\n(> 0 pays, < 0 receives)")
    ax_b.axhline(0, color="k", lw=0.8)
    ax_b.set_title(
        f"{name}: bills of {len(table)} participants by billing model"
        + ("" if len(table) <= _BARS_MAX else " (box: quartiles, whiskers: 5-95 %, dots: others)"),
        fontsize=11,
    )
    others = models[1:]
    if others:
        diffs = [table[m].to_numpy(dtype=float) - table[base].to_numpy(dtype=float) for m in others]
        _boxes(ax_d, diffs, [f"{m} - {base}" for m in others])
        for i, d in enumerate(diffs):
            total = float(np.nansum(d))
            ax_d.annotate(f"sum {total:+,.2f}", (i + 1, 1.0), xycoords=("data", "axes fraction"),
                          ha="center", va="top", fontsize=8, color="0.3")  # fmt: skip
        ax_d.axhline(0, color="k", lw=0.8)
        ax_d.set_ylabel(f"Difference to {base} [{cur}]\n(< 0 saves)")
    else:
        ax_d.set_axis_off()
    for ax in (ax_b, ax_d):
        ax.grid(alpha=0.3, axis="y")
    return save(fig, out, "bills", opts)


def _boxes(ax: Any, data: list[np.ndarray], labels: list[str]) -> None:
    """Box plots (quartiles, 5-95 % whiskers) with every value as a jittered dot behind them."""
    rng = np.random.default_rng(0)  # jitter only; fixed so the figure is reproducible
    clean = [d[np.isfinite(d)] for d in data]
    for i, d in enumerate(clean):
        ax.plot(i + 1 + rng.uniform(-0.18, 0.18, d.size), d, ls="none", marker="o", ms=2.5,
                alpha=0.35, color=f"C{i}")  # fmt: skip
    ax.boxplot(clean, whis=(5, 95), showfliers=False, widths=0.5, medianprops={"color": "k"})
    ax.set_xticks(np.arange(1, len(labels) + 1), labels)
    values = np.concatenate(clean) if clean else np.array([])
    if values.size < 20:
        return
    lo, hi = np.percentile(values, [1, 99])
    span = hi - lo
    if span > 0 and values.max() - values.min() > 3 * span:  # a few extremes would squash the rest
        ax.set_ylim(lo - 0.15 * span, hi + 0.15 * span)
        beyond = values[(values < lo - 0.15 * span) | (values > hi + 0.15 * span)]
        note = f"{beyond.size} values beyond the axis ({beyond.min():,.0f} to {beyond.max():,.0f})"
        ax.annotate(note, (0.99, 0.02), xycoords="axes fraction", ha="right", va="bottom",
                    fontsize=8, color="0.3")  # fmt: skip
