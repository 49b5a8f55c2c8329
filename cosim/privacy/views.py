"""Role views: ``views/<role>/``, each a partial run directory of what that role learned.

Built only from the actors' own records: the grid operator's log of released aggregates and
network monitoring (:class:`cosim.privacy.metering.GridOperatorLog`), the settlement's key
holders' decryptions (:class:`cosim.settlement.protocol.Disclosures`), each consumer's own
meter log. With ``settlement.encryption: plain`` there is no protocol: the plaintext Ledger
is the suppliers' own billing system, so a supplier's bills and totals are the Ledger's for its
customers (and a consumer's bill is what its supplier sends it). The researcher's view is the
run directory itself. :mod:`cosim.privacy.entitlements` lists what each role may hold.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cosim.jsonio import write_json
from cosim.results.formats import FORMATS
from cosim.results.writer import write_table

if TYPE_CHECKING:  # metering calls write_views: a runtime import would be a cycle
    from cosim.privacy.metering import PrivateMetering

__all__ = ["write_views"]

_BUILT_FROM = {
    "grid_operator": "the grid operator's released group aggregates, its network monitoring "
    "(power flow without the powers of buses, lines and transformers behind fewer than k "
    "participants) and, with an encrypted settlement, the aggregates and pots it decrypted",
    "supplier": "the bills and per-slot balances the supplier decrypted (plain settlement: its "
    "own billing of its customers)",
    "consumer": "the consumer's own meter log, the bill its supplier sent, and the released "
    "aggregates of its own group",
}


class _Long:
    """A long table ``slot, <key>, <columns...>`` from (slot x element) arrays, written in
    chunks of slots so that a year's view never exists as one data frame."""

    CHUNK_SLOTS = 1000

    def __init__(self, ids: np.ndarray, key: str, values: dict[str, np.ndarray]) -> None:
        self.ids, self.key, self.values = ids, key, values
        self.columns = ["slot", key, *values]

    def frame(self, start: int, stop: int) -> pd.DataFrame:
        n = self.ids.size
        return pd.DataFrame(
            {
                "slot": np.repeat(np.arange(start, stop), n),
                self.key: np.tile(self.ids, stop - start),
                **{c: v[start:stop].reshape(-1) for c, v in self.values.items()},
            }
        )

    def write(self, path: Path) -> None:
        n_slots = next(iter(self.values.values())).shape[0]
        csv = FORMATS["csv"]
        first = self.frame(0, min(n_slots, self.CHUNK_SLOTS))
        csv.write(path, first)
        for start in range(self.CHUNK_SLOTS, n_slots, self.CHUNK_SLOTS):
            chunk = self.frame(start, min(n_slots, start + self.CHUNK_SLOTS))
            csv.append(path, {str(c): chunk[c].to_numpy() for c in chunk.columns})


def _write(view: Path, role: str, kind: str, files: dict[str, pd.DataFrame | _Long]) -> None:
    view.mkdir(parents=True, exist_ok=True)
    for name, frame in files.items():
        if isinstance(frame, _Long):
            frame.write(view / name)
        else:
            write_table(view / name, frame)
    write_json(
        view / "view.json",
        {
            "role": role,
            "built_from": _BUILT_FROM[kind],
            "files": {name: list(frame.columns) for name, frame in files.items()},
        },
    )


def _settlement_records(settlement: Any) -> tuple[pd.DataFrame, pd.DataFrame, Any]:
    """Bills and supplier totals as their holders know them, and the disclosures (or None)."""
    disclosures = getattr(settlement, "disclosures", None)
    if disclosures is None:  # plain: the Ledger is the suppliers' own billing
        return settlement.bills_frame(), settlement.suppliers_frame(), None
    rows = pd.DataFrame(
        disclosures.supplier_bills, columns=["supplier", "participant", "model", "amount"]
    )
    full = settlement.bills_frame()[["participant", "model", "supplier"]]
    summed = rows.groupby(["participant", "model"], sort=False)["amount"].sum()
    bills = full.assign(
        amount=[
            summed.get((p, m), 0.0) for p, m in zip(full["participant"], full["model"], strict=True)
        ]
    )[["participant", "model", "amount", "supplier"]]
    bal = pd.DataFrame(
        disclosures.supplier_balances,
        columns=["supplier", "slot", "model", "money", "energy_kwh"],
    )
    totals = (
        bal.groupby(["supplier", "model"], sort=False)
        .agg(profit=("money", "sum"), energy_kwh=("energy_kwh", "sum"))
        .reset_index()
    )
    return bills, totals, disclosures


def write_views(out_dir: Path, metering: PrivateMetering, settlement: Any) -> list[str]:
    """Write ``views/<role>/`` for the configured roles; return the role names written."""
    root = Path(out_dir) / "views"
    go = metering.grid_operator
    done = go.recorded
    times = [t.isoformat() for t in metering.slot_times[:done]]
    aggregates = metering.aggregates_frame()
    bills, totals, disclosures = _settlement_records(settlement)
    written = []

    files: dict[str, pd.DataFrame | _Long] = {
        "aggregates.csv": aggregates,
        "groups.csv": pd.DataFrame(
            {
                "group": [g.name for g in metering.groups],
                "participants": [int(g.members.size) for g in metering.groups],
            }
        ),
        "slots.csv": pd.DataFrame(
            {
                "slot": np.arange(done),
                "time": times,
                **{c: v[:done] for c, v in go.slot_values.items()},
                "pf_converged": go.pf_converged[:done],
            }
        ),
    }
    files["buses.csv"] = _Long(
        metering.bus_ids, "bus", {"vm_pu": go.vm_pu[:done], "p_mw": go.bus_p_mw[:done]}
    )
    files["lines.csv"] = _Long(
        metering.line_ids, "line", {"loading_percent": go.line_loading_percent[:done]}
    )
    files["trafos.csv"] = _Long(
        metering.trafo_ids, "trafo", {"loading_percent": go.trafo_loading_percent[:done]}
    )
    if disclosures is not None:
        agg = pd.DataFrame(
            disclosures.go_aggregates, columns=["slot", "aggregate", "members", "value_kwh"]
        )
        agg.insert(1, "time", [times[s] for s in agg["slot"]])
        files["settlement_aggregates.csv"] = agg
        pots = pd.DataFrame(disclosures.go_pots, columns=["slot", "model", "pot"])
        pots.insert(1, "time", [times[s] for s in pots["slot"]])
        files["pots.csv"] = pots
    _write(root / "grid_operator", "grid_operator", "grid_operator", files)
    written.append("grid_operator")

    for j in sorted(set(bills["supplier"].tolist()) | set(totals["supplier"].tolist())):
        role = f"supplier_{j}"
        files = {
            "bills.csv": bills[bills["supplier"] == j].reset_index(drop=True),
            "suppliers.csv": totals[totals["supplier"] == j].reset_index(drop=True),
        }
        if disclosures is not None:
            bal = pd.DataFrame(
                [r for r in disclosures.supplier_balances if r[0] == j],
                columns=["supplier", "slot", "model", "money", "energy_kwh"],
            ).drop(columns="supplier")
            bal.insert(1, "time", [times[s] for s in bal["slot"]])
            files["balances.csv"] = bal.sort_values(["slot", "model"], kind="stable").reset_index(
                drop=True
            )
        _write(root / role, role, "supplier", files)
        written.append(role)

    if metering.consumers is not None:
        for i in range(metering.n):
            role = f"consumer_{i}"
            group = metering.groups[int(metering.group_of[i])].name
            files = {
                "participants.csv": metering.consumers.frame(i),
                "bills.csv": bills[bills["participant"] == i].reset_index(drop=True),
                "aggregates.csv": aggregates[aggregates["group"] == group].reset_index(drop=True),
            }
            _write(root / role, role, "consumer", files)
            written.append(role)
    return written
