"""Who may read what: access tokens, roles and the row filters each role gets.

Tokens are ``<role>.<mac>`` with ``mac`` the first 32 characters of the URL-safe base64 of
HMAC-SHA256(secret, ``"cosim-serve:" + role``). The server checks them statelessly with a
constant-time comparison; the secret is random per server start unless one is configured
(``COSIM_SERVE_SECRET`` or ``--secret-file``), in which case tokens stay valid across restarts.
Nothing secret is stored in the repository or in the results directory.

Roles: ``researcher`` reads the run directory itself; ``grid_operator``, ``supplier_<j>`` and
``consumer_<i>`` read only ``views/<role>/`` of a run (see :mod:`cosim.results.rundir`). On top of
what
a view holds, :func:`restrict` applies the role's row filter (defence in depth: a view that
holds too much is not passed on):

- every role: group aggregates only of groups with at least ``k`` members (``k`` from the
  view's ``view.json`` key ``k``, else ``settlement.min_aggregate_members`` of the view's
  scenario, at least 2);
- ``consumer_<i>``: rows of participant ``i`` only (``trades``: where it bought or sold);
- ``supplier_<j>``: rows of its own customers (column ``supplier``) and its own supplier rows;
- ``grid_operator``: no per-participant time series at all; bus injections only on buses with
  at least ``k`` participants.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import pandas as pd

from cosim.results.rundir import ROLE_PATTERN

__all__ = ["RESEARCHER", "Access", "Role", "restrict"]

RESEARCHER = "researcher"
_MAC_CHARS = 32


@dataclass(frozen=True)
class Role:
    """A parsed role name: ``kind`` (researcher, grid_operator, supplier, consumer), ``index``."""

    name: str
    kind: str
    index: int | None = None

    @classmethod
    def parse(cls, name: str) -> Role | None:
        """The role of ``name``, or None if it is not a role name."""
        if name == RESEARCHER:
            return cls(name, RESEARCHER)
        if not ROLE_PATTERN.fullmatch(name):
            return None
        if name == "grid_operator":
            return cls(name, "grid_operator")
        kind, _, index = name.rpartition("_")
        return cls(name, kind, int(index))


class Access:
    """Issues and checks access tokens.

    Parameters
    ----------
    secret : bytes, optional
        The server secret (at least 16 bytes). A fresh random one when None.
    """

    def __init__(self, secret: bytes | None = None) -> None:
        if secret is not None and len(secret) < 16:
            raise ValueError("the server secret must have at least 16 bytes")
        self._secret = secret if secret is not None else secrets.token_bytes(32)

    def _mac(self, role: str) -> str:
        digest = hmac.new(self._secret, f"cosim-serve:{role}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii")[:_MAC_CHARS]

    def token(self, role: str) -> str:
        """The access token of ``role``."""
        if Role.parse(role) is None:
            raise ValueError(f"not a role: {role!r}")
        return f"{role}.{self._mac(role)}"

    def role_of(self, token: str | None) -> Role | None:
        """The role a token was issued for, or None if the token is missing or forged."""
        if not token or "." not in token:
            return None
        name, _, mac = token.rpartition(".")
        role = Role.parse(name)
        if role is None:
            return None
        return role if hmac.compare_digest(mac.encode(), self._mac(name).encode()) else None


def min_group(view_k: object, scenario: dict[str, object]) -> int:
    """The minimum group size ``k`` for grid-operator releases (at least 2)."""
    settlement = scenario.get("settlement")
    candidates = [view_k]
    if isinstance(settlement, dict):
        candidates.append(settlement.get("min_aggregate_members"))
    for value in candidates:
        if isinstance(value, int) and not isinstance(value, bool):
            return max(2, value)
    return 2


#: Tables keyed by participant (a consumer sees its rows only; a supplier its customers').
PARTICIPANT_TABLES = ("participants", "participants_info", "bills", "rejected_payloads")


def restrict(
    role: Role, table: str, frame: pd.DataFrame, k: int = 2, bus_members: pd.Series | None = None
) -> pd.DataFrame | None:
    """Rows of ``frame`` (table ``table``) that ``role`` may see; None if none of the table.

    Parameters
    ----------
    role : Role
        Who reads.
    table : str
        Table name (``participants``, ``bills``, ``trades``, ``aggregates``, ``buses``...).
    frame : pandas.DataFrame
        The table as read from the role's view.
    k : int
        Minimum group size for the grid operator.
    bus_members : pandas.Series, optional
        Participants per bus (index: bus), used to blank the grid operator's ``p_mw`` of buses
        with fewer than ``k`` participants.
    """
    if role.kind == RESEARCHER:
        return frame
    if table == "aggregates":  # released group sums: only groups of at least k
        return frame[frame["members"] >= k] if "members" in frame else None
    if role.kind == "consumer":
        if table in PARTICIPANT_TABLES:
            return frame[frame["participant"] == role.index] if "participant" in frame else None
        if table == "trades":
            if "buyer" not in frame or "seller" not in frame:
                return None
            return frame[(frame["buyer"] == role.index) | (frame["seller"] == role.index)]
        if table == "suppliers":
            return None
        return frame
    if role.kind == "supplier":
        if table in PARTICIPANT_TABLES:
            return frame[frame["supplier"] == role.index] if "supplier" in frame else None
        if table == "suppliers":
            return frame[frame["supplier"] == role.index] if "supplier" in frame else None
        return frame
    # grid operator
    if table == "participants":
        return None  # never per-household series
    if table == "buses" and "p_mw" in frame and bus_members is not None:
        few = bus_members[(bus_members > 0) & (bus_members < k)].index
        frame = frame.copy()
        frame.loc[frame["bus"].isin(few), "p_mw"] = float("nan")
        return frame
    return frame
