"""Faults through ``cosim run``: faults.csv lists every kind and rule; money and energy balance."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cosim.cli import main
from cosim.faults import FAULT_KINDS, FAULTS_COLUMNS, HANDLING, Outage, islanded_participants
from cosim.grid.networks import attach_participants, load_network

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "faults_cigre.yaml"
RP, FIT = 0.35, 0.05


def cosim_run(out: Path, *sets: str, scenario: Path = SCENARIO) -> Path:
    args = ["run", str(scenario), "--out", str(out), "--quiet"]
    assert main([*args, *[x for s in sets for x in ("--set", s)]]) == 0
    return out


def read(run: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(run / name)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cosim_run(tmp_path_factory.mktemp("faults") / "run", "grid.backend=lightsim2grid")


def test_faults_csv_lists_every_kind_and_rule(faulty: Path) -> None:
    f = read(faulty, "faults.csv")
    assert list(f.columns) == ["slot", "time", *FAULTS_COLUMNS[1:]]
    start = pd.Timestamp("2016-06-01T00:00:00+00:00")
    when = pd.to_datetime(f["time"], format="ISO8601")
    np.testing.assert_allclose((when - start).dt.total_seconds() / 60, f["time_minutes"], atol=1e-6)
    assert set(f["kind"]) == set(FAULT_KINDS)
    assert set(f["handling"]) == set(HANDLING)  # every documented rule was applied
    assert f["slot"].is_monotonic_increasing  # slot by slot, each by simulated time
    assert all(g.is_monotonic_increasing for _, g in f.groupby("slot")["time_minutes"])
    summary = json.loads((faulty / "summary.json").read_text())
    counts = summary["faults"]["events"]
    assert counts == f.groupby("handling").size().to_dict()
    unserved = f.loc[f["handling"] == "disconnected_anti_islanding", "energy_kwh"].sum()
    assert unserved > 0
    assert summary["faults"]["unserved_load_kwh"] == pytest.approx(unserved)


def test_late_orders_take_no_part_in_the_auction(faulty: Path) -> None:
    f = read(faulty, "faults.csv")
    late = f[f["kind"] == "missed_gate"][["slot", "participant"]]
    p = read(faulty, "participants.csv").merge(late, on=["slot", "participant"])
    assert len(p) == len(late) > 0
    assert (p["side"] == "none").all() and not p["accepted"].any()
    assert (p["order_kwh"] == 0).all() and p["limit_price"].isna().all()
    trades = read(faulty, "trades.csv").merge(
        late.rename(columns={"participant": "buyer"}), on=["slot", "buyer"]
    )
    assert trades.empty


def _missing(run: Path) -> pd.DataFrame:
    f = read(run, "faults.csv")
    rule = f["handling"] == "settled_at_retail_from_supplier_meter"
    return f.loc[rule, ["slot", "participant"]]


def test_money_balances_and_missing_readings_are_settled_at_retail(faulty: Path) -> None:
    p = read(faulty, "participants.csv").merge(
        read(faulty, "slots.csv")[["slot", "clearing_price"]], on="slot"
    )
    missing = _missing(faulty)
    assert len(missing) > 0
    key = pd.MultiIndex.from_frame(p[["slot", "participant"]])
    gone = key.isin(pd.MultiIndex.from_frame(missing))
    assert p.loc[gone, "accepted"].any()  # some missing reading had a trade

    def individual(row: pd.Series, accepted: bool) -> float:  # docs/billing.md, model 2
        if not accepted:
            net = row["net_kwh"]
            return net * (RP if net > 0 else FIT)
        c, d, tp = row["committed_kwh"], row["deviation_kwh"], row["clearing_price"]
        if row["side"] == "buy":
            return c * tp + d * (RP if d > 0 else FIT)
        return -(c * tp + d * (FIT if d > 0 else RP))

    amount = [
        individual(r, bool(r["accepted"]) and not g)
        for (_, r), g in zip(p.iterrows(), gone, strict=True)
    ]
    expected = pd.Series(amount).groupby(p["participant"]).sum()
    bills = read(faulty, "bills.csv").pivot(index="participant", columns="model", values="amount")
    np.testing.assert_allclose(bills["individual"], expected, atol=1e-9)
    retail = np.where(p["net_kwh"] > 0, p["net_kwh"] * RP, p["net_kwh"] * FIT)
    np.testing.assert_allclose(bills["retail"], pd.Series(retail).groupby(p["participant"]).sum())

    summary = json.loads((faulty / "summary.json").read_text())
    for model, m in summary["settlement"]["models"].items():
        assert m["total_bills"] == pytest.approx(m["supplier_profit"] + m["pot"], abs=1e-9), model
    # the pot is the P2P money the missing participants' counterparties paid or received
    lost = p.loc[gone & p["accepted"]]
    sign = np.where(lost["side"] == "sell", -1.0, 1.0)
    pot = -(sign * lost["committed_kwh"] * lost["p2p_price"]).sum()
    assert summary["settlement"]["models"]["individual"]["pot"] == pytest.approx(pot, abs=1e-9)


def test_outage_shows_in_the_flow_and_disconnects(faulty: Path) -> None:
    net = load_network("cigre_lv")
    att = attach_participants(net, "cigre_lv")
    buses = read(faulty, "buses.csv")
    p = read(faulty, "participants.csv")
    trades = read(faulty, "trades.csv")
    for outage, start, end in ((Outage(trafos=(2,)), 22, 28), (Outage(lines=(3,)), 30, 34)):
        cut = islanded_participants(net, outage, att.bus)
        during = p[p["slot"].between(start, end - 1) & p["participant"].isin(np.flatnonzero(cut))]
        assert (during["net_kwh"] == 0).all() and (during["load_kwh"] == 0).all()
        assert (during["battery_kwh"] == 0).all() and (during["pv_kwh"] == 0).all()
        at = buses[buses["bus"].isin(att.bus[cut]) & buses["slot"].between(start, end - 1)]
        assert at["vm_pu"].isna().all() and len(at) > 0
        # the network check sees the outage: no export from a participant cut off; a buyer
        # cut off may have bought (the check sees exports only) and then deviates
        t = trades[trades["slot"].between(start, end - 1)]
        assert not t["seller"].isin(np.flatnonzero(cut)).any()
        bought = during[during["accepted"]]
        np.testing.assert_allclose(bought["deviation_kwh"], -bought["committed_kwh"])
    outside = buses[~buses["slot"].between(22, 33)]
    assert outside["vm_pu"].notna().all()
    slots = read(faulty, "slots.csv")
    assert slots["pf_converged"].all()
    assert np.allclose(p["net_kwh"], p["load_kwh"] - p["pv_kwh"] + p["battery_kwh"])
    sign = np.where(p["side"] == "sell", -1.0, 1.0)
    assert np.allclose(p["deviation_kwh"], sign * p["net_kwh"] - p["committed_kwh"])


def test_same_seed_same_faults(faulty: Path, tmp_path: Path) -> None:
    again = cosim_run(tmp_path / "again", "grid.backend=lightsim2grid")
    for name in ("faults.csv", "bills.csv", "participants.csv", "buses.csv"):
        assert (faulty / name).read_bytes() == (again / name).read_bytes(), name


ENCRYPTED = [
    "network.name=village",
    "faults.outage.events=[]",
    "time.slots=6",
    "time.start=2016-06-01T10:00:00+00:00",
    "faults.late_reading.rate=0.1",
    "faults.late_reading.never_share=0.5",
    "settlement.period=day",
    "grid.backend=lightsim2grid",
    "output.buses=false",
    "output.lines=false",
]


@pytest.mark.parametrize("backend", ["paillier_djn", "ckks"])
def test_encrypted_settlement_with_missing_readings(tmp_path: Path, backend: str) -> None:
    plain = cosim_run(tmp_path / "plain", *ENCRYPTED)
    enc = cosim_run(tmp_path / backend, *ENCRYPTED, f"settlement.encryption={backend}")
    pd.testing.assert_frame_equal(read(plain, "faults.csv"), read(enc, "faults.csv"))
    missing = _missing(enc)
    assert len(missing) > 0
    rejected = read(enc, "rejected_payloads.csv")
    assert set(rejected["reason"]) == {"missing payload"}
    got = set(zip(rejected["participant"], rejected["slot"], strict=True))
    want: set[tuple[Any, ...]] = set(zip(missing["participant"], missing["slot"], strict=True))
    if backend == "ckks":  # a payload covers the billing period (all 6 slots are one day)
        want = {(u, k) for u, _ in want for k in range(6)}
    assert got == want
    summary = json.loads((enc / "summary.json").read_text())
    for model, m in summary["settlement"]["models"].items():
        assert m["total_bills"] == pytest.approx(m["supplier_profit"] + m["pot"], abs=1e-6), model
    if backend == "paillier_djn":  # one slot per payload: the same bills as plain
        a, b = read(plain, "bills.csv"), read(enc, "bills.csv")
        assert np.abs(a["amount"] - b["amount"]).max() <= 1e-6


def test_no_faults_no_file(tmp_path: Path) -> None:
    out = cosim_run(
        tmp_path / "qs",
        "time.slots=2",
        "output.buses=false",
        scenario=ROOT / "scenarios" / "quickstart.yaml",
    )
    assert not (out / "faults.csv").exists()
    assert "faults" not in json.loads((out / "summary.json").read_text())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals as on Linux")
def test_a_stopped_and_resumed_run_has_the_same_faults(faulty: Path, tmp_path: Path) -> None:
    """Ctrl-C in the middle of an outage, then ``--resume``: the same files as one run."""
    out = tmp_path / "run"
    args = [sys.executable, "-m", "cosim.cli", "run", str(SCENARIO), "--out", str(out),
            "--heartbeat", "0.0001", "--set", "grid.backend=lightsim2grid",
            "--set", "output.chunk_slots=4"]  # fmt: skip
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "slot 24/" in line:
            break
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and 24 <= summary["slots_completed"] < 48
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    for name in ("faults.csv", "participants.csv", "buses.csv", "bills.csv", "suppliers.csv"):
        assert (out / name).read_bytes() == (faulty / name).read_bytes(), name
    done = json.loads((out / "summary.json").read_text())
    assert done["faults"] == json.loads((faulty / "summary.json").read_text())["faults"]


def test_the_outage_flow_is_the_same_on_pandapower(faulty: Path, tmp_path: Path) -> None:
    """The reference backend shows the same outage (NaN pattern) and values within 1e-6 pu."""
    ref = cosim_run(tmp_path / "pp", "time.slots=34", "grid.backend=pandapower")
    a, b = read(ref, "buses.csv"), read(faulty, "buses.csv")
    b = b[b["slot"] < 34].reset_index(drop=True)
    np.testing.assert_array_equal(a["vm_pu"].isna(), b["vm_pu"].isna())
    assert a["vm_pu"].isna().any()
    np.testing.assert_allclose(a["vm_pu"], b["vm_pu"], rtol=0, atol=1e-6)
    fa, fb = read(ref, "faults.csv"), read(faulty, "faults.csv")
    pd.testing.assert_frame_equal(fa, fb[fb["slot"] < 34].reset_index(drop=True))
