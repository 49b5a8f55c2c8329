"""Conventions shared by every layer: order sides, sign rules and array aliases.

This module is the one owner of these definitions; every module imports them from here.

Sign rules (see docs/glossary.md)
---------------------------------
- ``net_kwh`` is the net import read by a meter, ``load - pv + battery``: > 0 the participant
  drew energy from the grid, < 0 it exported.
- ``battery_kwh`` (and a battery set-point) is the energy into the battery on its AC side:
  > 0 charging, < 0 discharging.
- ``deviation_kwh = delivered_kwh - committed_kwh``, where ``delivered_kwh`` is ``net_kwh`` for a
  buyer (and for a participant without an order) and ``-net_kwh`` for a seller: > 0 means
  over-consumption (buyer) or over-supply (seller).
- A bill ``amount`` > 0 is paid by the participant, < 0 received by it.
- A bus injection ``p_mw`` > 0 is net consumption at the bus (pandapower's load convention).

Examples
--------
>>> from cosim.conventions import BUY, NO_ORDER, SELL
>>> (BUY, SELL, NO_ORDER)
(1, -1, 0)
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

__all__ = ["BUY", "NO_ORDER", "SELL", "BoolArray", "FloatArray", "IntArray"]

BUY: Final[int] = 1
"""Side code of a buy order (bid); a participant whose forecast net position draws energy."""

SELL: Final[int] = -1
"""Side code of a sell order (ask); a participant whose forecast net position exports."""

NO_ORDER: Final[int] = 0
"""Side code of a participant without an order in the slot."""

FloatArray = NDArray[np.float64]
"""Array of float64 (energies [kWh], prices [currency/kWh], money [currency])."""

IntArray = NDArray[np.int64]
"""Array of int64 (participant ids, fixed-point encodings)."""

BoolArray = NDArray[np.bool_]
"""Array of booleans (masks)."""
