"""Derive cosim's built-in ``district`` network (``cosim/grid/data/district.json``).

Source
------
pandapower's synthetic LV feeders,
:func:`pandapower.networks.create_synthetic_voltage_control_lv_network` (Lindner, Aigner,
Witzmann, Wirtz, Berting, Kuck, Mühlenhoff: "Aktuelle Musternetze zur Untersuchung von
Spannungsproblemen in der Niederspannung", 14. Symposium Energieinnovation, TU Graz, 2016).
Each of its five network classes is one 20/0.4 kV transformer with its LV cables and household
loads:

=========  =====  =====  ======  ===========
class      buses  lines  loads   transformer
=========  =====  =====  ======  ===========
rural_1       26     24      14  0.16 MVA Yzn5
rural_2       18     16      11  0.25 MVA Yzn5
village_1     80     78      47  0.25 MVA Yzn5
village_2     74     72      36  0.40 MVA Dyn5
suburb_1     204    202     109  0.40 MVA Dyn5
=========  =====  =====  ======  ===========

What it builds
--------------
One 20 kV busbar with the external grid (the MV side of a primary substation, taken as stiff)
and ``--groups`` copies of the five classes below it (default 24: 120 LV networks), each LV
network's transformer connected to that busbar; every LV bus, line, load and PV unit of each
copy is kept as pandapower made it. Every load gets ``cosim_kind = "household"`` (one
household per load, as for the built-in ``village``): 217 households per group, 5,208 with the
default. Bus, line, transformer and load names get the prefix ``f<k>/`` (``k`` the copy, 0..),
e.g. ``f17/village_1/...``; indices are consecutive. The network's own loads and PV units are
kept in the file (cosim switches them off and attaches its participants to the loads' buses).

The network is deterministic (no randomness: pandapower builds the same feeders each time).
Empty tables are dropped from the JSON to keep the file small; ``pandapower.from_json``
recreates them.

Usage
-----
``python scripts/derive_district.py [--groups 24] [--out cosim/grid/data/district.json]``.
``benchmarks/scale_curve.py`` calls it with ``--classes village_1 --groups K`` (K copies of the
village feeder, 47 households each) for its participants-vs-time curve.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import pandapower as pp
import pandapower.networks as pn
import pandas as pd

CLASSES: tuple[str, ...] = ("rural_1", "rural_2", "village_1", "village_2", "suburb_1")
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "cosim" / "grid" / "data" / "district.json"
MV_KV = 20.0


def feeder(network_class: str) -> pp.pandapowerNet:
    """One of pandapower's synthetic LV networks (its MV bus and ext_grid included)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandapower's own deprecation warnings
        return pn.create_synthetic_voltage_control_lv_network(network_class=network_class)


def build_district(groups: int, classes: tuple[str, ...] = CLASSES) -> pp.pandapowerNet:
    """The district: ``groups`` copies of ``classes`` (default: all five) under one 20 kV bus."""
    if groups < 1 or not classes:
        raise ValueError("groups must be >= 1 and classes not empty")
    net = pp.create_empty_network(name=f"district of {groups * len(classes)} LV networks")
    mv = pp.create_bus(net, vn_kv=MV_KV, name="MV busbar")
    pp.create_ext_grid(net, mv, vm_pu=1.0, name="primary substation")
    frames: dict[str, list[pd.DataFrame]] = {
        t: [] for t in ("bus", "line", "trafo", "load", "sgen")
    }
    next_bus = 1
    copy = 0
    for _ in range(groups):
        for network_class in classes:
            lv = feeder(network_class)
            own_mv = int(lv.ext_grid["bus"].iloc[0])
            lv_buses = lv.bus.index[lv.bus.index != own_mv]
            bus_map = {own_mv: mv} | {int(b): next_bus + i for i, b in enumerate(lv_buses)}
            next_bus += len(lv_buses)
            prefix = f"f{copy}/{network_class}/"
            bus = lv.bus.loc[lv_buses].copy()
            bus.index = [bus_map[int(b)] for b in bus.index]
            frames["bus"].append(_named(bus, prefix))
            for table, columns in (
                ("line", ("from_bus", "to_bus")),
                ("trafo", ("hv_bus", "lv_bus")),
                ("load", ("bus",)),
                ("sgen", ("bus",)),
            ):
                frame = lv[table].copy()
                for col in columns:
                    frame[col] = frame[col].map(bus_map).astype("int64")
                if table == "load":
                    frame["cosim_kind"] = "household"
                frames[table].append(_named(frame, prefix))
            copy += 1
    net.bus = pd.concat([net.bus, *frames["bus"]])
    for table in ("line", "trafo", "load", "sgen"):
        net[table] = pd.concat(frames[table], ignore_index=True)
    for table in ("line", "trafo"):  # geodata is not needed
        if "geo" in net[table].columns:
            net[table]["geo"] = None
    if "geo" in net.bus.columns:
        net.bus["geo"] = None
    return net


def _named(frame: pd.DataFrame, prefix: str) -> pd.DataFrame:
    if "name" in frame.columns:
        frame["name"] = prefix + frame["name"].fillna("").astype(str)
    return frame


def write(net: pp.pandapowerNet, path: Path) -> None:
    """``pandapower.to_json`` without the empty tables and the standard-type library."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pp.to_json(net, str(path))
    doc = json.loads(path.read_text(encoding="utf-8"))
    obj = doc["_object"]
    for key in list(obj):
        value = obj[key]
        if key == "std_types":
            del obj[key]
        elif isinstance(value, dict) and value.get("_module") == "pandas.core.frame":
            content = json.loads(value["_object"])
            if not content.get("data"):
                del obj[key]
    path.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=24, help="copies of the five classes")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--classes", nargs="+", choices=CLASSES, default=list(CLASSES), help="LV networks per group"
    )
    args = parser.parse_args()
    net = build_district(args.groups, tuple(args.classes))
    write(net, args.out)
    size = args.out.stat().st_size / 1e6
    print(
        f"{args.out}: {len(net.bus)} buses, {len(net.line)} lines, {len(net.trafo)} trafos, "
        f"{len(net.load)} loads, {size:.1f} MB"
    )


if __name__ == "__main__":
    main()
