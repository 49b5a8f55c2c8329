"""2-of-2 threshold Paillier: exact sums, one share opens nothing, a shared settlement GO key."""

from __future__ import annotations

import math
from typing import Any

import gmpy2
import numpy as np
import phe
import pytest
from privacy_walk import walk
from test_protocol import SLOTS, assert_same, plain, run

from cosim.privacy import threshold
from cosim.privacy.schemes import SharedKey, ThresholdPaillierScheme, encode_kwh
from cosim.settlement.actors import PrivacyError
from cosim.settlement.crypto import OpCounts, SecretKey
from cosim.settlement.messages import EncryptedSum


@pytest.fixture(scope="module")
def dealt() -> tuple[Any, threshold.KeyShare, threshold.KeyShare, Any]:
    """A 1024-bit shared key and, for the tests only, the private key the dealer discarded."""
    captured: list[Any] = []
    original = phe.generate_paillier_keypair

    def spy(*args: Any, **kwargs: Any) -> Any:
        pair = original(*args, **kwargs)
        captured.append(pair[1])
        return pair

    mp = pytest.MonkeyPatch()
    mp.setattr(phe, "generate_paillier_keypair", spy)
    try:
        public, a, b = threshold.deal_two_of_two(1024, ("grid-operator", "authority"))
    finally:
        mp.undo()
    return public, a, b, captured[0]


def _encrypt(public: Any, values: list[int]) -> list[Any]:
    return [gmpy2.mpz(c) for c in public._encrypt_ints(values)]


def test_both_shares_open_exact_packed_sums(dealt: Any) -> None:
    public, a, b, _ = dealt
    rng = np.random.default_rng(0)
    values = [int(v) for v in rng.integers(-(2**60), 2**60, 20)]
    cts = _encrypt(public, values)
    packed = threshold.pack(cts, a.lanes, public.nsquare)
    assert len(packed) == math.ceil(20 / a.lanes)
    opened = threshold.combine(a.partial(packed), b.partial(packed), int(public.n))
    assert threshold.unpack(opened, int(public.n), 20, a.lanes) == values


def test_one_share_opens_nothing(dealt: Any) -> None:
    public, a, b, private = dealt
    n = int(public.n)
    lam = math.lcm(private.p - 1, private.q - 1)
    secrets = {private.p, private.q, lam, lam * pow(lam, -1, n)}
    for share in (a, b):
        reached = list(walk(share))
        assert not [o for o in reached if isinstance(o, (phe.PaillierPrivateKey, SecretKey))]
        numbers = {int(o) for o in reached if isinstance(o, (int, type(gmpy2.mpz(0))))}
        assert not numbers & secrets
        exponent = int(share._exponent)
        assert exponent % lam != 0  # a share is not a decryption exponent by itself
    # a share's own "decryption" (its partial, combined with a neutral partner) is not m
    values = list(range(1, 40))
    cts = _encrypt(public, values)
    for share in (a, b):
        alone = threshold.combine(share.partial(cts), [gmpy2.mpz(1)] * len(cts), n)
        assert not any(m == v for m, v in zip(alone, values, strict=True))
    # shares of independent dealings look alike: d1 spans its whole range
    assert a._exponent.bit_length() > 2 * n.bit_length() + threshold.STATISTICAL_BITS - 8
    assert b._exponent < 0


def test_metering_scheme_sum_equals_plain_sum() -> None:
    key = SharedKey(1024)
    scheme = ThresholdPaillierScheme(key)
    x = encode_kwh(np.random.default_rng(3).normal(0.2, 1.0, (9, 5)))
    present = np.ones(9, dtype=bool)
    present[2] = False
    total, sent = scheme.aggregate(0, x, present)
    assert total is not None
    np.testing.assert_array_equal(total, x[present].sum(axis=0))
    assert sent == 5 * 256  # five 2048-bit ciphertexts of a 1024-bit key
    aggregator = list(walk(scheme.aggregator))
    assert not [
        o for o in aggregator if isinstance(o, (threshold.KeyShare, phe.PaillierPrivateKey))
    ]
    holder = list(walk(key.grid_operator))
    assert len([o for o in holder if isinstance(o, threshold.KeyShare)]) == 1


def test_settlement_with_shared_go_key_equals_plain() -> None:
    ledger, _ = plain(SLOTS)
    es, _ = run(SLOTS, backend="paillier", go_key_sharing=True)
    assert_same(es, ledger)
    assert es.authority is not None
    counts = es.crypto_counts()
    assert counts["authority"]["decryptions"] == counts["grid_operator"]["decryptions"] > 0
    # the GO holds one share and no private key; alone it opens nothing
    reached = list(walk(es.grid_operator))
    assert not [o for o in reached if isinstance(o, (phe.PaillierPrivateKey, SecretKey))]
    assert len([o for o in reached if isinstance(o, threshold.KeyShare)]) == 1
    ct = es.grid_operator.public_key.encrypt([1.0], OpCounts())
    batch = es.grid_operator.public_key.load(ct, 1, OpCounts())
    big = EncryptedSum(batch, np.zeros(1), 5)
    with pytest.raises(PrivacyError):
        es.grid_operator.open_pots([big])
    # the authority applies k too: a GO colluding with the platform cannot open one user
    strict, _ = run(SLOTS[:1], backend="paillier", go_key_sharing=True, min_aggregate_members=3)
    assert strict.authority is not None
    with pytest.raises(PrivacyError):
        strict.authority.partial_pots([EncryptedSum(batch, np.zeros(1), 1)])
