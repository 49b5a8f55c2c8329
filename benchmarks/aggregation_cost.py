"""Cost of group aggregation of meter readings: readings per second and bytes per meter.

Usage::

    python benchmarks/aggregation_cost.py                   # N = 47, 105, 1000; ~3 min here
    python benchmarks/aggregation_cost.py --sizes 47 --paillier-slots 2
    python benchmarks/aggregation_cost.py --dp-week         # + a DP village week (cosim run)
    python benchmarks/aggregation_cost.py --json out.json

In one process, for each group size N (one group of N meters, synthetic readings of a
village's shape), every scheme turns N x T readings into T group sums:

* ``seed``: the design of the smart-meter privacy system cosim replaces: meters encrypt each
  reading with phe's float encoding (``EncryptedNumber``, exponent in clear), one aggregator
  adds them and decrypts the sums with the private key it holds;
* ``paillier``: phe textbook encryption of fixed-point readings (``2**40``), the aggregator
  multiplies ciphertexts, one key holder opens packed sums;
* ``paillier_djn``: the same with pypaillier's DJN encryption;
* ``threshold_paillier``: DJN encryption under a 2-of-2 shared key
  (:mod:`cosim.privacy.threshold`), both holders' partial decryptions of packed sums;
* ``masking``: :class:`cosim.privacy.masking.MaskingGroup` (double masking, degree 40),
  once with its key setup (X25519 agreements, masking-key shares) and once per batch only.

Paillier keys are 2048 bits (generation reported apart, not in the rate). Paillier schemes
run ``--paillier-slots`` slots (their cost is per reading), masking ``--slots`` (a week).
Readings per second = N x T / wall time of meters + aggregator + opening; bytes per meter =
what one meter sends for those T readings. The sums of every scheme are checked against the
plain fixed-point sums (``exact``). The two acceptance figures are printed at the end: the
village week (47 x 336) by masking, and masking's throughput over the seed design's.
Nothing is asserted on time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import phe

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cosim.privacy.masking import MaskingGroup  # noqa: E402
from cosim.privacy.schemes import SharedKey, ThresholdPaillierScheme, encode_kwh  # noqa: E402
from cosim.settlement.crypto import OpCounts  # noqa: E402
from cosim.settlement.messages import EncryptedSum  # noqa: E402
from cosim.settlement.paillier import generate_paillier_keypair  # noqa: E402

KEY_BITS = 2048


def readings(n: int, slots: int, seed: int = 0) -> np.ndarray:
    """Net imports [kWh] of n meters over T half-hour slots (village-like spread)."""
    rng = np.random.default_rng(seed)
    return np.round(rng.normal(0.25, 0.6, (n, slots)), 6)


def seed_design(x: np.ndarray, keys: Any) -> tuple[float, float, bool]:
    """One key holder, phe float encoding: (seconds, bytes per meter, exact)."""
    pub, priv = keys
    n, slots = x.shape
    t0 = time.perf_counter()
    cts = [[pub.encrypt(float(v)) for v in row] for row in x]
    sums = []
    for t in range(slots):
        acc = cts[0][t]
        for u in range(1, n):
            acc = acc + cts[u][t]
        sums.append(priv.decrypt(acc))
    seconds = time.perf_counter() - t0
    size = (pub.nsquare.bit_length() + 7) // 8 + 4  # ciphertext + its clear exponent
    exact = bool(np.allclose(sums, x.sum(axis=0), rtol=0, atol=1e-9))
    return seconds, float(size * slots), exact


def single_holder(x: np.ndarray, keys: Any) -> tuple[float, float, bool]:
    """Fixed-point Paillier, aggregator multiplies, one key holder opens packed sums."""
    pub, sec = keys
    slots = x.shape[1]
    counts = OpCounts()
    t0 = time.perf_counter()
    blobs = pub.encrypt_many(list(x / 1.0), counts)
    batches = [pub.load(b, slots, counts) for b in blobs]
    acc = batches[0]
    for b in batches[1:]:
        acc = acc.add(b)
    opened = sec.decrypt_many([EncryptedSum(acc, np.zeros(slots)).cipher], counts)[0]
    seconds = time.perf_counter() - t0
    fixed = encode_kwh(x).sum(axis=0)
    exact = bool(np.array_equal(encode_kwh(opened), fixed))
    return seconds, float(len(blobs[0])), exact


def threshold(x: np.ndarray, key: SharedKey) -> tuple[float, float, bool]:
    scheme = ThresholdPaillierScheme(key)
    fixed = encode_kwh(x)
    t0 = time.perf_counter()
    total, sent = scheme.aggregate(0, fixed, np.ones(x.shape[0], dtype=bool))
    seconds = time.perf_counter() - t0
    return seconds, sent, bool(np.array_equal(total, fixed.sum(axis=0)))


def masking(x: np.ndarray) -> tuple[float, float, float, bool]:
    """(seconds with key setup, seconds of the batch alone, bytes per meter, exact)."""
    fixed = encode_kwh(x)
    n = x.shape[0]
    t0 = time.perf_counter()
    group = MaskingGroup(n, 40, np.random.default_rng(1))
    t1 = time.perf_counter()
    result = group.run_batch(0, fixed, np.ones(n, dtype=bool))
    t2 = time.perf_counter()
    exact = result.total is not None and bool(np.array_equal(result.total, fixed.sum(axis=0)))
    return t2 - t0, t2 - t1, result.bytes_per_meter, exact


def dp_week(tmp: Path) -> dict[str, Any]:
    """A village week with DP (epsilon 1 per release) through ``cosim run``; its DP report."""
    out = tmp / "dp_week"
    cmd = [
        sys.executable, "-c", "import sys; from cosim.cli import main; sys.exit(main())",
        "run", str(ROOT / "scenarios" / "village_year.yaml"), "--out", str(out), "--quiet",
        "--set", "time.slots=336", "--set", "grid.backend=lightsim2grid",
        "--set", "privacy.dp.enabled=true", "--set", "privacy.dp.epsilon=1.0",
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return dict(summary["privacy"]["dp"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="47,105,1000")
    parser.add_argument("--slots", type=int, default=336, help="masking slots (a week)")
    parser.add_argument("--paillier-slots", type=int, default=1)
    parser.add_argument("--dp-week", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    t0 = time.perf_counter()
    phe_keys = phe.generate_paillier_keypair(n_length=KEY_BITS)
    plain_keys = generate_paillier_keypair("paillier", "bench", KEY_BITS)
    djn_keys = generate_paillier_keypair("paillier_djn", "bench", KEY_BITS)
    shared = SharedKey(KEY_BITS)
    keygen = time.perf_counter() - t0
    print(f"key generation (four 2048-bit keys, one dealt 2-of-2): {keygen:.1f} s")

    rows: list[dict[str, Any]] = []
    header = (
        f"{'N':>5} {'scheme':<26} {'T':>4} {'readings/s':>12} {'bytes/meter':>12} "
        f"{'bytes/reading':>13} exact"
    )
    print(header)
    for n in sizes:
        xp = readings(n, args.paillier_slots, seed=n)
        xm = readings(n, args.slots, seed=n)
        results = [
            ("seed (phe float, 1 holder)", args.paillier_slots, *seed_design(xp, phe_keys)),
            ("paillier", args.paillier_slots, *single_holder(xp, plain_keys)),
            ("paillier_djn", args.paillier_slots, *single_holder(xp, djn_keys)),
            ("threshold_paillier", args.paillier_slots, *threshold(xp, shared)),
        ]
        with_setup, batch_only, sent, exact = masking(xm)
        results.append(("masking (with setup)", args.slots, with_setup, sent, exact))
        results.append(("masking (batch only)", args.slots, batch_only, sent, exact))
        for name, slots, seconds, size, ok in results:
            rate = n * slots / seconds
            rows.append(
                {"n": n, "scheme": name, "slots": slots, "seconds": seconds,
                 "readings_per_s": rate, "bytes_per_meter": size, "exact": ok}
            )  # fmt: skip
            print(
                f"{n:>5} {name:<26} {slots:>4} {rate:>12.1f} {size:>12.0f} "
                f"{size / slots:>13.1f} {ok}"
            )

    def rate(n: int, scheme: str) -> float:
        return next(r["readings_per_s"] for r in rows if r["n"] == n and r["scheme"] == scheme)

    out: dict[str, Any] = {"rows": rows, "keygen_s": keygen}
    if 47 in sizes:
        week = next(r for r in rows if r["n"] == 47 and r["scheme"] == "masking (with setup)")
        print(
            f"village week by masking (47 x {args.slots}, with key setup): "
            f"{week['seconds']:.3f} s (target < 1 s)"
        )
        out["village_week_masking_s"] = week["seconds"]
    for n in sizes:
        ratio = rate(n, "masking (with setup)") / rate(n, "seed (phe float, 1 holder)")
        print(f"N = {n}: masking / seed design throughput = {ratio:.0f}x (target >= 20x)")
        out[f"masking_over_seed_{n}"] = ratio
    if args.dp_week:
        with tempfile.TemporaryDirectory() as tmp:
            report = dp_week(Path(tmp))
        err = report["error_kwh"]
        print(
            f"DP village week (epsilon {report['epsilon_per_release']} per release, "
            f"{report['releases']} releases): mean abs error {err['mean_abs']:.3f} kWh, "
            f"RMSE {err['rmse']:.3f} kWh, max {err['max_abs']:.3f} kWh against a mean |true| "
            f"group sum of {err['mean_abs_true']:.3f} kWh; horizon epsilon "
            f"{report['composition']['epsilon_best']:.1f} (basic "
            f"{report['composition']['epsilon_basic']:.0f})"
        )
        out["dp_week"] = report
    if args.json:
        args.json.write_text(json.dumps(out, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
