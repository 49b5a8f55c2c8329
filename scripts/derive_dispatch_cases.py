"""Derive the shipped dispatch cases (cosim/dispatch/data/) from their public sources.

Sources (facts and data only; no code is taken from them):

* ``six_bus`` and ``yingkou60``: the data files of the public repository
  aponie0525/A-Dual-Privacy-Framework-for-Decentralized-Energy-Management (Li et al., "A dual-
  privacy framework for decentralized energy management"; the 60-node grid is the Yingkou
  distribution grid of Sun et al., Nature Communications 15, 2024, doi
  10.1038/s41467-024-48860-7): ``demo/data/<case>/network_config.csv`` (lines: from, to,
  R [ohm], X [ohm]), ``des<i>_config.json`` (devices per node), ``p_load_data.csv``,
  ``q_load_data.csv``, ``h_load_data.csv``, ``pv_data.csv``, ``wp_data.csv``, ``price.csv``
  (96 quarter-hour rows; every fourth row gives the 24 one-hour steps, as the source does).
  The 60-bus device files name the 6-bus data files; the 60-bus files are used here.
* ``village``: pandapower's synthetic ``village_1`` low-voltage network (Lindner et al.) with
  cosim's built-in SimBench profiles (profiles/): H0 household load profiles scaled to
  4,000 kWh a year and the PV1 profile, on 21 June 2016, hourly means.

Assumptions (also in docs/dispatch.md): 10 kV / 1 MVA bases for the source's cases (its
per-unit voltage drop is ``(R P + X Q) / (1000 kW * 100 ohm)``), lines of 1 km with the
source's R and X and no rating (the source has none: 99 kA, i.e. unlimited); battery power
``E_max / 3`` and start/end energy ``0.3 E_max`` as the source's code effectively uses
(it overwrites the configured ``P_max``); heat stores likewise; the grid sells at half the
buy price; the source's levy on each DES's net export (0.244343 per kWh) is kept. Village:
the transformer's low-voltage bus is the root at 1.0 pu; a battery at every PV bus with
2 kWh per kWp, power half of that, starting and ending half full; the source's time-of-use
price.

Usage::

    python scripts/derive_dispatch_cases.py SNAPSHOT_GIT_DIR

where SNAPSHOT_GIT_DIR is a clone (or bare git directory) of the repository above.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandapower as pp
import pandapower.networks as pn
import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "cosim" / "dispatch" / "data"
EXPORT_LEVY = 0.244343  # des_lib.py: tax on each DES's sold power
STEP = 4  # 96 quarter-hours -> 24 hours (every fourth row)
HUGE_KA = 99.0


def _git_show(git_dir: Path, path: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", f"HEAD:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.lstrip("\ufeff")


def _csv(git_dir: Path, path: str) -> pd.DataFrame:
    text = _git_show(git_dir, path)
    return pd.read_csv(io.StringIO(text)) if text.strip() else pd.DataFrame()


def _column(frame: pd.DataFrame, col: object, factor: float) -> list[float]:
    return [float(v) for v in (frame[str(col)].to_numpy()[::STEP] * factor)]


def _network(edges: list[tuple[int, int, float, float]], n: int, vn_kv: float) -> str:
    net = pp.create_empty_network(sn_mva=1.0)
    for k in range(n):
        pp.create_bus(net, vn_kv=vn_kv, index=k, name=f"node {k}")
    pp.create_ext_grid(net, bus=0, vm_pu=1.0)
    for u, v, r, x in edges:
        pp.create_line_from_parameters(
            net,
            u,
            v,
            length_km=1.0,
            r_ohm_per_km=r,
            x_ohm_per_km=x,
            c_nf_per_km=0.0,
            max_i_ka=HUGE_KA,
            name=f"{u}-{v}",
        )
    return pp.to_json(net)


def derive_source_case(git_dir: Path, case_dir: str, name: str) -> None:
    base = f"demo/data/{case_dir}"
    lines = _csv(git_dir, f"{base}/network_config.csv")
    edges = [(int(r.u), int(r.v), float(r.R), float(r.X)) for r in lines.itertuples()]
    n = 1 + max(max(u, v) for u, v, _, _ in edges)
    files = {
        key: _csv(git_dir, f"{base}/{fname}.csv")
        for key, fname in [
            ("P_load", "p_load_data"),
            ("Q_load", "q_load_data"),
            ("H_load", "h_load_data"),
            ("PV", "pv_data"),
            ("WP", "wp_data"),
            ("price", "price"),
        ]
    }
    devices: list[dict] = []
    for i in range(n):
        cfg = json.loads(_git_show(git_dir, f"{base}/des{i}_config.json"))["devices"]
        p = cfg.get("P_load")
        q = cfg.get("Q_load")
        if p or q:
            rec = {"node": i, "kind": "load", "name": f"load{i}"}
            rec["p_kw"] = (
                _column(files["P_load"], p["index_col"], p["magnification factor"]) if p else 0.0
            )
            rec["q_kvar"] = (
                _column(files["Q_load"], q["index_col"], q["magnification factor"]) if q else 0.0
            )
            devices.append(rec)
        h = cfg.get("H_load")
        if h and h["magnification factor"] != 0:
            devices.append(
                {
                    "node": i,
                    "kind": "heat_load",
                    "name": f"heat{i}",
                    "h_kw_th": _column(files["H_load"], h["index_col"], h["magnification factor"]),
                }
            )
        for key, kind in (("PV", "pv"), ("WP", "wind")):
            if key in cfg:
                c = cfg[key]
                devices.append(
                    {
                        "node": i,
                        "kind": kind,
                        "name": f"{kind}{i}",
                        "p_max_kw": _column(files[key], c["index_col"], c["magnification factor"]),
                        "pf_min": 0.9,
                    }
                )
        if "CHP" in cfg:
            c = cfg["CHP"]
            devices.append(
                {
                    "node": i,
                    "kind": "chp",
                    "name": f"chp{i}",
                    "p_max_kw": float(c["P_max"]),
                    "heat_ratio": float(c["alpha"]),
                    "fuel_price_per_kwh": float(c["gas_p"]),
                }
            )
        if "EH" in cfg:
            c = cfg["EH"]
            devices.append(
                {
                    "node": i,
                    "kind": "electric_heater",
                    "name": f"eh{i}",
                    "p_max_kw": float(c["P_max"]),
                    "efficiency": float(c["eta"]),
                }
            )
        if "EHP" in cfg:
            c = cfg["EHP"]
            devices.append(
                {
                    "node": i,
                    "kind": "heat_pump",
                    "name": f"hp{i}",
                    "p_max_kw": float(c["P_max"]),
                    "cop": float(c["cop"]),
                }
            )
        if "BT" in cfg:
            c = cfg["BT"]
            e = float(c["E_max"])
            devices.append(
                {
                    "node": i,
                    "kind": "battery",
                    "name": f"bat{i}",
                    "e_max_kwh": e,
                    "p_max_kw": e / 3.0,
                    "e_start_kwh": 0.3 * e,
                    "e_end_kwh": 0.3 * e,
                    "eta_charge": float(c["eta_charge"]),
                    "eta_discharge": float(c["eta_discharge"]),
                    "self_loss_per_h": float(c["r_loss"]),
                }
            )
        if "HS" in cfg:
            c = cfg["HS"]
            e = float(c["E_max"])
            devices.append(
                {
                    "node": i,
                    "kind": "heat_storage",
                    "name": f"hs{i}",
                    "e_max_kwh_th": e,
                    "h_max_kw_th": e / 3.0,
                    "e_start_kwh_th": 0.3 * e,
                    "e_end_kwh_th": 0.3 * e,
                    "self_loss_per_h": float(c["r_loss"]),
                }
            )
        if "GI" in cfg:
            c = cfg["GI"]
            buy = _column(files["price"], "price", c["price_buy"]["magnification factor"])
            sell = _column(files["price"], "price", c["price_sell"]["magnification factor"])
            devices.append(
                {
                    "node": i,
                    "kind": "grid",
                    "name": "grid",
                    "buy_price_per_kwh": buy,
                    "sell_price_per_kwh": sell,
                    "p_buy_max_kw": float(c["P_buy_max"]),
                    "p_sell_max_kw": float(c["P_sell_max"]),
                }
            )
    table = {
        "source": "aponie0525/A-Dual-Privacy-Framework-for-Decentralized-Energy-Management, "
        f"demo/data/{case_dir} (derived by scripts/derive_dispatch_cases.py)",
        "steps": 24,
        "step_hours": 1.0,
        "v_min_pu": 0.95,
        "v_max_pu": 1.05,
        "v_root_pu": 1.0,
        "export_levy_per_kwh": EXPORT_LEVY,
        "devices": devices,
    }
    _write(name, _network(edges, n, 10.0), table)


def derive_village() -> None:
    from cosim.participants.profiles import builtin_profiles

    net = pn.create_synthetic_voltage_control_lv_network(network_class="village_1")
    root = int(net.trafo.lv_bus.iloc[0])
    lv = net.bus.index[net.bus.vn_kv < 1.0]
    from pandapower.toolbox import select_subnet

    sub = select_subnet(net, buses=lv)
    sub.ext_grid.drop(sub.ext_grid.index, inplace=True)
    pp.create_ext_grid(sub, bus=root, vm_pu=1.0)
    sub.line["max_i_ka"] = sub.line.max_i_ka.astype(float)
    hh = builtin_profiles("household")
    pv = builtin_profiles("pv")
    day = pd.Timestamp("2016-06-21T00:00:00+00:00")
    k0 = int((day - hh.start) / pd.Timedelta(minutes=hh.step_minutes))
    hourly_h = hh.values[k0 : k0 + 96].reshape(24, 4, -1).mean(axis=1) * 4.0  # 4,000 kWh/a
    hourly_pv = pv.values[k0 : k0 + 96].reshape(24, 4, -1).mean(axis=1)[:, 0]
    devices: list[dict] = []
    for k, (idx, load) in enumerate(sub.load.iterrows()):
        devices.append(
            {
                "node": int(load.bus),
                "kind": "load",
                "name": f"house{idx}",
                "p_kw": [round(float(v), 6) for v in hourly_h[:, k % hourly_h.shape[1]]],
                "q_kvar": [round(float(v) * 0.2, 6) for v in hourly_h[:, k % hourly_h.shape[1]]],
            }
        )
    for idx, sg in sub.sgen.iterrows():
        kwp = float(sg.p_mw) * 1000.0
        devices.append(
            {
                "node": int(sg.bus),
                "kind": "pv",
                "name": f"pv{idx}",
                "p_max_kw": [round(float(v) * kwp, 6) for v in hourly_pv],
                "pf_min": 0.9,
            }
        )
        e = 2.0 * kwp
        devices.append(
            {
                "node": int(sg.bus),
                "kind": "battery",
                "name": f"bat{idx}",
                "e_max_kwh": e,
                "p_max_kw": e / 2.0,
                "e_start_kwh": e / 2.0,
                "e_end_kwh": e / 2.0,
                "eta_charge": 0.95,
                "eta_discharge": 0.95,
                "self_loss_per_h": 0.0,
            }
        )
    price = [0.4] * 6 + [0.7] + [1.1] * 3 + [0.7] * 8 + [1.1] * 3 + [0.4] * 3
    devices.append(
        {
            "node": root,
            "kind": "grid",
            "name": "grid",
            "buy_price_per_kwh": price,
            "sell_price_per_kwh": [0.5 * p for p in price],
        }
    )
    sub.load.drop(sub.load.index, inplace=True)
    sub.sgen.drop(sub.sgen.index, inplace=True)
    table = {
        "source": "pandapower create_synthetic_voltage_control_lv_network('village_1'); cosim "
        "built-in SimBench H0 and PV1 profiles, 2016-06-21 (derived by "
        "scripts/derive_dispatch_cases.py)",
        "steps": 24,
        "step_hours": 1.0,
        "v_min_pu": 0.95,
        "v_max_pu": 1.05,
        "v_root_pu": 1.0,
        "export_levy_per_kwh": 0.0,
        "devices": devices,
    }
    _write("village", pp.to_json(sub), table)


def _write(name: str, net_json: str, table: dict) -> None:
    out = OUT / name
    out.mkdir(parents=True, exist_ok=True)
    (out / "network.json").write_text(net_json)
    (out / "devices.json").write_text(json.dumps(table, indent=1) + "\n")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    git_dir = Path(argv[1])
    derive_source_case(git_dir, "6-bus", "six_bus")
    derive_source_case(git_dir, "60-bus", "yingkou60")
    derive_village()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
