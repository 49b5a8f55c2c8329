"""Masking secure aggregation: exact sums, dropouts, key custody, uniformity (issue: privacy)."""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from privacy_walk import walk
from scipy import stats

from cosim.privacy import shamir
from cosim.privacy.masking import (
    MaskingGroup,
    MaskingMeter,
    PrivacyViolation,
    _kdf,
    neighbourhoods,
    prg,
)
from cosim.privacy.schemes import encode_kwh


def readings(seed: int, n: int, slots: int) -> np.ndarray:
    """Fixed-point net imports [kWh] like a village's: mostly small, some exports."""
    rng = np.random.default_rng(seed)
    return encode_kwh(rng.normal(0.3, 0.8, (n, slots)))


def group(n: int, degree: int = 40, seed: int = 0) -> MaskingGroup:
    rng = np.random.default_rng(seed)
    return MaskingGroup(n, degree, np.random.default_rng(seed + 1), entropy=rng.bytes)


@pytest.mark.parametrize(("n", "degree"), [(2, 40), (47, 40), (120, 16)])
def test_sum_equals_plain_fixed_point_sum(n: int, degree: int) -> None:
    x = readings(n, n, 24)
    g = group(n, degree)
    result = g.run_batch(0, x, np.ones(n, dtype=bool))
    assert result.total is not None
    np.testing.assert_array_equal(result.total, x.sum(axis=0))  # exact, as integers


def test_sparse_graph_is_regular_and_symmetric() -> None:
    graph = neighbourhoods(100, 16, np.random.default_rng(3))
    assert {len(g) for g in graph} == {16}
    assert all(u in graph[v] for u in range(100) for v in graph[u])
    assert neighbourhoods(10, 16, np.random.default_rng(3))[0] == list(range(1, 10))


def test_dropouts_are_recovered_and_the_dropped_are_rekeyed() -> None:
    n = 30
    x = readings(1, n, 12)
    g = group(n, degree=12)
    present = np.ones(n, dtype=bool)
    present[[4, 17]] = False
    r = g.run_batch(0, x, present)
    assert r.total is not None and r.dropped == [4, 17]
    np.testing.assert_array_equal(r.total, x[present].sum(axis=0))
    assert g.rekeyed == 2 and g.meters[4].epoch == 1
    r = g.run_batch(1, x, np.ones(n, dtype=bool))  # back with fresh keys
    assert r.total is not None
    np.testing.assert_array_equal(r.total, x.sum(axis=0))


def test_too_many_dropouts_open_nothing() -> None:
    n = 10
    g = group(n)
    present = np.zeros(n, dtype=bool)
    present[:3] = True  # 3 survivors < threshold 5
    assert g.threshold == 5
    r = g.run_batch(0, readings(2, n, 4), present)
    assert r.total is None and g.failed_batches == 1


def test_a_dropped_meter_is_not_exposed() -> None:
    """The aggregator learns the dropped meter's pair keys but never its self mask."""
    n = 8
    x = readings(4, n, 16)
    g = group(n)
    present = np.ones(n, dtype=bool)
    present[5] = False
    # meter 5 sends its seed shares, then its masked vector arrives after the round closed
    seed_msgs = [s for m in g.meters for s in m.seed_shares(0)]
    for v, mine in g.aggregator.route(seed_msgs).items():
        g.meters[v].receive(mine)
    late = g.meters[5].masked_input(0, x[5])
    accepted = {u: np.frombuffer(m.masked_input(0, x[u]).payload, dtype="<u8").astype(np.uint64)
                for u, m in enumerate(g.meters) if present[u]}  # fmt: skip
    survivors, dropped = sorted(accepted), [5]
    responses = {
        v: g.meters[v].unmask_shares(0, survivors, dropped, g.aggregator.epochs) for v in survivors
    }
    total = g.aggregator.unmask(0, accepted, responses, 16)
    assert total is not None
    np.testing.assert_array_equal(total, x[present].sum(axis=0))
    # everything the aggregator got: s-shares of meter 5 (open its pair masks), no b-shares
    assert all(r[5][0] == 1 for r in responses.values())
    key = X25519PrivateKey.from_private_bytes(
        shamir.reconstruct({v + 1: r[5][1] for v, r in responses.items()})
    )
    assert key.public_key().public_bytes_raw() == g.aggregator.mask_keys[5]
    # remove every pair mask from the late vector: what is left is x_5 + PRG(b_5), not x_5
    y = np.frombuffer(late.payload, dtype="<u8").astype(np.uint64)
    for v in g.meters[5].neighbours:
        shared = key.exchange(X25519PublicKey.from_public_bytes(g.aggregator.mask_keys[v]))
        lo, hi = min(5, v), max(5, v)
        mask = prg(_kdf(shared, b"cosim/masking/pair|%d|%d|%d|%d" % (lo, hi, 0, 0)), 0, 16)
        y = y - mask if v > 5 else y + mask
    assert not np.any(y.view(np.int64) == x[5])
    # and the honest meters refuse to give b-shares of meter 5 for this batch now
    with pytest.raises(PrivacyViolation):
        g.meters[0].unmask_shares(0, [*survivors, 5], [], g.aggregator.epochs)


def test_aggregator_holds_no_key_and_no_reading() -> None:
    n = 12
    x = readings(5, n, 8)
    g = group(n)
    present = np.ones(n, dtype=bool)
    present[3] = False
    g.run_batch(0, x, present)
    reached = list(walk(g.aggregator))
    assert not [o for o in reached if isinstance(o, (X25519PrivateKey, AESGCM, MaskingMeter))]
    arrays = [o for o in reached if isinstance(o, np.ndarray)]
    assert not any(
        a.shape == x[0].shape and np.array_equal(a, x[u]) for a in arrays for u in range(n)
    )
    # the walk does find keys where there are some
    assert [o for o in walk(g.meters[0]) if isinstance(o, X25519PrivateKey)]


def test_masked_values_are_indistinguishable_from_uniform() -> None:
    """Seeded: the masked vectors of constant readings pass chi-square and KS uniformity tests."""
    n, slots = 20, 2000
    x = np.full((n, slots), encode_kwh(np.array([0.5]))[0], dtype=np.int64)
    g = group(n, seed=11)
    for m in g.meters:
        m.seed_shares(0)
    y = np.concatenate(
        [np.frombuffer(m.masked_input(0, x[m.index]).payload, dtype="<u8") for m in g.meters]
    )
    top_byte = (y >> np.uint64(56)).astype(np.int64)
    counts = np.bincount(top_byte, minlength=256)
    assert stats.chisquare(counts).pvalue > 1e-3
    low_byte = (y & np.uint64(0xFF)).astype(np.int64)
    assert stats.chisquare(np.bincount(low_byte, minlength=256)).pvalue > 1e-3
    assert stats.kstest(y.astype(np.float64) / 2.0**64, "uniform").pvalue > 1e-3
    # the same test does reject the unmasked readings
    assert stats.chisquare(np.bincount((x.ravel() & 0xFF), minlength=256)).pvalue < 1e-6


def test_shamir_threshold() -> None:
    rng = np.random.default_rng(2)
    secret = rng.bytes(32)
    shares = shamir.share(secret, 4, [1, 2, 3, 4, 5, 6], rng.bytes)
    assert shamir.reconstruct({x: shares[x] for x in (1, 3, 5, 6)}) == secret
    with pytest.raises(ValueError):  # three shares interpolate to a random field element
        shamir.reconstruct({x: shares[x] for x in (1, 3, 5)})
