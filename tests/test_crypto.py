"""Encryption backends: fixed-point scale, homomorphic batches, key separation, signatures."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from cosim.settlement.ckks import CKKS, CKKSPublicKey
from cosim.settlement.crypto import KeyMismatchError, OpCounts, PublicKey, SecretKey
from cosim.settlement.paillier import FIXED_POINT_SCALE, PaillierBatch, fixed_point
from cosim.settlement.schemes import SCHEMES, generate_keypair
from cosim.settlement.signatures import MeterSigner, verify_signature

KeyPair = tuple[PublicKey, SecretKey]


@pytest.fixture(scope="module")
def paillier_keys() -> tuple[KeyPair, KeyPair]:
    return (
        generate_keypair("paillier", "a", key_bits=1024),
        generate_keypair("paillier", "b", key_bits=1024),
    )


@pytest.fixture(scope="module")
def ckks_keys() -> tuple[KeyPair, KeyPair]:
    return generate_keypair("ckks", "a", galois_keys=True), generate_keypair("ckks", "b")


def test_fixed_point_scale_is_two_to_the_forty() -> None:
    assert FIXED_POINT_SCALE == 2**40
    assert fixed_point(1.0) == 2**40
    assert fixed_point(-0.5) == -(2**39)
    assert fixed_point(1.0, 80) == 2**80
    with pytest.raises(ValueError):
        fixed_point(float("nan"))


def test_paillier_values_are_encrypted_at_the_one_scale(
    paillier_keys: tuple[KeyPair, KeyPair],
) -> None:
    (pub, sec), _ = paillier_keys
    counts = OpCounts()
    x = np.array([1.0 / 3.0, -2.718281828459045, 0.0, 1e-13])
    batch = pub.load(pub.encrypt(x, counts), 4, counts)
    assert isinstance(batch, PaillierBatch)
    assert batch.scale_bits == 40  # the one scale: nothing about the magnitude travels in clear
    expected = np.array([fixed_point(v) for v in x]) / FIXED_POINT_SCALE
    np.testing.assert_array_equal(sec.decrypt(batch, counts), expected)
    assert np.max(np.abs(expected - x)) <= 0.5 / FIXED_POINT_SCALE
    assert counts.encryptions == 4 and counts.decryptions == 4


def test_paillier_batch_arithmetic(paillier_keys: tuple[KeyPair, KeyPair]) -> None:
    (pub, sec), _ = paillier_keys
    counts = OpCounts()
    x, y = np.array([1.25, -0.5, 2.0]), np.array([0.75, 0.125, -1.0])
    bx = pub.load(pub.encrypt(x, counts), 3, counts)
    by = pub.load(pub.encrypt(y, counts), 3, counts)
    kx, ky = np.array([0.35, 0.0, -0.05]), np.array([-0.2, 0.2, 0.0])
    sx, sy = bx.scaled(kx), by.scaled(ky)
    assert sx is not None and sy is not None
    assert bx.scaled(np.zeros(3)) is None
    combined = sx.add(sy)
    np.testing.assert_allclose(sec.decrypt(combined, counts), x * kx + y * ky, atol=1e-12)
    total = combined.total()
    assert total.n_slots == 1
    np.testing.assert_allclose(sec.decrypt(total, counts), [np.sum(x * kx + y * ky)], atol=1e-12)
    # 4 non-zero products, 3 slot additions, 2 additions in the total
    assert counts.homomorphic_operations == 4 + 3 + 2


def test_keys_of_different_owners_do_not_mix(paillier_keys: tuple[KeyPair, KeyPair]) -> None:
    (pub_a, sec_a), (pub_b, _) = paillier_keys
    counts = OpCounts()
    under_b = pub_b.load(pub_b.encrypt([1.5], counts), 1, counts)
    with pytest.raises(KeyMismatchError):
        sec_a.decrypt(under_b, counts)
    under_a = pub_a.load(pub_a.encrypt([1.5], counts), 1, counts)
    with pytest.raises(KeyMismatchError):
        under_a.add(under_b)
    # the mathematics agrees: a's private key turns b's ciphertext into noise
    assert isinstance(under_b, PaillierBatch)
    raw = sec_a._key.raw_decrypt(int(under_b.values[0]) % pub_a.key.nsquare)  # type: ignore[attr-defined]
    assert raw != fixed_point(1.5)


def test_ckks_parameters_are_128_bit_secure() -> None:
    assert CKKS.poly_modulus_degree == 8192
    assert CKKS.total_modulus_bits <= 218  # HE standard bound for 128-bit security at N=8192
    assert CKKS.slots == 4096
    assert CKKS.coeff_mod_bit_sizes[-1] >= max(CKKS.coeff_mod_bit_sizes[:-1])


def test_ckks_dot_product_over_a_full_vector(ckks_keys: tuple[KeyPair, KeyPair]) -> None:
    (pub, sec), _ = ckks_keys
    counts = OpCounts()
    rng = np.random.default_rng(3)
    x = rng.normal(0.0, 2.0, CKKS.slots)
    y = rng.normal(0.0, 0.5, CKKS.slots)
    kx, ky = rng.uniform(-0.4, 0.4, CKKS.slots), rng.uniform(-0.4, 0.4, CKKS.slots)
    bx = pub.load(pub.encrypt(x, counts), CKKS.slots, counts)
    by = pub.load(pub.encrypt(y, counts), CKKS.slots, counts)
    sx, sy = bx.scaled(kx), by.scaled(ky)
    assert sx is not None and sy is not None
    slots = sx.add(sy)
    np.testing.assert_allclose(sec.decrypt(slots, counts), x * kx + y * ky, atol=1e-8)
    bill = sec.decrypt(slots.total(), counts)
    assert bill.shape == (1,)
    assert abs(bill[0] - (x @ kx + y @ ky)) < 1e-7
    assert counts.encryptions == 2 and counts.decryptions == 2
    assert counts.homomorphic_operations == 4


def test_ckks_wrong_secret_key_gives_noise(ckks_keys: tuple[KeyPair, KeyPair]) -> None:
    (pub_a, _), (pub_b, sec_b) = ckks_keys
    counts = OpCounts()
    batch = pub_a.load(pub_a.encrypt([1.5, -2.0], counts), 2, counts)
    with pytest.raises(KeyMismatchError):
        sec_b.decrypt(batch, counts)
    batch.key_id = "b"  # bypass the label: the mathematics still refuses
    assert np.all(np.abs(sec_b.decrypt(batch, counts) - [1.5, -2.0]) > 1.0)
    assert pub_b.key_id == "b"


def test_ckks_public_key_pickles_without_secret(ckks_keys: tuple[KeyPair, KeyPair]) -> None:
    (pub, sec), _ = ckks_keys
    assert isinstance(pub, CKKSPublicKey)
    light = pub.without_galois_keys()
    clone = pickle.loads(pickle.dumps(light))
    assert not clone.context.is_private()
    counts = OpCounts()
    blob = clone.encrypt([0.25, 4.0], counts)
    np.testing.assert_allclose(
        sec.decrypt(pub.load(blob, 2, counts), counts), [0.25, 4.0], atol=1e-9
    )
    with pytest.raises(ValueError, match="slots"):
        pub.load(blob, 3, counts)
    with pytest.raises(ValueError, match="malformed"):
        pub.load(blob[:-10], 2, counts)


def test_ed25519_signatures() -> None:
    signer = MeterSigner()
    message = b"payload"
    signature = signer.sign(message)
    assert verify_signature(signer.public_bytes, message, signature)
    assert not verify_signature(signer.public_bytes, b"payloae", signature)
    assert not verify_signature(MeterSigner().public_bytes, message, signature)
    clone = pickle.loads(pickle.dumps(signer))
    assert clone.sign(message) == signature  # Ed25519 is deterministic


def test_unknown_scheme() -> None:
    with pytest.raises(ValueError, match="unknown encryption scheme"):
        generate_keypair("rsa", "x")


def test_scheme_registry_states_each_schemes_properties() -> None:
    """The settlement reads these properties instead of switching on scheme names."""
    assert set(SCHEMES) == {"paillier", "paillier_djn", "ckks"}
    assert all(cls.name == name for name, cls in SCHEMES.items())
    assert SCHEMES["ckks"].batch_slots == CKKS.slots
    assert SCHEMES["paillier"].batch_slots == SCHEMES["paillier_djn"].batch_slots == 1
    assert [n for n, c in SCHEMES.items() if c.pooled_randomizers] == ["paillier_djn"]
    assert [n for n, c in SCHEMES.items() if c.uses_key_bits] == ["paillier", "paillier_djn"]
    SCHEMES["paillier"].check_key_bits(1024, insecure_test_keys=True)
    with pytest.raises(ValueError, match="pypaillier"):
        SCHEMES["paillier_djn"].check_key_bits(1024, insecure_test_keys=True)
    SCHEMES["ckks"].check_key_bits(1024, insecure_test_keys=False)  # no key size: accepted
    pub, _ = generate_keypair("ckks", "m", galois_keys=True)
    assert isinstance(pub, CKKSPublicKey)
    assert pub.context.has_galois_keys()
    assert not pub.for_meters().context.has_galois_keys()  # meters only encrypt
