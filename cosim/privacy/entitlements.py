"""The entitlement table: which files, columns and rows each role's view may hold.

docs/privacy.md shows the same table; :func:`check_view` is the leak test's oracle: every file
and column of a written view must be listed for its role, and the row rules must hold (a
consumer's rows are its own, a supplier's are its customers', the grid operator's bus powers
and line loadings are empty where fewer than k participants sit behind them).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cosim.privacy.metering import AGGREGATE_COLUMNS, CONSUMER_COLUMNS

__all__ = ["ENTITLEMENTS", "Entitlement", "check_view", "role_kind"]


@dataclass(frozen=True)
class Entitlement:
    """One file of a role's view: its allowed columns and granularity (for people)."""

    columns: tuple[str, ...]
    granularity: str


ENTITLEMENTS: dict[str, dict[str, Entitlement]] = {
    "grid_operator": {
        "aggregates.csv": Entitlement(
            AGGREGATE_COLUMNS, "per group and slot; only groups of >= k reporting meters"
        ),
        "groups.csv": Entitlement(("group", "participants"), "per group: its size"),
        "slots.csv": Entitlement(
            (
                "slot",
                "time",
                "import_kwh",
                "export_kwh",
                "losses_kwh",
                "vm_min_pu",
                "vm_max_pu",
                "pf_converged",
            ),
            "per slot: substation metering and network-wide extremes",
        ),
        "buses.csv": Entitlement(
            ("slot", "bus", "vm_pu", "p_mw"),
            "per bus and slot; p_mw empty on buses with 1 .. k-1 participants",
        ),
        "lines.csv": Entitlement(
            ("slot", "line", "loading_percent"),
            "per line and slot; empty on lines feeding 1 .. k-1 participants",
        ),
        "trafos.csv": Entitlement(
            ("slot", "trafo", "loading_percent"),
            "per transformer and slot; empty on transformers feeding 1 .. k-1 participants",
        ),
        "settlement_aggregates.csv": Entitlement(
            ("slot", "time", "aggregate", "members", "value_kwh"),
            "encrypted settlement: per slot, the market-wide C+, C-, P+, P- it opened (>= k)",
        ),
        "pots.csv": Entitlement(
            ("slot", "time", "model", "pot"),
            "encrypted settlement: per slot and model, the sum of all P2P money",
        ),
    },
    "supplier": {
        "bills.csv": Entitlement(
            ("participant", "model", "amount", "supplier"), "its customers' bills over the run"
        ),
        "suppliers.csv": Entitlement(
            ("supplier", "model", "profit", "energy_kwh"), "its own totals"
        ),
        "balances.csv": Entitlement(
            ("slot", "time", "model", "money", "energy_kwh"),
            "encrypted settlement: per slot, its customers' total money and gross energy",
        ),
    },
    "consumer": {
        "participants.csv": Entitlement(tuple(CONSUMER_COLUMNS), "its own rows, per slot"),
        "bills.csv": Entitlement(("participant", "model", "amount", "supplier"), "its own bill"),
        "aggregates.csv": Entitlement(
            AGGREGATE_COLUMNS, "its own group's released aggregates, per slot"
        ),
    },
}
"""role kind -> file -> :class:`Entitlement` (``view.json`` is always allowed)."""


def role_kind(role: str) -> tuple[str, int | None]:
    """``("supplier", 2)`` for ``supplier_2``, ``("grid_operator", None)``, ...

    Raises
    ------
    ValueError
        For a name that is not a role.
    """
    if role == "grid_operator":
        return role, None
    m = re.fullmatch(r"(supplier|consumer)_(\d+)", role)
    if m is None:
        raise ValueError(f"not a role: {role!r}")
    return m.group(1), int(m.group(2))


def check_view(view_dir: Path, run_dir: Path) -> list[str]:
    """Every way ``view_dir`` exceeds its role's entitlements (empty: none).

    The run directory (the researcher's view) supplies what the rules need: the participants'
    buses and suppliers (``participants_info.csv``) and k (``privacy.json``).
    """
    view_dir, run_dir = Path(view_dir), Path(run_dir)
    kind, index = role_kind(view_dir.name)
    allowed = ENTITLEMENTS[kind]
    problems: list[str] = []
    info = pd.read_csv(run_dir / "participants_info.csv")
    k = int(json.loads((run_dir / "privacy.json").read_text())["min_group_members"])
    declared = json.loads((view_dir / "view.json").read_text())
    if declared.get("role") != view_dir.name:
        problems.append(f"view.json names role {declared.get('role')!r}")
    for path in sorted(view_dir.iterdir()):
        if path.name == "view.json":
            continue
        if path.name not in allowed:
            problems.append(f"{path.name}: file not entitled")
            continue
        frame = pd.read_csv(path)
        extra = set(frame.columns) - set(allowed[path.name].columns)
        if extra:
            problems.append(f"{path.name}: columns not entitled {sorted(extra)}")
        if list(frame.columns) != declared.get("files", {}).get(path.name):
            problems.append(f"{path.name}: columns differ from view.json")
        problems.extend(_row_rules(kind, index, path.name, frame, info, k, run_dir))
    return problems


def _row_rules(
    kind: str,
    index: int | None,
    name: str,
    frame: pd.DataFrame,
    info: pd.DataFrame,
    k: int,
    run_dir: Path,
) -> list[str]:
    out = []
    if kind == "consumer" and "participant" in frame and (frame["participant"] != index).any():
        out.append(f"{name}: rows of other participants")
    if kind == "consumer" and name == "aggregates.csv" and frame["group"].nunique() > 1:
        out.append(f"{name}: aggregates of more than its own group")
    if kind == "supplier" and "supplier" in frame and (frame["supplier"] != index).any():
        out.append(f"{name}: rows of other suppliers")
    if kind == "supplier" and name == "bills.csv":
        theirs = set(info.loc[info["supplier"] == index, "participant"])
        if not set(frame["participant"]) <= theirs:
            out.append(f"{name}: bills of other suppliers' customers")
    if kind == "grid_operator" and name == "buses.csv" and "p_mw" in frame:
        counts = info.groupby("bus").size()
        small = counts[(counts > 0) & (counts < k)].index
        if frame.loc[frame["bus"].isin(small), "p_mw"].notna().any():
            out.append(f"{name}: p_mw of buses with fewer than {k} participants")
    if kind == "grid_operator" and name == "aggregates.csv" and (frame["members"] < k).any():
        out.append(f"{name}: aggregates over fewer than {k} meters")
    for table, key in (("lines.csv", "line"), ("trafos.csv", "trafo")):
        if kind == "grid_operator" and name == table:
            report = json.loads((run_dir / "privacy.json").read_text())
            small = report.get(f"withheld_{key}s", [])
            if frame.loc[frame[key].isin(small), "loading_percent"].notna().any():
                out.append(f"{name}: loadings of {key}s feeding fewer than {k} participants")
    return out
