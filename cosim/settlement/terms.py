"""Plaintext slot context and linear forms of the billing models.

:class:`SlotInfo` is what the trading platform legitimately sees of a slot in plaintext;
:class:`LinearForm` is ``c * coef_c + d * coef_d + const`` with plaintext coefficients, which
evaluates on float arrays and on ``dtype=object`` arrays of ciphertexts alike;
:class:`BillTerms` groups the three forms of one model (P2P money, supplier money, supplier
energy). The models themselves live in :mod:`cosim.settlement.billing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cosim.conventions import NO_ORDER, SELL, FloatArray

__all__ = ["BillTerms", "LinearForm", "Prices", "SlotInfo"]


def frozen_array(values: ArrayLike, dtype: Any, name: str) -> NDArray[Any]:
    """Return a read-only copy of ``values`` with ``dtype``: one slot (n,) or a chunk (slots, n)."""
    arr = np.array(values, dtype=dtype, copy=True)
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D (n,) or 2-D (slots, n), got shape {arr.shape}")
    arr.flags.writeable = False
    return arr


def sign_with_tolerance(values: ArrayLike, tol_kwh: float) -> NDArray[np.int8]:
    """Return the sign of ``values`` where ``|x| <= tol_kwh`` counts as zero."""
    x = np.asarray(values, dtype=np.float64)
    return (np.where(x > tol_kwh, 1, 0) - np.where(x < -tol_kwh, 1, 0)).astype(np.int8)


@dataclass(frozen=True, eq=False)
class SlotInfo:
    """Plaintext of one slot, or of a chunk of slots, that the trading platform legitimately sees.

    Every per-participant array has shape ``(n,)`` for one slot or ``(slots, n)`` for a chunk of
    slots (the plaintext ledger bills a chunk at once: one implementation of the formulas, over
    arrays of slots); ``slot_price`` is then a float or an array of shape ``(slots,)``.

    Parameters
    ----------
    side : array of int8, shape (n,) or (slots, n)
        +1 buy, -1 sell, 0 no order.
    accepted : array of bool, same shape
        True when any of the participant's order was matched.
    deviation_sign : array of int8, same shape
        Sign of ``d`` in {-1, 0, +1}; ``|d| <= tol`` is 0.
    net_sign : array of int8, same shape
        Sign of ``net_kwh = s * (c + d)``; used only by the retail settlement.
    p2p_price : array of float, same shape
        Price of the participant's committed energy [currency/kWh]: its volume-weighted trade
        price. Ignored (may be NaN) when not accepted.
    slot_price : float or array of float, shape (slots,)
        The slot's single P2P price used to redistribute deviations [currency/kWh]
        (pay-as-clear: the clearing price; pay-as-bid: the volume-weighted mean trade price).
        NaN when nothing traded.
    """

    side: NDArray[np.int8]
    accepted: NDArray[np.bool_]
    deviation_sign: NDArray[np.int8]
    net_sign: NDArray[np.int8]
    p2p_price: FloatArray
    slot_price: Any  # float for one slot, FloatArray (slots,) for a chunk

    def __post_init__(self) -> None:
        side = frozen_array(self.side, np.int8, "side")
        accepted = frozen_array(self.accepted, np.bool_, "accepted")
        dev_sign = frozen_array(self.deviation_sign, np.int8, "deviation_sign")
        net_sign = frozen_array(self.net_sign, np.int8, "net_sign")
        price = frozen_array(self.p2p_price, np.float64, "p2p_price")
        for name, arr in (
            ("accepted", accepted),
            ("deviation_sign", dev_sign),
            ("net_sign", net_sign),
            ("p2p_price", price),
        ):
            if arr.shape != side.shape:
                raise ValueError(f"{name} has shape {arr.shape}, side has {side.shape}")
        for name, arr in (("side", side), ("deviation_sign", dev_sign), ("net_sign", net_sign)):
            if arr.size and (arr.min() < -1 or arr.max() > 1):  # int8: same as isin {-1, 0, 1}
                raise ValueError(f"{name} must contain only -1, 0, +1")
        if np.any(accepted & (side == NO_ORDER)):
            raise ValueError("a participant without an order cannot be accepted")
        if np.any(accepted & ~np.isfinite(price)):
            raise ValueError("p2p_price must be finite for every accepted participant")
        slot_price: Any
        if side.ndim == 1:
            slot_price = float(self.slot_price)
        else:
            slot_price = np.array(self.slot_price, dtype=np.float64, copy=True)
            if slot_price.shape != side.shape[:1]:
                raise ValueError(f"slot_price must have shape {side.shape[:1]}")
            slot_price.flags.writeable = False
        if np.any(accepted.any(axis=-1) & ~np.isfinite(slot_price)):
            raise ValueError("slot_price must be finite when any participant is accepted")
        object.__setattr__(self, "side", side)
        object.__setattr__(self, "accepted", accepted)
        object.__setattr__(self, "deviation_sign", dev_sign)
        object.__setattr__(self, "net_sign", net_sign)
        object.__setattr__(self, "p2p_price", price)
        object.__setattr__(self, "slot_price", slot_price)

    @property
    def n_participants(self) -> int:
        """Number of participants in the slot."""
        return int(self.side.shape[-1])

    @property
    def orientation(self) -> FloatArray:
        """Orientation ``s`` per participant: -1.0 for sellers, +1.0 otherwise."""
        return np.where(self.side == SELL, -1.0, 1.0)


@dataclass(frozen=True)
class Prices:
    """Supplier tariffs.

    Parameters
    ----------
    retail_price : float
        Price the supplier charges for energy it sells [currency/kWh] (RP).
    feed_in_tariff : float
        Price the supplier pays for energy it buys [currency/kWh] (FiT).
    """

    retail_price: float
    feed_in_tariff: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.retail_price) and np.isfinite(self.feed_in_tariff)):
            raise ValueError("retail_price and feed_in_tariff must be finite")


@dataclass(frozen=True, eq=False)
class LinearForm:
    """Per-participant linear form ``c * coef_c + d * coef_d + const``.

    Parameters
    ----------
    coef_c : array of float, shape (n,) or (slots, n)
        Coefficient of the committed volume [unit of the result / kWh].
    coef_d : array of float, same shape
        Coefficient of the deviation [unit of the result / kWh].
    const : array of float, same shape
        Plaintext constant term [unit of the result].
    """

    coef_c: FloatArray
    coef_d: FloatArray
    const: FloatArray

    def __post_init__(self) -> None:
        coef_c = frozen_array(self.coef_c, np.float64, "coef_c")
        coef_d = frozen_array(self.coef_d, np.float64, "coef_d")
        const = frozen_array(self.const, np.float64, "const")
        if not coef_c.shape == coef_d.shape == const.shape:
            raise ValueError("coef_c, coef_d and const must have the same shape")
        object.__setattr__(self, "coef_c", coef_c)
        object.__setattr__(self, "coef_d", coef_d)
        object.__setattr__(self, "const", const)

    def evaluate(self, c: ArrayLike, d: ArrayLike) -> NDArray[Any]:
        """Evaluate the form elementwise.

        Only ``value + value``, ``value * float`` and ``value + float`` are applied to the
        entries of ``c`` and ``d``, so ``dtype=object`` arrays of ciphertexts work unchanged.

        Parameters
        ----------
        c : array, shape (n,)
            Committed volumes [kWh] (floats or ciphertexts).
        d : array, shape (n,)
            Deviations [kWh] (floats or ciphertexts).

        Returns
        -------
        numpy.ndarray, shape (n,)
            ``c * coef_c + d * coef_d + const``; float for float input, object otherwise.

        Examples
        --------
        >>> form = LinearForm(np.array([0.2]), np.array([0.35]), np.array([0.0]))
        >>> float(form.evaluate(np.array([2.0]), np.array([1.0]))[0])
        0.75
        """
        c_arr = np.asarray(c)
        d_arr = np.asarray(d)
        if c_arr.shape != self.coef_c.shape or d_arr.shape != self.coef_c.shape:
            raise ValueError(
                f"c and d must have shape {self.coef_c.shape}, got {c_arr.shape}, {d_arr.shape}"
            )
        if c_arr.dtype != object:
            c_arr = c_arr.astype(np.float64)
        if d_arr.dtype != object:
            d_arr = d_arr.astype(np.float64)
        return c_arr * self.coef_c + d_arr * self.coef_d + self.const

    def __add__(self, other: LinearForm) -> LinearForm:
        """Coefficient-wise sum of two forms."""
        return LinearForm(
            self.coef_c + other.coef_c, self.coef_d + other.coef_d, self.const + other.const
        )


@dataclass(frozen=True, eq=False)
class BillTerms:
    """Bill terms of one model in one slot, per participant.

    Parameters
    ----------
    p2p : LinearForm
        Money paid to other participants [currency] (> 0 pays). Sums to zero over the market
        in the zero-sum models.
    supplier : LinearForm
        Money paid to the participant's supplier [currency] (> 0 pays); the supplier's income.
    supplier_energy : LinearForm
        Energy the supplier sells to the participant [kWh] (> 0) or buys from it (< 0).
    """

    p2p: LinearForm
    supplier: LinearForm
    supplier_energy: LinearForm

    @property
    def amount(self) -> LinearForm:
        """Bill amount [currency] (> 0 pays): ``p2p + supplier``."""
        return self.p2p + self.supplier
