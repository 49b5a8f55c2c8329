"""Role views of a run: entitled files only, built from the protocol; outputs unchanged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from privacy_walk import walk

from cosim.cli import main
from cosim.engine.build import build_simulation, open_writer
from cosim.engine.run import run_simulation
from cosim.grid.networks import load_network
from cosim.privacy.entitlements import ENTITLEMENTS, check_view
from cosim.privacy.groups import participant_groups
from cosim.privacy.masking import MaskingMeter
from cosim.privacy.schemes import encode_kwh
from cosim.privacy.threshold import KeyShare
from cosim.scenario import load_scenario

ENCRYPTED = [
    "settlement.encryption=paillier",
    "settlement.key_bits=1024",
    "settlement.insecure_test_keys=true",
]


def _run(scenario: Path, out: Path, *overrides: str) -> Path:
    args = ["run", str(scenario), "--out", str(out), "--quiet"]
    for item in overrides:
        args += ["--set", item]
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def off_run(tiny_scenario: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("off") / "tiny"
    return _run(tiny_scenario, out, "privacy.aggregation=none", "privacy.views=none")


@pytest.fixture(scope="module")
def full_run(tiny_scenario: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Encrypted settlement with the shared GO key, threshold Paillier metering, every view."""
    out = tmp_path_factory.mktemp("full") / "tiny"
    return _run(
        tiny_scenario,
        out,
        *ENCRYPTED,
        "privacy.aggregation=threshold_paillier",
        "privacy.key_bits=1024",
        "privacy.groups=feeder",
        "privacy.views=all",
    )


@pytest.fixture(scope="module")
def dp_run(tiny_scenario: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dp") / "tiny"
    return _run(tiny_scenario, out, "privacy.dp.enabled=true", "privacy.dp.epsilon=0.5")


def test_default_privacy_only_adds_files(tiny_run: Path, off_run: Path) -> None:
    assert not (off_run / "views").exists() and not (off_run / "privacy.json").exists()
    for path in sorted(off_run.iterdir()):
        if path.name in ("summary.json", "scenario.yaml"):
            continue
        assert path.read_bytes() == (tiny_run / path.name).read_bytes(), path.name
    with_views, without = (
        json.loads((d / "summary.json").read_text()) for d in (tiny_run, off_run)
    )
    for s in (with_views, without):
        s.pop("timings_s"), s.pop("slots_per_second")
    assert with_views == without
    assert (tiny_run / "views" / "grid_operator" / "view.json").exists()
    assert not list((tiny_run / "views").glob("consumer_*"))  # default views: roles


def _roles(run: Path) -> list[Path]:
    return sorted((run / "views").iterdir())


@pytest.mark.parametrize("which", ["tiny_run", "full_run"])
def test_every_view_is_entitled(which: str, request: pytest.FixtureRequest) -> None:
    run = request.getfixturevalue(which)
    views = _roles(run)
    names = {v.name for v in views}
    assert {"grid_operator", "supplier_0", "supplier_1", "supplier_2"} <= names
    if which == "full_run":
        n = pd.read_csv(run / "participants_info.csv").shape[0]
        assert {f"consumer_{i}" for i in range(n)} <= names
        assert (run / "views" / "grid_operator" / "settlement_aggregates.csv").exists()
    for view in views:
        assert check_view(view, run) == [], view.name
        declared = json.loads((view / "view.json").read_text())
        kind = "grid_operator" if view.name == "grid_operator" else view.name.split("_")[0]
        assert set(declared["files"]) <= set(ENTITLEMENTS[kind])


def _copy(view: Path, tmp: Path) -> Path:
    out = tmp / view.name
    shutil.copytree(view, out)
    return out


def test_injected_forbidden_data_fails_the_check(full_run: Path, tmp_path: Path) -> None:
    views = full_run / "views"
    # a forbidden column, even when view.json declares it
    sup = _copy(views / "supplier_1", tmp_path)
    bills = pd.read_csv(sup / "bills.csv")
    bills["net_kwh"] = 1.0
    bills.to_csv(sup / "bills.csv", index=False)
    meta = json.loads((sup / "view.json").read_text())
    meta["files"]["bills.csv"] = list(bills.columns)
    (sup / "view.json").write_text(json.dumps(meta))
    assert any("net_kwh" in p for p in check_view(sup, full_run))
    # a forbidden file
    go = _copy(views / "grid_operator", tmp_path)
    shutil.copy(full_run / "participants.csv", go / "participants.csv")
    assert any("participants.csv" in p for p in check_view(go, full_run))
    # another consumer's row
    con = _copy(views / "consumer_3", tmp_path)
    rows = pd.read_csv(con / "participants.csv")
    rows.loc[0, "participant"] = 4
    rows.to_csv(con / "participants.csv", index=False)
    assert check_view(con, full_run)
    # the power of a single household's bus
    go2 = tmp_path / "again"
    go2.mkdir()
    go2 = _copy(views / "grid_operator", go2)
    buses = pd.read_csv(go2 / "buses.csv")
    full = pd.read_csv(full_run / "buses.csv")
    buses["p_mw"] = full["p_mw"].to_numpy()
    buses.to_csv(go2 / "buses.csv", index=False)
    assert any("p_mw" in p for p in check_view(go2, full_run))


def test_threshold_run_equals_plain(tiny_run: Path, full_run: Path) -> None:
    plain = pd.read_csv(tiny_run / "bills.csv")
    shared = pd.read_csv(full_run / "bills.csv")
    np.testing.assert_allclose(shared["amount"], plain["amount"], rtol=0, atol=1e-6)
    # released aggregates: exactly the fixed-point sums of the meters' readings per feeder
    info = pd.read_csv(full_run / "participants_info.csv")
    groups = participant_groups(load_network("cigre_lv"), info["bus"].to_numpy(), "feeder")
    rows = pd.read_csv(full_run / "participants.csv", float_precision="round_trip")
    released = pd.read_csv(
        full_run / "views" / "grid_operator" / "aggregates.csv", float_precision="round_trip"
    )
    checked = 0
    for g in groups:
        mine = released[released["group"] == g.name]
        if g.members.size < 2:
            assert mine.empty
            continue
        for slot, value in zip(mine["slot"], mine["net_kwh"], strict=True):
            net = rows.loc[(rows["slot"] == slot) & rows["participant"].isin(g.members), "net_kwh"]
            assert value == int(encode_kwh(net.to_numpy()).sum()) / 2.0**40
            checked += 1
    assert checked == released.shape[0] > 0


def test_views_come_from_the_protocol(full_run: Path) -> None:
    """A supplier's decrypted bills and balances agree with the researcher's totals."""
    bills = pd.read_csv(full_run / "bills.csv")
    suppliers = pd.read_csv(full_run / "suppliers.csv")
    for j in range(3):
        view = full_run / "views" / f"supplier_{j}"
        mine = pd.read_csv(view / "bills.csv")
        ref = bills[bills["supplier"] == j].reset_index(drop=True)
        np.testing.assert_allclose(mine["amount"], ref["amount"], rtol=0, atol=1e-9)
        balances = pd.read_csv(view / "balances.csv").groupby("model", sort=False)["money"].sum()
        own = suppliers[suppliers["supplier"] == j].set_index("model")["profit"]
        np.testing.assert_allclose(balances[own.index], own, rtol=0, atol=1e-9)
    consumer = pd.read_csv(full_run / "views" / "consumer_7" / "participants.csv")
    ref_rows = pd.read_csv(full_run / "participants.csv")
    ref_rows = ref_rows[ref_rows["participant"] == 7].reset_index(drop=True)
    np.testing.assert_array_equal(consumer["net_kwh"], ref_rows["net_kwh"])


def test_dp_run_reports_epsilon_and_error_and_leaves_bills(tiny_run: Path, dp_run: Path) -> None:
    assert (dp_run / "bills.csv").read_bytes() == (tiny_run / "bills.csv").read_bytes()
    summary = json.loads((dp_run / "summary.json").read_text())
    report = summary["privacy"]["dp"]
    assert report["epsilon_per_release"] == 0.5
    assert report["composition"]["epsilon_basic"] == pytest.approx(0.5 * 6)
    assert report["error_kwh"]["mean_abs"] > 0
    noisy = pd.read_csv(dp_run / "views" / "grid_operator" / "aggregates.csv")
    exact = pd.read_csv(tiny_run / "views" / "grid_operator" / "aggregates.csv")
    assert noisy.shape == exact.shape and not np.allclose(noisy["net_kwh"], exact["net_kwh"])


def test_a_dropped_meter_leaves_the_others_released(tiny_scenario: Path, tmp_path: Path) -> None:
    scenario = load_scenario(tiny_scenario)
    sim = build_simulation(scenario)
    assert sim.privacy is not None
    sim.privacy._dropouts = lambda batch, participant: participant == 5
    run_simulation(sim, open_writer(sim, tmp_path))
    report = json.loads((tmp_path / "privacy.json").read_text())
    assert report["missing_readings"] == 6 and report["sums_exact"]
    # what the GO holds: released sums and its monitoring; no key, no meter, no reading
    reached = list(walk(sim.privacy.grid_operator))
    assert not [o for o in reached if isinstance(o, (X25519PrivateKey, MaskingMeter, KeyShare))]
    readings = pd.read_csv(tmp_path / "participants.csv")["net_kwh"].to_numpy()
    arrays = [o for o in reached if isinstance(o, np.ndarray) and o.dtype.kind == "f"]
    assert not any(np.isin(readings[readings != 0], a).any() for a in arrays)
    released = pd.read_csv(
        tmp_path / "views" / "grid_operator" / "aggregates.csv", float_precision="round_trip"
    )
    group = released[released["group"] == "trafo_0"]
    assert (group["members"] == 95).all()
    rows = pd.read_csv(tmp_path / "participants.csv", float_precision="round_trip")
    members = sim.privacy.groups[0].members
    for slot, value in zip(group["slot"], group["net_kwh"], strict=True):
        net = rows.loc[
            (rows["slot"] == slot) & rows["participant"].isin(members) & (rows["participant"] != 5),
            "net_kwh",
        ]
        assert value == int(encode_kwh(net.to_numpy()).sum()) / 2.0**40


def test_an_interrupted_run_resumes_to_the_same_views(tmp_path: Path) -> None:
    """SIGINT halfway, ``--resume``: privacy.json and every view equal an uninterrupted run's."""
    import signal

    from test_interruption import SCENARIO, _start, _wait_for_slot

    scenario = tmp_path / "stoppable.yaml"
    text = SCENARIO + "privacy: {views: all, batch_slots: 6, groups: feeder}\n"
    scenario.write_text(text, encoding="utf-8")
    reference = _run(scenario, tmp_path / "reference")
    out = tmp_path / "run"
    proc = _start(scenario, out)
    _wait_for_slot(proc, 15)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    assert not (out / "views").exists()
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    assert (out / "privacy.json").read_bytes() == (reference / "privacy.json").read_bytes()
    files = sorted(p.relative_to(reference) for p in (reference / "views").rglob("*.*"))
    assert files == sorted(p.relative_to(out) for p in (out / "views").rglob("*.*"))
    for name in files:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
