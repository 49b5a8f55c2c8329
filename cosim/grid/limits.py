"""The network limits the market's network check and the feeder-aware battery planner keep.

:class:`NetworkLimits` is built once from the scenario (``grid.v_min_pu``, ``grid.v_max_pu``,
``market.network_margin``, ``market.network_voltage_margin_pu``) and travels as one value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = ["DEFAULT_THERMAL_MARGIN", "NetworkLimits"]

#: Default thermal safety margin per linear model (``market.network_margin`` unset) [-]: the
#: share of a branch rating kept free for the model's measured linearisation error against
#: the AC power flow (docs/network_check.md).
DEFAULT_THERMAL_MARGIN: Final[Mapping[str, float]] = MappingProxyType(
    {"lindistflow": 0.04, "dc": 0.15}
)


@dataclass(frozen=True)
class NetworkLimits:
    """Voltage band and safety margins.

    Attributes
    ----------
    v_min_pu, v_max_pu : float
        Voltage band [p.u.].
    thermal_margin : float
        Share of each branch rating kept free [-].
    voltage_margin_pu : float
        Tightening of the voltage band on each side [p.u.].

    >>> NetworkLimits.for_model("dc", 0.9, 1.1, None, 0.01).thermal_margin
    0.15
    >>> NetworkLimits.for_model("lindistflow", 0.9, 1.1, 0.1, 0.0).thermal_margin
    0.1
    """

    v_min_pu: float
    v_max_pu: float
    thermal_margin: float = 0.0
    voltage_margin_pu: float = 0.0

    @classmethod
    def for_model(
        cls,
        model: str,
        v_min_pu: float,
        v_max_pu: float,
        thermal_margin: float | None,
        voltage_margin_pu: float,
    ) -> NetworkLimits:
        """The limits for a linear ``model`` (``dc``, ``lindistflow`` or ``none``); a thermal
        margin of None takes the model's default (:data:`DEFAULT_THERMAL_MARGIN`)."""
        thermal = (
            DEFAULT_THERMAL_MARGIN.get(model, 0.0) if thermal_margin is None else thermal_margin
        )
        return cls(v_min_pu, v_max_pu, thermal, voltage_margin_pu)
