"""Tests of cosim.market.orders and cosim.market.auction (the per-slot double auction).

Hand-worked examples first (expected values derived in the comments), then hypothesis
property tests over random order books.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosim.conventions import BUY, SELL
from cosim.market.auction import MIN_TRADE_KWH, ClearingResult, Mechanism, clear
from cosim.market.orders import OrderBook

MECHANISMS: tuple[Mechanism, ...] = ("pay_as_clear", "pay_as_bid")
TOL = 1e-9


def make_book(orders: list[tuple[int, int, float, float]]) -> OrderBook:
    """Build a book from (participant, side, energy_kwh, limit_price) tuples."""
    if not orders:
        return OrderBook.empty()
    participant, side, energy, price = zip(*orders, strict=True)
    return OrderBook(
        participant=np.array(participant, dtype=np.int64),
        side=np.array(side, dtype=np.int8),
        energy_kwh=np.array(energy, dtype=np.float64),
        limit_price=np.array(price, dtype=np.float64),
    )


def trade_list(result: ClearingResult) -> list[tuple[int, int, float, float]]:
    """Trades as (buyer, seller, energy_kwh, price) tuples, floats rounded for comparison."""
    t = result.trades
    return [
        (int(b), int(s), round(float(e), 12), round(float(p), 12))
        for b, s, e, p in zip(t.buyer, t.seller, t.energy_kwh, t.price, strict=True)
    ]


def assert_no_trades(result: ClearingResult, n: int) -> None:
    assert len(result.trades) == 0
    assert result.trades.buyer.dtype == np.int64
    assert result.trades.energy_kwh.dtype == np.float64
    assert result.traded_kwh == 0.0
    assert math.isnan(result.clearing_price)
    assert result.filled_kwh.shape == (n,)
    assert np.all(result.filled_kwh == 0.0)
    assert np.all(np.isnan(result.avg_price))


# --------------------------------------------------------------------------------------
# OrderBook validation
# --------------------------------------------------------------------------------------


# The fields are typed as arrays; these tests check that plain lists are converted too.


def test_order_book_converts_and_freezes() -> None:
    book = OrderBook(
        participant=[3, 4],  # type: ignore[arg-type]
        side=[BUY, SELL],  # type: ignore[arg-type]
        energy_kwh=[1, 2],  # type: ignore[arg-type]
        limit_price=[0, 1],  # type: ignore[arg-type]
    )
    assert book.participant.dtype == np.int64
    assert book.side.dtype == np.int8
    assert book.energy_kwh.dtype == np.float64
    assert book.limit_price.dtype == np.float64
    assert len(book) == 2
    with pytest.raises(ValueError, match="read-only"):
        book.energy_kwh[0] = 5.0


def test_order_book_copies_its_input() -> None:
    energy = np.array([1.0, 2.0])
    book = OrderBook(
        participant=np.array([1, 2]),
        side=np.array([BUY, SELL]),
        energy_kwh=energy,
        limit_price=np.array([1.0, 1.0]),
    )
    energy[0] = 99.0
    assert book.energy_kwh[0] == 1.0


def test_empty_order_book() -> None:
    assert len(OrderBook.empty()) == 0
    empty: list[float] = []
    book = OrderBook(
        participant=empty,  # type: ignore[arg-type]
        side=empty,  # type: ignore[arg-type]
        energy_kwh=empty,  # type: ignore[arg-type]
        limit_price=empty,  # type: ignore[arg-type]
    )
    assert len(book) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"participant": [1, 2]}, "entries"),
        ({"participant": [[1]]}, "one-dimensional"),
        ({"participant": [1.5]}, "integers"),
        ({"side": [0]}, "BUY"),
        ({"side": [2]}, "BUY"),
        ({"side": [257]}, "fit"),
        ({"energy_kwh": [0.0]}, "> 0"),
        ({"energy_kwh": [-1.0]}, "> 0"),
        ({"energy_kwh": [np.inf]}, "> 0"),
        ({"energy_kwh": ["1"]}, "real numbers"),
        ({"limit_price": [np.nan]}, "finite"),
        ({"limit_price": [1.0, 2.0]}, "entries"),
    ],
)
def test_order_book_rejects_bad_input(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "participant": [1],
        "side": [BUY],
        "energy_kwh": [1.0],
        "limit_price": [0.2],
    }
    fields.update(kwargs)
    with pytest.raises(ValueError, match=message):
        OrderBook(**fields)  # type: ignore[arg-type]


def test_unknown_mechanism_is_rejected() -> None:
    book = make_book([(1, BUY, 1.0, 0.3), (2, SELL, 1.0, 0.1)])
    with pytest.raises(ValueError, match="mechanism"):
        clear(book, "uniform")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# Hand-worked examples
# --------------------------------------------------------------------------------------


def test_simple_crossing_pay_as_clear() -> None:
    # Buyer 1 wants 5 kWh at <= 0.30; seller 2 offers 3 kWh at >= 0.10.
    # Matched: min(5, 3) = 3 kWh; uniform price = (0.30 + 0.10) / 2 = 0.20.
    book = make_book([(1, BUY, 5.0, 0.30), (2, SELL, 3.0, 0.10)])
    result = clear(book, "pay_as_clear")
    assert trade_list(result) == [(1, 2, 3.0, 0.2)]
    assert result.clearing_price == pytest.approx(0.20)
    assert result.traded_kwh == pytest.approx(3.0)
    np.testing.assert_allclose(result.filled_kwh, [3.0, 3.0])
    np.testing.assert_allclose(result.avg_price, [0.20, 0.20])
    np.testing.assert_array_equal(result.netted_kwh, [0.0, 0.0])


def test_simple_crossing_pay_as_bid() -> None:
    # Same book: the 3 kWh trade at the buyer's limit 0.30; seller receives 0.30.
    book = make_book([(1, BUY, 5.0, 0.30), (2, SELL, 3.0, 0.10)])
    result = clear(book, "pay_as_bid")
    assert trade_list(result) == [(1, 2, 3.0, 0.3)]
    assert result.clearing_price == pytest.approx(0.30)
    np.testing.assert_allclose(result.avg_price, [0.30, 0.30])


# The example of docs/market.md.
#   buyers:  1: 4 kWh <= 0.30   2: 3 kWh <= 0.22   3: 2 kWh <= 0.12
#   sellers: 10: 2 kWh >= 0.08  11: 3 kWh >= 0.15  12: 4 kWh >= 0.25
# Merit order: bids 1, 2, 3 (cumulative 4, 7, 9); asks 10, 11, 12 (cumulative 2, 5, 9).
# Breakpoints 2, 4, 5, 7, 9 give intervals
#   (0, 2]: bid 1 x ask 10, 0.30 >= 0.08, trade 2 kWh
#   (2, 4]: bid 1 x ask 11, 0.30 >= 0.15, trade 2 kWh
#   (4, 5]: bid 2 x ask 11, 0.22 >= 0.15, trade 1 kWh
#   (5, 7]: bid 2 x ask 12, 0.22 <  0.25, stop.  Matched quantity 5 kWh.
# Buyer 1 is served by two sellers, seller 11 serves two buyers, buyer 2 is partly filled.
DOC_BOOK = [
    (1, BUY, 4.0, 0.30),
    (2, BUY, 3.0, 0.22),
    (3, BUY, 2.0, 0.12),
    (10, SELL, 2.0, 0.08),
    (11, SELL, 3.0, 0.15),
    (12, SELL, 4.0, 0.25),
]


def test_partial_fills_across_several_sellers_pay_as_clear() -> None:
    # Marginal bid 2 (0.22), marginal ask 11 (0.15): price (0.22 + 0.15) / 2 = 0.185.
    result = clear(make_book(DOC_BOOK), "pay_as_clear")
    assert trade_list(result) == [
        (1, 10, 2.0, 0.185),
        (1, 11, 2.0, 0.185),
        (2, 11, 1.0, 0.185),
    ]
    assert result.clearing_price == pytest.approx(0.185)
    assert result.traded_kwh == pytest.approx(5.0)
    np.testing.assert_allclose(result.filled_kwh, [4.0, 1.0, 0.0, 2.0, 3.0, 0.0])
    np.testing.assert_allclose(
        result.avg_price, [0.185, 0.185, np.nan, 0.185, 0.185, np.nan], equal_nan=True
    )


def test_partial_fills_across_several_sellers_pay_as_bid() -> None:
    # Same pairing; each trade at its buyer's limit: 0.30, 0.30, 0.22.
    # Seller 11 average: (2 * 0.30 + 1 * 0.22) / 3 = 0.82 / 3 = 0.273333...
    # Clearing price: (2 * 0.30 + 2 * 0.30 + 1 * 0.22) / 5 = 1.42 / 5 = 0.284.
    result = clear(make_book(DOC_BOOK), "pay_as_bid")
    assert trade_list(result) == [
        (1, 10, 2.0, 0.30),
        (1, 11, 2.0, 0.30),
        (2, 11, 1.0, 0.22),
    ]
    assert result.clearing_price == pytest.approx(0.284)
    np.testing.assert_allclose(result.filled_kwh, [4.0, 1.0, 0.0, 2.0, 3.0, 0.0])
    np.testing.assert_allclose(
        result.avg_price, [0.30, 0.22, np.nan, 0.30, 0.82 / 3, np.nan], equal_nan=True
    )


def test_order_of_entries_in_the_book_does_not_matter() -> None:
    reordered = [DOC_BOOK[i] for i in (5, 2, 3, 0, 4, 1)]
    result = clear(make_book(reordered), "pay_as_clear")
    assert trade_list(result) == trade_list(clear(make_book(DOC_BOOK), "pay_as_clear"))
    np.testing.assert_allclose(result.filled_kwh, [0.0, 0.0, 2.0, 4.0, 3.0, 1.0])


def test_ties_between_sellers_broken_by_id() -> None:
    # Sellers 7 and 3 both ask 0.10 for 2 kWh; buyer 5 wants 3 kWh at <= 0.20.
    # Lower id first: seller 3 sells 2 kWh, seller 7 the remaining 1 kWh.
    # Price (0.20 + 0.10) / 2 = 0.15.
    book = make_book([(7, SELL, 2.0, 0.10), (5, BUY, 3.0, 0.20), (3, SELL, 2.0, 0.10)])
    result = clear(book, "pay_as_clear")
    assert trade_list(result) == [(5, 3, 2.0, 0.15), (5, 7, 1.0, 0.15)]
    np.testing.assert_allclose(result.filled_kwh, [1.0, 3.0, 2.0])


def test_ties_between_buyers_broken_by_id() -> None:
    # Buyers 9 and 4 both bid 0.20 for 2 kWh; seller 1 offers 3 kWh at >= 0.10.
    # Buyer 4 first gets 2 kWh, buyer 9 gets 1 kWh. Pay-as-bid: both pay 0.20.
    book = make_book([(9, BUY, 2.0, 0.20), (4, BUY, 2.0, 0.20), (1, SELL, 3.0, 0.10)])
    result = clear(book, "pay_as_bid")
    assert trade_list(result) == [(4, 1, 2.0, 0.2), (9, 1, 1.0, 0.2)]
    np.testing.assert_allclose(result.filled_kwh, [1.0, 2.0, 3.0])
    assert result.clearing_price == pytest.approx(0.20)


def test_equal_limits_trade_at_that_price() -> None:
    # Bid 0.2 >= ask 0.2 crosses; both rules give 0.2.
    book = make_book([(1, BUY, 1.0, 0.2), (2, SELL, 2.0, 0.2)])
    for mechanism in MECHANISMS:
        result = clear(book, mechanism)
        assert trade_list(result) == [(1, 2, 1.0, 0.2)]


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_no_crossing(mechanism: Mechanism) -> None:
    # Best bid 0.10 < best ask 0.20: nothing trades.
    book = make_book([(1, BUY, 1.0, 0.10), (2, SELL, 1.0, 0.20), (3, BUY, 1.0, 0.05)])
    assert_no_trades(clear(book, mechanism), 3)


@pytest.mark.parametrize("mechanism", MECHANISMS)
@pytest.mark.parametrize(
    "orders",
    [
        [],
        [(1, BUY, 1.0, 0.3), (2, BUY, 2.0, 0.4)],
        [(1, SELL, 1.0, 0.0), (2, SELL, 2.0, 0.1)],
    ],
    ids=["empty", "buyers only", "sellers only"],
)
def test_empty_sides(orders: list[tuple[int, int, float, float]], mechanism: Mechanism) -> None:
    assert_no_trades(clear(make_book(orders), mechanism), len(orders))


def test_negative_prices_are_allowed() -> None:
    # Seller pays to get rid of energy (ask -0.05), buyer accepts at <= 0.01.
    # Price (0.01 + -0.05) / 2 = -0.02.
    book = make_book([(1, BUY, 1.0, 0.01), (2, SELL, 1.0, -0.05)])
    assert clear(book, "pay_as_clear").clearing_price == pytest.approx(-0.02)


def test_self_trade_is_netted_not_traded() -> None:
    # Participant 1 bids 2 kWh at 0.30 and asks 1 kWh at 0.05; participant 2 asks 2 kWh
    # at 0.10. Merit order: bid (1, 0.30, cum 2); asks (1, 0.05, cum 1), (2, 0.10, cum 3).
    #   (0, 1]: bid 1 x own ask 1 -> netted 1 kWh, no trade
    #   (1, 2]: bid 1 x ask 2, 0.30 >= 0.10 -> trade 1 kWh
    # Price (0.30 + 0.10) / 2 = 0.20.
    book = make_book([(1, BUY, 2.0, 0.30), (1, SELL, 1.0, 0.05), (2, SELL, 2.0, 0.10)])
    result = clear(book, "pay_as_clear")
    assert trade_list(result) == [(1, 2, 1.0, 0.2)]
    np.testing.assert_allclose(result.filled_kwh, [1.0, 0.0, 1.0])
    np.testing.assert_allclose(result.netted_kwh, [1.0, 1.0, 0.0])
    np.testing.assert_allclose(result.avg_price, [0.2, np.nan, 0.2], equal_nan=True)


def test_only_self_crossing_gives_no_trades() -> None:
    # Participant 1's own orders are the only crossing pair: 1 kWh netted, no trade.
    book = make_book([(1, BUY, 1.0, 0.30), (1, SELL, 1.0, 0.05), (2, SELL, 1.0, 0.40)])
    result = clear(book, "pay_as_clear")
    assert_no_trades(result, 3)
    np.testing.assert_allclose(result.netted_kwh, [1.0, 1.0, 0.0])


def test_leftovers_are_rematched() -> None:
    # The prior prototype let each buyer trade once. Buyer 1 needs 6 kWh at <= 0.30 from
    # three sellers of 2 kWh each at 0.10, 0.11, 0.12: it must receive all 6 kWh.
    book = make_book(
        [(1, BUY, 6.0, 0.30), (2, SELL, 2.0, 0.10), (3, SELL, 2.0, 0.11), (4, SELL, 2.0, 0.12)]
    )
    result = clear(book, "pay_as_bid")
    assert trade_list(result) == [(1, 2, 2.0, 0.3), (1, 3, 2.0, 0.3), (1, 4, 2.0, 0.3)]
    assert result.filled_kwh[0] == pytest.approx(6.0)


def test_sub_threshold_segments_are_dropped() -> None:
    # The ask is 1e-13 kWh: the only interval is below MIN_TRADE_KWH, so nothing trades.
    book = make_book([(1, BUY, 1.0, 0.3), (2, SELL, 1e-13, 0.1)])
    assert 1e-13 < MIN_TRADE_KWH
    assert_no_trades(clear(book, "pay_as_clear"), 2)


def test_result_arrays_are_aligned_with_the_book() -> None:
    result = clear(make_book(DOC_BOOK), "pay_as_bid")
    for arr in (result.filled_kwh, result.avg_price, result.netted_kwh):
        assert arr.shape == (len(DOC_BOOK),)


# --------------------------------------------------------------------------------------
# Property tests
# --------------------------------------------------------------------------------------

# A few round prices make ties likely; free floats cover the rest.
_prices = st.one_of(
    st.sampled_from([-0.05, 0.0, 0.05, 0.1, 0.2, 0.3]),
    st.floats(-1.0, 1.0, allow_nan=False, allow_subnormal=False),
)
_energies = st.one_of(
    st.sampled_from([0.5, 1.0, 2.0]),
    st.floats(1e-6, 100.0, allow_nan=False),
)


@st.composite
def books(draw: st.DrawFn, unique_ids: bool = True, max_orders: int = 25) -> OrderBook:
    """Random order books; ``unique_ids``: one order per participant."""
    n = draw(st.integers(0, max_orders))
    if unique_ids:
        ids = draw(st.permutations(list(range(100, 100 + n))))
    else:
        ids = draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
    sides = draw(st.lists(st.sampled_from([BUY, SELL]), min_size=n, max_size=n))
    energy = draw(st.lists(_energies, min_size=n, max_size=n))
    price = draw(st.lists(_prices, min_size=n, max_size=n))
    return OrderBook(
        participant=np.array(ids, dtype=np.int64),
        side=np.array(sides, dtype=np.int8),
        energy_kwh=np.array(energy),
        limit_price=np.array(price),
    )


def check_invariants(book: OrderBook, result: ClearingResult, mechanism: Mechanism) -> None:
    """Invariants every clearing must satisfy, whatever the book."""
    n = len(book)
    is_buy = book.side == BUY
    t = result.trades
    for arr in (result.filled_kwh, result.avg_price, result.netted_kwh):
        assert arr.shape == (n,)
    # Energy balance: bought == sold == sum of trades == traded_kwh.
    bought = result.filled_kwh[is_buy].sum()
    sold = result.filled_kwh[~is_buy].sum()
    assert bought == pytest.approx(t.energy_kwh.sum(), abs=TOL)
    assert sold == pytest.approx(t.energy_kwh.sum(), abs=TOL)
    assert result.traded_kwh == pytest.approx(t.energy_kwh.sum(), abs=TOL)
    # Fills within offers, trades above the drop threshold.
    assert np.all(result.filled_kwh >= 0.0)
    assert np.all(result.netted_kwh >= 0.0)
    assert np.all(result.filled_kwh + result.netted_kwh <= book.energy_kwh * (1 + TOL) + TOL)
    assert np.all(t.energy_kwh >= MIN_TRADE_KWH)
    # No self trades.
    assert not np.any(t.buyer == t.seller)
    # Netting cancels a participant's bid against its own ask: equal energy per participant.
    for pid in np.unique(book.participant[result.netted_kwh > 0.0]):
        mine = book.participant == pid
        assert result.netted_kwh[mine & is_buy].sum() == pytest.approx(
            result.netted_kwh[mine & ~is_buy].sum(), abs=TOL
        )
    # Each order's fill equals the energy of its participant's trades on its side.
    for pid in np.unique(book.participant):
        mine = book.participant == pid
        assert result.filled_kwh[mine & is_buy].sum() == pytest.approx(
            t.energy_kwh[t.buyer == pid].sum(), abs=TOL
        )
        assert result.filled_kwh[mine & ~is_buy].sum() == pytest.approx(
            t.energy_kwh[t.seller == pid].sum(), abs=TOL
        )
    # Unfilled orders have NaN average price, filled ones a finite one.
    filled = result.filled_kwh > 0.0
    assert np.all(np.isnan(result.avg_price[~filled]))
    assert np.all(np.isfinite(result.avg_price[filled]))
    if len(t) == 0:
        assert math.isnan(result.clearing_price)
        assert result.traded_kwh == 0.0
        return
    # Price bounds: no buyer above its limit, no seller below its limit.
    matched_bid_limits = book.limit_price[filled & is_buy]
    matched_ask_limits = book.limit_price[filled & ~is_buy]
    assert np.all(result.avg_price[filled & is_buy] <= matched_bid_limits + TOL)
    assert np.all(result.avg_price[filled & ~is_buy] >= matched_ask_limits - TOL)
    min_matched_bid = matched_bid_limits.min()
    max_matched_ask = matched_ask_limits.max()
    if mechanism == "pay_as_clear":
        # One uniform price, between the marginal ask and the marginal bid, = their midpoint.
        assert np.all(t.price == result.clearing_price)
        assert max_matched_ask <= result.clearing_price <= min_matched_bid
        assert result.clearing_price == pytest.approx(0.5 * (max_matched_ask + min_matched_bid))
    else:
        # Each trade at its buyer's limit, which is at least the seller's limit.
        buyer_limit = {int(p): book.limit_price[(book.participant == p) & is_buy] for p in t.buyer}
        for b, p in zip(t.buyer, t.price, strict=True):
            assert np.any(buyer_limit[int(b)] == p)
        seller_limit_min = {
            int(s): book.limit_price[(book.participant == s) & ~is_buy].min() for s in t.seller
        }
        for s, p in zip(t.seller, t.price, strict=True):
            assert p >= seller_limit_min[int(s)]
        assert result.clearing_price == pytest.approx(
            np.dot(t.energy_kwh, t.price) / t.energy_kwh.sum()
        )


def check_efficiency(book: OrderBook, result: ClearingResult) -> None:
    """No remaining (not filled, not netted) bid still crosses a remaining ask."""
    remaining = book.energy_kwh - result.filled_kwh - result.netted_kwh
    left = remaining > 1e-9
    bids_left = book.limit_price[left & (book.side == BUY)]
    asks_left = book.limit_price[left & (book.side == SELL)]
    if bids_left.size and asks_left.size:
        assert bids_left.max() < asks_left.min()


@settings(max_examples=300, deadline=None)
@given(book=books(), mechanism=st.sampled_from(MECHANISMS))
def test_properties_one_order_per_participant(book: OrderBook, mechanism: Mechanism) -> None:
    result = clear(book, mechanism)
    check_invariants(book, result, mechanism)
    check_efficiency(book, result)
    assert np.all(result.netted_kwh == 0.0)


@settings(max_examples=300, deadline=None)
@given(book=books(unique_ids=False), mechanism=st.sampled_from(MECHANISMS))
def test_properties_with_shared_participants(book: OrderBook, mechanism: Mechanism) -> None:
    # Few ids, several orders each, on both sides: exercises self-trade prevention.
    result = clear(book, mechanism)
    check_invariants(book, result, mechanism)
    check_efficiency(book, result)


@settings(max_examples=100, deadline=None)
@given(book=books(unique_ids=False), mechanism=st.sampled_from(MECHANISMS))
def test_determinism(book: OrderBook, mechanism: Mechanism) -> None:
    first = clear(book, mechanism)
    second = clear(book, mechanism)
    for name in ("buyer", "seller", "energy_kwh", "price"):
        np.testing.assert_array_equal(getattr(first.trades, name), getattr(second.trades, name))
    np.testing.assert_array_equal(first.filled_kwh, second.filled_kwh)
    np.testing.assert_array_equal(first.avg_price, second.avg_price)
    np.testing.assert_array_equal(first.netted_kwh, second.netted_kwh)
    np.testing.assert_array_equal(first.clearing_price, second.clearing_price)
    assert first.traded_kwh == second.traded_kwh


@st.composite
def distinct_books_and_permutations(draw: st.DrawFn) -> tuple[OrderBook, list[int]]:
    """Books with distinct ids and distinct prices, and a permutation of their entries."""
    n = draw(st.integers(1, 25))
    ids = draw(st.permutations(list(range(n))))
    sides = draw(st.lists(st.sampled_from([BUY, SELL]), min_size=n, max_size=n))
    energy = draw(st.lists(_energies, min_size=n, max_size=n))
    price = draw(
        st.lists(st.floats(-1.0, 1.0, allow_nan=False), min_size=n, max_size=n, unique=True)
    )
    perm = draw(st.permutations(list(range(n))))
    book = OrderBook(
        participant=np.array(ids, dtype=np.int64),
        side=np.array(sides, dtype=np.int8),
        energy_kwh=np.array(energy),
        limit_price=np.array(price),
    )
    return book, perm


@settings(max_examples=200, deadline=None)
@given(case=distinct_books_and_permutations(), mechanism=st.sampled_from(MECHANISMS))
def test_permutation_of_the_book_does_not_change_fills(
    case: tuple[OrderBook, list[int]], mechanism: Mechanism
) -> None:
    book, perm = case
    shuffled = OrderBook(
        participant=book.participant[perm],
        side=book.side[perm],
        energy_kwh=book.energy_kwh[perm],
        limit_price=book.limit_price[perm],
    )
    original = clear(book, mechanism)
    permuted = clear(shuffled, mechanism)
    # Entry k of the shuffled book is entry perm[k] of the original.
    np.testing.assert_array_equal(permuted.filled_kwh, original.filled_kwh[perm])
    np.testing.assert_array_equal(permuted.avg_price, original.avg_price[perm])
    np.testing.assert_array_equal(permuted.trades.buyer, original.trades.buyer)
    np.testing.assert_array_equal(permuted.trades.seller, original.trades.seller)
    np.testing.assert_array_equal(permuted.trades.energy_kwh, original.trades.energy_kwh)
    np.testing.assert_array_equal(permuted.trades.price, original.trades.price)
