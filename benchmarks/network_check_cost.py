"""Network check of P2P trades: its cost per slot, and the accuracy of its linear models.

Usage::

    python benchmarks/network_check_cost.py                  # cost per slot (village), ~1 min
    python benchmarks/network_check_cost.py --accuracy       # linear models vs AC, ~2-3 min
    python benchmarks/network_check_cost.py --accuracy --samples 100   # a quick look

**Cost** (default): the stress village (``scenarios/stress_village.yaml``: village, half of
the households with 10 kWp, summer; lines derated to 25 % and the transformer to 50 %,
``--line-factor`` / ``--trafo-factor``). For ``--slots`` random
daytime slots the script forms the orders and clears the auction with the engine's own
market step (the run's battery strategy and :class:`cosim.engine.processes.Market`), builds
the base case (forecast net position minus the P2P part) and times, per slot,
:func:`check_trades` with the ``dc`` and ``lindistflow`` models against one AC power flow
(:meth:`cosim.grid.powerflow.PandapowerFlow.solve`) of the same slot. It also reports the AC
maximum loading with all trades executed and with the checked fractions.

**Accuracy** (``--accuracy``): for both networks and four PV levels (no PV; 50 % of the
participants with 3 kWp; everyone with 5 kWp; everyone with 10 kWp), no batteries, ``--samples``
random half-hour slots of the year each (load and PV of every participant from the built-in
SimBench profiles, reactive load at power factor 0.97), the per-bus injections go to the
linear models and to pandapower's AC Newton-Raphson with the adapter's options
(:data:`cosim.grid.powerflow.RUNPP_OPTIONS`). Printed: max and mean absolute errors of bus
voltages [pu], branch active flows [kW and % of rating] and loading [percentage points].

Nothing is asserted; numbers are machine dependent (cost) or deterministic (accuracy, seeded).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandapower as pp
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cosim.engine.build import build_simulation  # noqa: E402
from cosim.engine.processes import Market  # noqa: E402
from cosim.grid.linear import LinearGridModel, derate  # noqa: E402
from cosim.grid.networks import load_network, prepare_for_participants  # noqa: E402
from cosim.grid.powerflow import RUNPP_OPTIONS, PandapowerFlow  # noqa: E402
from cosim.market.network_check import check_trades  # noqa: E402
from cosim.scenario import Scenario, scenario_from_mapping  # noqa: E402

PV_LEVELS: tuple[tuple[str, float, float], ...] = (
    ("no PV", 0.0, 3.0),
    ("50 % x 3 kWp", 0.5, 3.0),
    ("100 % x 5 kWp", 1.0, 5.0),
    ("100 % x 10 kWp", 1.0, 10.0),
)


# ---------------------------------------------------------------------- AC reference


class _AcFlow:
    """pandapower AC flow with one load per bus and the adapter's runpp options."""

    def __init__(self, net: Any) -> None:
        self.net = prepare_for_participants(net)
        self.bus_ids = self.net.bus.index.to_numpy()
        self.loads = pp.create_loads(self.net, buses=self.bus_ids, p_mw=0.0, q_mvar=0.0)

    def solve(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> dict[str, np.ndarray] | None:
        net = self.net
        net.load.loc[self.loads, "p_mw"] = p_kw / 1000.0
        net.load.loc[self.loads, "q_mvar"] = q_kvar / 1000.0
        try:
            pp.runpp(net, **RUNPP_OPTIONS)
        except pp.LoadflowNotConverged:
            return None
        return {
            "vm_pu": net.res_bus["vm_pu"].to_numpy(),
            "p_kw": np.concatenate(
                [net.res_line["p_from_mw"].to_numpy(), net.res_trafo["p_hv_mw"].to_numpy()]
            )
            * 1000.0,
            "loading": np.concatenate(
                [
                    net.res_line["loading_percent"].to_numpy(),
                    net.res_trafo["loading_percent"].to_numpy(),
                ]
            ),
        }


def _scenario(network: str, pv_penetration: float, pv_kwp: float, start: str, slots: int) -> Any:
    return scenario_from_mapping(
        {
            "name": "accuracy",
            "seed": 3,
            "time": {"start": start, "slots": slots, "slot_minutes": 30},
            "network": {"name": network},
            "participants": {
                "pv_penetration": pv_penetration,
                "pv_kwp": pv_kwp,
                "battery_penetration": 0.0,
            },
            "output": {"chunk_slots": 48},
        }
    )


def accuracy(samples: int, seed: int) -> list[dict[str, Any]]:
    """Error statistics of both linear models against AC, per network and PV level."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for network in ("cigre_lv", "village"):
        net = load_network(network)
        lin = LinearGridModel.from_pandapower(net, "lindistflow")
        dc = LinearGridModel.from_pandapower(net, "dc")
        ac = _AcFlow(net)
        slack = np.isin(lin.bus_ids, net.ext_grid["bus"].to_numpy())
        rating = lin.branch_rating_kva
        for label, pen, kwp in PV_LEVELS:
            sim = build_simulation(_scenario(network, pen, kwp, "2016-01-01T00:00:00+00:00", 17520))
            pop = sim.population
            slots = np.sort(rng.choice(17520, size=samples, replace=False))
            err: dict[str, list[np.ndarray]] = {
                k: [] for k in ("v", "p", "pr", "ll", "ld", "lu", "du")
            }
            failed = 0
            for k in slots:
                load, pv = sim.feed.slot(int(k), 17520)
                p_bus = lin.bus_vector(pop.bus, (load - pv) / 0.5)
                q_bus = lin.bus_vector(pop.bus, load / 0.5 * pop.tan_phi)
                res = ac.solve(p_bus, q_bus)
                if res is None:
                    failed += 1
                    continue
                v = lin.voltages_pu(p_bus, q_bus)
                ok = lin.supplied & ~slack
                err["v"].append(np.abs(v[ok] - res["vm_pu"][ok]))
                p_err = np.abs(lin.flows_kw(p_bus) - res["p_kw"])[lin.branch_active]
                err["p"].append(p_err)
                err["pr"].append(100.0 * p_err / rating[lin.branch_active])
                act = lin.branch_active
                lin_loading = lin.loading_percent(p_bus, q_bus)[act]
                dc_loading = dc.loading_percent(p_bus, q_bus)[act]
                ac_loading = res["loading"][act]
                err["ll"].append(np.abs(lin_loading - ac_loading))
                err["ld"].append(np.abs(dc_loading - ac_loading))
                # Relative underestimate where loading matters (AC loading >= 10 %) [%].
                big = ac_loading >= 10.0
                err["lu"].append(100.0 * (ac_loading[big] - lin_loading[big]) / ac_loading[big])
                err["du"].append(100.0 * (ac_loading[big] - dc_loading[big]) / ac_loading[big])
            cat = {
                k: np.concatenate(v) if sum(a.size for a in v) else np.full(1, np.nan)
                for k, v in err.items()
            }
            rows.append(
                {
                    "network": network,
                    "pv": label,
                    "slots": int(samples - failed),
                    **{f"{k}_max": float(v.max()) for k, v in cat.items()},
                    **{f"{k}_mean": float(v.mean()) for k, v in cat.items()},
                }
            )
    return rows


def print_accuracy(rows: list[dict[str, Any]]) -> None:
    print(
        "| network | PV | slots | V err max / mean [pu] | P err max / mean [kW] "
        "| P err max / mean [% of rating] | loading err LinDistFlow max / mean [pp] "
        "| loading err DC max / mean [pp] | loading under-estimate LinDistFlow / DC, max [%] |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['network']} | {r['pv']} | {r['slots']} "
            f"| {r['v_max']:.5f} / {r['v_mean']:.5f} "
            f"| {r['p_max']:.2f} / {r['p_mean']:.3f} "
            f"| {r['pr_max']:.2f} / {r['pr_mean']:.3f} "
            f"| {r['ll_max']:.2f} / {r['ll_mean']:.3f} "
            f"| {r['ld_max']:.2f} / {r['ld_mean']:.3f} "
            f"| {r['lu_max']:.2f} / {r['du_max']:.2f} |"
        )


# ---------------------------------------------------------------------- cost


def slot_case(sim: Any, k: int, slots: int) -> dict[str, np.ndarray]:
    """Orders, trades and base injections of slot ``k``, from the engine's own market step.

    The orders come from the run's battery strategy at the initial state of charge; the trades
    from :meth:`cosim.engine.processes.Market.clear` of a market without a network check (the
    check is what this benchmark times).
    """
    pop = sim.population
    slot_h = sim.scenario.time.slot_hours
    load, pv = sim.feed.slot(k, slots)
    orders, _, _ = sim.strategy.plan_orders(
        k, load, pv, pop.soc_initial_kwh, sim.streams["forecast"], sim.streams["prices"]
    )
    market = Market(sim.market.mechanism, pop.bus, pop.tan_phi, slot_h)
    trades = market.clear(orders, load)[0].trades
    # P2P part of each participant's forecast net import: + bought, - sold.
    p2p_kwh = np.bincount(trades.buyer, trades.energy_kwh, pop.n) - np.bincount(
        trades.seller, trades.energy_kwh, pop.n
    )
    return {
        "seller_bus": pop.bus[trades.seller],
        "buyer_bus": pop.bus[trades.buyer],
        "seller": trades.seller,
        "buyer": trades.buyer,
        "energy_kwh": trades.energy_kwh,
        "base_kwh": orders.forecast_net_kwh - p2p_kwh,
        "q_kvar": load / slot_h * pop.tan_phi,
    }


def read_stress_scenario(
    path: Path, line_factor: float | None, trafo_factor: float | None
) -> tuple[Scenario, float, float]:
    """The scenario without the keys the schema may not know yet, and the rating factors.

    ``market.network_check`` (other than ``none``) and ``grid.line_rating_factor`` /
    ``grid.trafo_rating_factor`` are proposed keys; they are taken out here so that the current
    schema validates the rest. A factor given on the command line wins over the file's; without
    either, 0.25 (lines) and 0.5 (transformer) are used.
    """
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    grid = data.setdefault("grid", {})
    file_line = grid.pop("line_rating_factor", None)
    file_trafo = grid.pop("trafo_rating_factor", None)
    if line_factor is None:
        line_factor = float(file_line) if file_line is not None else 0.25
    if trafo_factor is None:
        trafo_factor = float(file_trafo) if file_trafo is not None else 0.5
    market = data.get("market", {})
    if market.get("network_check", "none") != "none":
        market.pop("network_check")
    return scenario_from_mapping(data, path), line_factor, trafo_factor


def cost(
    slots: int,
    seed: int,
    scenario_path: Path,
    line_factor: float | None = None,
    trafo_factor: float | None = None,
) -> None:
    """Print the network check's cost per slot against one AC power flow."""
    sc, line_factor, trafo_factor = read_stress_scenario(scenario_path, line_factor, trafo_factor)
    sim = build_simulation(sc)
    pop = sim.population
    slot_h = sc.time.slot_hours
    net = derate(load_network(sc.network.name), line_factor, trafo_factor)
    flow = PandapowerFlow(net, pop.bus)
    t0 = time.perf_counter()
    models = {kind: LinearGridModel.from_pandapower(net, kind) for kind in ("dc", "lindistflow")}
    build_ms = (time.perf_counter() - t0) * 1000.0 / 2
    rng = np.random.default_rng(seed)
    day = np.flatnonzero(
        (np.arange(sc.time.slots) % 48 >= 18) & (np.arange(sc.time.slots) % 48 < 36)
    )
    picks = np.sort(rng.choice(day, size=min(slots, day.size), replace=False))
    times: dict[str, list[float]] = {"dc": [], "lindistflow": [], "ac": []}
    n_trades: list[int] = []
    share: dict[str, list[float]] = {"dc": [], "lindistflow": []}
    ac_max: dict[str, list[float]] = {
        "none (base case only)": [],
        "all (no check)": [],
        "dc": [],
        "lindistflow": [],
    }
    flow.solve(np.zeros(pop.n), np.zeros(pop.n))  # numba compile, not timed
    for k in picks:
        case = slot_case(sim, int(k), sc.time.slots)
        n_trades.append(case["energy_kwh"].size)
        base_p = models["dc"].bus_vector(pop.bus, case["base_kwh"] / slot_h)
        base_q = models["dc"].bus_vector(pop.bus, case["q_kvar"])
        m = case["energy_kwh"].size
        fractions = {"none (base case only)": np.zeros(m), "all (no check)": np.ones(m)}
        for kind, model in models.items():
            t = time.perf_counter()
            res = check_trades(
                model,
                case["seller_bus"],
                case["buyer_bus"],
                case["energy_kwh"],
                base_p,
                base_q,
                slot_h,
                sc.grid.v_min_pu,
                sc.grid.v_max_pu,
            )
            times[kind].append(time.perf_counter() - t)
            fractions[kind] = res.fraction
            if res.requested_kwh > 0:
                share[kind].append(res.executable_kwh / res.requested_kwh)
        for label, x in fractions.items():
            executed = x * case["energy_kwh"]
            p2p = np.bincount(case["buyer"], executed, pop.n) - np.bincount(
                case["seller"], executed, pop.n
            )
            t = time.perf_counter()
            res_ac = flow.solve(case["base_kwh"] / slot_h + p2p / slot_h, case["q_kvar"])
            if label == "all (no check)":
                times["ac"].append(time.perf_counter() - t)
            if res_ac.converged:
                ac_max[label].append(
                    float(
                        max(res_ac.line_loading_percent.max(), res_ac.trafo_loading_percent.max())
                    )
                )
    print(
        f"scenario {scenario_path.name}: {picks.size} daytime slots, {sc.network.name}, "
        f"line ratings x {line_factor}, transformer ratings x {trafo_factor}"
    )
    print(f"model build: {build_ms:.1f} ms per model (once per run)")
    print(f"trades per slot: median {np.median(n_trades):.0f}, max {max(n_trades)}")
    print()
    print("| step | median [ms] | mean [ms] | p95 [ms] | vs AC flow (median) |")
    print("|---|---|---|---|---|")
    ac_med = float(np.median(times["ac"]))
    for label, key in (
        ("check_trades dc", "dc"),
        ("check_trades lindistflow", "lindistflow"),
        ("AC power flow (PandapowerFlow.solve)", "ac"),
    ):
        t_ms = np.array(times[key]) * 1000.0
        print(
            f"| {label} | {np.median(t_ms):.2f} | {t_ms.mean():.2f} "
            f"| {np.percentile(t_ms, 95):.2f} | {np.median(t_ms) / (ac_med * 1000.0):.2f} |"
        )
    print()
    print(
        "| trades executed | share of requested energy (mean) | AC max loading % (max over slots) "
        "| slots with AC loading > 100 % |"
    )
    print("|---|---|---|---|")
    for label, values in ac_max.items():
        arr = np.array(values)
        sh = (
            f"{np.mean(share[label]):.3f}"
            if label in share
            else ("1.000" if "all" in label else "0")
        )
        print(f"| {label} | {sh} | {arr.max():.1f} | {int((arr > 100.0).sum())} of {arr.size} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--accuracy", action="store_true", help="linear models vs AC")
    parser.add_argument("--samples", type=int, default=500, help="slots per network and PV level")
    parser.add_argument("--slots", type=int, default=200, help="slots timed (cost mode)")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "stress_village.yaml")
    parser.add_argument("--line-factor", type=float, default=None, help="line rating factor")
    parser.add_argument("--trafo-factor", type=float, default=None, help="trafo rating factor")
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        if args.accuracy:
            print_accuracy(accuracy(args.samples, args.seed))
        else:
            cost(args.slots, args.seed, args.scenario, args.line_factor, args.trafo_factor)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
