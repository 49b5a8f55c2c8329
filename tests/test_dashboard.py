"""Dashboard without a browser: tokens, roles, every API route's 401/403, and the data it serves.

Reference values come from the run's own CSV files read with pandas directly, not through the
dashboard's code.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _dashboard_util import K, Server, make_sweep, make_views, running

from cosim.cli import main
from cosim.dashboard import API_ROUTES, Access, Dashboard, bind, restrict
from cosim.dashboard.access import Role
from cosim.dashboard.data import Source, bucket_rule, market
from cosim.errors import InputError
from cosim.results.rundir import RunDir
from cosim.results.writer import write_table

CONSUMER, SUPPLIER = 7, 1


@pytest.fixture(scope="module")
def run_with_views(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("dash") / "tiny"
    shutil.copytree(tiny_run, run)
    make_views(run, CONSUMER, SUPPLIER)
    return run


@pytest.fixture(scope="module")
def server(run_with_views: Path) -> Iterator[Server]:
    with running(run_with_views) as srv:
        yield srv


def test_every_route_needs_a_valid_token(server: Server) -> None:
    other = Access().token("researcher")  # right form, other server's secret
    forged = "researcher." + "A" * 32
    for route in (*API_ROUTES, "no/such/route"):
        for token in (None, "", other, forged, "researcher", "consumer_7"):
            status, body = server.get(route, token)
            assert status == 401, (route, token, status)
            assert "token" in body["error"]


def test_researcher_only_routes_refuse_other_roles(server: Server) -> None:
    for role in (f"consumer_{CONSUMER}", f"supplier_{SUPPLIER}", "grid_operator"):
        for route in ("tokens", "sweep"):
            status, _ = server.get(route, server.token(role))
            assert status == 403, (role, route)


def test_a_role_without_a_view_gets_403_everywhere(server: Server) -> None:
    token = server.token("consumer_99")  # validly signed, but this run has no such view
    for route in API_ROUTES:
        status, _ = server.get(route, token)
        assert status == 403, route


def test_researcher_reads_the_run(server: Server, run_with_views: Path) -> None:
    token = server.token("researcher")
    status, who = server.get("whoami", token)
    assert status == 200 and who["role"] == "researcher" and who["kind"] == "run"
    status, summary = server.get("summary", token)
    assert status == 200 and summary["summary"]["slots"] == 6 and summary["name"] == "tiny"
    slots = pd.read_csv(run_with_views / "slots.csv")
    status, band = server.get("grid/band", token)
    assert band["bucket"] == "slot" and len(band["time"]) == len(slots)
    np.testing.assert_allclose(band["vm_min_pu"], slots["vm_min_pu"])
    status, mk = server.get("market", token)
    assert mk["currency"] == "EUR"
    np.testing.assert_allclose(mk["energy"]["traded_kwh"], slots["traded_kwh"])
    buses = pd.read_csv(run_with_views / "buses.csv")
    status, heat = server.get("grid/heatmap", token)
    assert np.asarray(heat["vm_pu"], dtype=float).shape == (buses["bus"].nunique(), len(slots))
    assert heat["bus"][0] == "Bus 0"  # CIGRE LV's own bus names, not pandapower indices
    status, roles = server.get("tokens", token)
    assert set(roles) == {
        "researcher",
        f"consumer_{CONSUMER}",
        f"supplier_{SUPPLIER}",
        "grid_operator",
    }
    status, grid_map = server.get("grid/map", token)
    assert len(grid_map["x"]) == buses["bus"].nunique()
    lines = pd.read_csv(run_with_views / "lines.csv")
    got = {
        b["index"]: b["loading_max_percent"] for b in grid_map["branches"] if b["kind"] == "line"
    }
    want = lines.groupby("line")["loading_percent"].max()
    np.testing.assert_allclose([got[i] for i in want.index], want.to_numpy())


def test_consumer_sees_exactly_itself(server: Server, run_with_views: Path) -> None:
    token = server.token(f"consumer_{CONSUMER}")
    status, plist = server.get("participants", token)
    assert status == 200 and plist["participants"] == [CONSUMER]
    status, other = server.get("participants?participant=3", token)
    assert status == 200 and other["series"] is None
    status, mine = server.get(f"participants?participant={CONSUMER}", token)
    parts = pd.read_csv(run_with_views / "participants.csv")
    own = parts[parts["participant"] == CONSUMER]
    np.testing.assert_allclose(mine["series"]["series"]["net_kwh"], own["net_kwh"])
    status, bills = server.get("settlement", token)
    assert bills["bills"]["participant"] == [CONSUMER]
    assert bills["suppliers"] is None and bills["pot"] is None
    for route in ("grid/band", "grid/heatmap", "grid/duration", "grid/map", "market"):
        status, body = server.get(route, token)
        assert status == 200 and body is None, route  # not in its view
    # its own group's released aggregates (its bus, 48 participants, in this fixture); the
    # time axis comes from them, since a consumer's view has no slots.csv
    info = pd.read_csv(run_with_views / "participants_info.csv")
    bus = int(info.loc[info["participant"] == CONSUMER, "bus"].iloc[0])
    _, agg = server.get("aggregates", token)
    assert agg["groups"] == [f"bus {bus}"] and agg["members"] == [(info["bus"] == bus).sum()]
    slots = pd.read_csv(run_with_views / "slots.csv")
    assert mine["series"]["time"] == [t[:16].replace("T", " ") for t in slots["time"]]


def test_supplier_sees_its_customers_only(server: Server, run_with_views: Path) -> None:
    token = server.token(f"supplier_{SUPPLIER}")
    info = pd.read_csv(run_with_views / "participants_info.csv")
    customers = sorted(info.loc[info["supplier"] == SUPPLIER, "participant"])
    _, plist = server.get("participants", token)
    assert plist is None  # a supplier's view holds bills and totals, no meter series
    _, st = server.get("settlement", token)
    assert sorted(st["bills"]["participant"]) == customers
    assert st["suppliers"]["supplier"] == [SUPPLIER]


def test_grid_operator_sees_no_household_series(server: Server, run_with_views: Path) -> None:
    token = server.token("grid_operator")
    status, plist = server.get("participants", token)
    assert status == 200 and plist is None  # its view holds participants.csv; never served
    info = pd.read_csv(run_with_views / "participants_info.csv")
    members = info.groupby("bus")["participant"].count()
    _, agg = server.get("aggregates", token)
    assert agg["k"] == K
    assert set(agg["groups"]) == {f"bus {b}" for b in members[members >= K].index}
    assert members.min() < K  # the fixture has small groups, and they are hidden
    _, band = server.get("grid/band", token)
    assert len(band["vm_min_pu"]) == 6
    status, st = server.get("settlement", token)
    assert st["bills"] is None
    assert st["pots"]["models"] == ["retail", "individual", "social", "universal"]
    lines = pd.read_csv(run_with_views / "lines.csv")  # loadings from its lines.csv
    want = lines.groupby("slot")["loading_percent"].max().to_numpy()
    np.testing.assert_allclose(band["loading_max_percent"], want)
    _, mk = server.get("market", token)
    assert mk["price"] is None and set(mk["energy"]) == {"import_kwh", "export_kwh", "losses_kwh"}


def test_restrict_filters_a_view_that_holds_too_much() -> None:
    frame = pd.DataFrame({"participant": [1, 2, 3, 2], "supplier": [0, 1, 1, 0], "x": [1, 2, 3, 4]})
    assert list(restrict(Role.parse("consumer_2"), "participants", frame)["x"]) == [2, 4]
    assert list(restrict(Role.parse("supplier_1"), "bills", frame)["x"]) == [2, 3]
    assert restrict(Role.parse("grid_operator"), "participants", frame) is None
    trades = pd.DataFrame({"buyer": [1, 2], "seller": [2, 3], "energy_kwh": [1.0, 2.0]})
    assert len(restrict(Role.parse("consumer_3"), "trades", trades)) == 1
    buses = pd.DataFrame({"bus": [5, 6], "p_mw": [0.1, 0.2]})
    out = restrict(
        Role.parse("grid_operator"), "buses", buses, k=3, bus_members=pd.Series({5: 1, 6: 4})
    )
    assert np.isnan(out["p_mw"].iloc[0]) and out["p_mw"].iloc[1] == 0.2


def test_tokens() -> None:
    access = Access(b"0123456789abcdef")
    token = access.token("consumer_4")
    assert access.role_of(token) == Role("consumer_4", "consumer", 4)
    assert Access(b"0123456789abcdef").role_of(token) is not None  # configured secret: stable
    assert Access().role_of(token) is None
    assert access.role_of(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert access.role_of("consumer_5." + token.split(".")[1]) is None
    with pytest.raises(ValueError):
        access.token("admin")
    with pytest.raises(ValueError):
        Access(b"short")


def test_binding_refuses_other_machines_unless_asked() -> None:
    with pytest.raises(InputError, match="loopback"):
        bind("0.0.0.0", 0)
    bind("127.0.0.1", 0).close()
    bind("0.0.0.0", 0, allow_remote=True).close()


def test_cli_refuses_remote_binding(tiny_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", str(tiny_run), "--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cosim: ") and "--allow-remote" in err


def test_static_assets_are_local(server: Server) -> None:
    with urllib.request.urlopen(server.url + "/") as res:
        html = res.read().decode()
        assert "default-src 'self'" in res.headers["Content-Security-Policy"]
    scripts = re.findall(r'src="([^"]+)"', html)
    assert scripts and all(s.startswith("/static/") for s in scripts)
    with urllib.request.urlopen(server.url + "/static/plotly.min.js") as res:
        assert b"plotly.js" in res.read(2000)
    with urllib.request.urlopen(server.url + "/static/app.js") as res:
        assert "http" not in res.read().decode()


def test_long_runs_are_bucketed_by_day(tmp_path: Path) -> None:
    n = 17_520
    rng = np.random.default_rng(1)
    times = pd.date_range("2017-01-01", periods=n, freq="30min", tz="UTC")
    price = np.where(rng.uniform(size=n) < 0.3, np.nan, rng.uniform(0.05, 0.35, n))
    traded = np.where(np.isnan(price), 0.0, rng.uniform(0, 5, n))
    slots = pd.DataFrame(
        {
            "slot": np.arange(n),
            "time": [t.isoformat() for t in times],
            "clearing_price": price,
            "traded_kwh": traded,
            "load_kwh": rng.uniform(10, 20, n),
        }
    )
    write_table(tmp_path / "slots.csv", slots)
    assert bucket_rule(n, 30) == "day" and bucket_rule(48, 30) == "slot"
    assert bucket_rule(20 * n, 30) == "week"
    out = market(Source(RunDir(tmp_path), Role.parse("researcher")))
    assert out is not None and out["bucket"] == "day" and len(out["time"]) == 365
    day = slots.iloc[:48]
    has = day["clearing_price"].notna()
    vwap = (day["clearing_price"][has] * day["traded_kwh"][has]).sum() / day["traded_kwh"][
        has
    ].sum()
    assert out["price"][0] == pytest.approx(vwap)
    assert out["energy"]["traded_kwh"][0] == pytest.approx(day["traded_kwh"].sum())


def test_sweep_route(tiny_run: Path, tmp_path: Path) -> None:
    root = make_sweep(tiny_run, tmp_path / "sweep")
    dash = Dashboard(root, Access())
    assert len(dash.runs) == 4 and dash.roles() == ["researcher"]
    with running(root) as srv:
        token = srv.token("researcher")
        status, sw = srv.get("sweep", token)
        assert status == 200 and sw["x"] == "participants.pv_penetration" and sw["completed"] == 4
        assert sw["metrics"]["self_sufficiency"]["x"] == [0.2, 0.8]
        assert sw["metrics"]["self_sufficiency"]["count"] == [2, 2]  # two seeds per point
        table = pd.read_csv(root / "sweep.csv")
        want = 100 * table.groupby("participants.pv_penetration")["self_sufficiency"].median()
        np.testing.assert_allclose(sw["metrics"]["self_sufficiency"]["median"], want)
        assert sw["metrics"]["self_sufficiency"]["label"] == "Self-sufficiency [%]"
        assert sw["metrics"]["mean_bill_retail"]["label"] == "Mean bill, retail [EUR]"
        assert next(iter(sw["metrics"])) == "self_sufficiency"  # known metrics first
        status, by_seed = srv.get("sweep?x=seed", token)
        assert status == 200 and by_seed["x"] == "seed"
        assert by_seed["metrics"]["self_sufficiency"]["x"] == [1, 2]
        assert srv.get("sweep?x=nope", token)[0] == 400
        status, cmp = srv.get("compare", token)
        assert status == 200 and len(cmp) == 4
        status, band = srv.get("grid/band?run=" + urllib.request.quote(list(dash.runs)[1]), token)
        assert status == 200 and len(band["time"]) == 6
        assert srv.get("summary?run=nope", token)[0] == 404


def test_cosim_serve_prints_a_working_url(run_with_views: Path) -> None:
    secret = "a configured secret of 32 bytes!"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COSIM_SERVE_SECRET": secret}
    with subprocess.Popen(
        [sys.executable, "-m", "cosim.cli", "serve", str(run_with_views), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    ) as proc:
        try:
            assert proc.stdout is not None
            url = ""
            for _ in range(5):
                line = proc.stdout.readline()
                if line.startswith("open "):
                    url = line.split()[1]
                    break
            match = re.fullmatch(r"(http://127\.0\.0\.1:\d+)/#token=(researcher\.\S+)", url)
            assert match, url
            assert match[2] == Access(secret.encode()).token("researcher")  # stable tokens
            req = urllib.request.Request(
                match[1] + "/api/summary", headers={"Authorization": f"Bearer {match[2]}"}
            )
            with urllib.request.urlopen(req, timeout=30) as res:
                assert res.status == 200
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def test_cli_refuses_a_short_secret(
    run_with_views: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    short = tmp_path / "secret"
    short.write_text("too short")
    assert main(["serve", str(run_with_views), "--secret-file", str(short), "--port", "0"]) == 2
    assert "at least 16 bytes" in capsys.readouterr().err
    assert main(["serve", str(tmp_path / "missing"), "--port", "0"]) == 2
