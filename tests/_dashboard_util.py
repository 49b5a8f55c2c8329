"""Helpers for the dashboard tests: role views of a run (per the views contract) and a server.

``make_views`` writes ``views/<role>/`` directories the way the metering-privacy writer does
(a partial run directory: same file and column names, only what the role learned, plus
``aggregates.csv`` for the grid operator and a ``view.json``), from a real run's files.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cosim.dashboard import Access, Dashboard, bind, create_app, serve
from cosim.results.writer import write_table
from cosim.sweep import run_metrics

#: Minimum group size written into the grid operator's view.json.
K = 3


def _write_view(
    run: Path, role: str, tables: dict[str, pd.DataFrame], extra: dict[str, Any]
) -> Path:
    view = run / "views" / role
    view.mkdir(parents=True)
    for name, frame in tables.items():
        write_table(view / f"{name}.csv", frame)
    info = {
        "role": role,
        "built_from": str(run),
        "files": {f"{name}.csv": list(frame.columns) for name, frame in tables.items()},
        **extra,
    }
    (view / "view.json").write_text(json.dumps(info), encoding="utf-8")
    return view


#: What a consumer's meter and home system know per slot (its rows of participants.csv).
CONSUMER_COLUMNS = (
    "slot participant bus supplier load_kwh pv_kwh battery_kwh soc_kwh net_kwh side accepted "
    "committed_kwh delivered_kwh deviation_kwh order_kwh pv_curtailed_kwh limit_price "
    "p2p_price".split()
)


def make_views(run: Path, consumer: int, supplier: int) -> None:
    """Write views of ``consumer_<consumer>``, ``supplier_<supplier>`` and ``grid_operator``.

    Laid out like the metering-privacy writer's: the consumer holds its own meter rows, its bill
    and its group's aggregates (no ``slots.csv``: times come from the aggregates); the supplier
    its customers' bills and its own totals; the grid operator the group aggregates, group
    sizes, substation metering per slot, bus voltages and powers (``p_mw`` empty on buses with
    fewer than :data:`K` participants), line and transformer loadings and the per-slot
    settlement pot (zero: every P2P payment is some seller's receipt). Groups are buses here.
    On purpose the grid operator's view also holds files it should not (``participants.csv``
    and aggregates of groups below k): the dashboard must still not show them.
    """
    shutil.rmtree(run / "views", ignore_errors=True)  # replace the views the run wrote
    slots = pd.read_csv(run / "slots.csv")
    parts = pd.read_csv(run / "participants.csv")
    info = pd.read_csv(run / "participants_info.csv")
    bills = pd.read_csv(run / "bills.csv")
    suppliers = pd.read_csv(run / "suppliers.csv")
    trades = pd.read_csv(run / "trades.csv")
    members = info.groupby("bus")["participant"].count()
    net = parts.groupby(["slot", "bus"])["net_kwh"].sum().reset_index()
    net = net.merge(members.rename("members"), left_on="bus", right_index=True)
    net = net.merge(slots[["slot", "time"]], on="slot")
    aggregates = net.assign(group="bus " + net["bus"].astype(str))[
        ["slot", "time", "group", "members", "net_kwh"]
    ]
    bus = int(info.loc[info["participant"] == consumer, "bus"].iloc[0])
    _write_view(
        run,
        f"consumer_{consumer}",
        {
            "participants": parts.loc[parts["participant"] == consumer, CONSUMER_COLUMNS],
            "bills": bills[bills["participant"] == consumer],
            "aggregates": aggregates[aggregates["group"] == f"bus {bus}"],
        },
        {},
    )
    _write_view(
        run,
        f"supplier_{supplier}",
        {
            "bills": bills[bills["supplier"] == supplier],
            "suppliers": suppliers[suppliers["supplier"] == supplier],
        },
        {},
    )
    buses = pd.read_csv(run / "buses.csv")
    small = members[members < K].index
    buses.loc[buses["bus"].isin(small), "p_mw"] = float("nan")
    money = (trades["energy_kwh"] * trades["price"]).groupby(trades["slot"]).sum()
    received = money.reindex(slots["slot"], fill_value=0.0).to_numpy()
    models = list(dict.fromkeys(bills["model"]))
    pots = pd.DataFrame(
        {
            "slot": np.repeat(slots["slot"].to_numpy(), len(models)),
            "time": np.repeat(slots["time"].to_numpy(), len(models)),
            "model": np.tile(models, len(slots)),
            "pot": np.repeat(received - received, len(models)),  # buyers' payments - receipts
        }
    )
    groups = members.rename("participants").reset_index()
    _write_view(
        run,
        "grid_operator",
        {
            "aggregates": aggregates,
            "groups": groups.assign(group="bus " + groups["bus"].astype(str))[
                ["group", "participants"]
            ],
            "slots": slots[
                [
                    "slot",
                    "time",
                    "import_kwh",
                    "export_kwh",
                    "losses_kwh",
                    "vm_min_pu",
                    "vm_max_pu",
                    "pf_converged",
                ]
            ],
            "buses": buses,
            "lines": pd.read_csv(run / "lines.csv"),
            "trafos": pd.read_csv(run / "trafos.csv"),
            "pots": pots,
            "participants_info": info[["participant", "bus"]],
            # more than a grid operator may hold: the dashboard must not show it
            "participants": parts[["slot", "participant", "bus", "net_kwh"]],
        },
        {"k": K},
    )


def make_sweep(tiny_run: Path, root: Path) -> Path:
    """A sweep directory of copies of a run with sweep.csv rows from cosim's own metrics."""
    rows = []
    for pv in (0.2, 0.8):
        for seed in (1, 2):
            name = f"participants.pv_penetration={pv}__seed={seed}"
            shutil.copytree(tiny_run, root / name)
            shutil.rmtree(root / name / "views")  # a sweep of runs without role views
            rows.append(
                {"participants.pv_penetration": pv, "seed": seed, "run_dir": name,
                 "status": "completed", "error": "", **run_metrics(root / name)}
            )  # fmt: skip
    write_table(root / "sweep.csv", pd.DataFrame(rows))
    return root


@dataclass
class Server:
    """A running dashboard: base URL, token issuer."""

    url: str
    access: Access
    dashboard: Dashboard

    def token(self, role: str) -> str:
        return self.access.token(role)

    def get(self, route: str, token: str | None = None) -> tuple[int, Any]:
        """GET ``/api/<route>`` -> (status, decoded JSON)."""
        req = urllib.request.Request(f"{self.url}/api/{route}")
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=60) as res:
                return res.status, json.loads(res.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


@contextmanager
def running(root: Path, currency: str = "EUR") -> Iterator[Server]:
    """Serve ``root`` on a free loopback port in a background thread."""
    access = Access()
    dash = Dashboard(root, access, currency=currency)
    sock = bind("127.0.0.1", 0)
    server = serve(create_app(dash), sock)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("dashboard server did not start")
        time.sleep(0.02)
    try:
        yield Server(f"http://127.0.0.1:{sock.getsockname()[1]}", access, dash)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
