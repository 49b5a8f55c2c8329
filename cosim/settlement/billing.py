"""Billing models of PPBSP as linear forms with plaintext coefficients.

Every bill term of every model is linear in a participant's committed volume ``c`` and its
deviation ``d``::

    value = c * coef_c + d * coef_d + const

where ``coef_c``, ``coef_d`` and ``const`` depend only on what the trading platform may see in
plaintext: the accepted flag, the side, the sign of ``d``, the sign of the net position (retail
only), the prices and the four slot aggregates ``C_plus, C_minus, P_plus, P_minus`` that the grid
operator decrypts. The coefficients are computed here in plaintext with numpy;
:meth:`LinearForm.evaluate` then only adds, subtracts and multiplies by plain floats, so the same
call works on float arrays (``plain``) and on ``dtype=object`` arrays of ciphertexts
(``paillier``/``ckks``). The formulas and their fixes follow Hutu & Mustafa (2023); see
``docs/billing.md`` for the derivation and for every reading of an ambiguous sentence.

Conventions, per participant ``i`` in one slot:

- orientation ``s_i = +1`` for side buy or none, ``-1`` for sell;
- ``c_i >= 0`` committed (matched) energy [kWh], 0 when not accepted or without an order;
- ``d_i`` = delivered - committed on the order's side [kWh] (side none: ``d`` = net import);
- net import ``net_kwh = s * (c + d)`` [kWh];
- amount > 0: the participant pays; < 0: it receives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cosim.conventions import BUY, NO_ORDER, SELL, FloatArray
from cosim.registry import Registry
from cosim.settlement.terms import (
    BillTerms,
    LinearForm,
    Prices,
    SlotInfo,
    sign_with_tolerance,
)

__all__ = [
    "AGGREGATES",
    "AGGREGATE_MODELS",
    "BASELINE_MODELS",
    "BILLING_MODELS",
    "BILLING_MODEL_NAMES",
    "MAIN_MODELS",
    "MODELS",
    "BillingModel",
    "aggregate_masks",
    "aggregate_plain",
    "bill_terms",
    "billing_model",
    "settle_slot_plain",
    "slot_info_from_plain",
]

AGGREGATES: tuple[str, ...] = ("C_plus", "C_minus", "P_plus", "P_minus")
"""Slot aggregates [kWh], each ``sign * sum(d[mask])`` over accepted participants."""


_SIDE_CODES: dict[str, int] = {"buy": BUY, "sell": SELL, "none": NO_ORDER}


class _Builder:
    """Coefficient arrays of one model while its terms are assembled, plus the slot context.

    Works on one slot (arrays of shape ``(n,)``) or a chunk of slots (``(slots, n)``); every
    per-slot quantity (slot price, aggregates, the imbalance branch, ratios, shares) is an array
    over the leading axes, broadcast against the participants with ``[..., None]``. Each entry
    of a coefficient array undergoes the same floating-point operations in both layouts, so a
    chunk is bit-identical to its slots settled one by one.
    """

    def __init__(self, info: SlotInfo, prices: Prices, tol_kwh: float) -> None:
        shape = info.side.shape
        self.info = info
        self.s = info.orientation
        any_accepted = np.any(info.accepted, axis=-1)
        self.slot_price = np.where(any_accepted, info.slot_price, 0.0)[..., None]
        self.rp = prices.retail_price
        self.fit = prices.feed_in_tariff
        self.tol = tol_kwh
        # [coef_c, coef_d, const] of the p2p money, supplier money and supplier energy
        self.p2p = [np.zeros(shape) for _ in range(3)]
        self.sup = [np.zeros(shape) for _ in range(3)]
        self.energy = [np.zeros(shape) for _ in range(3)]

    def terms(self) -> BillTerms:
        return BillTerms(LinearForm(*self.p2p), LinearForm(*self.sup), LinearForm(*self.energy))


def _put(target: FloatArray, value: ArrayLike, where: NDArray[np.bool_]) -> None:
    """``target[where] = value[where]`` with ``value`` broadcast to ``target``'s shape."""
    np.copyto(target, value, where=where)


def _ratio(num: NDArray[np.float64], den: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return ``num / den`` clipped to [0, 1] per slot; 0 when ``den <= 0`` (empty aggregate).

    Written as Python's ``min(max(num / den, 0.0), 1.0)`` (same result for -0.0 too).
    """
    positive = den > 0.0
    x = num / np.where(positive, den, 1.0)
    x = np.where(0.0 > x, 0.0, x)
    x = np.where(1.0 < x, 1.0, x)
    return np.where(positive, x, 0.0)


def _branches(
    imbalance: NDArray[np.float64], tol: float
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per slot: short (``imbalance < -tol``) and long (``> tol``), shaped ``[..., None]``."""
    return (imbalance < -tol)[..., None], (imbalance > tol)[..., None]


def aggregate_masks(info: SlotInfo) -> dict[str, tuple[NDArray[np.bool_], float]]:
    """Participants and sign of each slot aggregate.

    ``aggregate = sign * sum(d[mask])``. Only accepted participants take part; a deviation
    within the tolerance (``deviation_sign == 0``) belongs to no aggregate.

    Parameters
    ----------
    info : SlotInfo
        Plaintext of the slot (or of a chunk of slots: masks of shape ``(slots, n)``).

    Returns
    -------
    dict
        ``{"C_plus": (buyers with d > 0, +1.0), "C_minus": (buyers with d < 0, -1.0),
        "P_plus": (sellers with d > 0, +1.0), "P_minus": (sellers with d < 0, -1.0)}``.
    """
    buy = info.accepted & (info.side == BUY)
    sell = info.accepted & (info.side == SELL)
    pos = info.deviation_sign > 0
    neg = info.deviation_sign < 0
    return {
        "C_plus": (buy & pos, 1.0),
        "C_minus": (buy & neg, -1.0),
        "P_plus": (sell & pos, 1.0),
        "P_minus": (sell & neg, -1.0),
    }


def aggregate_plain(info: SlotInfo, d: ArrayLike) -> dict[str, Any]:
    """Slot aggregates from plaintext deviations.

    Parameters
    ----------
    info : SlotInfo
        Plaintext of the slot or of a chunk of slots.
    d : array of float, shape (n,) or (slots, n)
        Deviations [kWh].

    Returns
    -------
    dict
        ``C_plus, C_minus, P_plus, P_minus`` [kWh], each >= 0: floats for one slot, arrays of
        shape ``(slots,)`` for a chunk. Each is summed over the selected deviations of its slot
        exactly like a single slot (numpy's pairwise sum of ``d[mask]``), so a chunk gives the
        same bits as its slots one by one.
    """
    d_arr = np.asarray(d, dtype=np.float64)
    if d_arr.shape != info.side.shape:
        raise ValueError(f"d must have shape {info.side.shape}, got {d_arr.shape}")
    masks = aggregate_masks(info)
    if d_arr.ndim == 1:
        return {name: sign * float(np.sum(d_arr[mask])) for name, (mask, sign) in masks.items()}
    # a masked sum per slot: summing zeros in place of the others would regroup numpy's
    # pairwise summation and change the last bits
    return {
        name: sign * np.array([_add(row[m]) for row, m in zip(d_arr, mask, strict=True)])
        for name, (mask, sign) in masks.items()
    }


_add = np.add.reduce  # np.sum of a 1-D float array without its Python wrapper


def _retail(b: _Builder, mask: NDArray[np.bool_]) -> None:
    """Net import at RP if importing, at FiT if exporting, with the supplier."""
    net_sign = b.info.net_sign
    price = np.where(net_sign > 0, b.rp, np.where(net_sign < 0, b.fit, 0.0))
    for k in (0, 1):  # coef_c and coef_d: net = s * (c + d)
        _put(b.sup[k], b.s * price, mask)
        _put(b.energy[k], b.s, mask)


def _individual(b: _Builder) -> None:
    """Deviation with the supplier: buyer RP if d > 0 else FiT; seller FiT if d > 0 else RP."""
    info, acc = b.info, b.info.accepted
    buyer_rp = (info.side == BUY) & (info.deviation_sign > 0)
    seller_rp = (info.side == SELL) & (info.deviation_sign <= 0)  # d == 0: the else branch
    price = np.where(buyer_rp | seller_rp, b.rp, b.fit)
    _put(b.sup[1], b.s * price, acc)
    _put(b.energy[1], b.s, acc)


def _proportional(
    b: _Builder,
    members: NDArray[np.bool_],
    deficit: NDArray[np.bool_],
    surplus: NDArray[np.bool_],
    d_down: NDArray[np.float64],
    d_up: NDArray[np.float64],
) -> None:
    """Proportional split of one balancing group (all buyers, all sellers, or everyone).

    ``d_down`` is the group's deficit volume, ``d_up`` its surplus volume [kWh] (per slot).
    Members settle ``(c + d) * TP`` unless they carry the group's imbalance: then a fraction
    ``r`` of their deviation is settled P2P at the slot price and ``1 - r`` with the supplier.
    Short group (``d_up - d_down < -tol``): the deficit side buys the missing part at RP;
    long group (``> tol``): the surplus side sells the excess at FiT; balanced: ``(c + d) * TP``
    for all (the continuous limit).
    """
    s = b.s
    _put(b.p2p[1], s * b.slot_price, members)
    short, long = _branches(d_up - d_down, b.tol)
    carriers = members & ((short & deficit) | (long & surplus))
    r = np.where(short, _ratio(d_up, d_down)[..., None], _ratio(d_down, d_up)[..., None])
    price = np.where(short, b.rp, b.fit)
    _put(b.p2p[1], s * (r * b.slot_price), carriers)
    _put(b.sup[1], s * ((1.0 - r) * price), carriers)
    _put(b.energy[1], s * (1.0 - r), carriers)


def _equal_split(
    b: _Builder,
    members: NDArray[np.bool_],
    deficit: NDArray[np.bool_],
    surplus: NDArray[np.bool_],
    d_down: NDArray[np.float64],
    d_up: NDArray[np.float64],
) -> None:
    """Equal-split baseline of one group: each carrier takes an equal share of the other side.

    Short group: each deviating deficit member takes ``share = d_up / n`` P2P at the slot
    price and imports the rest ``s*d - share`` at RP. Long group: each deviating surplus member
    exports ``share = d_down / n`` P2P and the rest ``-s*d - share`` at FiT.
    """
    s = b.s
    _put(b.p2p[1], s * b.slot_price, members)
    short, long = _branches(d_up - d_down, b.tol)
    carriers = members & ((short & deficit) | (long & surplus))
    volume = np.where(short, d_up[..., None], d_down[..., None])
    direction = np.where(short, 1.0, -1.0)
    price = np.where(short, b.rp, b.fit)
    n_carriers = np.count_nonzero(carriers, axis=-1)[..., None]
    share = volume / np.maximum(n_carriers, 1)  # no carrier: nothing is written below
    # amount = s*c*TP + direction*share*slot_price + (s*d - direction*share) * price
    _put(b.p2p[1], 0.0, carriers)
    _put(b.p2p[2], direction * share * b.slot_price, carriers)
    _put(b.sup[1], s * price, carriers)
    _put(b.sup[2], -direction * share * price, carriers)
    _put(b.energy[1], s, carriers)
    _put(b.energy[2], -direction * share, carriers)


def _universal_equal(b: _Builder, d_down: NDArray[np.float64], d_up: NDArray[np.float64]) -> None:
    """Equal-split universal baseline: the imbalance cost is split over over-deviators only.

    Everyone settles ``(c + d) * TP``. Short market: each over-consuming buyer additionally
    pays ``(RP - TP) * |TD| / n``; long market: each over-producing seller's reward is cut by
    ``(TP - FiT) * TD / n``. Nobody carries the cost when there is no such user (not zero-sum).
    """
    info, acc = b.info, b.info.accepted
    _put(b.p2p[1], b.s * b.slot_price, acc)
    total = (d_up - d_down)[..., None]
    short, long = _branches(d_up - d_down, b.tol)
    pos = info.deviation_sign > 0
    carriers = acc & pos & ((short & (info.side == BUY)) | (long & (info.side == SELL)))
    direction = np.where(short, 1.0, -1.0)
    price = np.where(short, b.rp, b.fit)
    n_carriers = np.count_nonzero(carriers, axis=-1)[..., None]
    per_user = direction * np.abs(total) / np.maximum(n_carriers, 1)  # from the supplier [kWh]
    _put(b.p2p[2], -per_user * b.slot_price, carriers)
    _put(b.sup[2], per_user * price, carriers)
    _put(b.energy[2], per_user, carriers)


def _checked_aggregates(
    aggregates: Mapping[str, Any] | None, model: str, tol_kwh: float
) -> dict[str, NDArray[np.float64]]:
    if aggregates is None:
        raise ValueError(f"model {model!r} needs the slot aggregates {AGGREGATES}")
    out: dict[str, NDArray[np.float64]] = {}
    for name in AGGREGATES:
        if name not in aggregates:
            raise ValueError(f"aggregate {name!r} missing")
        value = np.asarray(aggregates[name], dtype=np.float64)
        if not np.all(np.isfinite(value)) or np.any(value < -tol_kwh):
            raise ValueError(f"aggregate {name!r} must be finite and >= 0, got {value}")
        out[name] = np.where(0.0 > value, 0.0, value)  # Python's max(value, 0.0)
    return out


# --------------------------------------------------------------------------- the models

Aggregates = Mapping[str, NDArray[np.float64]]
"""Checked slot aggregates ``C_plus, C_minus, P_plus, P_minus`` [kWh] (empty if not needed)."""


def _market(b: _Builder) -> None:
    """Common part of the market models: non-accepted at retail, committed volume at its price."""
    acc = b.info.accepted
    _retail(b, ~acc)
    _put(b.p2p[0], b.s * np.where(acc, b.info.p2p_price, 0.0), acc)


def _groups(
    info: SlotInfo,
) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]:
    """Accepted buyers, accepted sellers, positive and negative deviations."""
    acc = info.accepted
    buy = acc & (info.side == BUY)
    sell = acc & (info.side == SELL)
    return buy, sell, info.deviation_sign > 0, info.deviation_sign < 0


def _fill_retail(b: _Builder, agg: Aggregates) -> None:
    _retail(b, np.ones_like(b.info.accepted))


def _fill_individual(b: _Builder, agg: Aggregates) -> None:
    _market(b)
    _individual(b)


def _fill_social_with(split: Callable[..., None]) -> Callable[[_Builder, Aggregates], None]:
    def fill(b: _Builder, agg: Aggregates) -> None:
        _market(b)
        buy, sell, pos, neg = _groups(b.info)
        split(b, buy, buy & pos, buy & neg, agg["C_plus"], agg["C_minus"])
        split(b, sell, sell & neg, sell & pos, agg["P_minus"], agg["P_plus"])

    return fill


def _fill_universal(b: _Builder, agg: Aggregates) -> None:
    _market(b)
    buy, sell, pos, neg = _groups(b.info)
    deficit = (buy & pos) | (sell & neg)
    surplus = (buy & neg) | (sell & pos)
    d_down = agg["C_plus"] + agg["P_minus"]
    _proportional(b, b.info.accepted, deficit, surplus, d_down, agg["P_plus"] + agg["C_minus"])


def _fill_universal_equal(b: _Builder, agg: Aggregates) -> None:
    _market(b)
    _universal_equal(b, agg["C_plus"] + agg["P_minus"], agg["P_plus"] + agg["C_minus"])


@dataclass(frozen=True)
class BillingModel:
    """One billing model: how it fills the coefficients of a slot's bill terms.

    Parameters
    ----------
    name : str
        Value in ``settlement.models`` and in the ``model`` column of the result files.
    fill : callable
        ``fill(builder, aggregates)`` sets the coefficients of every participant.
    needs_aggregates : bool
        The coefficients need the slot aggregates decrypted by the grid operator.
    baseline : bool
        An earlier variant kept as a named baseline (not one of the four main models).
    """

    name: str
    fill: Callable[[_Builder, Aggregates], None]
    needs_aggregates: bool = False
    baseline: bool = False


BILLING_MODELS: Final[Mapping[str, BillingModel]] = MappingProxyType(
    {
        m.name: m
        for m in (
            BillingModel("retail", _fill_retail),
            BillingModel("individual", _fill_individual),
            BillingModel("social", _fill_social_with(_proportional), needs_aggregates=True),
            BillingModel("universal", _fill_universal, needs_aggregates=True),
            BillingModel("social_equal", _fill_social_with(_equal_split), True, baseline=True),
            BillingModel("universal_equal", _fill_universal_equal, True, baseline=True),
        )
    }
)
"""Every billing model by name; adding a model is one ``fill`` function and one entry here."""

BILLING_MODEL_NAMES: Final[Registry[BillingModel]] = Registry("settlement.models", BILLING_MODELS)
"""The same entries as the registry that validates ``settlement.models`` in a scenario."""

MODELS: tuple[str, ...] = tuple(BILLING_MODELS)
"""Every billing model."""

MAIN_MODELS: tuple[str, ...] = tuple(m for m in MODELS if not BILLING_MODELS[m].baseline)
"""The four billing models of Madhusudan, Zobiri & Mustafa (2022) and Hutu & Mustafa (2023)."""

BASELINE_MODELS: tuple[str, ...] = tuple(m for m in MODELS if BILLING_MODELS[m].baseline)
"""The earlier equal-split variants, kept as named baselines (not zero-sum, see docs)."""

AGGREGATE_MODELS: tuple[str, ...] = tuple(m for m in MODELS if BILLING_MODELS[m].needs_aggregates)
"""Models whose coefficients need the slot aggregates decrypted by the grid operator."""


def billing_model(name: str) -> BillingModel:
    """The model registered as ``name``.

    Raises
    ------
    ValueError
        ``name`` is not in :data:`BILLING_MODELS`.

    Examples
    --------
    >>> billing_model("universal").needs_aggregates, MAIN_MODELS
    (True, ('retail', 'individual', 'social', 'universal'))
    """
    spec = BILLING_MODELS.get(name)
    if spec is None:
        raise ValueError(f"unknown billing model {name!r}; expected one of {MODELS}")
    return spec


def bill_terms(
    model: str,
    info: SlotInfo,
    prices: Prices,
    aggregates: Mapping[str, Any] | None = None,
    tol_kwh: float = 1e-9,
) -> BillTerms:
    """Bill terms of one billing model in one slot (or a chunk of slots) as linear forms in (c, d).

    Participants that are not accepted (including side none) settle at retail in every model.

    Parameters
    ----------
    model : str
        One of :data:`MODELS`.
    info : SlotInfo
        Plaintext of the slot, or of a chunk of slots (arrays of shape ``(slots, n)``).
    prices : Prices
        Retail price and feed-in tariff [currency/kWh].
    aggregates : mapping of str to float or to array of shape (slots,), optional
        ``C_plus, C_minus, P_plus, P_minus`` [kWh] as decrypted by the grid operator; required
        for the models in :data:`AGGREGATE_MODELS`.
    tol_kwh : float, default 1e-9
        An imbalance (TDD, TSD, TD) with ``|x| <= tol_kwh`` [kWh] counts as zero.

    Returns
    -------
    BillTerms
        P2P money, supplier money and supplier energy per participant (and slot).

    Examples
    --------
    >>> info = SlotInfo(side=np.array([1, -1]), accepted=np.array([True, True]),
    ...                 deviation_sign=np.array([1, 0]), net_sign=np.array([1, -1]),
    ...                 p2p_price=np.array([0.2, 0.2]), slot_price=0.2)
    >>> terms = bill_terms("individual", info, Prices(0.35, 0.05))
    >>> terms.amount.evaluate(np.array([2.0, 2.0]), np.array([1.0, 0.0])).round(6).tolist()
    [0.75, -0.4]
    """
    spec = billing_model(model)
    b = _Builder(info, prices, tol_kwh)
    if spec.needs_aggregates:
        spec.fill(b, _checked_aggregates(aggregates, model, tol_kwh))
    else:
        spec.fill(b, {})
    return b.terms()


def settle_slot_plain(
    model: str,
    c: ArrayLike,
    d: ArrayLike,
    info: SlotInfo,
    prices: Prices,
    tol_kwh: float = 1e-9,
    aggregates: Mapping[str, Any] | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Settle one slot, or a chunk of slots at once, in plaintext.

    A chunk (arrays of shape ``(slots, n)``) gives bit for bit the results of its slots settled
    one by one: the same :func:`bill_terms` over arrays of slots.

    Parameters
    ----------
    model : str
        One of :data:`MODELS`.
    c : array of float, shape (n,) or (slots, n)
        Committed volumes [kWh].
    d : array of float, same shape
        Deviations [kWh].
    info : SlotInfo
        Plaintext of the slot or of the chunk.
    prices : Prices
        Retail price and feed-in tariff [currency/kWh].
    tol_kwh : float, default 1e-9
        Tolerance [kWh] for the imbalance tests.
    aggregates : mapping, optional
        :func:`aggregate_plain` of ``info`` and ``d``, if already computed (a ledger billing
        several models computes them once).

    Returns
    -------
    amount : numpy.ndarray of float
        Bill amount [currency] (> 0 pays, < 0 receives).
    supplier_money : numpy.ndarray of float
        Money paid to the participant's supplier [currency] (the supplier's income).
    supplier_energy : numpy.ndarray of float
        Energy the supplier sells to (> 0) or buys from (< 0) the participant [kWh].
    """
    c_arr = np.asarray(c, dtype=np.float64)
    d_arr = np.asarray(d, dtype=np.float64)
    if aggregates is None and model in AGGREGATE_MODELS:
        aggregates = aggregate_plain(info, d_arr)
    terms = bill_terms(model, info, prices, aggregates, tol_kwh)
    return (
        terms.amount.evaluate(c_arr, d_arr).astype(np.float64),
        terms.supplier.evaluate(c_arr, d_arr).astype(np.float64),
        terms.supplier_energy.evaluate(c_arr, d_arr).astype(np.float64),
    )


def slot_info_from_plain(
    side: ArrayLike,
    accepted: ArrayLike,
    committed_kwh: ArrayLike,
    deviation_kwh: ArrayLike,
    net_kwh: ArrayLike,
    p2p_price: ArrayLike,
    slot_price: float | ArrayLike,
    tol_kwh: float = 1e-9,
) -> SlotInfo:
    """Build :class:`SlotInfo` from plaintext participant data (one slot or a chunk of slots).

    Parameters
    ----------
    side : array of {"buy", "sell", "none"} or of int {+1, -1, 0}, shape (n,) or (slots, n)
        Side of the participant's order.
    accepted : array of bool, shape (n,)
        True when any of the order was matched.
    committed_kwh : array of float, shape (n,)
        Matched volume ``c >= 0`` [kWh]; 0 when not accepted.
    deviation_kwh : array of float, shape (n,)
        ``d`` = delivered - committed on the order's side [kWh].
    net_kwh : array of float, shape (n,)
        Net import ``s * (c + d)`` [kWh]; checked against ``c`` and ``d``.
    p2p_price : array of float, shape (n,)
        Volume-weighted trade price per participant [currency/kWh]; NaN when not accepted.
    slot_price : float or array of float, shape (slots,)
        The slot's P2P price for deviations [currency/kWh]; NaN when nothing traded.
    tol_kwh : float, default 1e-9
        ``|x| <= tol_kwh`` [kWh] counts as zero in the signs.

    Returns
    -------
    SlotInfo
    """
    side_arr = np.asarray(side)
    if side_arr.dtype.kind in "USO":
        unknown = set(side_arr.ravel().tolist()) - set(_SIDE_CODES)
        if unknown:
            raise ValueError(f"side must be 'buy', 'sell' or 'none', got {sorted(unknown)}")
        codes = [_SIDE_CODES[x] for x in side_arr.ravel().tolist()]
        side_arr = np.array(codes, dtype=np.int8).reshape(side_arr.shape)
    acc = np.asarray(accepted, dtype=bool)
    c = np.asarray(committed_kwh, dtype=np.float64)
    d = np.asarray(deviation_kwh, dtype=np.float64)
    net = np.asarray(net_kwh, dtype=np.float64)
    if np.any(c < -tol_kwh) or np.any(~acc & (np.abs(c) > tol_kwh)):
        raise ValueError("committed_kwh must be >= 0, and 0 when not accepted")
    s = np.where(side_arr == SELL, -1.0, 1.0)
    scale = np.abs(c) + np.abs(d)
    if np.any(np.abs(net - s * (c + d)) > tol_kwh + 1e-9 * scale):
        raise ValueError("net_kwh must equal s * (committed_kwh + deviation_kwh)")
    return SlotInfo(
        side=side_arr,
        accepted=acc,
        deviation_sign=sign_with_tolerance(d, tol_kwh),
        net_sign=sign_with_tolerance(net, tol_kwh),
        p2p_price=np.asarray(p2p_price, dtype=np.float64),
        slot_price=slot_price,
    )
