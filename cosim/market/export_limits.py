"""From the network check to physical export limits and executed trades (pure functions).

In the co-simulation the power flow sees the metered injections, not the trades: a trade
between a seller and a buyer changes nobody's physics by itself. What the network can be
protected from is *injection*. So cosim runs the network check on the sellers' exports:

* every P2P trade is a pseudo-trade from its seller's bus to the external-grid (slack) bus, and
  every seller's forecast export that the auction did not match (sold to its supplier at the
  feed-in tariff) is one more pseudo-trade, after the P2P ones;
* the base case is everyone's forecast net position except the sellers' exports (loads and
  buyers' imports are never curtailed: load is always served);
* :func:`cosim.market.network_check.check_trades` returns the executable fraction of each
  pseudo-trade (it maximises exported energy; ties favour P2P, which comes first);
* a P2P trade is executed at its fraction (the remainder goes to the retailer: the buyer pays
  the retail price for it, the seller gets nothing for energy it may not export);
* each seller the check held back (any of its pseudo-trades below fraction 1) gets an export
  cap = executed P2P + allowed feed-in; during delivery its inverter curtails PV beyond the cap
  (:func:`cosim.participants.fulfilment.deliver`). Sellers the check did not hold back are not
  capped, so a
  forecast error alone never curtails PV.

The check works on forecasts at gate closure; the cap is physical, so a seller's actual export
never exceeds what the check allowed. Participants without a sell order are not capped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosim.conventions import SELL
from cosim.grid.linear import LinearGridModel
from cosim.market.auction import MIN_TRADE_KWH, ClearingResult, Trades
from cosim.market.network_check import check_trades
from cosim.market.orders import OrderBook

__all__ = ["ExportDecision", "apply_fractions", "limit_exports"]

#: Unmatched exports below this are not checked [kWh].
EXPORT_TOL_KWH = 1e-9
#: A pseudo-trade executed at a fraction this close to 1 counts as not held back [-].
FRACTION_TOL = 1e-9


@dataclass(frozen=True)
class ExportDecision:
    """Outcome of the network check for one slot.

    Attributes
    ----------
    trade_fraction : ndarray
        Executable fraction of each P2P trade, in [0, 1].
    export_cap_kwh : ndarray
        Per participant, the most it may export in the slot [kWh]; ``inf`` where uncapped
        (everyone but the sellers the check held back).
    p2p_requested_kwh, p2p_executable_kwh : float
        Matched and executable P2P energy [kWh].
    export_requested_kwh, export_allowed_kwh : float
        Sellers' forecast export and the part the check allows [kWh] (P2P and feed-in).
    status : str
        The check's status (``optimal``, ``unconstrained``, ``no_trades``, ``solver_failed``).
    """

    trade_fraction: np.ndarray
    export_cap_kwh: np.ndarray
    p2p_requested_kwh: float
    p2p_executable_kwh: float
    export_requested_kwh: float
    export_allowed_kwh: float
    status: str


def limit_exports(
    model: LinearGridModel,
    slack_bus: int,
    participant_bus: np.ndarray,
    side: np.ndarray,
    forecast_net_kwh: np.ndarray,
    q_kvar: np.ndarray,
    trades: Trades,
    slot_hours: float,
    v_min_pu: float,
    v_max_pu: float,
    margin: float,
    v_margin_pu: float,
) -> ExportDecision:
    """Run the network check on the sellers' exports (see the module docstring).

    Parameters
    ----------
    model : LinearGridModel
        Linear model of the (derated) network.
    slack_bus : int
        pandapower index of the external-grid bus.
    participant_bus : ndarray of int64
        Bus of each participant.
    side : ndarray of int8
        Order side per participant (+1, -1, 0).
    forecast_net_kwh : ndarray
        Forecast net import per participant at gate closure [kWh].
    q_kvar : ndarray
        Reactive power per participant [kvar].
    trades : Trades
        The auction's trades.
    slot_hours : float
        Slot length [h].
    v_min_pu, v_max_pu : float
        Voltage band [pu].
    margin : float
        Thermal safety margin [-].
    v_margin_pu : float
        Voltage safety margin [pu].

    Returns
    -------
    ExportDecision
    """
    n = participant_bus.size
    seller = side == SELL
    export_kwh = np.where(seller, np.maximum(-forecast_net_kwh, 0.0), 0.0)
    sold_kwh = np.bincount(trades.seller, trades.energy_kwh, n) if len(trades) else np.zeros(n)
    unmatched_kwh = np.maximum(export_kwh - sold_kwh, 0.0)
    feed_in = np.flatnonzero(unmatched_kwh > EXPORT_TOL_KWH)

    sellers = np.concatenate([trades.seller, feed_in]).astype(np.int64)
    energy = np.concatenate([trades.energy_kwh, unmatched_kwh[feed_in]])
    base_kwh = np.where(seller, forecast_net_kwh + export_kwh, forecast_net_kwh)
    base_p = model.bus_vector(participant_bus, base_kwh / slot_hours)
    base_q = model.bus_vector(participant_bus, q_kvar)
    result = check_trades(
        model,
        participant_bus[sellers],
        np.full(sellers.size, slack_bus, dtype=np.int64),
        energy,
        base_p,
        base_q,
        slot_hours,
        v_min_pu=v_min_pu,
        v_max_pu=v_max_pu,
        margin=margin,
        v_margin_pu=v_margin_pu,
    )
    m = len(trades)
    if result.status == "solver_failed":
        # the market does not act on a failed check: no P2P, and no physical cap either
        fraction = np.zeros(sellers.size)
        cap = np.full(n, np.inf)
    else:
        fraction = np.asarray(result.fraction, dtype=float)
        allowed = np.bincount(sellers, fraction * energy, n)
        # only sellers the check actually held back are capped: an unconstrained seller may
        # export more than it forecast (forecast error) without any limit binding
        held_back = np.bincount(sellers, (fraction < 1.0 - FRACTION_TOL).astype(float), n) > 0
        cap = np.where(seller & held_back, allowed, np.inf)
    p2p_fraction = fraction[:m]
    return ExportDecision(
        trade_fraction=p2p_fraction,
        export_cap_kwh=cap,
        p2p_requested_kwh=float(trades.energy_kwh.sum()),
        p2p_executable_kwh=float((p2p_fraction * trades.energy_kwh).sum()),
        export_requested_kwh=float(energy.sum()),
        export_allowed_kwh=float((fraction * energy).sum()),
        status=result.status,
    )


def apply_fractions(
    result: ClearingResult, book: OrderBook, fraction: np.ndarray
) -> ClearingResult:
    """The clearing result with each trade executed at ``fraction`` of its energy.

    Trades executed at zero are dropped; per-order fills and volume-weighted prices are
    recomputed from the executed trades; prices of executed trades are unchanged.

    Parameters
    ----------
    result : ClearingResult
        The auction's result.
    book : OrderBook
        The order book it cleared (one order per participant).
    fraction : ndarray
        Executable fraction per trade, in [0, 1].
    """
    t = result.trades
    energy = t.energy_kwh * fraction
    keep = energy >= MIN_TRADE_KWH
    trades = Trades(t.buyer[keep], t.seller[keep], energy[keep], t.price[keep])
    ids = book.participant
    size = int(ids.max()) + 1 if ids.size else 0
    by_id = np.bincount(trades.buyer, trades.energy_kwh, size) + np.bincount(
        trades.seller, trades.energy_kwh, size
    )
    money = np.bincount(trades.buyer, trades.energy_kwh * trades.price, size) + np.bincount(
        trades.seller, trades.energy_kwh * trades.price, size
    )
    filled = np.asarray(by_id[ids], dtype=np.float64)
    safe = np.where(filled > 0, filled, 1.0)
    avg = np.where(filled > 0, np.asarray(money[ids], dtype=np.float64) / safe, np.nan)
    traded = float(trades.energy_kwh.sum())
    if not len(trades):
        price = float("nan")
    elif np.all(trades.price == trades.price[0]):
        price = float(trades.price[0])
    else:
        price = float((trades.energy_kwh * trades.price).sum() / traded)
    return ClearingResult(
        trades=trades,
        filled_kwh=filled,
        avg_price=avg,
        clearing_price=price,
        traded_kwh=traded,
        netted_kwh=result.netted_kwh,
    )
