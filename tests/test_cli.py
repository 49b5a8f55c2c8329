"""End to end through the CLI: the tiny scenario, with assertions on the CSV files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cosim.cli import main

CONTRACT = {
    "slots.csv": "slot, time, clearing_price, traded_kwh, import_kwh, export_kwh, vm_min_pu, "
    "vm_max_pu, loading_max_percent, losses_kwh, pf_converged",
    "participants.csv": "slot, participant, bus, supplier, load_kwh, pv_kwh, battery_kwh, soc_kwh, "
    "net_kwh, side, accepted, committed_kwh, delivered_kwh, deviation_kwh",
    "buses.csv": "slot, bus, vm_pu, p_mw",
    "lines.csv": "slot, line, loading_percent",
    "trades.csv": "slot, buyer, seller, energy_kwh, price",
    "bills.csv": "participant, model, amount",
    "suppliers.csv": "supplier, model, profit, energy_kwh",
}
RP, FIT = 0.35, 0.05


def read(run: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(run / name)


@pytest.mark.parametrize(("name", "columns"), CONTRACT.items())
def test_contract_files_and_columns(tiny_run: Path, name: str, columns: str) -> None:
    frame = read(tiny_run, name)
    for col in columns.split(", "):
        assert col in frame.columns, f"{name} lacks {col}"
    assert len(frame) > 0


def test_summary_and_resolved_scenario(tiny_run: Path) -> None:
    summary = json.loads((tiny_run / "summary.json").read_text())
    assert summary["name"] == "tiny" and summary["seed"] == 11 and summary["slots"] == 6
    assert summary["status"] == "completed"
    assert summary["grid"]["failed_power_flows"] == 0
    assert set(summary["settlement"]["models"]) == {"retail", "individual", "social", "universal"}
    for stage in ("power_flow", "clearing", "settlement", "orders", "delivery"):
        assert summary["timings_s"][stage] >= 0
    resolved = yaml.safe_load((tiny_run / "scenario.yaml").read_text())
    assert resolved["time"]["slots"] == 6
    assert resolved["battery"]["capacity_kwh"] == 5.0  # defaults filled in


def test_energy_balance_per_slot(tiny_run: Path) -> None:
    """Participants' metered net equals the grid exchange minus losses.

    Tolerance: pandapower's Newton-Raphson stops when every bus mismatch is below 1e-9 MVA
    (1e-6 kW); over 44 buses that is < 5e-5 kW, i.e. < 3e-5 kWh in a half-hour slot. 1e-4 kWh
    leaves room for float summation and still catches any real leak (a household is ~0.1 kWh).
    """
    slots = read(tiny_run, "slots.csv")
    parts = read(tiny_run, "participants.csv")
    net = parts.groupby("slot")["net_kwh"].sum().to_numpy()
    exchange = (slots["import_kwh"] - slots["export_kwh"]).to_numpy()
    assert np.allclose(net + slots["losses_kwh"].to_numpy(), exchange, atol=1e-4, rtol=0)
    assert (slots["losses_kwh"] > 0).all()


def test_voltages_and_loadings_plausible(tiny_run: Path) -> None:
    buses = read(tiny_run, "buses.csv")
    assert buses["vm_pu"].between(0.9, 1.1).all()
    slots = read(tiny_run, "slots.csv")
    assert (slots["vm_min_pu"] <= slots["vm_max_pu"]).all()
    assert slots["pf_converged"].all()
    assert slots["loading_max_percent"].between(0, 100).all()


def test_market_outcomes(tiny_run: Path) -> None:
    slots = read(tiny_run, "slots.csv")
    trades = read(tiny_run, "trades.csv")
    parts = read(tiny_run, "participants.csv")
    assert trades["price"].between(FIT, RP).all()
    priced = slots["clearing_price"].dropna()
    assert len(priced) > 0 and priced.between(FIT, RP).all()
    assert np.allclose(
        trades.groupby("slot")["energy_kwh"].sum().reindex(slots["slot"], fill_value=0),
        slots["traded_kwh"],
    )
    bought = trades.groupby(["slot", "buyer"])["energy_kwh"].sum()
    sold = trades.groupby(["slot", "seller"])["energy_kwh"].sum()
    committed = parts.set_index(["slot", "participant"])["committed_kwh"]
    assert np.allclose(committed.loc[bought.index], bought)
    assert np.allclose(committed.loc[sold.index], sold)
    assert (trades["buyer"] != trades["seller"]).all()
    assert (
        parts.loc[parts["side"] == "buy"]
        .set_index(["slot", "participant"])
        .index.isin(sold.index)
        .sum()
        == 0
    )


def test_participant_conventions(tiny_run: Path) -> None:
    p = read(tiny_run, "participants.csv")
    assert np.allclose(p["net_kwh"], p["load_kwh"] - p["pv_kwh"] + p["battery_kwh"])
    sign = np.where(p["side"] == "sell", -1.0, 1.0)
    assert np.allclose(p["delivered_kwh"], sign * p["net_kwh"])
    assert np.allclose(p["deviation_kwh"], p["delivered_kwh"] - p["committed_kwh"])
    assert (p.loc[~p["accepted"], "committed_kwh"] == 0).all()
    assert set(p["side"]) <= {"buy", "sell", "none"}
    assert p["accepted"].any() and (p["deviation_kwh"].abs() > 1e-6).any()


def test_bills_against_formulas_from_csv(tiny_run: Path) -> None:
    """Retail and individual bills recomputed from participants.csv and slots.csv.

    Formulas: docs/billing.md (models 1 and 2, after Madhusudan, Zobiri & Mustafa 2022),
    written out independently here.
    """
    p = read(tiny_run, "participants.csv").merge(
        read(tiny_run, "slots.csv")[["slot", "clearing_price"]], on="slot"
    )
    bills = read(tiny_run, "bills.csv").pivot(index="participant", columns="model", values="amount")
    retail = np.where(p["net_kwh"] > 0, p["net_kwh"] * RP, p["net_kwh"] * FIT)
    expected_retail = pd.Series(retail).groupby(p["participant"]).sum()
    assert np.allclose(bills["retail"], expected_retail, atol=1e-9)

    def individual(row: pd.Series) -> float:
        if not row["accepted"]:
            net = row["net_kwh"]
            return net * (RP if net > 0 else FIT)
        c, d, tp = row["committed_kwh"], row["deviation_kwh"], row["clearing_price"]
        if row["side"] == "buy":
            return c * tp + d * (RP if d > 0 else FIT)
        return -(c * tp + d * (FIT if d > 0 else RP))

    expected_ind = p.apply(individual, axis=1).groupby(p["participant"]).sum()
    assert np.allclose(bills["individual"], expected_ind, atol=1e-9)


def test_money_conservation_and_supplier_energy_order(tiny_run: Path) -> None:
    summary = json.loads((tiny_run / "summary.json").read_text())
    for model, m in summary["settlement"]["models"].items():
        assert abs(m["pot"]) < 1e-6, model
        assert m["total_bills"] == pytest.approx(m["supplier_profit"], abs=1e-6)
    slots = read(tiny_run, "slots.csv")
    tol = 1e-9
    assert (
        slots["supplier_energy_kwh_universal"] <= slots["supplier_energy_kwh_social"] + tol
    ).all()
    assert (
        slots["supplier_energy_kwh_social"] <= slots["supplier_energy_kwh_individual"] + tol
    ).all()


def test_same_seed_byte_identical(tiny_scenario: Path, tiny_run: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert main(["run", str(tiny_scenario), "--out", str(again), "--quiet"]) == 0
    for name in [*sorted(p.name for p in tiny_run.glob("*.csv")), "scenario.yaml"]:
        assert (tiny_run / name).read_bytes() == (again / name).read_bytes(), name


def test_other_seed_differs(tiny_scenario: Path, tiny_run: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    assert (
        main(["run", str(tiny_scenario), "--out", str(other), "--quiet", "--set", "seed=12"]) == 0
    )
    assert (tiny_run / "participants.csv").read_bytes() != (other / "participants.csv").read_bytes()


def test_validate_command(tiny_scenario: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tiny_scenario)]) == 0
    assert "valid" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--set", "time.slot_minutes=20"], "time.slot_minutes"),
        (["--set", "network.name=missing.json"], "network.name"),
        (["--set", "participants.load_profiles=nope.csv"], "nope.csv"),
        (["--set", "time.slotz=2"], "time.slotz: unknown key"),
        (["--set", "novalue"], "KEY.PATH=VALUE"),
    ],
)
def test_bad_input_exit_2_one_line(
    tiny_scenario: Path, capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    for command in ("run", "validate"):
        assert main([command, str(tiny_scenario), *args]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("cosim: ") and "\n" not in err and words in err
        assert "Traceback" not in err


def test_scenario_typo_reported_without_importing_the_grid_libraries(
    tiny_scenario: Path,
) -> None:
    """``cosim validate`` and ``cosim run`` read the scenario before importing pandapower."""
    code = (
        "import sys; from cosim.cli import main; "
        f"rc = main(['{{}}', {str(tiny_scenario)!r}, '--set', 'time.slotz=2']); "
        "print(rc, sorted(m for m in ('pandapower', 'lightsim2grid', 'simpy') if m in sys.modules))"
    )
    for command in ("validate", "run"):
        done = subprocess.run(
            [sys.executable, "-c", code.format(command)], capture_output=True, text=True, check=True
        )
        assert done.stdout.strip() == "2 []", done.stdout
        assert "time.slotz: unknown key" in done.stderr


def test_console_script_exit_codes(tiny_scenario: Path, tmp_path: Path) -> None:
    """The installed entry point, as a user runs it."""
    bad = subprocess.run(
        [sys.executable, "-m", "cosim.cli", "validate", str(tmp_path / "absent.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert (
        bad.stderr.strip() == f"cosim: {tmp_path / 'absent.yaml'}: (file): scenario file not found"
    )
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "cosim.cli",
            "run",
            str(tiny_scenario),
            "--out",
            str(tmp_path / "o"),
            "--set",
            "time.slots=1",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert "1 slots" in ok.stdout and ok.stderr == ""  # no progress bar when not a terminal


def _proportional_bills_from_csv(run: Path) -> dict[str, pd.Series]:
    """Social and universal bills from the CSVs, straight from docs/billing.md (Hutu & Mustafa)."""
    p = read(run, "participants.csv").merge(
        read(run, "slots.csv")[["slot", "clearing_price"]], on="slot"
    )
    tol = 1e-9
    out = {"social": np.zeros(len(p)), "universal": np.zeros(len(p))}
    for _, g in p.groupby("slot"):
        idx = g.index.to_numpy()
        acc = g["accepted"].to_numpy()
        buy = (g["side"] == "buy").to_numpy() & acc
        sell = (g["side"] == "sell").to_numpy() & acc
        c, d, net = (
            g["committed_kwh"].to_numpy(),
            g["deviation_kwh"].to_numpy(),
            g["net_kwh"].to_numpy(),
        )
        tp = float(g["clearing_price"].iloc[0]) if acc.any() else 0.0
        c_plus, c_minus = d[buy & (d > tol)].sum(), -d[buy & (d < -tol)].sum()
        p_plus, p_minus = d[sell & (d > tol)].sum(), -d[sell & (d < -tol)].sum()
        tdd, tsd = c_plus - c_minus, p_plus - p_minus
        d_down, d_up = c_plus + p_minus, p_plus + c_minus
        td = d_up - d_down
        for j, i in enumerate(idx):
            if not acc[j]:
                retail = net[j] * (RP if net[j] > 0 else FIT)
                out["social"][i] = out["universal"][i] = retail
                continue
            cj, dj, s = c[j], d[j], (1.0 if buy[j] else -1.0)
            flat = (cj + dj) * tp
            # social: consumers and producers settled separately
            settle = flat
            if buy[j] and tdd < -tol and dj < 0:
                r = c_plus / c_minus
                settle = cj * tp + dj * r * tp + dj * (1 - r) * FIT
            elif buy[j] and tdd > tol and dj > 0:
                r = c_minus / c_plus
                settle = cj * tp + dj * r * tp + dj * (1 - r) * RP
            elif sell[j] and tsd < -tol and dj < 0:
                r = p_plus / p_minus
                settle = cj * tp + dj * r * tp + dj * (1 - r) * RP
            elif sell[j] and tsd > tol and dj > 0:
                r = p_minus / p_plus
                settle = cj * tp + dj * r * tp + dj * (1 - r) * FIT
            out["social"][i] = s * settle
            # universal: one market-wide balance
            deficit_side = (buy[j] and dj > 0) or (sell[j] and dj < 0)
            settle = flat
            if td < -tol and deficit_side:
                r = d_up / d_down
                settle = cj * tp + dj * r * tp + dj * (1 - r) * RP
            elif td > tol and not deficit_side and abs(dj) > tol:
                r = d_down / d_up
                settle = cj * tp + dj * r * tp + dj * (1 - r) * FIT
            out["universal"][i] = s * settle
    return {m: pd.Series(v).groupby(p["participant"]).sum() for m, v in out.items()}


def test_social_and_universal_bills_against_formulas_from_csv(tiny_run: Path) -> None:
    bills = read(tiny_run, "bills.csv").pivot(index="participant", columns="model", values="amount")
    expected = _proportional_bills_from_csv(tiny_run)
    for model in ("social", "universal"):
        assert np.allclose(bills[model], expected[model], atol=1e-9, rtol=0), model


def test_p2p_benefit_against_the_retailer(tiny_run: Path) -> None:
    """Buyers gain RP - price and sellers price - FiT on every traded kWh.

    As in Fernandes, Christin & Kar, SmartGridComm 2024.
    """
    slots = read(tiny_run, "slots.csv")
    trades = read(tiny_run, "trades.csv")
    buyer = (trades["energy_kwh"] * (RP - trades["price"])).groupby(trades["slot"]).sum()
    seller = (trades["energy_kwh"] * (trades["price"] - FIT)).groupby(trades["slot"]).sum()
    got = slots.set_index("slot")
    assert np.allclose(got["p2p_buyer_benefit"], buyer.reindex(got.index, fill_value=0.0))
    assert np.allclose(got["p2p_seller_benefit"], seller.reindex(got.index, fill_value=0.0))
    assert (got["p2p_buyer_benefit"] >= 0).all() and (got["p2p_seller_benefit"] >= 0).all()
    assert np.allclose(got["p2p_share_of_load"], got["traded_kwh"] / got["load_kwh"])
