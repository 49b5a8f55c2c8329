"""Network check wired into the run: export caps, executed trades, AC limits afterwards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cosim.cli import main
from cosim.market.auction import clear
from cosim.market.export_limits import apply_fractions
from cosim.market.orders import OrderBook

ROOT = Path(__file__).resolve().parents[1]
STRESS = ROOT / "scenarios" / "stress_village.yaml"
#: the morning of 2016-06-22: the unchecked market overloads a derated feeder here
WINDOW = ["time.start=2016-06-22T08:00:00+00:00", "time.slots=8", "grid.backend=lightsim2grid"]


def run(tmp_path: Path, check: str) -> pd.DataFrame:
    out = tmp_path / check
    args = [
        "run",
        str(STRESS),
        "--out",
        str(out),
        "--quiet",
        "--set",
        f"market.network_check={check}",
    ]
    assert main([*args, *[x for w in WINDOW for x in ("--set", w)]]) == 0
    return out


def violations(out: Path) -> pd.Series:
    slots = pd.read_csv(out / "slots.csv")
    buses = pd.read_csv(out / "buses.csv")
    vm = buses.groupby("slot")["vm_pu"]
    return (
        (slots["loading_max_percent"] > 100)
        | (slots["trafo_loading_max_percent"] > 100)
        | (vm.max().to_numpy() > 1.05)
        | (vm.min().to_numpy() < 0.95)
    )


@pytest.mark.parametrize("check", ["lindistflow", "dc"])
def test_check_removes_violations_the_unchecked_market_has(tmp_path: Path, check: str) -> None:
    unchecked = run(tmp_path, "none")
    assert violations(unchecked).sum() >= 3  # the stress case really stresses the grid
    checked = run(tmp_path, check)
    assert violations(checked).sum() == 0
    slots = pd.read_csv(checked / "slots.csv")
    parts = pd.read_csv(checked / "participants.csv")
    assert slots["pv_curtailed_kwh"].sum() > 0
    assert (slots["p2p_executable_kwh"] <= slots["p2p_requested_kwh"] + 1e-12).all()
    assert np.allclose(slots["p2p_executable_kwh"], slots["traded_kwh"])
    # only sellers are curtailed, never more than they export, and the energy identity holds
    curtailed = parts[parts["pv_curtailed_kwh"] > 0]
    assert set(curtailed["side"]) == {"sell"}
    assert np.allclose(parts["net_kwh"], parts["load_kwh"] - parts["pv_kwh"] + parts["battery_kwh"])
    assert set(slots["network_check_status"]) <= {"optimal", "unconstrained", "no_trades"}


def test_unchecked_run_records_no_curtailment(tmp_path: Path) -> None:
    slots = pd.read_csv(run(tmp_path, "none") / "slots.csv")
    assert (slots["pv_curtailed_kwh"] == 0).all()
    assert (slots["network_check_status"] == "none").all()
    assert np.allclose(slots["p2p_requested_kwh"], slots["p2p_executable_kwh"])


def test_apply_fractions_rebuilds_fills_and_prices() -> None:
    # buyers 0 (2 kWh at 0.30) and 1 (1 kWh at 0.25); seller 2 (3 kWh at 0.10)
    book = OrderBook(
        participant=[0, 1, 2],
        side=[1, 1, -1],
        energy_kwh=[2.0, 1.0, 3.0],
        limit_price=[0.3, 0.25, 0.1],
    )
    for mechanism in ("pay_as_clear", "pay_as_bid"):
        result = clear(book, mechanism)
        half = apply_fractions(result, book, np.array([0.5, 0.0]))
        assert half.filled_kwh.tolist() == [1.0, 0.0, 1.0]
        assert half.traded_kwh == 1.0
        assert np.isnan(half.avg_price[1])
        assert half.avg_price[0] == half.avg_price[2] == result.trades.price[0]
        none = apply_fractions(result, book, np.zeros(2))
        assert none.traded_kwh == 0 and np.isnan(none.clearing_price) and len(none.trades) == 0


def test_unconstrained_check_caps_nobody() -> None:
    """A seller exporting more than forecast is not curtailed when no limit binds."""
    import pandapower.networks as pn

    from cosim.grid.linear import LinearGridModel
    from cosim.market.auction import Trades
    from cosim.market.export_limits import limit_exports

    net = pn.create_cigre_network_lv()
    model = LinearGridModel.from_pandapower(net, "lindistflow")
    bus = np.array([12, 16, 17, 18], dtype=np.int64)
    side = np.array([-1, -1, 1, 1], dtype=np.int8)
    forecast = np.array([-0.5, -0.4, 0.3, 0.2])
    trades = Trades(
        buyer=np.array([2, 3]),
        seller=np.array([0, 1]),
        energy_kwh=np.array([0.3, 0.2]),
        price=np.array([0.2, 0.2]),
    )
    d = limit_exports(
        model, 0, bus, side, forecast, np.zeros(4), trades, 0.5, 0.95, 1.05, 0.04, 0.005
    )
    assert np.all(np.isinf(d.export_cap_kwh))
    assert np.all(d.trade_fraction == 1.0)
    # derate everything to nothing: now the sellers are held back and capped
    tight = LinearGridModel.from_pandapower(derate_all(net), "lindistflow")
    d = limit_exports(
        tight, 0, bus, side, forecast, np.zeros(4), trades, 0.5, 0.95, 1.05, 0.04, 0.005
    )
    assert np.all(np.isfinite(d.export_cap_kwh[:2])) and np.all(np.isinf(d.export_cap_kwh[2:]))
    assert np.all(d.export_cap_kwh[:2] < -forecast[:2])


def derate_all(net):  # type: ignore[no-untyped-def]
    from cosim.grid.linear import derate

    return derate(net, 1e-4, 1e-4)
