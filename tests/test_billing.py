"""Tests of cosim.settlement.billing against the published formulas.

docs/billing.md: Hutu & Mustafa 2023; Madhusudan, Zobiri & Mustafa 2022.

The reference implementation below is written independently of the module: one plain
per-participant if/else per model, read straight from the formulas.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosim.settlement.billing import (
    AGGREGATE_MODELS,
    AGGREGATES,
    MAIN_MODELS,
    MODELS,
    aggregate_masks,
    aggregate_plain,
    bill_terms,
    settle_slot_plain,
    slot_info_from_plain,
)
from cosim.settlement.terms import LinearForm, Prices, SlotInfo

TOL = 1e-9
P2P_MODELS = ("individual", "social", "universal", "social_equal", "universal_equal")
ORIGINAL = Prices(retail_price=0.35, feed_in_tariff=0.05)


# --------------------------------------------------------------------------------------------
# Slot fixtures


@dataclass
class Slot:
    side: list[str]
    accepted: list[bool]
    c: np.ndarray
    d: np.ndarray
    tp: np.ndarray
    slot_price: float
    prices: Prices

    @property
    def s(self) -> np.ndarray:
        return np.array([-1.0 if x == "sell" else 1.0 for x in self.side])

    @property
    def net(self) -> np.ndarray:
        return self.s * (self.c + self.d)

    def info(self) -> SlotInfo:
        return slot_info_from_plain(
            self.side, self.accepted, self.c, self.d, self.net, self.tp, self.slot_price, TOL
        )

    def settle(self, model: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return settle_slot_plain(model, self.c, self.d, self.info(), self.prices, TOL)

    def terms(self, model: str) -> Any:
        info = self.info()
        return bill_terms(model, info, self.prices, aggregate_plain(info, self.d), TOL)


def hand_slot(rows: list[tuple[str, bool, float, float]], tp: float = 0.2) -> Slot:
    """Slot with one price: rows are (side, accepted, c, d)."""
    side = [r[0] for r in rows]
    acc = [r[1] for r in rows]
    c = np.array([r[2] for r in rows], dtype=float)
    d = np.array([r[3] for r in rows], dtype=float)
    price = np.where(acc, tp, np.nan)
    return Slot(side, acc, c, d, price, tp, ORIGINAL)


deviations = st.one_of(
    st.just(0.0),
    st.sampled_from([1e-10, -1e-10]),  # within the tolerance: sign 0
    st.floats(-5.0, 5.0, allow_nan=False, allow_infinity=False),
)


@st.composite
def slots(draw: st.DrawFn) -> Slot:
    """Random consistent slot: trades between buyers and sellers, pay-as-clear or -as-bid."""
    n = draw(st.integers(1, 8))
    side = draw(st.lists(st.sampled_from(["buy", "sell", "none"]), min_size=n, max_size=n))
    buyers = [i for i, x in enumerate(side) if x == "buy"]
    sellers = [i for i, x in enumerate(side) if x == "sell"]
    c = np.zeros(n)
    value = np.zeros(n)
    pay_as_bid = draw(st.booleans())
    clearing = draw(st.floats(0.06, 0.34))
    traded = 0.0
    traded_value = 0.0
    if buyers and sellers:
        for _ in range(draw(st.integers(0, 6))):
            b = draw(st.sampled_from(buyers))
            a = draw(st.sampled_from(sellers))
            e = draw(st.floats(0.01, 10.0))
            p = draw(st.floats(0.06, 0.34)) if pay_as_bid else clearing
            c[b] += e
            c[a] += e
            value[b] += e * p
            value[a] += e * p
            traded += e
            traded_value += e * p
    acc = c > 0.0
    tp = np.full(n, np.nan)
    tp[acc] = value[acc] / c[acc]
    slot_price = traded_value / traded if traded > 0.0 else math.nan
    d = np.array(draw(st.lists(deviations, min_size=n, max_size=n)))
    prices = Prices(draw(st.floats(0.25, 0.6)), draw(st.floats(0.0, 0.1)))
    return Slot(side, acc.tolist(), c, d, tp, slot_price, prices)


# --------------------------------------------------------------------------------------------
# Independent reference: the published formulas (docs/billing.md), one participant at a time


def reference(model: str, slot: Slot, tol: float = TOL) -> tuple[list[float], ...]:
    """Return (amount, supplier money, supplier energy) per participant.

    ``(c+d)*TP`` means ``c * own price + d * slot price``; "settle X" is what a buyer pays and
    what a seller receives. Signs use the tolerance: d > tol is positive, d < -tol negative.
    """
    rp, fit = slot.prices.retail_price, slot.prices.feed_in_tariff
    sp = slot.slot_price

    def is_pos(x: float) -> bool:
        return x > tol

    def is_neg(x: float) -> bool:
        return x < -tol

    c_plus = c_minus = p_plus = p_minus = 0.0
    for i in range(len(slot.side)):
        if not slot.accepted[i]:
            continue
        di = float(slot.d[i])
        if slot.side[i] == "buy":
            if is_pos(di):
                c_plus += di
            elif is_neg(di):
                c_minus += -di
        else:
            if is_pos(di):
                p_plus += di
            elif is_neg(di):
                p_minus += -di
    tdd = c_plus - c_minus
    tsd = p_plus - p_minus
    d_down = c_plus + p_minus
    d_up = p_plus + c_minus
    td = d_up - d_down

    amounts: list[float] = []
    money: list[float] = []
    energy: list[float] = []
    for i in range(len(slot.side)):
        side = slot.side[i]
        c = float(slot.c[i])
        d = float(slot.d[i])
        if model == "retail" or not slot.accepted[i]:
            net = -(c + d) if side == "sell" else c + d
            e = abs(c + d)
            if net > tol:
                amt = e * rp  # net consumer pays
            elif net < -tol:
                amt = -e * fit  # net producer receives
            else:
                amt = 0.0
            amounts.append(amt)
            money.append(amt)
            energy.append(net)
            continue
        tp = float(slot.tp[i])
        plain = c * tp + d * sp  # "(c+d)*TP"
        dev_money = 0.0  # the user's deviation trade with its supplier, as the user pays it
        dev_energy = 0.0
        if model == "individual":
            if side == "buy":
                price = rp if is_pos(d) else fit
                settle = c * tp + d * price
                dev_money, dev_energy = d * price, d
            else:
                price = fit if is_pos(d) else rp
                settle = c * tp + d * price
                dev_money, dev_energy = -d * price, -d
        elif model == "social":
            settle = plain
            if side == "buy":
                if tdd < -tol and is_neg(d):
                    r = c_plus / c_minus
                    settle = c * tp + d * r * sp + d * (1 - r) * fit
                    dev_money, dev_energy = d * (1 - r) * fit, d * (1 - r)
                elif tdd > tol and is_pos(d):
                    r = c_minus / c_plus
                    settle = c * tp + d * r * sp + d * (1 - r) * rp
                    dev_money, dev_energy = d * (1 - r) * rp, d * (1 - r)
            else:
                if tsd < -tol and is_neg(d):
                    r = p_plus / p_minus
                    settle = c * tp + d * r * sp + d * (1 - r) * rp
                    dev_money, dev_energy = -d * (1 - r) * rp, -d * (1 - r)
                elif tsd > tol and is_pos(d):
                    r = p_minus / p_plus
                    settle = c * tp + d * r * sp + d * (1 - r) * fit
                    dev_money, dev_energy = -d * (1 - r) * fit, -d * (1 - r)
        elif model == "universal":
            settle = plain
            deficit_side = (side == "buy" and is_pos(d)) or (side == "sell" and is_neg(d))
            # the papers: surplus side = buyers with d <= 0, sellers with d >= 0
            surplus_side = (side == "buy" and not is_pos(d)) or (side == "sell" and not is_neg(d))
            price = None
            if td < -tol and deficit_side:
                r, price = d_up / d_down, rp
            elif td > tol and surplus_side:
                r, price = d_down / d_up, fit
            if price is not None:
                settle = c * tp + d * r * sp + d * (1 - r) * price
                sign = 1.0 if side == "buy" else -1.0
                dev_money, dev_energy = sign * d * (1 - r) * price, sign * d * (1 - r)
        else:
            raise AssertionError(model)
        amounts.append(settle if side == "buy" else -settle)
        money.append(dev_money)
        energy.append(dev_energy)
    return amounts, money, energy


# --------------------------------------------------------------------------------------------
# (e) reference comparison on generated slots


@pytest.mark.parametrize("model", MAIN_MODELS)
@settings(max_examples=150, deadline=None)
@given(slot=slots())
def test_matches_reference(model: str, slot: Slot) -> None:
    amount, money, energy = slot.settle(model)
    ref_amount, ref_money, ref_energy = reference(model, slot)
    np.testing.assert_allclose(amount, ref_amount, rtol=0, atol=1e-8)
    np.testing.assert_allclose(money, ref_money, rtol=0, atol=1e-8)
    np.testing.assert_allclose(energy, ref_energy, rtol=0, atol=1e-8)


# --------------------------------------------------------------------------------------------
# (a) money conservation, (b) supplier energy ordering


def _accepted_mask(slot: Slot) -> np.ndarray:
    return np.array(slot.accepted, dtype=bool)


@pytest.mark.parametrize("model", ("individual", "social", "universal"))
@settings(max_examples=150, deadline=None)
@given(slot=slots())
def test_money_conservation(model: str, slot: Slot) -> None:
    terms = slot.terms(model)
    p2p = terms.p2p.evaluate(slot.c, slot.d)
    assert abs(math.fsum(p2p)) <= 1e-9
    amount, supplier_money, _ = slot.settle(model)
    assert abs(math.fsum(amount) - math.fsum(supplier_money)) <= 1e-9
    # supplier money is its energy at RP when it sells and at FiT when it buys
    energy = terms.supplier_energy.evaluate(slot.c, slot.d)
    price = np.where(energy > 0, slot.prices.retail_price, slot.prices.feed_in_tariff)
    acc = _accepted_mask(slot)
    # (a deviation within the tolerance keeps the literal else-branch price: atol 1e-9)
    np.testing.assert_allclose(supplier_money[acc], (energy * price)[acc], rtol=0, atol=1e-9)


@settings(max_examples=300, deadline=None)
@given(slot=slots())
def test_supplier_energy_ordering(slot: Slot) -> None:
    """Gross supplier energy sum_i |e_i|: universal <= social <= individual; net is equal."""
    gross = {}
    net = {}
    acc = _accepted_mask(slot)
    for model in ("individual", "social", "universal"):
        energy = slot.settle(model)[2]
        gross[model] = float(np.sum(np.abs(energy)))
        net[model] = float(np.sum(energy[acc]))
    assert gross["universal"] <= gross["social"] + 1e-9
    assert gross["social"] <= gross["individual"] + 1e-9
    agg = aggregate_plain(slot.info(), slot.d)
    tdd = agg["C_plus"] - agg["C_minus"]
    tsd = agg["P_plus"] - agg["P_minus"]
    td = agg["P_plus"] + agg["C_minus"] - agg["C_plus"] - agg["P_minus"]
    social = slot.settle("social")[2]
    universal = slot.settle("universal")[2]
    assert abs(np.sum(np.abs(social[acc])) - (abs(tdd) + abs(tsd))) <= 2 * TOL + 1e-12
    assert abs(np.sum(np.abs(universal[acc])) - abs(td)) <= TOL + 1e-12
    # the supplier covers the same net imbalance -TD in every model
    n_users = len(slot.side)
    for model in ("social", "universal"):
        assert abs(net[model] - net["individual"]) <= 2 * TOL + n_users * 1e-10 + 1e-12


# --------------------------------------------------------------------------------------------
# (c) zero deviations


@pytest.mark.parametrize("model", P2P_MODELS)
@settings(max_examples=60, deadline=None)
@given(slot=slots())
def test_zero_deviation_reduces_to_committed_price(model: str, slot: Slot) -> None:
    slot.d = np.zeros_like(slot.d)
    amount, supplier_money, energy = slot.settle(model)
    acc = _accepted_mask(slot)
    np.testing.assert_allclose(amount[acc], (slot.s * slot.c * slot.tp)[acc], atol=1e-12)
    np.testing.assert_allclose(supplier_money[acc], 0.0, atol=1e-12)
    np.testing.assert_allclose(energy[acc], 0.0, atol=1e-12)
    assert np.all(amount[~acc] == 0.0)


# --------------------------------------------------------------------------------------------
# (d) evaluation on object arrays


class Cipher:
    """Stand-in for a ciphertext: exact rational value supporting only +, - and * plaintext."""

    def __init__(self, value: Fraction) -> None:
        self.value = value

    def __add__(self, other: object) -> Cipher:
        if isinstance(other, Cipher):
            return Cipher(self.value + other.value)
        if isinstance(other, float | int):
            return Cipher(self.value + Fraction(other))
        return NotImplemented

    __radd__ = __add__

    def __sub__(self, other: object) -> Cipher:
        if isinstance(other, Cipher):
            return Cipher(self.value - other.value)
        if isinstance(other, float | int):
            return Cipher(self.value - Fraction(other))
        return NotImplemented

    def __mul__(self, other: object) -> Cipher:
        if isinstance(other, Cipher):
            raise TypeError("ciphertext * ciphertext is not available")
        if isinstance(other, float | int):
            return Cipher(self.value * Fraction(other))
        return NotImplemented

    __rmul__ = __mul__

    def __bool__(self) -> bool:
        raise TypeError("a ciphertext has no truth value")

    def __lt__(self, other: object) -> bool:
        raise TypeError("ciphertexts cannot be compared")

    __gt__ = __le__ = __ge__ = __lt__


def _objects(values: np.ndarray, kind: Callable[[float], object]) -> np.ndarray:
    out = np.empty(values.shape, dtype=object)
    for i, v in enumerate(values.tolist()):
        out[i] = kind(v)
    return out


@pytest.mark.parametrize("model", MODELS)
@settings(max_examples=40, deadline=None)
@given(slot=slots())
def test_evaluate_on_object_arrays(model: str, slot: Slot) -> None:
    terms = slot.terms(model)
    for form in (terms.p2p, terms.supplier, terms.supplier_energy, terms.amount):
        plain = form.evaluate(slot.c, slot.d)
        assert plain.dtype == np.float64
        for kind in (float, Fraction):
            obj = form.evaluate(_objects(slot.c, kind), _objects(slot.d, kind))
            assert obj.dtype == object
            assert [float(x) for x in obj] == plain.tolist()  # bitwise identical
        enc = form.evaluate(
            _objects(slot.c, lambda v: Cipher(Fraction(v))),
            _objects(slot.d, lambda v: Cipher(Fraction(v))),
        )
        exact = [
            Fraction(ci) * Fraction(kc) + Fraction(di) * Fraction(kd) + Fraction(k0)
            for ci, di, kc, kd, k0 in zip(
                slot.c.tolist(),
                slot.d.tolist(),
                form.coef_c.tolist(),
                form.coef_d.tolist(),
                form.const.tolist(),
                strict=True,
            )
        ]
        assert [x.value for x in enc] == exact
        np.testing.assert_allclose([float(x) for x in exact], plain, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------------
# (f) hand-computed examples: TP 0.2, RP 0.35, FiT 0.05

# B1 over-consumes 1, B2 under-consumes 1, B3 exact, S1 under-supplies 1, S2 over-supplies
# 0.5, N1 has no order and imports 1.5, R1's sell order was not accepted, it exports 0.8.
# C+ = 1, C- = 1, P+ = 0.5, P- = 1: TDD = 0, TSD = -0.5, D_down = 2, D_up = 1.5, TD = -0.5.
EXAMPLE = [
    ("buy", True, 2.0, 1.0),
    ("buy", True, 3.0, -1.0),
    ("buy", True, 1.0, 0.0),
    ("sell", True, 4.0, -1.0),
    ("sell", True, 2.0, 0.5),
    ("none", False, 0.0, 1.5),
    ("sell", False, 0.0, 0.8),
]
RETAIL_FALLBACK = [1.5 * 0.35, -0.8 * 0.05]  # N1 and R1 in every model

EXPECTED = {
    # net 3, 2, 1 at RP; -3, -2.5 at FiT
    "retail": [3 * 0.35, 2 * 0.35, 1 * 0.35, -3 * 0.05, -2.5 * 0.05],
    # c*TP + d*(RP|FiT); sellers receive c*TP + d*(FiT|RP)
    "individual": [0.4 + 0.35, 0.6 - 0.05, 0.2, -(0.8 - 0.35), -(0.4 + 0.025)],
    # TDD = 0: buyers (c+d)*TP; TSD < 0: S1 with r = P+/P- = 0.5, S2 (c+d)*TP
    "social": [0.6, 0.4, 0.2, -(0.8 - 0.1 - 0.175), -0.5],
    # TD < 0: deficit side B1, S1 with r = D_up/D_down = 0.75; others (c+d)*TP
    "universal": [0.4 + 0.15 + 0.0875, 0.4, 0.2, -(0.8 - 0.15 - 0.0875), -0.5],
    # buyers balanced; S1 is the only deviating short seller: share = P+ = 0.5 at TP, 0.5 at RP
    "social_equal": [0.6, 0.4, 0.2, -(0.8 - 0.1 - 0.175), -0.5],
    # TD < 0: the only over-consuming buyer B1 pays (RP - TP) * 0.5 on top of (c+d)*TP
    "universal_equal": [0.6 + 0.15 * 0.5, 0.4, 0.2, -0.6, -0.5],
}
EXPECTED_ENERGY = {
    "retail": [3.0, 2.0, 1.0, -3.0, -2.5],
    "individual": [1.0, -1.0, 0.0, 1.0, -0.5],
    "social": [0.0, 0.0, 0.0, 0.5, 0.0],
    "universal": [0.25, 0.0, 0.0, 0.25, 0.0],
    "social_equal": [0.0, 0.0, 0.0, 0.5, 0.0],
    "universal_equal": [0.5, 0.0, 0.0, 0.0, 0.0],
}


@pytest.mark.parametrize("model", MODELS)
def test_hand_example(model: str) -> None:
    slot = hand_slot(EXAMPLE)
    amount, supplier_money, energy = slot.settle(model)
    np.testing.assert_allclose(amount, EXPECTED[model] + RETAIL_FALLBACK, atol=1e-12)
    np.testing.assert_allclose(energy, EXPECTED_ENERGY[model] + [1.5, -0.8], atol=1e-12)
    assert math.fsum(amount) == pytest.approx(math.fsum(supplier_money), abs=1e-12)


def test_hand_aggregates() -> None:
    agg = aggregate_plain(hand_slot(EXAMPLE).info(), hand_slot(EXAMPLE).d)
    assert agg == pytest.approx({"C_plus": 1.0, "C_minus": 1.0, "P_plus": 0.5, "P_minus": 1.0})


def test_hand_example_universal_balanced() -> None:
    """TD = 0 while TDD = TSD = 0.5: universal trades nothing with the supplier."""
    slot = hand_slot(
        [
            ("buy", True, 2.0, 1.0),
            ("buy", True, 2.0, -0.5),
            ("sell", True, 2.0, -1.0),
            ("sell", True, 2.0, 1.5),
        ]
    )
    gross = {m: float(np.sum(np.abs(slot.settle(m)[2]))) for m in P2P_MODELS[:3]}
    assert gross == pytest.approx({"individual": 4.0, "social": 1.0, "universal": 0.0})
    amount = slot.settle("universal")[0]
    np.testing.assert_allclose(amount, [0.6, 0.3, -0.2, -0.7], atol=1e-12)
    # social: B1 with r = C-/C+ = 0.5; S2 with r = P-/P+ = 2/3
    social = slot.settle("social")[0]
    expected = [0.4 + 0.1 + 0.175, 0.3, -0.2, -(0.4 + 0.2 + 0.025)]
    np.testing.assert_allclose(social, expected, atol=1e-12)


def test_pay_as_bid_redistribution_uses_slot_price() -> None:
    """Committed energy at the own price, deviations at the one slot price: P2P nets to 0."""
    slot = hand_slot([("buy", True, 1.0, 1.0), ("buy", True, 1.0, -0.5), ("sell", True, 2.0, 0)])
    slot.tp = np.array([0.3, 0.1, 0.2])  # buyers paid 0.3 and 0.1; the seller got 0.2 average
    slot.slot_price = 0.2
    terms = slot.terms("social")
    p2p = terms.p2p.evaluate(slot.c, slot.d)
    # TDD = 0.5 > 0: B1 r = C-/C+ = 0.5; B2 (c+d)*TP with d at the slot price
    np.testing.assert_allclose(p2p, [0.3 + 0.5 * 0.2, 0.1 - 0.5 * 0.2, -0.4], atol=1e-12)
    assert abs(p2p.sum()) <= 1e-12


# --------------------------------------------------------------------------------------------
# Baselines: the known defects


def test_universal_equal_not_zero_sum() -> None:
    """Deficit caused only by an under-producing seller: nobody carries the supplier cost."""
    slot = hand_slot([("buy", True, 2.0, 0.0), ("sell", True, 2.0, -1.0)])
    terms = slot.terms("universal_equal")
    p2p = terms.p2p.evaluate(slot.c, slot.d)
    energy = terms.supplier_energy.evaluate(slot.c, slot.d)
    assert math.fsum(p2p) == pytest.approx(0.2)  # the pot: 1 kWh paid at TP to nobody
    assert math.fsum(energy) == 0.0  # the 1 kWh the supplier delivers is billed to nobody
    # the proportional universal model bills it: S1 buys it at RP
    amount, supplier_money, energy = slot.settle("universal")
    np.testing.assert_allclose(amount, [0.4, -(0.4 - 0.35)], atol=1e-12)
    assert math.fsum(energy) == pytest.approx(1.0)
    assert math.fsum(supplier_money) == pytest.approx(0.35)


def test_universal_equal_negative_reward_for_small_over_producer() -> None:
    """Mass under-consumption: the small over-producer pays (TP - FiT) * TD for everyone."""
    slot = hand_slot([("buy", True, 4.0, -3.0), ("sell", True, 1.0, 0.1), ("sell", True, 3.0, 0.0)])
    amount = slot.settle("universal_equal")[0]
    # TD = 3.1 > 0, one over-producer: reward = 1.1 * 0.2 - 0.15 * 3.1 = -0.245
    assert amount[1] == pytest.approx(0.245)
    assert amount[1] > 0.0  # it pays although it delivered more than it sold
    # the proportional model rewards it: it sells its 0.1 extra at FiT
    assert slot.settle("universal")[0][1] == pytest.approx(-(0.2 + 0.1 * 0.05))
    # and the pot is not zero when no seller over-produces
    slot = hand_slot([("buy", True, 4.0, -3.0), ("sell", True, 4.0, 0.0)])
    p2p = slot.terms("universal_equal").p2p.evaluate(slot.c, slot.d)
    assert math.fsum(p2p) == pytest.approx(-0.6)  # 3 kWh credited at TP, paid by nobody


def test_social_equal_share_larger_than_deviation() -> None:
    """A small over-consumer gets an equal share larger than its deviation: perverse bill."""
    slot = hand_slot(
        [
            ("buy", True, 1.0, 0.1),
            ("buy", True, 1.0, 2.0),
            ("buy", True, 2.0, -1.0),
            ("sell", True, 4.0, 0.0),
        ]
    )
    amount, _, energy = slot.settle("social_equal")
    # TDD = 1.1, two over-consumers, share = C-/2 = 0.5 each
    assert amount[0] == pytest.approx(0.2 + 0.5 * 0.2 + (0.1 - 0.5) * 0.35)
    assert amount[0] < 1.0 * 0.2  # pays less than for its committed 1 kWh alone
    assert energy[0] == pytest.approx(-0.4)  # "sells" to its supplier at RP
    assert np.sum(np.abs(energy)) == pytest.approx(1.9)  # > |TDD| = 1.1 of the proportional
    p2p = slot.terms("social_equal").p2p.evaluate(slot.c, slot.d)
    assert abs(math.fsum(p2p)) <= 1e-12  # money still balances under this reading


# --------------------------------------------------------------------------------------------
# API details


def test_aggregate_masks_only_accepted_and_signed() -> None:
    slot = hand_slot(EXAMPLE)
    masks = aggregate_masks(slot.info())
    assert tuple(masks) == AGGREGATES
    assert masks["C_plus"][0].tolist() == [True, False, False, False, False, False, False]
    assert masks["C_minus"][0].tolist() == [False, True, False, False, False, False, False]
    assert masks["P_plus"][0].tolist() == [False, False, False, False, True, False, False]
    assert masks["P_minus"][0].tolist() == [False, False, False, True, False, False, False]
    assert [masks[k][1] for k in AGGREGATES] == [1.0, -1.0, 1.0, -1.0]


def test_slot_info_signs_use_tolerance() -> None:
    info = slot_info_from_plain(
        ["buy", "sell", "none", "buy"],
        [True, True, False, False],
        [1.0, 1.0, 0.0, 0.0],
        [5e-10, -2e-9, 1e-12, -3.0],
        [1.0 + 5e-10, -1.0 + 2e-9, 1e-12, -3.0],
        [0.2, 0.2, np.nan, np.nan],
        0.2,
    )
    assert info.deviation_sign.tolist() == [0, -1, 0, -1]
    assert info.net_sign.tolist() == [1, -1, 0, -1]
    assert info.side.tolist() == [1, -1, 0, 1]
    assert info.orientation.tolist() == [1.0, -1.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"side": ["buy", "hold"]}, "side"),
        ({"accepted": [True, True], "committed": [0.0, 1.0]}, "committed"),
        ({"committed": [1.0, 1.0], "accepted": [True, False]}, "committed"),
        ({"net": [9.0, -1.0]}, "net_kwh"),
        ({"price": [np.nan, 0.2]}, "p2p_price"),
        ({"slot_price": np.nan}, "slot_price"),
    ],
)
def test_slot_info_rejects_inconsistent_input(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {
        "side": ["buy", "sell"],
        "accepted": [True, True],
        "committed": [1.0, 1.0],
        "deviation": [0.0, 0.0],
        "net": [1.0, -1.0],
        "price": [0.2, 0.2],
        "slot_price": 0.2,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        slot_info_from_plain(
            args["side"],
            args["accepted"],
            args["committed"],
            args["deviation"],
            args["net"],
            args["price"],
            args["slot_price"],
        )


def test_slot_info_rejects_accepted_without_order() -> None:
    with pytest.raises(ValueError, match="without an order"):
        SlotInfo(
            side=np.array([0]),
            accepted=np.array([True]),
            deviation_sign=np.array([0]),
            net_sign=np.array([0]),
            p2p_price=np.array([0.2]),
            slot_price=0.2,
        )


def test_slot_info_is_read_only() -> None:
    info = hand_slot(EXAMPLE).info()
    with pytest.raises(ValueError):
        info.side[0] = -1


def test_bill_terms_errors() -> None:
    slot = hand_slot(EXAMPLE)
    info = slot.info()
    with pytest.raises(ValueError, match="unknown billing model"):
        bill_terms("nodal", info, ORIGINAL, None)
    for model in AGGREGATE_MODELS:
        with pytest.raises(ValueError, match="aggregates"):
            bill_terms(model, info, ORIGINAL, None)
    with pytest.raises(ValueError, match="missing"):
        bill_terms("social", info, ORIGINAL, {"C_plus": 1.0})
    bad = dict.fromkeys(AGGREGATES, 0.0) | {"P_minus": -1.0}
    with pytest.raises(ValueError, match="P_minus"):
        bill_terms("universal", info, ORIGINAL, bad)
    with pytest.raises(ValueError, match="finite"):
        Prices(math.nan, 0.05)


def test_evaluate_shape_check_and_add() -> None:
    form = LinearForm(np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array([0.5, 0.0]))
    with pytest.raises(ValueError, match="shape"):
        form.evaluate(np.zeros(3), np.zeros(2))
    both = form + form
    assert both.evaluate([1.0, 1.0], [1.0, 1.0]).tolist() == [9.0, 12.0]


def test_no_trade_slot_settles_at_retail_everywhere() -> None:
    slot = hand_slot([("buy", False, 0.0, 2.0), ("sell", False, 0.0, 1.0), ("none", False, 0, 0)])
    slot.slot_price = math.nan
    retail = slot.settle("retail")
    for model in MODELS:
        for got, want in zip(slot.settle(model), retail, strict=True):
            np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(retail[0], [0.7, -0.05, 0.0])
