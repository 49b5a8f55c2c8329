"""Paillier libraries at 2048 bits, per operation, in one run: why ``paillier_djn`` uses pypaillier.

Usage::

    python benchmarks/paillier_libraries.py            # phe and pypaillier (dependencies)
    pip install -e ".[paillier-compare]"               # adds tno.mpc...paillier and lightphe
    python benchmarks/paillier_libraries.py --n 20 --json out.json

Per library: key generation [s], encryption, decryption and a product by a 40-bit public
scalar (what the platform does with a fixed-point coefficient) [ms per operation], single calls
from Python (pypaillier also in one batch call). Libraries that are not installed are listed as
such. Every library decrypts what it encrypted (checked). Nothing is asserted on time.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

KEY_BITS = 2048
SCALAR = (1 << 40) - 12345


def _per_op(fn: Callable[[int], Any], n: int) -> tuple[float, list[Any]]:
    t0 = time.perf_counter()
    out = [fn(i) for i in range(n)]
    return 1e3 * (time.perf_counter() - t0) / n, out


def bench_phe(n: int) -> dict[str, Any]:
    import phe
    from phe.util import powmod  # gmpy2 when installed, as phe's own EncryptedNumber uses

    t0 = time.perf_counter()
    pub, sec = phe.generate_paillier_keypair(n_length=KEY_BITS)
    keygen = time.perf_counter() - t0
    values = [random.getrandbits(60) for _ in range(n)]
    enc, cts = _per_op(lambda i: pub.raw_encrypt(values[i]), n)
    dec, plain = _per_op(lambda i: sec.raw_decrypt(cts[i]), n)
    mul, _ = _per_op(lambda i: powmod(cts[i], SCALAR, pub.nsquare), n)
    assert plain == values
    return {"keygen_s": keygen, "encrypt_ms": enc, "decrypt_ms": dec, "scalar_mul_ms": mul}


def bench_pypaillier(n: int) -> dict[str, Any]:
    import paillier

    t0 = time.perf_counter()
    pub, sec = paillier.generate_keypair(KEY_BITS)
    keygen = time.perf_counter() - t0
    values = [random.getrandbits(60) for _ in range(n)]
    enc, blobs = _per_op(lambda i: paillier.encrypt_integers(pub, [values[i]])[0], n)
    t0 = time.perf_counter()
    paillier.encrypt_integers(pub, values)
    batch = 1e3 * (time.perf_counter() - t0) / n
    blobs = [bytes(b) for b in blobs]
    dec, plain = _per_op(lambda i: paillier.decrypt_exact_many(sec, [blobs[i]])[0][0], n)
    mul, _ = _per_op(lambda i: paillier.multiply_integers_public(pub, [blobs[i]], [SCALAR]), n)
    assert plain == values
    return {
        "keygen_s": keygen,
        "encrypt_ms": enc,
        "encrypt_batch_ms": batch,
        "decrypt_ms": dec,
        "scalar_mul_ms": mul,
        "note": "DJN short exponent (1024 bits); safe-prime keys",
    }


def bench_tno(n: int) -> dict[str, Any]:
    import warnings

    from tno.mpc.encryption_schemes.paillier import Paillier

    t0 = time.perf_counter()
    scheme = Paillier.from_security_parameter(key_length=KEY_BITS, precision=0)
    keygen = time.perf_counter() - t0
    values = [random.getrandbits(60) for _ in range(n)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            enc, cts = _per_op(lambda i: scheme.encrypt(values[i]), n)
            dec, plain = _per_op(lambda i: scheme.decrypt(cts[i]), n)
            mul, _ = _per_op(lambda i: cts[i] * SCALAR, n)
    finally:
        scheme.shut_down()
    assert [int(p) for p in plain] == values
    return {"keygen_s": keygen, "encrypt_ms": enc, "decrypt_ms": dec, "scalar_mul_ms": mul}


def bench_lightphe(n: int) -> dict[str, Any]:
    from lightphe import LightPHE

    t0 = time.perf_counter()
    cs = LightPHE(algorithm_name="Paillier", key_size=KEY_BITS)
    keygen = time.perf_counter() - t0
    values = [random.getrandbits(30) for _ in range(n)]
    enc, cts = _per_op(lambda i: cs.encrypt(values[i]), n)
    dec, plain = _per_op(lambda i: cs.decrypt(cts[i]), n)
    assert plain == values
    return {"keygen_s": keygen, "encrypt_ms": enc, "decrypt_ms": dec, "scalar_mul_ms": None}


LIBRARIES: dict[str, Callable[[int], dict[str, Any]]] = {
    "phe 1.5 (reference)": bench_phe,
    "pypaillier 0.8": bench_pypaillier,
    "tno.mpc.encryption_schemes.paillier": bench_tno,
    "lightphe": bench_lightphe,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10, help="operations timed per library")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    rows: dict[str, Any] = {}
    for name, bench in LIBRARIES.items():
        try:
            rows[name] = bench(args.n)
        except ImportError:
            rows[name] = {"missing": True}
    print(f"Paillier {KEY_BITS} bits, ms per operation (single calls), {args.n} operations each")
    print(f"{'library':<38}{'keygen s':>9}{'encrypt':>9}{'batch':>8}{'decrypt':>9}{'k*E(x)':>8}")
    for name, r in rows.items():
        if r.get("missing"):
            print(f"{name:<38}  not installed (pip install -e '.[paillier-compare]')")
            continue
        batch = r.get("encrypt_batch_ms")
        mul = r["scalar_mul_ms"]
        print(
            f"{name:<38}{r['keygen_s']:>9.2f}{r['encrypt_ms']:>9.2f}"
            f"{(f'{batch:.2f}' if batch else '-'):>8}{r['decrypt_ms']:>9.2f}"
            f"{(f'{mul:.2f}' if mul else '-'):>8}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
