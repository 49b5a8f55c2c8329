"""Power-flow backends: one interface (:class:`PowerFlow`) and one registry (``grid.backend``).

Both backends solve the same AC power flow on their own prepared copy of the network and
return :class:`cosim.grid.powerflow.FlowResult`; ``pandapower`` is the reference,
``lightsim2grid`` the fast one (tested against pandapower to 1e-8). A backend is a class built
as ``Backend(net, participant_bus)``; one that cannot model a network raises ``ValueError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from cosim.registry import Registry

if TYPE_CHECKING:
    from cosim.faults import Outage
    from cosim.grid.powerflow import FlowResult

__all__ = ["POWER_FLOWS", "PowerFlow", "PowerFlowBackend"]


class PowerFlow(Protocol):
    """An AC power flow of one network with the participants attached to its buses.

    Attributes
    ----------
    bus_ids, line_ids, trafo_ids : numpy.ndarray
        pandapower indices of the rows of :class:`FlowResult`'s arrays.
    """

    bus_ids: np.ndarray
    line_ids: np.ndarray
    trafo_ids: np.ndarray

    def solve(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> FlowResult:
        """One power flow: per participant active [kW] and reactive [kvar] power drawn."""
        ...

    def solve_batch(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> list[FlowResult]:
        """Independent power flows of consecutive slots (rows), bit-identical to :meth:`solve`."""
        ...

    def set_outage(self, outage: Outage) -> None:
        """Solve the following flows without the outage's lines and transformers."""
        ...


class PowerFlowBackend(Protocol):
    """A registered backend: ``Backend(net, participant_bus)``."""

    def __call__(self, net: Any, participant_bus: np.ndarray) -> PowerFlow: ...


#: ``grid.backend``: name -> backend class (imported on first use).
POWER_FLOWS: Registry[PowerFlowBackend] = Registry(
    "grid.backend",
    {
        "pandapower": "cosim.grid.powerflow:PandapowerFlow",
        "lightsim2grid": "cosim.grid.lightsim:LightsimFlow",
    },
)
