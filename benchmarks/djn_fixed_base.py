"""DJN randomizers: pypaillier against a fixed-base table exponentiation of the same value.

Usage::

    python benchmarks/djn_fixed_base.py                 # 300 randomizers, windows 8 and 9
    python benchmarks/djn_fixed_base.py --count 1000 --json out.json

Every ``paillier_djn`` encryption (cosim/settlement/paillier.py) costs one randomizer
``hs^a mod n^2`` with a fresh secret ``a`` of 1,024 bits for a 2,048-bit ``n`` (Damgard, Jurik
and Nielsen 2010, section 4.2); at 4,000 meters these are about two thirds of an encrypted
slot's CPU (docs/performance.md). ``hs`` is fixed per key, so the exponentiation can use a
table of ``hs^(j 2^(w i))`` made once per key (fixed-base windowing, Brickell, Gordon, McCurley
and Wilson 1992; Menezes et al., Handbook of Applied Cryptography, 14.6.3): ``ceil(1024 / w)``
modular products per randomizer and no squarings, for ``ceil(1024 / w) 2^w`` table entries of
512 bytes. This script measures, in one process and on one core (``RAYON_NUM_THREADS=1``), the
CPU time per randomizer of pypaillier's ``encrypt_integers`` (an encryption of 0: exactly the
randomizer) and of the table method in gmpy2, and checks on a few exponents that the table
gives ``powmod(hs, a, n^2)``. It informs a decision recorded in docs/performance.md; cosim
itself encrypts with pypaillier. Nothing is asserted about speed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

os.environ["RAYON_NUM_THREADS"] = "1"  # before pypaillier starts its thread pool

import gmpy2
import paillier as pypaillier
from phe import paillier as phe

EXPONENT_BITS = 1024
"""Bits of the secret exponent ``a`` for a 2,048-bit modulus (pypaillier's choice, DJN 4.2)."""


def table(hs: Any, nsquare: Any, window: int) -> list[list[Any]]:
    """``T[i][j] = hs^(j 2^(window i)) mod n^2`` for every window position ``i``."""
    rows, base = [], hs
    for _ in range((EXPONENT_BITS + window - 1) // window):
        row = [gmpy2.mpz(1)] * (1 << window)
        for j in range(1, 1 << window):
            row[j] = row[j - 1] * base % nsquare
        rows.append(row)
        base = row[-1] * base % nsquare
    return rows


def fixed_base(rows: list[list[Any]], nsquare: Any, window: int, exponent: int) -> Any:
    """``hs^exponent mod n^2`` from the table: one modular product per non-zero window."""
    mask, acc = (1 << window) - 1, gmpy2.mpz(1)
    for row in rows:
        digit = exponent & mask
        if digit:
            acc = acc * row[digit] % nsquare
        exponent >>= window
    return acc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="randomizers per method")
    parser.add_argument("--windows", type=int, nargs="+", default=[8, 9])
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    public, _ = phe.generate_paillier_keypair(n_length=2048)
    n = public.n
    nsquare = gmpy2.mpz(n * n)
    key = pypaillier.PublicKey.from_n(n.to_bytes(256, "big"))
    x = secrets.randbelow(n)
    hs = gmpy2.powmod((-x * x) % n, n, nsquare)  # DJN's hs = h^n with h = -x^2 mod n
    exponents = [secrets.randbits(EXPONENT_BITS) for _ in range(args.count)]
    t0 = time.process_time()
    pypaillier.encrypt_integers(key, [0] * args.count)
    figures: dict[str, Any] = {"pypaillier_ms": (time.process_time() - t0) / args.count * 1e3}
    for w in args.windows:
        t0 = time.process_time()
        rows = table(hs, nsquare, w)
        build = time.process_time() - t0
        for e in exponents[:3]:
            if fixed_base(rows, nsquare, w, e) != gmpy2.powmod(hs, e, nsquare):
                raise AssertionError("the table method disagrees with powmod")
        t0 = time.process_time()
        for e in exponents:
            fixed_base(rows, nsquare, w, e)
        figures[f"window_{w}"] = {
            "ms": (time.process_time() - t0) / args.count * 1e3,
            "table_mb": len(rows) * (1 << w) * 512 / 1e6,
            "table_build_s": build,
        }
    print(f"DJN randomizer (2048-bit n, {EXPONENT_BITS}-bit exponent), CPU ms per randomizer:")
    print(f"  pypaillier encrypt_integers            {figures['pypaillier_ms']:.3f}")
    for w in args.windows:
        f = figures[f"window_{w}"]
        ratio = f["ms"] / figures["pypaillier_ms"]
        print(
            f"  fixed-base table, window {w:<2}           {f['ms']:.3f}  ({ratio:.2f} of "
            f"pypaillier; table {f['table_mb']:.0f} MB per key, "
            f"built in {f['table_build_s']:.2f} s)"
        )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
