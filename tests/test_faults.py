"""Faults and delays: the seeded schedule, each handling rule, outages in the grid adapters."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Generator
from typing import Any

import numpy as np
import pandapower.topology as top
import pandas as pd
import pytest
import simpy

from cosim.errors import InputError
from cosim.faults import (
    FAULT_KINDS,
    FAULTS_COLUMNS,
    HANDLING,
    FaultEvents,
    FaultLog,
    FaultsConfig,
    LateReadingConfig,
    MissedGateConfig,
    MissingPayloads,
    Outage,
    OutageConfig,
    OutageEvent,
    PerOutage,
    SettlementDelayConfig,
    disconnect,
    exclude_late_orders,
    islanded_participants,
    mark_missing,
    outaged_net,
    schedule_faults,
)
from cosim.grid.lightsim import LightsimFlow
from cosim.grid.linear import LinearGridModel
from cosim.grid.networks import attach_participants, load_network
from cosim.grid.powerflow import FlowResult, PandapowerFlow
from cosim.market.auction import clear
from cosim.market.orders import OrderBook
from cosim.participants.battery import BatteryFleet
from cosim.participants.fulfilment import deliver, plan_orders
from cosim.scenario import scenario_from_mapping
from cosim.settlement.billing import MODELS, Prices
from cosim.settlement.ledger import Ledger
from cosim.settlement.protocol import EncryptedSettlement, period_ids

LINES = np.arange(10)
TRAFOS = np.array([0, 1])
PRICES = Prices(retail_price=0.35, feed_in_tariff=0.05)


def _schedule(cfg: FaultsConfig, n_slots: int = 200, n: int = 30, seed: int = 5, **kw: Any):
    lines = kw.pop("lines", LINES)
    trafos = kw.pop("trafos", TRAFOS)
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    return schedule_faults(cfg, n_slots, n, 30, lines, trafos, rng, **kw)


ALL = FaultsConfig(
    late_reading=LateReadingConfig(rate=0.05, mean_delay_minutes=40, never_share=0.2),
    missed_gate=MissedGateConfig(rate=0.03),
    settlement_delay=SettlementDelayConfig(rate=0.1, mean_delay_minutes=5),
    outage=OutageConfig(
        events=(OutageEvent(element="line", index=3, start_slot=10, end_slot=20),),
        rate_per_year=20.0,
        mean_duration_slots=3,
    ),
)


# --------------------------------------------------------------------------- the schedule


def test_no_faults_draws_nothing_and_changes_nothing() -> None:
    rng = np.random.default_rng(np.random.SeedSequence(3))
    before = copy.deepcopy(rng.bit_generator.state)
    sched = schedule_faults(FaultsConfig(), 50, 8, 30, LINES, TRAFOS, rng)
    assert rng.bit_generator.state == before
    assert sched.empty and not FaultsConfig().enabled
    assert len(sched.records()) == 0 and list(sched.records().columns) == list(FAULTS_COLUMNS)
    for k in range(50):
        assert not sched.late_orders(k).any() and not sched.missing_readings(k).any()
        assert not sched.reading_delays(k).any() and sched.settlement_delay_minutes(k) == 0.0
        assert sched.outage(k) == Outage() and sched.outage(k).empty
    assert sched.outage_changes == ()


def test_same_seed_same_schedule_other_seed_other_schedule() -> None:
    a, b, c = _schedule(ALL), _schedule(ALL), _schedule(ALL, seed=6)
    pd.testing.assert_frame_equal(a.records(), b.records())
    assert not a.records().equals(c.records())
    assert ALL.enabled and not a.empty


def test_a_longer_horizon_keeps_the_faults_of_the_shorter() -> None:
    cfg = ALL.model_copy(update={"outage": OutageConfig()})  # random outages scale with it
    short, long = _schedule(cfg, n_slots=50), _schedule(cfg, n_slots=3000)
    for k in range(50):
        np.testing.assert_array_equal(short.reading_delays(k), long.reading_delays(k))
        np.testing.assert_array_equal(short.late_orders(k), long.late_orders(k))
        assert short.settlement_delay_minutes(k) == long.settlement_delay_minutes(k)


def test_rates_are_honoured() -> None:
    n_slots, n = 4000, 25
    cfg = FaultsConfig(
        late_reading=LateReadingConfig(rate=0.1, mean_delay_minutes=20, never_share=0.25),
        missed_gate=MissedGateConfig(rate=0.04),
        settlement_delay=SettlementDelayConfig(rate=0.2, mean_delay_minutes=7),
    )
    s = _schedule(cfg, n_slots, n)
    delays = np.stack([s.reading_delays(k) for k in range(n_slots)])
    late = delays > 0
    total = n_slots * n

    def within(count: int, p: float, size: int) -> bool:  # 5 binomial standard deviations
        return abs(count - p * size) <= 5 * np.sqrt(size * p * (1 - p))

    assert within(int(late.sum()), 0.1, total)
    never = np.isinf(delays)
    assert within(int(never.sum()), 0.25, int(late.sum()))
    finite = delays[late & ~never]
    assert abs(finite.mean() - 20) <= 5 * 20 / np.sqrt(finite.size)  # exponential: sd = mean
    assert within(int(sum(s.late_orders(k).sum() for k in range(n_slots))), 0.04, total)
    sd = np.array([s.settlement_delay_minutes(k) for k in range(n_slots)])
    assert within(int((sd > 0).sum()), 0.2, n_slots)
    assert abs(sd[sd > 0].mean() - 7) <= 5 * 7 / np.sqrt((sd > 0).sum())
    missing = np.stack([s.missing_readings(k) for k in range(n_slots)])
    np.testing.assert_array_equal(missing, delays > cfg.late_reading.deadline_minutes)
    np.testing.assert_array_equal(s.missing_readings(3, 0.0), s.reading_delays(3) > 0)


def test_random_outages_follow_the_rate_and_duration() -> None:
    n_slots, slot_minutes = 17520, 30  # a year of half hours
    cfg = FaultsConfig(outage=OutageConfig(rate_per_year=4.0, mean_duration_slots=6))
    lines = np.arange(40)
    rng = np.random.default_rng(np.random.SeedSequence(2))
    s = schedule_faults(cfg, n_slots, 5, slot_minutes, lines, np.array([0]), rng)
    expected = 4.0 * 41  # per element and year, 41 elements
    assert abs(len(s.intervals) - expected) <= 5 * np.sqrt(expected)
    lengths = np.array([iv.end_slot - iv.start_slot for iv in s.intervals])
    assert abs(lengths.mean() - 6) < 5 * np.sqrt(30 / lengths.size)  # geometric: var = 30
    assert {iv.element for iv in s.intervals} == {"line", "trafo"}
    only_lines = FaultsConfig(outage=OutageConfig(rate_per_year=4.0, elements=("line",)))
    rng = np.random.default_rng(np.random.SeedSequence(2))
    s2 = schedule_faults(only_lines, n_slots, 5, slot_minutes, lines, np.array([0]), rng)
    assert {iv.element for iv in s2.intervals} == {"line"}


def test_one_kind_does_not_change_another() -> None:
    late_only = FaultsConfig(late_reading=LateReadingConfig(rate=0.1))
    gate_only = FaultsConfig(missed_gate=MissedGateConfig(rate=0.2))
    both = FaultsConfig(
        late_reading=LateReadingConfig(rate=0.1),
        missed_gate=MissedGateConfig(rate=0.2),
        settlement_delay=SettlementDelayConfig(rate=0.5),
        outage=OutageConfig(rate_per_year=50.0),
    )
    a, g, b = _schedule(late_only), _schedule(gate_only), _schedule(both)
    for k in range(200):
        np.testing.assert_array_equal(a.reading_delays(k), b.reading_delays(k))
        np.testing.assert_array_equal(g.late_orders(k), b.late_orders(k))
    # a higher rate keeps the earlier hits (one uniform per participant-slot)
    more = _schedule(FaultsConfig(late_reading=LateReadingConfig(rate=0.3)))
    for k in range(200):
        assert (more.reading_delays(k)[a.reading_delays(k) > 0] > 0).all()


def test_outage_sets_per_slot_and_their_changes() -> None:
    cfg = FaultsConfig(
        outage=OutageConfig(
            events=(
                OutageEvent(element="line", index=3, start_slot=2, end_slot=6),
                OutageEvent(element="line", index=3, start_slot=5, end_slot=8),  # merged
                OutageEvent(element="trafo", index=1, start_slot=4, end_slot=5),
                OutageEvent(element="line", index=7, start_slot=8, end_slot=99),  # clipped
            )
        )
    )
    s = _schedule(cfg, n_slots=12)
    got = [s.outage(k) for k in range(12)]
    assert got[0] == got[1] == Outage()
    assert got[2] == got[3] == Outage(lines=(3,))
    assert got[4] == Outage(lines=(3,), trafos=(1,))
    assert got[5] == got[7] == Outage(lines=(3,))
    assert got[8] == got[11] == Outage(lines=(7,))
    assert s.outage_changes == (2, 4, 5, 8)
    rec = s.records()
    rows = rec[["slot", "element", "handling"]].values.tolist()
    assert rows == [
        [2, "line 3", "network_changed"],
        [4, "trafo 1", "network_changed"],
        [5, "trafo 1", "network_restored"],
        [8, "line 3", "network_restored"],
        [8, "line 7", "network_changed"],
    ]
    assert (rec["time_minutes"] == rec["slot"] * 30).all()
    with pytest.raises(IndexError):
        s.outage(12)


def test_records_list_every_kind_with_its_rule() -> None:
    s = _schedule(ALL)
    rec = s.records()
    assert list(rec.columns) == list(FAULTS_COLUMNS)
    assert set(rec["kind"]) == set(FAULT_KINDS)
    assert set(rec["handling"]) <= set(HANDLING)
    assert rec["time_minutes"].is_monotonic_increasing
    late = rec[rec["kind"] == "late_reading"]
    missing = late["delay_minutes"] > 60.0
    assert set(late.loc[missing, "handling"]) == {"settled_at_retail_from_supplier_meter"}
    assert set(late.loc[~missing, "handling"]) == {"settled_late"}
    end = (late["slot"] + 1) * 30
    np.testing.assert_allclose(late["time_minutes"], end + np.minimum(late["delay_minutes"], 60))
    gate = rec[rec["kind"] == "missed_gate"]
    assert (gate["handling"] == "excluded_from_auction").all()
    assert (gate["time_minutes"] == gate["slot"] * 30).all()
    assert sum(int(s.late_orders(k).sum()) for k in range(200)) == len(gate)


def test_fault_log_refuses_unknown_names() -> None:
    log = FaultLog()
    with pytest.raises(ValueError, match="unknown fault kind"):
        log.add(0, 0.0, "earthquake", handling="settled_late")
    with pytest.raises(ValueError, match="unknown handling"):
        log.add(0, 0.0, "outage", handling="ignored")


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("event", "key", "match"),
    [
        ({"element": "line", "index": 99, "start_slot": 0, "end_slot": 2}, "index", "line"),
        ({"element": "trafo", "index": 5, "start_slot": 0, "end_slot": 2}, "index", r"0\.\.1"),
        ({"element": "line", "index": 2, "start_slot": 200, "end_slot": 201}, "start_slot", "200"),
    ],
)
def test_listed_outage_the_network_cannot_have(event: dict, key: str, match: str) -> None:
    cfg = FaultsConfig(outage=OutageConfig(events=(OutageEvent(**event),)))
    with pytest.raises(InputError, match=match) as err:
        _schedule(cfg, source_file="s.yaml")
    assert err.value.key == f"faults.outage.events[0].{key}"
    assert err.value.file == "s.yaml"


@pytest.mark.parametrize(
    ("faults", "key", "match"),
    [
        ({"late_reading": {"rate": 1.5}}, "faults.late_reading.rate", "less than or equal to 1"),
        ({"missed_gate": {"rate": -0.1}}, "faults.missed_gate.rate", "greater than or equal"),
        (
            {
                "outage": {
                    "events": [{"element": "line", "index": 1, "start_slot": 4, "end_slot": 4}]
                }
            },
            "faults.outage.events.0",
            "start_slot",
        ),
        (
            {
                "outage": {
                    "events": [{"element": "bus", "index": 1, "start_slot": 0, "end_slot": 4}]
                }
            },
            "faults.outage.events.0.element",
            "'line' or 'trafo'",
        ),
        ({"outage": {"events": [{"index": 1}]}}, "faults.outage.events.0.element", "missing"),
        ({"delays": {}}, "faults.delays", "allowed here: late_reading"),
    ],
)
def test_bad_faults_section(faults: dict, key: str, match: str) -> None:
    with pytest.raises(InputError, match=match) as err:
        scenario_from_mapping({"name": "x", "faults": faults}, "s.yaml")
    assert err.value.key == key


def test_section_defaults_and_lists() -> None:
    sc = scenario_from_mapping(
        {
            "name": "x",
            "faults": {
                "late_reading": {"rate": 0.1, "deadline_minutes": 15},
                "outage": {
                    "events": [{"element": "trafo", "index": 0, "start_slot": 1, "end_slot": 3}]
                },
            },
        }
    )
    assert sc.faults.enabled and sc.faults.late_reading.deadline_minutes == 15.0
    assert sc.faults.outage.events[0].element == "trafo"
    assert not scenario_from_mapping({"name": "x"}).faults.enabled


# --------------------------------------------------------------------------- market rules


def _fleet(n: int) -> BatteryFleet:
    z = np.zeros(n)
    return BatteryFleet(z, z, np.ones(n), np.ones(n), z, z)


def _market_slot(rng: np.random.Generator, n: int, late: np.ndarray | None = None):
    """One slot through forecast, orders, auction and delivery (no batteries)."""
    load = rng.uniform(0.0, 1.5, n)
    pv = rng.uniform(0.0, 2.5, n) * (rng.random(n) < 0.6)
    fleet = _fleet(n)
    orders = plan_orders(
        load, pv, np.zeros(n), fleet, 0.5, 0.2, 0.001, 0.05, 0.35, "uniform", rng, rng
    )
    if late is not None:
        orders = exclude_late_orders(orders, late)
    has = orders.side != 0
    ids = np.arange(n)
    book = OrderBook(ids[has], orders.side[has], orders.energy_kwh[has], orders.limit_price[has])
    result = clear(book, "pay_as_clear")
    filled = np.zeros(n)
    filled[has] = result.filled_kwh
    p2p = np.full(n, np.nan)
    p2p[has] = result.avg_price
    d = deliver(load, pv, np.zeros(n), fleet, 0.5, orders.side, filled)
    return orders, d, p2p, result.clearing_price, load, pv


def test_late_orders_are_excluded_and_settled_at_retail() -> None:
    n = 12
    late = np.zeros(n, dtype=bool)
    late[[1, 4, 7]] = True
    orders, d, p2p, price, *_ = _market_slot(np.random.default_rng(4), n, late)
    assert (orders.side[late] == 0).all() and (orders.energy_kwh[late] == 0).all()
    assert np.isnan(orders.limit_price[late]).all()
    assert not d.accepted[late].any() and (d.committed_kwh[late] == 0).all()
    # the same auction as one whose book never held those orders
    ref, *_ = _market_slot(np.random.default_rng(4), n)
    np.testing.assert_array_equal(orders.forecast_net_kwh, ref.forecast_net_kwh)
    keep = (ref.side != 0) & ~late
    book = OrderBook(np.flatnonzero(keep), ref.side[keep], ref.energy_kwh[keep],
                     ref.limit_price[keep])  # fmt: skip
    without = clear(book, "pay_as_clear")
    assert (ref.side[late] != 0).any()  # some late participant did want to trade
    assert price == without.clearing_price
    np.testing.assert_array_equal(d.committed_kwh[keep], without.filled_kwh)
    ledger = Ledger(MODELS, np.arange(n) % 2, 2, PRICES)
    ledger.settle(orders.side, d.accepted, d.committed_kwh, d.deviation_kwh, d.net_kwh, p2p, price)
    retail = np.where(d.net_kwh > 0, d.net_kwh * 0.35, d.net_kwh * 0.05)
    for m in MODELS:  # at retail on the meter in every model
        np.testing.assert_allclose(ledger.bills[m][late], retail[late], rtol=0, atol=1e-12)
        total = ledger.bills[m].sum() - ledger.supplier_profit[m].sum()
        assert total == pytest.approx(ledger.pot[m], abs=1e-9)  # the money balances
    with pytest.raises(ValueError, match="shape"):
        exclude_late_orders(orders, late[:3])


# --------------------------------------------------------------------------- missing readings


def _slots(seed: int, n: int, n_slots: int) -> list[tuple[Any, ...]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_slots):
        o, d, p2p, price, *_ = _market_slot(rng, n)
        out.append((o.side, d.accepted, d.committed_kwh, d.deviation_kwh, d.net_kwh, p2p, price))
    return out


def _plain_with_missing(slots, missing: set[tuple[int, int]], models, supplier) -> Ledger:
    ledger = Ledger(models, supplier, 2, PRICES)
    for k, (side, acc, c, d, net, p2p, price) in enumerate(slots):
        mask = np.array([(u, k) in missing for u in range(side.size)])
        acc, c, d, p2p = mark_missing(side, acc, c, d, p2p, mask)
        ledger.settle(side, acc, c, d, net, p2p, price)
    return ledger


def test_mark_missing_is_the_not_accepted_form() -> None:
    slots = _slots(8, 10, 1)
    side, acc, c, d, net, p2p, _ = slots[0]
    who = np.flatnonzero(acc)[:2]
    mask = np.zeros(10, dtype=bool)
    mask[who] = True
    acc2, c2, d2, p2 = mark_missing(side, acc, c, d, p2p, mask)
    assert not acc2[who].any() and (c2[who] == 0).all() and np.isnan(p2[who]).all()
    s = np.where(side == -1, -1.0, 1.0)
    np.testing.assert_allclose(s * (c2 + d2), net, atol=1e-12)  # the meter is unchanged
    np.testing.assert_array_equal(acc2[~mask], acc[~mask])
    np.testing.assert_array_equal(d2[~mask], d[~mask])
    # a chunk of slots at once
    chunk = [np.stack(x) for x in zip(*[s_[:4] for s_ in _slots(9, 6, 3)], strict=True)]
    m2 = np.zeros((3, 6), dtype=bool)
    m2[1, 2] = True
    out = mark_missing(chunk[0], chunk[1], chunk[2], chunk[3], np.full((3, 6), 0.2), m2)
    assert out[0].shape == (3, 6) and not out[0][1, 2]


@pytest.mark.parametrize(("backend", "period"), [("paillier", "slot"), ("ckks", "day")])
def test_a_missing_reading_is_settled_like_a_rejected_payload(backend: str, period: str) -> None:
    """The encrypted settlement with missing payloads equals the plain one with the marks."""
    n, n_slots = 6, 4
    supplier = np.arange(n) % 2
    times = pd.date_range("2024-03-01T22:00", periods=n_slots, freq="1h", tz="UTC")
    slots = _slots(11, n, n_slots)
    missing = {(int(np.flatnonzero(slots[1][1])[0]), 1), (3, 2)}
    hook = MissingPayloads()
    models = ("retail", "individual", "social", "universal")
    es = EncryptedSettlement(
        models, supplier, 2, PRICES, backend=backend, key_bits=1024, insecure_test_keys=True,
        period=period, slot_times=times, tamper=hook,
    )  # fmt: skip
    for k, slot in enumerate(slots):
        for user, kk in missing:
            if kk == k:  # found missing at the deadline, before the slot is settled
                hook.add(k, np.array([user]))
        es.settle(*slot)
    es.finish()
    # a payload covers its batch: one slot (Paillier) or the billing period (CKKS)
    batch = np.arange(n_slots) if backend == "paillier" else period_ids(times, period)
    dropped = {(u, k) for u, kk in missing for k in range(n_slots) if batch[k] == batch[kk]}
    got = {(r["participant"], r["slot"]) for r in es.rejected_payloads}
    assert got == dropped
    assert {r["reason"] for r in es.rejected_payloads} == {"missing payload"}
    ref = _plain_with_missing(slots, dropped, models, supplier)
    for m in models:
        np.testing.assert_allclose(es.bills[m], ref.bills[m], rtol=0, atol=1e-6)
        np.testing.assert_allclose(es.supplier_profit[m], ref.supplier_profit[m], atol=1e-6)
        assert es.pot[m] == pytest.approx(ref.pot[m], abs=1e-6)
        assert ref.bills[m].sum() - ref.supplier_profit[m].sum() == pytest.approx(ref.pot[m])
    assert pickle.loads(pickle.dumps(hook)).missing == hook.missing


# --------------------------------------------------------------------------- outages


@pytest.fixture(scope="module")
def village() -> tuple[Any, Any]:
    net = load_network("village")
    return net, attach_participants(net, "village")


@pytest.fixture(scope="module")
def cigre() -> tuple[Any, Any]:
    net = load_network("cigre_lv")
    return net, attach_participants(net, "cigre_lv")


OUTAGES = {
    "village": [Outage(lines=(20,)), Outage(lines=(5, 30)), Outage(trafos=(0,))],
    "cigre_lv": [Outage(trafos=(1,)), Outage(lines=(3,)), Outage(lines=(3,), trafos=(2,))],
}


def _injections(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.0, 4.0, n) - rng.uniform(0.0, 4.0, n) * (rng.random(n) < 0.4)
    return p, np.abs(p) * 0.25


def _same_nan(a: np.ndarray, b: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))


@pytest.mark.parametrize("name", ["village", "cigre_lv"])
def test_outage_flow_agrees_with_runpp_on_the_outaged_net(name: str, request: Any) -> None:
    net, att = request.getfixturevalue("village" if name == "village" else "cigre")
    fast, ref = LightsimFlow(net, att.bus), PandapowerFlow(net, att.bus)
    p, q = _injections(len(att), 1)
    before = fast.solve(p, q)
    for outage in OUTAGES[name]:
        cut = outaged_net(net, outage)
        direct = PandapowerFlow(cut, att.bus).solve(p, q)  # pandapower's runpp on that net
        fast.set_outage(outage)
        ref.set_outage(outage)
        a, b = fast.solve(p, q), ref.solve(p, q)
        for field in ("vm_pu", "bus_p_mw", "line_loading_percent", "trafo_loading_percent"):
            np.testing.assert_array_equal(getattr(b, field), getattr(direct, field))
            _same_nan(getattr(a, field), getattr(b, field))
        assert a.converged and b.converged and np.isnan(a.vm_pu).any()  # buses cut off
        np.testing.assert_allclose(a.vm_pu, b.vm_pu, rtol=0, atol=1e-8)
        np.testing.assert_allclose(a.line_loading_percent, b.line_loading_percent, atol=1e-6)
        np.testing.assert_allclose(a.trafo_loading_percent, b.trafo_loading_percent, atol=1e-6)
        assert a.grid_import_kw == pytest.approx(b.grid_import_kw, abs=1e-5)
        assert a.losses_kw == pytest.approx(b.losses_kw, abs=1e-5)
        cut_off = islanded_participants(net, outage, att.bus)
        assert cut_off.any()
        assert a.unsupplied_kw == pytest.approx(np.abs(p[cut_off]).sum(), abs=1e-9)
        assert b.unsupplied_kw == pytest.approx(np.abs(p[cut_off]).sum(), abs=1e-9)
        batch = fast.solve_batch(np.stack([p, p * 0.5]), np.stack([q, q]))[0]
        np.testing.assert_array_equal(batch.vm_pu, a.vm_pu)
    fast.set_outage(Outage())
    ref.set_outage(Outage())
    after = fast.solve(p, q)
    np.testing.assert_array_equal(after.vm_pu, before.vm_pu)  # restored bit for bit
    assert after.unsupplied_kw == 0.0
    fresh = PandapowerFlow(net, att.bus).solve(p, q)
    np.testing.assert_array_equal(ref.solve(p, q).vm_pu, fresh.vm_pu)


def test_set_outage_refuses_unknown_elements(cigre: tuple[Any, Any]) -> None:
    net, att = cigre
    for flow in (LightsimFlow(net, att.bus), PandapowerFlow(net, att.bus)):
        with pytest.raises(ValueError, match="lines the network does not have"):
            flow.set_outage(Outage(lines=(999,)))
    with pytest.raises(ValueError, match="trafos"):
        outaged_net(net, Outage(trafos=(7,)))


@pytest.mark.parametrize("name", ["village", "cigre_lv"])
def test_islanded_participants_are_those_pandapower_leaves_unsupplied(
    name: str, request: Any
) -> None:
    net, att = request.getfixturevalue("village" if name == "village" else "cigre")
    assert not islanded_participants(net, Outage(), att.bus).any()
    for outage in OUTAGES[name]:
        cut = outaged_net(net, outage)
        unsupplied = set(top.unsupplied_buses(cut))
        expected = np.array([b in unsupplied for b in att.bus.tolist()])
        np.testing.assert_array_equal(islanded_participants(net, outage, att.bus), expected)
        assert bool(net.line["in_service"].all())  # not modified


def test_the_network_check_model_sees_the_outage(village: tuple[Any, Any]) -> None:
    net, _ = village
    built: list[Outage] = []

    def build(outage: Outage) -> LinearGridModel:
        built.append(outage)
        return LinearGridModel.from_pandapower(outaged_net(net, outage), "lindistflow")

    models = PerOutage(build, base=LinearGridModel.from_pandapower(net, "lindistflow"))
    outage = Outage(lines=(20,))
    m = models.get(outage)
    assert models.get(outage) is m and built == [outage]
    assert models.get(Outage()).supplied.all()
    unsupplied = sorted(top.unsupplied_buses(outaged_net(net, outage)))
    assert unsupplied
    np.testing.assert_array_equal(m.supplied, ~np.isin(m.bus_ids, unsupplied))


def test_disconnect_is_anti_islanding() -> None:
    rng = np.random.default_rng(3)
    n = 8
    _, d, _, _, load, pv = _market_slot(rng, n)
    soc = rng.uniform(0.0, 2.0, n)
    mask = np.zeros(n, dtype=bool)
    mask[[0, 3, 5]] = True
    out, unserved = disconnect(d, mask, load, pv, soc)
    assert (out.net_kwh[mask] == 0).all() and (out.battery_kwh[mask] == 0).all()
    np.testing.assert_array_equal(out.soc_kwh[mask], soc[mask])
    assert (out.delivered_kwh[mask] == 0).all()
    np.testing.assert_array_equal(out.deviation_kwh[mask], -d.committed_kwh[mask])
    np.testing.assert_array_equal(out.pv_curtailed_kwh[mask], pv[mask])
    np.testing.assert_array_equal(unserved, np.where(mask, load, 0.0))
    for name in ("net_kwh", "soc_kwh", "deviation_kwh", "battery_kwh", "accepted"):
        np.testing.assert_array_equal(getattr(out, name)[~mask], getattr(d, name)[~mask])
    np.testing.assert_allclose(out.committed_kwh + out.deviation_kwh, out.delivered_kwh)
    with pytest.raises(ValueError, match="shape"):
        disconnect(d, mask[:2], load, pv, soc)


def test_flow_result_keeps_its_positional_form() -> None:
    nan = np.full(1, np.nan)
    res = FlowResult(True, nan, nan, nan, nan, 0.0, 0.0)
    assert res.unsupplied_kw == 0.0


# --------------------------------------------------------------------------- events in SimPy


def _events(cfg: FaultsConfig, net: Any, att: Any, n_slots: int = 6) -> FaultEvents:
    flow = PandapowerFlow(net, att.bus)
    rng = np.random.default_rng(np.random.SeedSequence(21))
    sched = schedule_faults(cfg, n_slots, len(att), 30, flow.line_ids, flow.trafo_ids, rng)
    return FaultEvents(sched, net, att.bus)


def test_settlement_waits_for_late_readings_until_the_deadline(cigre: tuple[Any, Any]) -> None:
    net, att = cigre
    cfg = FaultsConfig(
        late_reading=LateReadingConfig(
            rate=0.02, mean_delay_minutes=30, never_share=0.3, deadline_minutes=45
        )
    )
    ev = _events(cfg, net, att, n_slots=40)
    env = simpy.Environment()
    seen: list[tuple[int, float, np.ndarray]] = []

    def settlement() -> Generator[simpy.Event, Any, None]:
        for k in range(40):
            if env.now < (k + 1) * 30:
                yield env.timeout((k + 1) * 30 - env.now)
            missing = yield from ev.readings(env, k)
            seen.append((k, env.now, missing))

    env.process(settlement())
    env.run()
    now = 0.0
    for k, t, missing in seen:
        delays = ev.schedule.reading_delays(k)
        np.testing.assert_array_equal(missing, delays > 45)
        end = max((k + 1) * 30, now)  # the previous slot may have waited past this one's end
        wait = 45.0 if missing.any() else float(delays.max())
        assert t == pytest.approx(max(end, (k + 1) * 30 + wait))
        now = t
    rec = ev.log.frame()
    assert set(rec["kind"]) == {"late_reading"}
    assert len(rec) == sum(int((ev.schedule.reading_delays(k) > 0).sum()) for k in range(40))
    handled = rec.set_index(["slot", "participant"])["handling"]
    for k, _, missing in seen:
        for p in np.flatnonzero(missing).tolist():
            assert handled[k, p] == "settled_at_retail_from_supplier_meter"
    assert "settled_late" in set(rec["handling"])
    assert any(m.any() for _, _, m in seen) and any(not m.any() for _, _, m in seen)


def test_gate_delivery_messages_and_outage_events(cigre: tuple[Any, Any]) -> None:
    net, att = cigre
    cfg = FaultsConfig(
        missed_gate=MissedGateConfig(rate=0.2),
        settlement_delay=SettlementDelayConfig(rate=1.0, mean_delay_minutes=4),
        outage=OutageConfig(
            events=(OutageEvent(element="trafo", index=1, start_slot=2, end_slot=4),)
        ),
    )
    ev = _events(cfg, net, att)
    n = len(att)
    rng = np.random.default_rng(0)
    orders, d, _, _, load, pv = _market_slot(rng, n)
    gated = ev.gate(3, orders)
    late = ev.schedule.late_orders(3) & (orders.side != 0)
    assert late.any() and (gated.side[late] == 0).all()
    np.testing.assert_array_equal(gated.side[~late], orders.side[~late])
    assert ev.outage(1).empty and ev.outage(2) == Outage(trafos=(1,))
    same, none = ev.deliver(1, d, load, pv, np.zeros(n))
    assert same is d and none is None
    out, mask = ev.deliver(2, d, load, pv, np.zeros(n))
    cut = islanded_participants(net, Outage(trafos=(1,)), att.bus)
    assert mask is not None and cut.any() and (out.net_kwh[cut] == 0).all()
    np.testing.assert_array_equal(mask, cut)
    served = np.where(cut, 0.0, load)
    pv_used = pv - out.pv_curtailed_kwh
    np.testing.assert_allclose(out.net_kwh, served - pv_used + out.battery_kwh, atol=1e-12)
    env = simpy.Environment()
    env.process(ev.outages(env))
    times: list[float] = []

    def settle() -> Generator[simpy.Event, Any, None]:
        yield env.timeout(30)
        delay = yield from ev.settlement_messages(env, 0)
        times.append(env.now)
        assert delay == ev.schedule.settlement_delay_minutes(0) > 0

    env.process(settle())
    env.run()
    assert times == [pytest.approx(30 + ev.schedule.settlement_delay_minutes(0))]
    rec = ev.log.frame()
    assert list(rec.columns) == list(FAULTS_COLUMNS)
    assert set(rec["kind"]) == {"missed_gate", "outage", "settlement_delay"}
    outage = rec[(rec["kind"] == "outage") & (rec["participant"] == -1)]
    assert outage[["time_minutes", "element", "handling"]].values.tolist() == [
        [60.0, "trafo 1", "network_changed"],
        [120.0, "trafo 1", "network_restored"],
    ]
    islanded = rec[rec["handling"] == "disconnected_anti_islanding"]
    assert sorted(islanded["participant"]) == np.flatnonzero(cut).tolist()
    np.testing.assert_allclose(islanded["energy_kwh"], load[np.sort(islanded["participant"])])


def test_outage_states_are_bounded_and_rebuilt_identically(village: tuple[Any, Any]) -> None:
    net, att = village
    flow = LightsimFlow(net, att.bus)
    p, q = _injections(len(att), 5)
    first = Outage(lines=(20,))
    flow.set_outage(first)
    a = flow.solve(p, q)
    for line in (30, 31, 40, 50, 60, 70):  # evicts the first state
        flow.set_outage(Outage(lines=(line,)))
        flow.solve(p, q)
    assert len(flow._states) <= 5 and ((20,), ()) not in flow._states
    flow.set_outage(first)
    b = flow.solve(p, q)
    for field in ("vm_pu", "line_loading_percent", "trafo_loading_percent", "bus_p_mw"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    built: list[Outage] = []
    cache = PerOutage(lambda o: built.append(o) or o.label(), base="none", keep=2)
    for line in (1, 2, 1, 3, 2):
        cache.get(Outage(lines=(line,)))
    assert cache.get(Outage()) == "none"
    assert [o.lines for o in built] == [(1,), (2,), (3,), (2,)]  # 2 was evicted by 3


def test_log_hands_out_one_slot_at_a_time() -> None:
    log = FaultLog()
    log.add(1, 75.0, "late_reading", 2, delay_minutes=15.0, handling="settled_late")
    log.add(2, 60.0, "missed_gate", 4, handling="excluded_from_auction")
    log.add(1, 30.0, "missed_gate", 3, handling="excluded_from_auction")
    rows = log.take(1)
    assert rows["participant"].tolist() == [3, 2] and rows["time_minutes"].tolist() == [30, 75]
    assert set(rows) == set(FAULTS_COLUMNS) and len(log) == 1
    assert log.take(1)["slot"].size == 0 and log.take(2)["kind"].tolist() == ["missed_gate"]
