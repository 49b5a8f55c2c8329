"""Per-slot double auction: merit-order matching with partial fills.

The clearing is a pure function of an :class:`~cosim.market.orders.OrderBook`. Bids are
sorted by limit price descending, asks ascending, ties by participant id ascending
(then by position in the book). The sorted bids form a decreasing step function of
cumulative energy, the sorted asks an increasing one. Every interval between two
consecutive breakpoints of the two step functions pairs exactly one bid with exactly one
ask; the intervals where the bid price is at least the ask price are the trades. A bid can
therefore trade with several asks and an ask with several bids, and whatever is left of an
order is always offered to the next order on the other side.

Self-trade prevention: an interval that pairs a participant's bid with its own ask is not a
trade. Both orders are decremented by its energy (the participant keeps its own energy), which
is reported in :attr:`ClearingResult.netted_kwh`; every other interval keeps its pairing. This
needs no extra matching pass: removing the same interval from both step functions leaves the
rest of the pairing unchanged. It only happens when a participant bids at or above its own ask.

See ``docs/market.md`` for the price rules and a worked example.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np
from numpy.typing import NDArray

from cosim.conventions import BUY, SELL
from cosim.market.orders import OrderBook
from cosim.registry import Registry

Mechanism = str
"""Name of a price rule registered in :data:`PRICE_RULES`."""

MIN_TRADE_KWH: Final[float] = 1e-12
"""Matched intervals shorter than this [kWh] are rounding residue and are dropped."""


@dataclass(frozen=True, eq=False)
class Trades:
    """Executed trades of one slot, in merit order (best bid and best ask first).

    Parameters
    ----------
    buyer : array of int64, shape (m,)
        Participant id of the buyer of each trade.
    seller : array of int64, shape (m,)
        Participant id of the seller of each trade; never equal to ``buyer``.
    energy_kwh : array of float64, shape (m,)
        Traded energy [kWh], at least :data:`MIN_TRADE_KWH`.
    price : array of float64, shape (m,)
        Price [currency/kWh] the buyer pays and the seller receives.
    """

    buyer: NDArray[np.int64]
    seller: NDArray[np.int64]
    energy_kwh: NDArray[np.float64]
    price: NDArray[np.float64]

    def __len__(self) -> int:
        """Return the number of trades."""
        return int(self.buyer.shape[0])


@dataclass(frozen=True, eq=False)
class ClearingResult:
    """Outcome of clearing one order book.

    Per-order arrays are aligned with the input :class:`OrderBook`. Energy an order did
    not trade (``energy_kwh - filled_kwh - netted_kwh``) is not handled here: the caller
    settles it with the retailer (retail price for buyers, feed-in tariff for sellers).

    Parameters
    ----------
    trades : Trades
        The executed trades.
    filled_kwh : array of float64, shape (n,)
        Energy of each order matched in trades [kWh]; 0 if unmatched.
    avg_price : array of float64, shape (n,)
        Volume-weighted price of each order's trades [currency/kWh]; NaN if unfilled.
    clearing_price : float
        ``pay_as_clear``: the uniform price. ``pay_as_bid``: the volume-weighted mean
        trade price [currency/kWh]. NaN if nothing traded.
    traded_kwh : float
        Total traded energy [kWh] (= total bought = total sold).
    netted_kwh : array of float64, shape (n,)
        Energy of each order that the merit order paired with another order of the same
        participant [kWh]. It is not a trade: the participant's own bid and ask cancel.
        Zero unless a participant bids at or above its own ask.
    """

    trades: Trades
    filled_kwh: NDArray[np.float64]
    avg_price: NDArray[np.float64]
    clearing_price: float
    traded_kwh: float
    netted_kwh: NDArray[np.float64]


def clear(book: OrderBook, mechanism: Mechanism) -> ClearingResult:
    """Clear one slot's order book with a double auction.

    Bids are ranked by limit price descending and asks ascending, ties by participant id
    ascending. Orders match in that merit order while the bid's limit is at least the
    ask's, with partial fills; a participant never trades with itself.

    Price rules:

    * ``pay_as_clear``: every trade at one uniform price, the midpoint of the limit
      prices of the marginal (last matched) bid and ask. The marginal bid is the lowest
      matched bid and the marginal ask the highest matched ask, so the price is at most
      every matched buyer's limit and at least every matched seller's limit.
    * ``pay_as_bid``: each trade at its buyer's limit price; the seller receives it.

    Parameters
    ----------
    book : OrderBook
        The slot's orders.
    mechanism : str
        The price rule, a name of :data:`PRICE_RULES` (``pay_as_clear``, ``pay_as_bid``).

    Returns
    -------
    ClearingResult
        Trades, per-order fills and prices, the clearing price [currency/kWh] and the
        traded energy [kWh]. An empty book, a book with one side empty, or one whose
        best bid is below its best ask gives no trades and a NaN clearing price.

    Raises
    ------
    ValueError
        If ``mechanism`` is not a registered price rule (:data:`PRICE_RULES`).

    Examples
    --------
    >>> from cosim.conventions import BUY, SELL
    >>> from cosim.market.orders import OrderBook
    >>> book = OrderBook(
    ...     participant=[1, 2, 3],
    ...     side=[BUY, SELL, SELL],
    ...     energy_kwh=[4.0, 3.0, 3.0],
    ...     limit_price=[0.30, 0.10, 0.20],
    ... )
    >>> result = clear(book, "pay_as_clear")
    >>> result.trades.seller.tolist(), result.trades.energy_kwh.tolist()
    ([2, 3], [3.0, 1.0])
    >>> round(result.clearing_price, 10)  # midpoint of bid 0.30 and marginal ask 0.20
    0.25
    """
    rule = PRICE_RULES.load(mechanism)
    n = len(book)
    buy_idx = np.flatnonzero(book.side == BUY)
    sell_idx = np.flatnonzero(book.side == SELL)
    if buy_idx.size == 0 or sell_idx.size == 0:
        return _no_trades(n, np.zeros(n))

    # Merit order. lexsort is stable and sorts by its last key first.
    participant = book.participant
    price = book.limit_price
    bids = buy_idx[np.lexsort((participant[buy_idx], -price[buy_idx]))]
    asks = sell_idx[np.lexsort((participant[sell_idx], price[sell_idx]))]
    bid_price = price[bids]
    ask_price = price[asks]
    if bid_price[0] < ask_price[0]:
        return _no_trades(n, np.zeros(n))

    # Cumulative step functions and the intervals between their breakpoints.
    cum_bid = np.cumsum(book.energy_kwh[bids])
    cum_ask = np.cumsum(book.energy_kwh[asks])
    matchable = min(cum_bid[-1], cum_ask[-1])  # equals one breakpoint exactly
    ends = np.union1d(cum_bid, cum_ask)
    ends = ends[: np.searchsorted(ends, matchable, side="right")]
    starts = np.concatenate(([0.0], ends[:-1]))
    # The order covering the interval (start, end] is the first one whose cumulative
    # energy reaches `end`.
    seg_bid = np.searchsorted(cum_bid, ends, side="left")
    seg_ask = np.searchsorted(cum_ask, ends, side="left")
    # Bid prices fall and ask prices rise along the intervals, so the crossing intervals
    # are a prefix; its end is the matched quantity.
    crosses = bid_price[seg_bid] >= ask_price[seg_ask]
    n_cross = crosses.size if bool(crosses[-1]) else int(np.argmin(crosses))

    b = bids[seg_bid[:n_cross]]
    a = asks[seg_ask[:n_cross]]
    q = ends[:n_cross] - starts[:n_cross]
    big = q >= MIN_TRADE_KWH
    own = participant[b] == participant[a]
    netted = np.zeros(n)
    if np.any(own & big):  # rare: a participant's bid crossed its own ask
        self_b, self_a, self_q = b[own & big], a[own & big], q[own & big]
        netted = _sum_by(self_b, self_q, n) + _sum_by(self_a, self_q, n)
    keep = big & ~own
    if not np.any(keep):
        return _no_trades(n, netted)
    b, a, q = b[keep], a[keep], q[keep]

    filled = _sum_by(b, q, n) + _sum_by(a, q, n)
    traded = float(q.sum())
    trade_price, avg_price, clearing_price = rule(price, b, a, q, filled)
    trades = Trades(
        buyer=participant[b],
        seller=participant[a],
        energy_kwh=q,
        price=trade_price,
    )
    return ClearingResult(
        trades=trades,
        filled_kwh=filled,
        avg_price=avg_price,
        clearing_price=clearing_price,
        traded_kwh=traded,
        netted_kwh=netted,
    )


class PriceRule(Protocol):
    """A clearing mechanism's price rule, given the matched intervals of the merit order.

    Arguments: every order's limit price [currency/kWh]; per matched interval the bid's and
    the ask's order index and the energy [kWh]; every order's filled energy [kWh]. Returns
    each trade's price, each order's average price (NaN where unfilled) and the slot's
    clearing price (energy-weighted mean of the trade prices) [currency/kWh].
    """

    def __call__(
        self,
        limit_price: NDArray[np.float64],
        bid: NDArray[np.intp],
        ask: NDArray[np.intp],
        energy_kwh: NDArray[np.float64],
        filled_kwh: NDArray[np.float64],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], float]: ...


def pay_as_clear(
    limit_price: NDArray[np.float64],
    bid: NDArray[np.intp],
    ask: NDArray[np.intp],
    energy_kwh: NDArray[np.float64],
    filled_kwh: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """Every trade at the midpoint of the marginal (last matched) bid's and ask's limits."""
    # Last kept interval = lowest matched bid and highest matched ask. Halving each term
    # first cannot overflow and keeps the result between the two limits.
    uniform = float(0.5 * limit_price[bid[-1]] + 0.5 * limit_price[ask[-1]])
    trade_price = np.full(energy_kwh.shape, uniform)
    avg_price = np.where(filled_kwh > 0.0, uniform, np.nan)
    return trade_price, avg_price, uniform


def pay_as_bid(
    limit_price: NDArray[np.float64],
    bid: NDArray[np.intp],
    ask: NDArray[np.intp],
    energy_kwh: NDArray[np.float64],
    filled_kwh: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """Each trade at its buyer's limit price; the seller receives it."""
    n = limit_price.size
    trade_price = limit_price[bid]
    value = _sum_by(bid, energy_kwh * trade_price, n) + _sum_by(ask, energy_kwh * trade_price, n)
    avg_price = np.full(n, np.nan)
    np.divide(value, filled_kwh, out=avg_price, where=filled_kwh > 0.0)
    return trade_price, avg_price, float(np.dot(energy_kwh, trade_price) / energy_kwh.sum())


#: ``market.mechanism``: the price rules of the double auction.
PRICE_RULES: Registry[PriceRule] = Registry(
    "market.mechanism", {"pay_as_clear": pay_as_clear, "pay_as_bid": pay_as_bid}
)


def _sum_by(index: NDArray[np.intp], weights: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    """Sum ``weights`` per order index into an array of length ``n``."""
    return np.bincount(index, weights=weights, minlength=n).astype(np.float64, copy=False)


def _no_trades(n: int, netted: NDArray[np.float64]) -> ClearingResult:
    """Return the result of a slot without trades for a book of ``n`` orders."""
    trades = Trades(
        buyer=np.empty(0, dtype=np.int64),
        seller=np.empty(0, dtype=np.int64),
        energy_kwh=np.empty(0, dtype=np.float64),
        price=np.empty(0, dtype=np.float64),
    )
    return ClearingResult(
        trades=trades,
        filled_kwh=np.zeros(n),
        avg_price=np.full(n, np.nan),
        clearing_price=float("nan"),
        traded_kwh=0.0,
        netted_kwh=netted,
    )


__all__ = [
    "MIN_TRADE_KWH",
    "PRICE_RULES",
    "ClearingResult",
    "Mechanism",
    "PriceRule",
    "Trades",
    "clear",
    "pay_as_bid",
    "pay_as_clear",
]
