"""The dashboard's data: JSON-ready figures' data computed from one role's results.

Every function takes a :class:`Source` (a :class:`~cosim.results.rundir.RunDir` seen through a role)
and returns plain dicts/lists (no NaN: missing values are None). Long tables are reduced on
the server: time series to at most :data:`cosim.results.rundir.MAX_POINTS` buckets (slot, day or
week), duration curves to :data:`CURVE_POINTS` points, so a year of 17,520 slots travels as
365 days.
A value a role may not see, or a file its view does not hold, comes back as ``None`` (the page
says "not available to this role").
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cosim.dashboard.access import RESEARCHER, Role, min_group, restrict
from cosim.jsonio import json_safe
from cosim.results.rundir import RunDir, bucket_rule, bucket_starts, naive_times

__all__ = ["CURVE_POINTS", "Source", "dumps"]

#: Points of a duration curve.
CURVE_POINTS = 400
#: Lines drawn individually in the loading duration chart (the most loaded ones).
TOP_LINES = 5


class TableCache:
    """The last few tables read, shared by all requests (keyed by file, mtime and columns).

    Parameters
    ----------
    entries : int
        How many tables to keep (a year of ``participants.csv`` columns is ~50 MB).
    """

    def __init__(self, entries: int = 8) -> None:
        self.entries = entries
        self._frames: OrderedDict[tuple[Any, ...], pd.DataFrame] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, run: RunDir, name: str, columns: Sequence[str] | None) -> pd.DataFrame:
        """``run.table(name, columns)``, from the cache when the file has not changed."""
        path = run.file(name)
        stamp = path.stat().st_mtime_ns if path is not None else None
        key = (str(path), stamp, None if columns is None else tuple(columns))
        with self._lock:
            if key in self._frames:
                self._frames.move_to_end(key)
                return self._frames[key]
        frame = run.table(name, columns)
        with self._lock:
            self._frames[key] = frame
            while len(self._frames) > self.entries:
                self._frames.popitem(last=False)
        return frame


class Source:
    """One run's results as one role may read them.

    Parameters
    ----------
    run : RunDir
        The role's base directory: the run directory for the researcher, ``views/<role>/``
        for every other role.
    role : Role
        Who reads.
    currency : str
        Label of money amounts.
    """

    def __init__(
        self,
        run: RunDir,
        role: Role,
        currency: str = "currency",
        cache: TableCache | None = None,
    ) -> None:
        self.run = run
        self.role = role
        self.currency = currency
        self.cache = cache
        self.k = min_group(run.view_info().get("k"), run.scenario())

    def table(self, name: str, columns: Sequence[str] | None = None) -> pd.DataFrame | None:
        """Table ``name`` (the given columns) filtered for the role; None if unavailable."""
        if not self.run.has(name):
            return None
        have = self.run.columns(name)
        if columns is not None and any(c not in have for c in columns):
            return None
        keys = [
            c for c in ("participant", "supplier", "buyer", "seller", "bus", "members") if c in have
        ]
        want = None if columns is None else list(dict.fromkeys([*columns, *keys]))
        frame = self.cache.get(self.run, name, want) if self.cache else self.run.table(name, want)
        members = (
            self._bus_members() if name == "buses" and self.role.kind == "grid_operator" else None
        )
        out = restrict(self.role, name, frame, self.k, members)
        if out is None:
            return None
        return out if columns is None else out[list(columns)]

    def _bus_members(self) -> pd.Series | None:
        if "bus" not in self.run.columns("participants_info"):
            return None
        return self.run.table("participants_info", ["bus"])["bus"].value_counts()

    def scenario(self) -> dict[str, Any]:
        """The role's copy of the resolved scenario (empty if its view has none)."""
        return self.run.scenario()

    def summary(self) -> dict[str, Any]:
        """The role's ``summary.json`` (empty if its view has none)."""
        return self.run.summary()

    # -- time axis --------------------------------------------------------------------------

    def _timed(self) -> pd.DataFrame | None:
        """``slot, time`` rows from ``slots``, else from another table that has both."""
        for name in ("slots", *_TIMED):
            frame = self.table(name, ["slot", "time"])
            if frame is not None and not frame.empty:
                return frame
        return None

    def times(self) -> pd.DataFrame | None:
        """``slot, time`` of every slot (naive local time), or None if no table has times.

        From ``slots`` when the view has it; else (a consumer's or supplier's view) from the
        slots another table names, extended evenly to every slot the view's tables mention.
        """
        frame = self.table("slots", ["slot", "time"])
        if frame is not None:
            return frame.assign(time=naive_times(frame["time"]))
        known = self._timed()
        if known is None:
            return None
        known = known.drop_duplicates("slot").sort_values("slot")
        last = int(known["slot"].max())
        for name in ("participants", *_TIMED):
            if "slot" in self.run.columns(name):
                slots = self.table(name, ["slot"])
                if slots is not None and not slots.empty:
                    last = max(last, int(slots["slot"].max()))
        return _even_times(known, last + 1)

    def tz_label(self) -> str:
        """``UTC+hh:mm`` of the run's times (``UTC`` when zero or unknown)."""
        frame = self._timed()
        if frame is None:
            return "UTC"
        offset = str(frame["time"].iloc[0])[19:]
        return f"UTC{offset}" if offset and offset not in ("Z", "+00:00") else "UTC"


#: Tables of role views with ``slot, time`` columns (a view may lack ``slots``).
_TIMED = ("aggregates", "balances", "pots", "settlement_aggregates")


def _even_times(known: pd.DataFrame, n_slots: int) -> pd.DataFrame:
    """Times of slots ``0 .. n_slots-1`` from some known ``slot, time`` pairs (even spacing)."""
    slots = known["slot"].to_numpy(dtype=np.int64)
    times = pd.DatetimeIndex(naive_times(known["time"]))
    if len(slots) > 1:
        steps = np.diff(times.asi8) / np.diff(slots)  # ns per slot
        step = pd.Timedelta(int(np.median(steps)), unit="ns")
    else:
        step = pd.Timedelta(minutes=30)
    first = times[0] - int(slots[0]) * step
    every = np.arange(n_slots)
    return pd.DataFrame(
        {"slot": every, "time": first + pd.to_timedelta(every * step.value, unit="ns")}
    )


def _slot_minutes(src: Source, times: pd.DataFrame) -> float:
    minutes = src.scenario().get("time", {}).get("slot_minutes") if src.scenario() else None
    if isinstance(minutes, (int, float)):
        return float(minutes)
    if len(times) > 1:
        return float((times["time"].iloc[1] - times["time"].iloc[0]).total_seconds() / 60.0)
    return 30.0


def _iso(times: pd.Series | pd.Index) -> list[str]:
    return [t.strftime("%Y-%m-%d %H:%M") for t in pd.DatetimeIndex(times)]


def dumps(data: Any) -> bytes:
    """JSON bytes of ``data`` after :func:`cosim.jsonio.json_safe` (strict: no NaN)."""
    return json.dumps(json_safe(data), allow_nan=False, separators=(",", ":")).encode("utf-8")


# -- pages ------------------------------------------------------------------------------------


def overview(src: Source) -> dict[str, Any]:
    """Summary, scenario and timings of the run as the role holds them."""
    summary = src.summary()
    files = {
        name: src.run.has(name)
        for name in (
            "slots", "participants", "buses", "lines", "trafos", "trades", "bills",
            "suppliers", "settlement_slots", "rejected_payloads", "aggregates",
        )
    }  # fmt: skip
    return {
        "role": src.role.name,
        "name": src.run.name,
        "summary": summary,
        "scenario": src.scenario(),
        "timings_s": summary.get("timings_s"),
        "totals": summary.get("totals"),
        "files": files,
        "view": src.run.view_info() or None,
    }


def grid_band(src: Source, freq: str = "auto") -> dict[str, Any] | None:
    """Voltage band and maximum loadings over time, bucketed (min of minima, max of maxima).

    The loadings come from ``slots`` (``loading_max_percent``, ``trafo_loading_max_percent``)
    or, in a view without them (the grid operator's), from the lines and transformers it
    monitors (``lines``, ``trafos``).
    """
    times = src.times()
    slots = src.table("slots", ["slot", "vm_min_pu", "vm_max_pu"])
    if times is None or slots is None or len(slots) != len(times):
        return None
    have = src.run.columns("slots")
    for col, table, key in (
        ("loading_max_percent", "lines", "line"),
        ("trafo_loading_max_percent", "trafos", "trafo"),
    ):
        if col in have:
            extra = src.table("slots", [col])
            if extra is not None:
                slots = slots.assign(**{col: extra[col].to_numpy()})
            continue
        branch = src.table(table, ["slot", key, "loading_percent"])
        if branch is not None and not branch.empty:
            per_slot = branch.groupby("slot")["loading_percent"].max()
            slots = slots.assign(**{col: per_slot.reindex(slots["slot"]).to_numpy()})
    rule = bucket_rule(len(times), _slot_minutes(src, times), freq)
    frame = slots.assign(bucket=bucket_starts(times["time"], rule).to_numpy())
    agg = {"vm_min_pu": "min", "vm_max_pu": "max"}
    agg.update(
        {c: "max" for c in ("loading_max_percent", "trafo_loading_max_percent") if c in frame}
    )
    grouped = frame.groupby("bucket", sort=True).agg(agg)
    return {
        "bucket": rule,
        "tz": src.tz_label(),
        "time": _iso(grouped.index),
        "loading_max_percent": None,
        **{col: grouped[col].to_numpy() for col in agg},
    }


def bus_names(src: Source) -> dict[int, str]:
    """Bus index -> display name (the network's ``name``, else ``bus <index>``)."""
    return src.run.bus_names()


def heatmap(src: Source, freq: str = "auto") -> dict[str, Any] | None:
    """Bus voltage per bus and time bucket (mean over the bucket's slots) [pu]."""
    times = src.times()
    buses = src.table("buses", ["slot", "bus", "vm_pu"])
    if times is None or buses is None or buses.empty:
        return None
    rule = bucket_rule(len(times), _slot_minutes(src, times), freq)
    start = pd.Series(bucket_starts(times["time"], rule).to_numpy(), index=times["slot"].to_numpy())
    buses = buses.assign(bucket=start.reindex(buses["slot"].to_numpy()).to_numpy())
    grid = buses.groupby(["bus", "bucket"])["vm_pu"].mean().unstack()
    names = bus_names(src)
    return {
        "bucket": rule,
        "tz": src.tz_label(),
        "time": _iso(grid.columns),
        "bus": [names.get(int(b), f"bus {b}") for b in grid.index],
        "vm_pu": grid.to_numpy(),
    }


def _curve(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Duration curve (descending) sampled at up to CURVE_POINTS points: (% of time, value)."""
    v = np.sort(values[np.isfinite(values)])[::-1]
    if v.size == 0:
        return np.array([]), np.array([])
    idx = np.unique(np.linspace(0, v.size - 1, min(v.size, CURVE_POINTS)).round().astype(int))
    return 100.0 * (idx + 1) / v.size, v[idx]


def duration(src: Source) -> dict[str, Any] | None:
    """Loading duration curves: the most loaded lines, every transformer, and the maximum."""
    curves: list[dict[str, Any]] = []
    lines = src.table("lines", ["slot", "line", "loading_percent"])
    if lines is not None and not lines.empty:
        wide = lines.pivot(index="slot", columns="line", values="loading_percent")
        x, y = _curve(wide.max(axis=1).to_numpy(dtype=float))
        curves.append({"name": "max over lines", "x": x, "y": y})
        top = wide.max().sort_values(ascending=False).index[:TOP_LINES]
        for line in top:
            x, y = _curve(wide[line].to_numpy(dtype=float))
            curves.append({"name": f"line {line}", "x": x, "y": y})
    trafos = src.table("trafos", ["slot", "trafo", "loading_percent"])
    if trafos is not None and not trafos.empty:
        wide = trafos.pivot(index="slot", columns="trafo", values="loading_percent")
        for trafo in wide.columns:
            x, y = _curve(wide[trafo].to_numpy(dtype=float))
            curves.append({"name": f"transformer {trafo}", "x": x, "y": y})
    return {"curves": curves} if curves else None


def network(src: Source) -> dict[str, Any] | None:
    """Bus coordinates and branches of the run's network (from its scenario's network name)."""
    net = src.run.network()
    if net is None:
        return None
    xy = {}
    for idx, geo in net.bus["geo"].items() if "geo" in net.bus else []:
        try:
            coords = json.loads(geo)["coordinates"]
            xy[int(idx)] = (float(coords[0]), float(coords[1]))
        except (TypeError, ValueError, KeyError):
            continue
    names = src.run.bus_names()
    branches = [
        ("line", int(i), int(a), int(b))
        for i, a, b in zip(net.line.index, net.line["from_bus"], net.line["to_bus"], strict=True)
    ] + [
        ("trafo", int(i), int(a), int(b))
        for i, a, b in zip(net.trafo.index, net.trafo["hv_bus"], net.trafo["lv_bus"], strict=True)
    ]
    return {
        "bus": [int(i) for i in net.bus.index],
        "bus_name": [names[int(i)] for i in net.bus.index],
        "x": [xy.get(int(i), (None, None))[0] for i in net.bus.index],
        "y": [xy.get(int(i), (None, None))[1] for i in net.bus.index],
        "branches": branches,
        "has_coordinates": len(xy) == len(net.bus),
    }


def grid_map(src: Source) -> dict[str, Any] | None:
    """The network map: buses (min and max voltage over the run) and lines (max loading)."""
    net = network(src)
    if net is None or not net["has_coordinates"]:
        return None
    out: dict[str, Any] = {k: net[k] for k in ("bus", "bus_name", "x", "y")}
    buses = src.table("buses", ["slot", "bus", "vm_pu"])  # the heat map's columns: one read
    if buses is not None:
        stats = buses.groupby("bus")["vm_pu"].agg(["min", "max"]).reindex(net["bus"])
        out["vm_min_pu"] = stats["min"].to_numpy()
        out["vm_max_pu"] = stats["max"].to_numpy()
    loading: dict[tuple[str, int], float] = {}
    for table, key in (("lines", "line"), ("trafos", "trafo")):
        frame = src.table(table, ["slot", key, "loading_percent"])
        if frame is not None:
            for i, v in frame.groupby(key)["loading_percent"].max().items():
                loading[(key, int(str(i)))] = float(v)
    xs = dict(zip(net["bus"], net["x"], strict=True))
    ys = dict(zip(net["bus"], net["y"], strict=True))
    out["branches"] = [
        {
            "kind": kind,
            "index": index,
            "x": [xs[a], xs[b]],
            "y": [ys[a], ys[b]],
            "loading_max_percent": loading.get((kind, index)),
        }
        for kind, index, a, b in net["branches"]
    ]
    return out


_MARKET_ENERGY = ("traded_kwh", "import_kwh", "export_kwh", "load_kwh", "pv_kwh", "losses_kwh")


def market(src: Source, freq: str = "auto") -> dict[str, Any] | None:
    """Prices and energies per time bucket: volume-weighted price, energy sums, P2P share.

    Whatever of it the role's ``slots`` holds: the grid operator, for example, has the
    substation's import and export but no market prices (``price`` is then None).
    """
    times = src.times()
    have = src.run.columns("slots")
    energy = [c for c in _MARKET_ENERGY if c in have]
    priced = "clearing_price" in have and "traded_kwh" in have
    slots = src.table("slots", [*energy, *(["clearing_price"] if priced else [])])
    if times is None or slots is None or len(slots) != len(times) or not (energy or priced):
        return None
    rule = bucket_rule(len(times), _slot_minutes(src, times), freq)
    frame = slots.assign(bucket=bucket_starts(times["time"], rule).to_numpy())
    agg: dict[str, str] = dict.fromkeys(energy, "sum")
    if priced:
        price = slots["clearing_price"].to_numpy(dtype=float)
        traded = slots["traded_kwh"].to_numpy(dtype=float)
        has = np.isfinite(price)
        frame = frame.assign(
            value=np.where(has, price * traded, 0.0),
            volume=np.where(has, traded, 0.0),
            price_min=np.where(has, price, np.nan),
            price_max=np.where(has, price, np.nan),
        )
        agg.update(value="sum", volume="sum", price_min="min", price_max="max")
        agg["clearing_price"] = "mean"
    grouped = frame.groupby("bucket", sort=True).agg(agg)
    out: dict[str, Any] = {
        "bucket": rule,
        "tz": src.tz_label(),
        "currency": currency(src),
        "time": _iso(grouped.index),
        "price": None,
        "energy": {col: grouped[col].to_numpy() for col in energy},
        "p2p_share_of_load": None,
    }
    if priced:
        with np.errstate(invalid="ignore", divide="ignore"):
            vwap = np.where(grouped["volume"] > 0, grouped["value"] / grouped["volume"], np.nan)
        market_cfg = src.scenario().get("market") or {}
        out.update(
            price=vwap if rule != "slot" else grouped["clearing_price"].to_numpy(),
            price_min=grouped["price_min"].to_numpy(),
            price_max=grouped["price_max"].to_numpy(),
            retail_price=market_cfg.get("retail_price"),
            feed_in_tariff=market_cfg.get("feed_in_tariff"),
        )
    if "load_kwh" in grouped and "traded_kwh" in grouped:
        with np.errstate(invalid="ignore", divide="ignore"):
            out["p2p_share_of_load"] = np.where(
                grouped["load_kwh"] > 0, grouped["traded_kwh"] / grouped["load_kwh"], np.nan
            )
    return out


def currency(src: Source) -> str:
    """The label of money amounts (``cosim serve --currency``)."""
    return src.currency


def settlement(src: Source) -> dict[str, Any]:
    """Bills per model and participant, supplier profits, pot per model, rejected payloads."""
    out: dict[str, Any] = {"currency": currency(src)}
    bills = src.table("bills", ["participant", "model", "amount"])
    if bills is not None and not bills.empty:
        models = list(dict.fromkeys(bills["model"]))
        wide = bills.pivot(index="participant", columns="model", values="amount")[models]
        out["bills"] = {
            "participant": [int(p) for p in wide.index],
            "models": models,
            "amount": {m: wide[m].to_numpy() for m in models},
        }
    else:
        out["bills"] = None
    sup = src.table("suppliers", ["supplier", "model", "profit", "energy_kwh"])
    if sup is not None and not sup.empty:
        models = list(dict.fromkeys(sup["model"]))
        wide = sup.pivot(index="supplier", columns="model", values="profit")[models]
        energy = sup.pivot(index="supplier", columns="model", values="energy_kwh")[models]
        out["suppliers"] = {
            "supplier": [int(s) for s in wide.index],
            "models": models,
            "profit": {m: wide[m].to_numpy() for m in models},
            "energy_kwh": {m: energy[m].to_numpy() for m in models},
        }
    else:
        out["suppliers"] = None
    models_summary = (src.summary().get("settlement") or {}).get("models")
    out["pot"] = (
        {m: v.get("pot") for m, v in models_summary.items() if isinstance(v, dict)}
        if isinstance(models_summary, dict) and src.role.kind == RESEARCHER
        else None
    )
    # role views of an encrypted settlement: a supplier's per-slot balances, the grid
    # operator's per-slot pots
    out["balances"] = _model_series(src, "balances", "money", "auto")
    out["pots"] = _model_series(src, "pots", "pot", "auto")
    rejected = src.table("rejected_payloads", ["participant", "slot", "reason"])
    out["rejected"] = (
        None
        if rejected is None
        else {
            "count": len(rejected),
            "by_reason": rejected["reason"].astype(str).value_counts().to_dict(),
            "rows": rejected.head(200).to_dict(orient="list"),
        }
    )
    return out


_SERIES = ("load_kwh", "pv_kwh", "battery_kwh", "net_kwh", "committed_kwh", "deviation_kwh")


def _participant_frame(src: Source) -> pd.DataFrame | None:
    cols = [c for c in _SERIES if c in src.run.columns("participants")]
    return src.table("participants", ["slot", "participant", *cols])


def participants_list(src: Source) -> list[int] | None:
    """Participants whose time series the role may read (None: no household series at all)."""
    frame = _participant_frame(src)
    return None if frame is None else sorted(int(p) for p in frame["participant"].unique())


def _per_bucket(src: Source, frame: pd.DataFrame, freq: str) -> tuple[pd.DataFrame, str]:
    """``frame`` (with ``slot``) plus a ``bucket`` column: the start time of its slot's
    bucket, or the slot number itself when the role's view has no times at all."""
    times = src.times()
    if times is None:
        return frame.assign(bucket=frame["slot"].to_numpy()), "slot"
    rule = bucket_rule(len(times), _slot_minutes(src, times), freq)
    start = pd.Series(bucket_starts(times["time"], rule).to_numpy(), index=times["slot"].to_numpy())
    return frame.assign(bucket=start.reindex(frame["slot"].to_numpy()).to_numpy()), rule


def _axis(src: Source, index: pd.Index) -> dict[str, Any]:
    """``time`` labels and ``tz`` of bucket starts (or slot numbers: ``tz`` None)."""
    if pd.api.types.is_datetime64_any_dtype(index):
        return {"time": _iso(index), "tz": src.tz_label()}
    return {"time": [int(v) for v in index], "tz": None}


def participant_series(src: Source, participant: int, freq: str = "auto") -> dict[str, Any] | None:
    """One participant's energies over time (sums per bucket) [kWh]."""
    frame = _participant_frame(src)
    if frame is None:
        return None
    cols = [c for c in frame.columns if c in _SERIES]
    frame = frame[frame["participant"] == participant]
    if frame.empty:
        return None
    frame, rule = _per_bucket(src, frame, freq)
    grouped = frame.groupby("bucket", sort=True)[cols].sum()
    return {
        "participant": participant,
        "bucket": rule,
        **_axis(src, grouped.index),
        "series": {c: grouped[c].to_numpy() for c in cols},
    }


def aggregates(src: Source, freq: str = "auto") -> dict[str, Any] | None:
    """Group aggregates (``aggregates.csv``: slot, group, members, net_kwh) per bucket [kWh]."""
    frame = src.table("aggregates", ["slot", "group", "members", "net_kwh"])
    if frame is None or frame.empty:
        return None
    frame, rule = _per_bucket(src, frame, freq)
    wide = frame.pivot_table(index="bucket", columns="group", values="net_kwh", aggfunc="sum")
    members = frame.groupby("group")["members"].min()
    return {
        "bucket": rule,
        **_axis(src, wide.index),
        "groups": [str(g) for g in wide.columns],
        "members": [int(members[g]) for g in wide.columns],
        "net_kwh": {str(g): wide[g].to_numpy() for g in wide.columns},
        "k": src.k,
    }


def _model_series(src: Source, table: str, value: str, freq: str) -> dict[str, Any] | None:
    """Sums of ``value`` per time bucket and billing model from ``table`` (slot, model, value)."""
    frame = src.table(table, ["slot", "model", value])
    if frame is None or frame.empty:
        return None
    frame, rule = _per_bucket(src, frame, freq)
    wide = frame.pivot_table(index="bucket", columns="model", values=value, aggfunc="sum")
    models = [m for m in dict.fromkeys(frame["model"]) if m in wide.columns]
    return {
        "bucket": rule,
        **_axis(src, wide.index),
        "models": models,
        "values": {str(m): wide[m].to_numpy() for m in models},
    }


def run_metrics(src: Source) -> dict[str, Any]:
    """Headline metrics of a run for side-by-side comparison (None where not available)."""
    out: dict[str, Any] = {}
    cols = [
        c
        for c in ("load_kwh", "pv_kwh", "import_kwh", "export_kwh", "losses_kwh", "traded_kwh")
        if c in src.run.columns("slots")
    ]
    slots = src.table("slots", cols) if cols else None
    if slots is not None:
        out.update({c: float(slots[c].sum()) for c in cols})
        load = out.get("load_kwh")
        if load and "import_kwh" in out:
            out["self_sufficiency"] = 1.0 - out["import_kwh"] / (load + out.get("losses_kwh", 0.0))
        if load and "traded_kwh" in out:
            out["p2p_share_of_load"] = out["traded_kwh"] / load
    band = src.table("slots", ["vm_min_pu", "vm_max_pu", "loading_max_percent"])
    if band is not None:
        out["vm_min_pu"] = float(band["vm_min_pu"].min())
        out["vm_max_pu"] = float(band["vm_max_pu"].max())
        out["line_loading_max_percent"] = float(band["loading_max_percent"].max())
    price = src.table("slots", ["clearing_price", "traded_kwh"])
    if price is not None:
        p = price["clearing_price"].to_numpy(dtype=float)
        v = price["traded_kwh"].to_numpy(dtype=float)
        has = np.isfinite(p) & (v > 0)
        out["clearing_price_vwap"] = (
            float((p[has] * v[has]).sum() / v[has].sum()) if has.any() else None
        )
    bills = src.table("bills", ["model", "amount"])
    if bills is not None:
        for model, group in bills.groupby("model", sort=False):
            out[f"mean_bill_{model}"] = float(group["amount"].mean())
    sup = src.table("suppliers", ["model", "profit"])
    if sup is not None:
        for model, group in sup.groupby("model", sort=False):
            out[f"supplier_profit_{model}"] = float(group["profit"].sum())
    return out


def sweep(run: RunDir, x: str | None = None, currency: str = "currency") -> dict[str, Any]:
    """Every numeric ``sweep.csv`` metric against a varied key: median and min-max spread.

    The x axis is ``x``, else PV penetration when varied, else the first varied key; the
    spread is over the runs sharing an x value (the other keys, typically seeds). Known
    metrics are titled with their unit (shares in %) and come first.

    Raises
    ------
    ValueError
        If ``x`` is not a varied key of the sweep.
    """
    table = run.sweep()
    keys = run.sweep_keys()
    done = table[table["status"] == "completed"]
    pv = "participants.pv_penetration"
    if x is not None and x not in keys:
        raise ValueError(f"x: expected a varied key ({', '.join(keys)}), got {x!r}")
    xkey = x if x is not None else pv if pv in keys else (keys[0] if keys else None)
    skip = {*keys, "run_dir", "status", "error", "reused", "hash"}
    metrics = [
        c
        for c in done.columns
        if c not in skip and pd.api.types.is_numeric_dtype(done[c]) and done[c].notna().any()
    ]
    out: dict[str, Any] = {
        "keys": keys,
        "x": xkey,
        "runs": len(table),
        "completed": len(done),
        "metrics": {},
    }
    if xkey is None or done.empty:
        return out
    numeric = pd.api.types.is_numeric_dtype(done[xkey]) and not pd.api.types.is_bool_dtype(
        done[xkey]
    )
    labels = _metric_labels(currency)
    metrics.sort(key=lambda m: list(labels).index(m) if m in labels else len(labels))
    for metric in metrics:
        label, scale = labels.get(metric, (_model_label(metric, currency), 1.0))
        stats = done.groupby(xkey, sort=numeric)[metric].agg(["median", "min", "max", "count"])
        out["metrics"][metric] = {
            "label": label,
            "x": [json_safe(v) if numeric else str(v) for v in stats.index],
            "median": stats["median"].to_numpy(dtype=float) * scale,
            "min": stats["min"].to_numpy(dtype=float) * scale,
            "max": stats["max"].to_numpy(dtype=float) * scale,
            "count": stats["count"].to_numpy(),
        }
    return out


def _metric_labels(currency: str) -> dict[str, tuple[str, float]]:
    """sweep.csv metric -> (title with unit, scale), in the figures' order."""
    from cosim.plots.sweep import SWEEP_METRICS

    return {
        name: (f"{label} [{unit.replace('currency', currency)}]", scale)
        for name, (label, unit, scale, _) in SWEEP_METRICS.items()
    }


def _model_label(metric: str, currency: str) -> str:
    for prefix, label in (
        ("supplier_profit_", "Supplier profit"),
        ("mean_bill_", "Mean bill"),
        ("total_bills_", "Total bills"),
    ):
        if metric.startswith(prefix):
            return f"{label}, {metric.removeprefix(prefix)} [{currency}]"
    return metric
