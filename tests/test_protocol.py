"""Encrypted settlement (PPBSP): equality with the plain Ledger, key custody, authenticity."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import phe
import pytest
import tenseal as ts
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from privacy_walk import walk

from cosim.settlement import actors
from cosim.settlement.actors import PrivacyError, gross_energy_form
from cosim.settlement.backend import SettlementBackend
from cosim.settlement.billing import (
    MODELS,
    aggregate_masks,
    aggregate_plain,
    bill_terms,
    slot_info_from_plain,
)
from cosim.settlement.crypto import KeyMismatchError, OpCounts, SecretKey
from cosim.settlement.ledger import Ledger
from cosim.settlement.messages import EncryptedSum, MeterPayload, SignedPayload
from cosim.settlement.protocol import EncryptedSettlement, period_ids
from cosim.settlement.signatures import MeterSigner
from cosim.settlement.terms import Prices

PRICES = Prices(retail_price=0.35, feed_in_tariff=0.05)
SUPPLIER = np.array([0, 1, 0, 1, 1])
#: four hourly slots across midnight: two billing days
TIMES = pd.date_range("2024-03-01T22:00", periods=4, freq="1h", tz="Europe/Vienna")
Slot = tuple[Any, ...]


def random_slots(seed: int, n: int, n_slots: int) -> list[Slot]:
    """Slots with buyers, sellers, no-order users, rejected bids, zero and signed deviations."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_slots):
        side = rng.choice(np.array([1, -1, 0], dtype=np.int8), n, p=[0.45, 0.4, 0.15])
        side[:2] = (1, -1)  # at least one buyer and one seller
        accepted = (side != 0) & (rng.random(n) < 0.85)
        accepted[:2] = True
        c = np.where(accepted, rng.uniform(0.1, 2.0, n), 0.0)
        sell = accepted & (side == -1)
        c[sell] *= c[accepted & (side == 1)].sum() / c[sell].sum()  # the market clears
        d = rng.normal(0.0, 0.6, n)
        d[rng.random(n) < 0.15] = 0.0
        s = np.where(side == -1, -1.0, 1.0)
        price = float(rng.uniform(0.12, 0.3))  # pay-as-clear: one price
        out.append((side, accepted, c, d, s * (c + d), np.where(accepted, price, np.nan), price))
    return out


SLOTS = random_slots(7, SUPPLIER.size, len(TIMES))


def plain(
    slots: list[Slot], models: tuple[str, ...] = MODELS
) -> tuple[Ledger, list[dict[str, float]]]:
    ledger = Ledger(models, SUPPLIER, 2, PRICES)
    return ledger, [ledger.settle(*s) for s in slots]


def run(
    slots: list[Slot], models: tuple[str, ...] = MODELS, **kwargs: Any
) -> tuple[EncryptedSettlement, list[dict[str, float]]]:
    options: dict[str, Any] = {"key_bits": 1024, "insecure_test_keys": True, "slot_times": TIMES}
    options.update(kwargs)
    es = EncryptedSettlement(models, SUPPLIER, 2, PRICES, **options)
    returned = [es.settle(*s) for s in slots]
    es.finish()
    return es, returned


def assert_same(es: EncryptedSettlement, ledger: Ledger, atol: float = 1e-6) -> None:
    for m in es.models:
        np.testing.assert_allclose(es.bills[m], ledger.bills[m], rtol=0, atol=atol, err_msg=m)
        np.testing.assert_allclose(
            es.supplier_profit[m], ledger.supplier_profit[m], rtol=0, atol=atol
        )
        np.testing.assert_allclose(
            es.supplier_energy_kwh[m], ledger.supplier_energy_kwh[m], rtol=0, atol=atol
        )
        assert es.pot[m] == pytest.approx(ledger.pot[m], abs=atol)
        assert es.max_abs_slot_pot[m] == pytest.approx(ledger.max_abs_slot_pot[m], abs=atol)
    pd.testing.assert_frame_equal(
        es.bills_frame(), ledger.bills_frame(), atol=atol, check_exact=False
    )
    pd.testing.assert_frame_equal(
        es.suppliers_frame(), ledger.suppliers_frame(), atol=atol, check_exact=False
    )


@pytest.fixture(scope="module")
def reference() -> tuple[Ledger, list[dict[str, float]]]:
    return plain(SLOTS)


Run = tuple[EncryptedSettlement, list[dict[str, float]]]


@pytest.fixture(scope="module")
def runs() -> Callable[[str, str], Run]:
    """Encrypted runs of SLOTS with all six models, computed once per (backend, period)."""
    cache: dict[tuple[str, str], Run] = {}

    def get(backend: str, period: str) -> Run:
        if (backend, period) not in cache:
            cache[backend, period] = run(SLOTS, backend=backend, period=period)
        return cache[backend, period]

    return get


BACKEND_PERIODS = [(b, p) for b in ("paillier", "ckks") for p in ("slot", "day", "horizon")]


# --------------------------------------------------------------------------- equality


@pytest.mark.parametrize(("backend", "period"), BACKEND_PERIODS)
def test_encrypted_equals_plain(runs: Any, reference: Any, backend: str, period: str) -> None:
    (es, returned), (ledger, expected) = runs(backend, period), reference
    assert_same(es, ledger)
    ids = period_ids(TIMES, period)
    # a batch closes after every slot (Paillier) or at the end of a billing period (CKKS)
    closes = np.append(ids[1:] != ids[:-1], True) if backend == "ckks" else np.ones(4, bool)
    for m in MODELS:
        want = np.array([e[m] for e in expected])
        np.testing.assert_allclose(es.slot_supplier_energy_kwh[m], want, rtol=0, atol=1e-6)
        got = np.array([r[m] for r in returned])  # settle knows a slot's value once it closed
        np.testing.assert_array_equal(np.isfinite(got), closes)
        np.testing.assert_allclose(got[closes], want[closes], rtol=0, atol=1e-6)


@pytest.mark.parametrize("backend", ["paillier", "ckks"])
def test_settle_chunk_is_settle_slot_by_slot(runs: Any, reference: Any, backend: str) -> None:
    """Both backends take a chunk of slots with the same call (the engine never asks which)."""
    ledger, expected = reference
    _, returned = runs(backend, "day")
    chunk = [np.stack([slot[k] for slot in SLOTS]) for k in range(7)]
    es = EncryptedSettlement(
        MODELS, SUPPLIER, 2, PRICES, backend=backend, period="day", key_bits=1024,
        insecure_test_keys=True, slot_times=TIMES,
    )  # fmt: skip
    first = es.settle_chunk(*(a[:3] for a in chunk))
    second = es.settle_chunk(*(a[3:] for a in chunk))
    es.finish()
    plain_chunk = Ledger(MODELS, SUPPLIER, 2, PRICES)
    plain_energy = plain_chunk.settle_chunk(*chunk)
    plain_chunk.finish()
    assert_same(es, ledger)
    assert_same(es, plain_chunk)
    for m in MODELS:
        got = np.concatenate([first[m], second[m]])
        want = np.array([r[m] for r in returned])  # settle slot by slot: NaN while open
        np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(plain_energy[m], [e[m] for e in expected])
    pd.testing.assert_frame_equal(
        es.settlement_slots_frame(len(SLOTS)),
        ledger.settlement_slots_frame(len(SLOTS)),
        atol=1e-6,
        check_exact=False,
    )


def test_both_backends_are_settlement_backends(runs: Any, reference: Any) -> None:
    ledger, _ = reference
    es, _ = runs("paillier", "slot")
    assert isinstance(ledger, SettlementBackend)
    assert isinstance(es, SettlementBackend)
    assert ledger.privacy_summary() is None
    assert es.privacy_summary() is not None
    zero = ledger.crypto_counts()
    assert set(zero) == set(es.crypto_counts())
    assert all(v == 0 for actor in zero.values() for v in actor.values())
    ledger.close()  # nothing to release, callable all the same
    # a ledger stopped early writes only the slots it settled
    partial = Ledger(MODELS, SUPPLIER, 2, PRICES)
    partial.settle(*SLOTS[0])
    assert partial.settlement_slots_frame(len(SLOTS)).shape[0] == len(MODELS)


def test_paillier_2048_bit_default() -> None:
    supplier = np.zeros(3, dtype=np.int64)
    slot = random_slots(11, 3, 1)[0]
    es = EncryptedSettlement(
        ("social",), supplier, 1, PRICES, backend="paillier", slot_times=TIMES[:1]
    )
    es.settle(*slot)
    es.finish()
    assert es.grid_operator.public_key.key.n.bit_length() == 2048  # type: ignore[attr-defined]
    ledger = Ledger(("social",), supplier, 1, PRICES)
    ledger.settle(*slot)
    assert_same(es, ledger)


def test_ckks_period_longer_than_one_vector() -> None:
    """A period of more slots than a ciphertext holds is cut into batches; bills add up."""
    models = ("individual", "universal")
    es = EncryptedSettlement(
        models, SUPPLIER, 2, PRICES, backend="ckks", period="horizon", slot_times=TIMES
    )
    es._capacity = 3  # stands in for CKKS.slots = 4096
    returned = [es.settle(*s) for s in SLOTS]
    es.finish()
    assert_same(es, plain(SLOTS, models)[0])
    assert [np.isfinite(r["universal"]) for r in returned] == [False, False, True, True]


def test_small_keys_refused_without_the_test_flag() -> None:
    with pytest.raises(ValueError, match=r"key_bits must be >= 2048.*insecure_test_keys"):
        EncryptedSettlement(
            MODELS, SUPPLIER, 2, PRICES, backend="paillier", key_bits=1024, slot_times=TIMES
        )
    with pytest.raises(ValueError, match="key_bits must be >= 1024"):
        EncryptedSettlement(
            MODELS,
            SUPPLIER,
            2,
            PRICES,
            backend="paillier",
            key_bits=512,
            insecure_test_keys=True,
            slot_times=TIMES,
        )
    with pytest.raises(ValueError, match="encryption"):
        EncryptedSettlement(MODELS, SUPPLIER, 2, PRICES, backend="rsa", slot_times=TIMES)


@pytest.mark.parametrize(("backend", "period"), BACKEND_PERIODS[::2])
def test_pot_is_zero_for_zero_sum_models(runs: Any, backend: str, period: str) -> None:
    es, _ = runs(backend, period)
    for m in ("individual", "social", "universal"):
        assert abs(es.pot[m]) < 1e-6
        assert es.max_abs_slot_pot[m] < 1e-6


def test_workers_give_the_same_bills(reference: Any) -> None:
    es, _ = run(SLOTS[:2], ("universal",), backend="paillier", workers=2)
    assert_same(es, plain(SLOTS[:2], ("universal",))[0])


def test_bill_opening_spread_over_workers_gives_the_same_bills(
    runs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # parts of one packed decryption: each supplier's bills are cut into several parts, some
    # opened by the worker process acting for the supplier, the rest here
    monkeypatch.setattr(actors, "OPENING_PART_DECRYPTIONS", 1)
    es, _ = run(SLOTS, backend="paillier", period="day", workers=2)
    assert es.setup_seconds > 0
    assert_same(es, plain(SLOTS)[0], atol=1e-9)
    alone, _ = runs("paillier", "day")  # one process, no parts
    for name in ("decrypted_values", "encryptions"):
        assert es.crypto_counts()["suppliers"][name] == alone.crypto_counts()["suppliers"][name]
    assert es.crypto_counts()["suppliers"]["decrypted_values"] > 0


def test_spread_opening_equals_opening_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actors, "OPENING_PART_DECRYPTIONS", 1)  # 6 parts of 7 values
    supplier = actors.Supplier(0, "paillier", 1024)
    counts = OpCounts()
    rng = np.random.default_rng(5)
    values = rng.normal(0.0, 50.0, 40)
    sums = [
        EncryptedSum(
            supplier.public_key.load(supplier.public_key.encrypt([v], counts), 1, counts),
            np.array([0.25]),
        )
        for v in values
    ] + [EncryptedSum(None, np.array([1.5]))]
    here = supplier.open_many(sums)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        opening = supplier.start_opening(sums, pool, 1)
        spread = opening.result()
    np.testing.assert_array_equal(np.concatenate(spread), np.concatenate(here))
    np.testing.assert_allclose(np.concatenate(here)[:-1], values + 0.25, rtol=0, atol=1e-9)
    assert supplier.counts.decrypted_values == 2 * values.size  # the worker's count is merged


# --------------------------------------------------------------------------- key custody


def _secrets(obj: object) -> list[object]:
    found = []
    for o in walk(obj):
        if isinstance(
            o,
            (
                phe.PaillierPrivateKey,
                SecretKey,
                ts.enc_context.SecretKey,
                MeterSigner,
                Ed25519PrivateKey,
            ),
        ):
            found.append(o)
        elif isinstance(o, ts.Context) and o.is_private():
            found.append(o)
    return found


@pytest.mark.parametrize("backend", ["paillier", "ckks"])
def test_trading_platform_holds_no_private_key(runs: Any, backend: str) -> None:
    es, _ = runs(backend, "horizon")
    assert _secrets(es.platform) == []
    assert _secrets(es.suppliers[0]) != []  # the walk does find a key where there is one
    assert _secrets(es.grid_operator) != []
    assert _secrets(es.meters) != []  # the meters' signing keys


def test_suppliers_worker_processes_reach_no_other_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actors, "OPENING_PART_DECRYPTIONS", 1)  # bills opened in several parts
    es = EncryptedSettlement(
        MODELS, SUPPLIER, 2, PRICES, backend="paillier", key_bits=1024, insecure_test_keys=True,
        slot_times=TIMES, period="day", workers=2,
    )  # fmt: skip
    mine = {id(o) for sup in es.suppliers for o in _secrets(sup)}
    checked = []
    original = actors.Opening.result

    def result(opening: actors.Opening) -> list[Any]:
        # parts of the opening are on the suppliers' worker processes now
        compute = es._supplier_compute
        assert compute is not None and compute is not es._executor
        for actor in (es.platform, es.meters, es.grid_operator):
            reached = list(walk(actor))
            assert not any(o is compute for o in reached)
            assert not mine & {id(o) for o in reached}  # no supplier key
        checked.append(opening)
        return original(opening)

    monkeypatch.setattr(actors.Opening, "result", result)
    try:
        for s in SLOTS:
            es.settle(*s)
        es.finish()
    finally:
        es.close()
    assert len(checked) == 2 * es.n_suppliers  # two billing days
    assert_same(es, plain(SLOTS)[0], atol=1e-9)


@pytest.mark.parametrize("period", ["slot", "horizon"])
def test_go_decrypts_only_the_slot_aggregates(runs: Any, period: str) -> None:
    es, _ = runs("paillier", period)
    expected = 0
    for side, acc, c, d, net, p2p, price in SLOTS:
        info = slot_info_from_plain(side, acc, c, d, net, p2p, price)
        expected += sum(bool(np.any(mask)) for mask, _ in aggregate_masks(info).values())
        expected += sum(m != "retail" for m in es.models) * bool(np.any(info.accepted))  # pots
    go = es.crypto_counts()["grid_operator"]
    assert go["decrypted_values"] == expected
    # packed: one decryption for the aggregates, one for the pots of each slot
    assert len(SLOTS) <= go["decryptions"] <= 2 * len(SLOTS) < expected
    assert go["encryptions"] == 0
    assert es.crypto_counts()["trading_platform"]["decryptions"] == 0


def test_go_refuses_small_groups() -> None:
    models = ("social", "individual")
    es, _ = run(SLOTS, models, backend="paillier", min_aggregate_members=2)
    expected, small = np.zeros(SUPPLIER.size), 0
    for side, acc, c, d, net, p2p, price in SLOTS:  # a slot with a group of one: individual
        info = slot_info_from_plain(side, acc, c, d, net, p2p, price)
        sizes = [int(np.count_nonzero(mask)) for mask, _ in aggregate_masks(info).values()]
        model = "individual" if 1 in sizes else "social"
        small += model == "individual"
        terms = bill_terms(model, info, PRICES, aggregate_plain(info, d))
        expected += terms.amount.evaluate(np.where(acc, c, 0.0), d)
    assert small > 0 and es.privacy_summary()["slots_without_aggregates"] == small
    np.testing.assert_allclose(es.bills["social"], expected, rtol=0, atol=1e-9)
    assert es.grid_operator.single_member_sums == 0
    with pytest.raises(PrivacyError):
        es.grid_operator.open_aggregates(
            {"C_plus": EncryptedSum(None, np.zeros(1), 1)}, {"C_plus": np.array([1])}
        )


def test_supplier_cannot_open_another_suppliers_customer(runs: Any) -> None:
    es, _ = runs("paillier", "horizon")
    user = 1  # a customer of supplier 1: its meter encrypts under supplier 1's key
    counts = OpCounts()
    blob = es.suppliers[1].public_key.encrypt([1.25], counts)
    ct = es.platform.supplier_keys[1].load(blob, 1, counts)
    bill = {user: EncryptedSum(ct, np.zeros(1))}
    assert es.suppliers[1].open_bills(bill) == {user: pytest.approx(1.25)}
    with pytest.raises(KeyMismatchError):
        es.suppliers[0].open_bills(bill)
    with pytest.raises(PermissionError):
        es.meters.reading_for_supplier(0, user)


# --------------------------------------------------------------------------- authenticity


def _rejected_reference(
    slots: list[Slot], rejected: set[tuple[int, int]], models: tuple[str, ...]
) -> Ledger:
    """Plain ledger where each rejected (user, slot) is an unaccepted participant at retail."""
    ledger = Ledger(models, SUPPLIER, 2, PRICES)
    for k, (side, acc, c, d, net, p2p, price) in enumerate(slots):
        acc, c, d, p2p = acc.copy(), c.copy(), d.copy(), p2p.copy()
        for user, slot in rejected:
            if slot == k:
                s = -1.0 if side[user] == -1 else 1.0
                acc[user], c[user], d[user], p2p[user] = False, 0.0, s * net[user], np.nan
        ledger.settle(side, acc, c, d, net, p2p, price)
    return ledger


def test_altered_payload_is_rejected_and_settled_at_retail(reference: Any) -> None:
    models = ("retail", "individual", "social", "universal")
    es, _ = run(SLOTS, models, backend="paillier", tamper={(2, 1)})
    assert es.rejected_payloads == [{"participant": 2, "slot": 1, "reason": "invalid signature"}]
    assert es.privacy_summary()["rejected_payloads"] == 1
    assert_same(es, _rejected_reference(SLOTS, {(2, 1)}, models))
    ledger, _ = reference  # others unaffected where their bills do not depend on user 2
    others = np.arange(SUPPLIER.size) != 2
    np.testing.assert_allclose(
        es.bills["individual"][others], ledger.bills["individual"][others], atol=1e-9
    )
    np.testing.assert_allclose(es.bills["retail"], ledger.bills["retail"], atol=1e-9)


def test_forged_and_missing_payloads() -> None:
    forger = MeterSigner()

    def attack(user: int, first_slot: int, p: SignedPayload) -> SignedPayload | None:
        if (user, first_slot) == (0, 2):  # forged: well-formed, signed with the wrong key
            return SignedPayload(p.message, forger.sign(p.message))
        if (user, first_slot) == (3, 0):
            return None
        return p

    es, _ = run(SLOTS, ("individual",), backend="paillier", tamper=attack)
    assert es.rejected_payloads == [
        {"participant": 3, "slot": 0, "reason": "missing payload"},
        {"participant": 0, "slot": 2, "reason": "invalid signature"},
    ]
    assert_same(es, _rejected_reference(SLOTS, {(0, 2), (3, 0)}, ("individual",)))


def test_signed_payload_that_lies_about_its_flags() -> None:
    """A meter's own valid signature does not help when its flags contradict the market."""
    holder: list[EncryptedSettlement] = []

    def lie(user: int, first_slot: int, p: SignedPayload) -> SignedPayload:
        if user != 1:
            return p
        q = MeterPayload.from_bytes(p.message)
        fake = MeterPayload(
            q.user, q.first_slot, q.side, ~q.accepted, q.deviation_sign, q.net_sign, q.blobs
        )
        message = fake.to_bytes()
        return SignedPayload(message, holder[0].meters._signers[user].sign(message))

    es = EncryptedSettlement(
        ("individual",), SUPPLIER, 2, PRICES, backend="paillier", key_bits=1024,
        insecure_test_keys=True, slot_times=TIMES[:2], tamper=lie,
    )  # fmt: skip
    holder.append(es)
    for s in SLOTS[:2]:
        es.settle(*s)
    es.finish()
    assert [r["reason"] for r in es.rejected_payloads] == [
        "flags disagree with the market result"
    ] * 2
    assert_same(es, _rejected_reference(SLOTS[:2], {(1, 0), (1, 1)}, ("individual",)))


def test_ckks_rejects_the_whole_period_payload() -> None:
    es, _ = run(SLOTS, ("universal",), backend="ckks", period="day", tamper={(4, 0)})
    first_day = [k for k in range(len(TIMES)) if period_ids(TIMES, "day")[k] == 0]
    assert [r["slot"] for r in es.rejected_payloads] == first_day
    assert {r["participant"] for r in es.rejected_payloads} == {4}
    assert_same(es, _rejected_reference(SLOTS, {(4, k) for k in first_day}, ("universal",)))


# --------------------------------------------------------------------------- counts, helpers


@pytest.mark.parametrize(("backend", "period"), BACKEND_PERIODS)
def test_encryption_counts(runs: Any, backend: str, period: str) -> None:
    es, _ = runs(backend, period)
    accepted = np.array([s[1] for s in SLOTS])  # (slots, users)
    # Paillier: 4 per accepted user-slot (c and d under the supplier and the GO key), 1
    # otherwise (d under the supplier key); CKKS: the same per user and billing period
    ids = period_ids(TIMES, period) if backend == "ckks" else np.arange(len(SLOTS))
    expected = sum(
        4 if np.any(accepted[ids == p, u]) else 1
        for p in np.unique(ids)
        for u in range(SUPPLIER.size)
    )
    counts = es.crypto_counts()
    assert counts["users"]["encryptions"] == expected
    assert counts["total"]["encryptions"] == expected
    assert counts["users"]["decryptions"] == 0 and counts["trading_platform"]["decryptions"] == 0
    assert counts["trading_platform"]["homomorphic_operations"] > 0


def test_gross_energy_form_is_the_absolute_value() -> None:
    for k, (side, acc, c, d, net, p2p, price) in enumerate(random_slots(5, 12, 30)):
        info = slot_info_from_plain(side, acc, c, d, net, p2p, price)
        c0 = np.where(acc, c, 0.0)
        for model in MODELS:
            terms = bill_terms(model, info, PRICES, aggregate_plain(info, d))
            form, unknown = gross_energy_form(terms.supplier_energy, info)
            energy = terms.supplier_energy.evaluate(c0, d)
            np.testing.assert_allclose(
                form.evaluate(c0, d)[~unknown], np.abs(energy)[~unknown], atol=1e-12
            )
            assert model == "social_equal" or not np.any(unknown), (k, model)


def test_period_ids() -> None:
    np.testing.assert_array_equal(period_ids(TIMES, "day"), [0, 0, 1, 1])  # local midnight
    np.testing.assert_array_equal(period_ids(TIMES, "slot"), [0, 1, 2, 3])
    np.testing.assert_array_equal(period_ids(TIMES, "horizon"), [0, 0, 0, 0])
    months = pd.date_range("2024-01-31T12:00", periods=3, freq="1D", tz="UTC")
    np.testing.assert_array_equal(period_ids(months, "month"), [0, 1, 1])
    with pytest.raises(ValueError, match="billing period"):
        period_ids(TIMES, "week")


def test_payload_round_trip() -> None:
    p = MeterPayload(
        3, 17, np.array([1, -1], dtype=np.int8), np.array([True, False]),
        np.array([0, -1], dtype=np.int8), np.array([1, 1], dtype=np.int8), {"S.d": b"\x00\x01"},
    )  # fmt: skip
    q = MeterPayload.from_bytes(p.to_bytes())
    assert (q.user, q.first_slot, q.blobs) == (3, 17, {"S.d": b"\x00\x01"})
    np.testing.assert_array_equal(q.accepted, p.accepted)
    with pytest.raises(ValueError, match="malformed"):
        MeterPayload.from_bytes(p.to_bytes()[:-1])
