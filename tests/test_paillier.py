"""Paillier backends: DJN encryption under phe keys, grouped sums, packed decryption."""

from __future__ import annotations

import math
import pickle
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import phe
import pytest
from test_protocol import MODELS, PRICES, SLOTS, SUPPLIER, TIMES, plain

from cosim.cli import main
from cosim.settlement.crypto import OpCounts
from cosim.settlement.paillier import (
    LANE_BITS,
    DJNPublicKey,
    PaillierBatch,
    PaillierPublicKey,
    PaillierSecretKey,
    RandomizerPool,
    fixed_point,
)
from cosim.settlement.protocol import EncryptedSettlement
from cosim.settlement.schemes import generate_keypair
from cosim.settlement.terms import Prices


@pytest.fixture(scope="module")
def keys_1024() -> tuple[PaillierPublicKey, PaillierSecretKey]:
    pub, sec = generate_keypair("paillier", "a", key_bits=1024)
    assert isinstance(pub, PaillierPublicKey) and isinstance(sec, PaillierSecretKey)
    return pub, sec


@pytest.fixture(scope="module")
def djn_keys() -> tuple[DJNPublicKey, PaillierSecretKey]:
    pub, sec = generate_keypair("paillier_djn", "b", key_bits=2048)
    assert isinstance(pub, DJNPublicKey) and isinstance(sec, PaillierSecretKey)
    return pub, sec


def _batch(pub: PaillierPublicKey, values: list[float], counts: OpCounts) -> PaillierBatch:
    return pub.load(pub.encrypt(values, counts), len(values), counts)


def test_djn_ciphertexts_decrypt_with_phe_reference(
    djn_keys: tuple[DJNPublicKey, PaillierSecretKey],
) -> None:
    pub, sec = djn_keys
    counts = OpCounts()
    x = [0.0, 1.5, -2.25, 1e-9, -123456.789]
    blob = pub.encrypt(x, counts)
    batch = pub.load(blob, len(x), counts)
    expected = [fixed_point(v) for v in x]
    # phe's own private key (not cosim code) recovers the fixed-point integers
    raw = [sec._key.raw_decrypt(int(c)) for c in batch.values]
    assert [m - pub.key.n if m > pub.key.n // 2 else m for m in raw] == expected
    np.testing.assert_array_equal(sec.decrypt(batch, counts), np.array(expected) / 2.0**40)
    # randomised: the same plaintexts encrypt to other ciphertexts
    assert pub.encrypt(x, counts) != blob
    assert counts.encryptions == 2 * len(x)


def test_djn_refuses_short_keys() -> None:
    with pytest.raises(ValueError, match="paillier_djn"):
        EncryptedSettlement(
            ("retail",),
            np.zeros(2, dtype=int),
            1,
            Prices(0.3, 0.05),
            backend="paillier_djn",
            key_bits=1024,
            insecure_test_keys=True,
            slot_times=pd.date_range("2024-01-01", periods=1, tz="UTC"),
        )


def test_grouped_combine_is_bit_identical_to_term_by_term(
    keys_1024: tuple[PaillierPublicKey, PaillierSecretKey],
) -> None:
    pub, sec = keys_1024
    counts = OpCounts()
    rng = np.random.default_rng(1)
    batches = [_batch(pub, rng.normal(0, 1, 3).tolist(), counts) for _ in range(8)]
    # coefficients repeat across terms (what the grouping exploits), some are 0
    choices = np.array([0.0, 0.35, -0.05, 0.2])
    coefs = [choices[rng.integers(0, 4, 3)] for _ in batches]
    terms = list(zip(batches, coefs, strict=True))
    grouped = PaillierBatch.combine(terms)
    folded = None
    for b, k in terms:
        part = b.scaled(k)
        if part is not None:
            folded = part if folded is None else folded.add(part)
    assert isinstance(grouped, PaillierBatch) and isinstance(folded, PaillierBatch)
    assert grouped.values == folded.values  # (a b)^k = a^k b^k mod n^2, exactly
    assert grouped.scale_bits == folded.scale_bits == 80
    plain = sum(sec.decrypt(b, counts) * k for b, k in terms)
    np.testing.assert_allclose(sec.decrypt(grouped, counts), plain, atol=1e-11)


def test_running_sum_matches_totals_across_flushes(
    keys_1024: tuple[PaillierPublicKey, PaillierSecretKey],
) -> None:
    pub, sec = keys_1024
    counts = OpCounts()
    rng = np.random.default_rng(2)
    running = None
    expected = 0.0
    batches = [_batch(pub, [float(v)], counts) for v in rng.normal(0, 1, 20)]
    for step in range(300):  # > 256 distinct coefficients: the accumulator flushes
        b = batches[step % 20]
        k = float(rng.choice([0.35, 0.05])) if step % 3 else float(rng.uniform(-1, 1))
        if running is None:
            running = b.running_sum()
        running.add([(b, [k])])
        expected += float(sec.decrypt(b, counts)[0]) * fixed_point(k) / 2**40
    assert running is not None
    result = running.result()
    assert result is not None and result.n_slots == 1
    assert sec.decrypt(result, counts)[0] == pytest.approx(expected, abs=1e-9)


def test_packed_decryption_equals_one_by_one(
    keys_1024: tuple[PaillierPublicKey, PaillierSecretKey],
) -> None:
    pub, sec = keys_1024
    counts = OpCounts()
    values = [0.0, -1.0, 2.5, -(2.0**46), 2.0**46, 1e-12, -3.75e-6] * 3  # 21 values
    batches = [_batch(pub, [v], counts) for v in values]
    # products carry the 2**80 scale: mix scales in one packing
    scaled = [b.scaled([0.5]) if i % 2 else b for i, b in enumerate(batches)]
    singles = [sec.decrypt(b, OpCounts()) for b in scaled if b is not None]
    before = counts.decryptions
    packed = sec.decrypt_many([b for b in scaled if b is not None], counts)
    for one, many in zip(singles, packed, strict=True):
        np.testing.assert_array_equal(one, many)
    assert sec.lanes == (1024 - 2) // LANE_BITS == 7
    assert counts.decryptions - before == math.ceil(len(values) / sec.lanes)
    assert counts.decrypted_values == len(values)


def test_paillier_backends_agree_with_each_other_and_plain() -> None:
    ledger, _ = plain(SLOTS)
    es = EncryptedSettlement(
        MODELS, SUPPLIER, 2, PRICES, backend="paillier_djn", slot_times=TIMES, period="day"
    )
    for s in SLOTS:
        es.settle(*s)
    es.finish()
    for m in MODELS:
        np.testing.assert_allclose(es.bills[m], ledger.bills[m], rtol=0, atol=1e-9)
        np.testing.assert_allclose(es.supplier_profit[m], ledger.supplier_profit[m], atol=1e-9)
        np.testing.assert_allclose(
            es.supplier_energy_kwh[m], ledger.supplier_energy_kwh[m], atol=1e-9
        )
        assert es.pot[m] == pytest.approx(ledger.pot[m], abs=1e-9)
    counts = es.crypto_counts()
    assert counts["trading_platform"]["decryptions"] == 0
    # packing: far fewer decryptions than values learned
    assert counts["total"]["decryptions"] < counts["total"]["decrypted_values"]


def test_phe_reference_key_pickles_for_worker_processes(
    djn_keys: tuple[DJNPublicKey, PaillierSecretKey],
) -> None:
    pub, sec = djn_keys
    clone = pickle.loads(pickle.dumps(pub))
    counts = OpCounts()
    batch = pub.load(clone.encrypt([4.0], counts), 1, counts)
    assert sec.decrypt(batch, counts)[0] == 4.0
    assert isinstance(pub.key, phe.PaillierPublicKey)


def test_cli_refuses_short_djn_keys(capsys: pytest.CaptureFixture[str]) -> None:
    scenario = Path(__file__).resolve().parents[1] / "scenarios" / "quickstart.yaml"
    sets = ["settlement.encryption=paillier_djn", "settlement.insecure_test_keys=true"]
    sets.append("settlement.key_bits=1024")
    code = main(["validate", str(scenario), *[x for s in sets for x in ("--set", s)]])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "settlement.key_bits" in err[0] and "paillier_djn" in err[0]


def test_randomizer_pool_uses_each_randomizer_once(
    djn_keys: tuple[DJNPublicKey, PaillierSecretKey],
) -> None:
    pub, sec = djn_keys
    counts = OpCounts()
    with ThreadPoolExecutor(1) as executor:
        pub.use_pool(executor)
        try:
            n = 300  # more than one chunk of 256
            batch = pub.load(pub.encrypt(np.full(n, 1.25), counts), n, counts)
        finally:
            pub.use_pool(None)
    assert len(set(batch.values)) == n  # fresh randomness for every ciphertext
    np.testing.assert_array_equal(sec.decrypt(batch, counts), np.full(n, 1.25))


def test_djn_with_background_randomizers_equals_plain() -> None:
    ledger, _ = plain(SLOTS)
    es = EncryptedSettlement(
        MODELS, SUPPLIER, 2, PRICES, backend="paillier_djn", slot_times=TIMES, workers=2
    )
    try:
        for s in SLOTS:
            es.settle(*s)
        es.finish()
    finally:
        es.close()
    for m in MODELS:
        np.testing.assert_allclose(es.bills[m], ledger.bills[m], rtol=0, atol=1e-9)


def test_sums_refuse_mixed_scales(keys_1024: tuple[PaillierPublicKey, PaillierSecretKey]) -> None:
    pub, _ = keys_1024
    counts = OpCounts()
    value = _batch(pub, [1.0], counts)
    product = value.scaled([0.5])
    assert product is not None and product.scale_bits == 80
    with pytest.raises(ValueError, match="scales"):
        value.add(product)
    with pytest.raises(ValueError, match="scales"):
        PaillierBatch.combine([(value, [1.0]), (product, [1.0])])
    running = value.running_sum()
    with pytest.raises(ValueError, match="scales"):
        running.add([(product, [1.0])])


def test_randomizer_pool_warms_up_and_follows_the_demand(
    djn_keys: tuple[DJNPublicKey, PaillierSecretKey],
) -> None:
    pub, sec = djn_keys
    with ThreadPoolExecutor(1) as executor:
        pool = RandomizerPool(pub, executor, chunk=8, ahead=1)
        pool.warm(40)  # both sides compute; returns once 40 are ready
        assert pool.ready >= 40
        zeros = pool.take(40)
        assert pool.stock >= 40  # the next batch's randomizers are already under way
        more = pool.take(50)  # more than in stock: the shortfall is computed here
        assert pool.stock >= 50
        pool.stop()
        assert pool.stock == 0
    cts = zeros + more
    assert len(set(cts)) == len(cts) == 90  # every randomizer handed out once
    n = int(pub.n)
    assert all(sec._key.raw_decrypt(c) == 0 for c in cts[:: len(cts) // 5])  # encryptions of 0
    assert all(0 < c < n * n for c in cts)
