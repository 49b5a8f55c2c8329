"""Order book of one market slot.

An order book is a struct of arrays: entry ``k`` is one order of participant
``participant[k]`` to buy (``side[k] == BUY``) or sell (``side[k] == SELL``)
``energy_kwh[k]`` at a limit price ``limit_price[k]``. It holds no behaviour beyond
validation; clearing lives in :mod:`cosim.market.auction`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cosim.conventions import BUY, SELL


@dataclass(frozen=True, eq=False)
class OrderBook:
    """Orders of one slot, one order per entry.

    Inputs are converted to the dtypes below, copied and made read-only, so a book
    cannot change after construction. Normally each participant has one order (its
    forecast net position), but several orders per participant, on either side, are
    allowed; the auction never lets a participant trade with itself.

    Parameters
    ----------
    participant : array of int, shape (n,)
        Participant id of each order; stored as int64.
    side : array of int, shape (n,)
        :data:`BUY` (+1) or :data:`SELL` (-1); stored as int8.
    energy_kwh : array of float, shape (n,)
        Offered energy of each order [kWh], finite and > 0; stored as float64.
    limit_price : array of float, shape (n,)
        Limit price [currency/kWh], finite: for a buyer the most it pays, for a seller
        the least it accepts; stored as float64. Negative prices are allowed.

    Raises
    ------
    ValueError
        If the arrays are not one-dimensional and of equal length, ids are not
        integers, a side is neither BUY nor SELL, an energy is not finite and
        positive, or a price is not finite. These are programming errors of the
        caller, not user input errors.

    Examples
    --------
    >>> book = OrderBook(
    ...     participant=[1, 2], side=[BUY, SELL], energy_kwh=[5.0, 3.0], limit_price=[0.3, 0.1]
    ... )
    >>> len(book)
    2
    """

    participant: NDArray[np.int64]
    side: NDArray[np.int8]
    energy_kwh: NDArray[np.float64]
    limit_price: NDArray[np.float64]

    def __post_init__(self) -> None:
        participant = _integer_array(self.participant, "participant", np.int64)
        side = _integer_array(self.side, "side", np.int8)
        energy = _float_array(self.energy_kwh, "energy_kwh")
        price = _float_array(self.limit_price, "limit_price")
        n = participant.shape[0]
        for name, arr in (("side", side), ("energy_kwh", energy), ("limit_price", price)):
            if arr.shape[0] != n:
                raise ValueError(
                    f"OrderBook.{name} has {arr.shape[0]} entries, participant has {n}"
                )
        if not np.all((side == BUY) | (side == SELL)):
            raise ValueError(f"OrderBook.side must be BUY ({BUY}) or SELL ({SELL})")
        if not np.all(np.isfinite(energy) & (energy > 0.0)):
            raise ValueError("OrderBook.energy_kwh must be finite and > 0")
        if not np.all(np.isfinite(price)):
            raise ValueError("OrderBook.limit_price must be finite")
        for name, arr in (
            ("participant", participant),
            ("side", side),
            ("energy_kwh", energy),
            ("limit_price", price),
        ):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    def __len__(self) -> int:
        """Return the number of orders."""
        return int(self.participant.shape[0])

    @classmethod
    def empty(cls) -> OrderBook:
        """Return a book without orders.

        Returns
        -------
        OrderBook
            A book of length 0.
        """
        return cls(
            participant=np.empty(0, dtype=np.int64),
            side=np.empty(0, dtype=np.int8),
            energy_kwh=np.empty(0, dtype=np.float64),
            limit_price=np.empty(0, dtype=np.float64),
        )


def _as_1d(values: ArrayLike, name: str) -> NDArray[np.generic]:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"OrderBook.{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _integer_array(
    values: ArrayLike, name: str, dtype: type[np.int64] | type[np.int8]
) -> NDArray[np.signedinteger[Any]]:
    arr = _as_1d(values, name)
    # An empty list arrives as float64; anything non-empty must really be integer.
    if arr.size and arr.dtype.kind not in "iu":
        raise ValueError(f"OrderBook.{name} must hold integers, got dtype {arr.dtype}")
    if arr.size and arr.dtype.kind == "u" and arr.max() > np.iinfo(dtype).max:
        raise ValueError(f"OrderBook.{name} does not fit in {np.dtype(dtype).name}")
    out: NDArray[np.signedinteger[Any]] = np.array(arr, dtype=dtype, copy=True)
    if arr.size and not np.array_equal(out, arr):
        raise ValueError(f"OrderBook.{name} does not fit in {np.dtype(dtype).name}")
    return out


def _float_array(values: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = _as_1d(values, name)
    if arr.size and arr.dtype.kind not in "iuf":
        raise ValueError(f"OrderBook.{name} must hold real numbers, got dtype {arr.dtype}")
    return np.array(arr, dtype=np.float64, copy=True)
