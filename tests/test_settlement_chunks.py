"""A chunk of slots billed with array operations equals its slots billed one by one, bit for bit.

The reference is the per-slot path: :func:`settle_slot_plain` on one slot's 1-D arrays, with the
running totals added slot after slot (what the ledger did before it billed chunks).
"""

from __future__ import annotations

import numpy as np
import pytest

from cosim.settlement.billing import (
    MODELS,
    aggregate_plain,
    bill_terms,
    settle_slot_plain,
    slot_info_from_plain,
)
from cosim.settlement.ledger import Ledger
from cosim.settlement.terms import Prices

PRICES = Prices(retail_price=0.31, feed_in_tariff=0.07)
N_SUPPLIERS = 3


def random_chunk(rng: np.random.Generator, n_slots: int, n: int) -> dict[str, np.ndarray]:
    """Consistent slots: matched volumes, deviations (some zero, some within tolerance)."""
    side = rng.choice(np.array([1, -1, 0], dtype=np.int8), size=(n_slots, n), p=[0.45, 0.35, 0.2])
    trading = rng.random(n_slots) < 0.8  # some slots without any trade
    accepted = (side != 0) & (rng.random((n_slots, n)) < 0.7) & trading[:, None]
    committed = np.where(accepted, rng.exponential(1.0, (n_slots, n)), 0.0)
    dev = rng.normal(0.0, 0.4, (n_slots, n))
    dev[rng.random((n_slots, n)) < 0.15] = 0.0
    dev[rng.random((n_slots, n)) < 0.05] = 1e-12  # inside the tolerance
    s = np.where(side == -1, -1.0, 1.0)
    net = s * (committed + dev)
    pay_as_bid = rng.random(n_slots) < 0.5
    clearing = rng.uniform(0.08, 0.3, n_slots)
    own = rng.uniform(0.08, 0.3, (n_slots, n))
    p2p = np.where(accepted, np.where(pay_as_bid[:, None], own, clearing[:, None]), np.nan)
    any_acc = accepted.any(axis=1)
    slot_price = np.where(any_acc, clearing, np.nan)
    return {
        "side": side,
        "accepted": accepted,
        "committed_kwh": committed,
        "deviation_kwh": dev,
        "net_kwh": net,
        "p2p_price": p2p,
        "slot_price": slot_price,
    }


def balanced_slot(n: int) -> dict[str, np.ndarray]:
    """One slot whose buyers' and sellers' deviations cancel (the balanced branch)."""
    side = np.array([1, 1, -1, -1] + [0] * (n - 4), dtype=np.int8)
    accepted = side != 0
    committed = np.where(accepted, 1.0, 0.0)
    dev = np.array([0.5, -0.25, 0.25, -0.5] + [0.1] * (n - 4))
    s = np.where(side == -1, -1.0, 1.0)
    return {
        "side": side[None],
        "accepted": accepted[None],
        "committed_kwh": committed[None],
        "deviation_kwh": dev[None],
        "net_kwh": (s * (committed + dev))[None],
        "p2p_price": np.where(accepted, 0.2, np.nan)[None],
        "slot_price": np.array([0.2]),
    }


def slot_by_slot(chunk: dict[str, np.ndarray], supplier: np.ndarray) -> dict[str, object]:
    """The per-slot reference: 1-D settlement and running totals added in slot order."""
    n = supplier.size
    out: dict[str, object] = {}
    for model in MODELS:
        bills, profit, energy_kwh, pot, slot_energy = np.zeros(n), np.zeros(3), np.zeros(3), 0.0, []
        for t in range(chunk["side"].shape[0]):
            args = [chunk[k][t] for k in ("side", "accepted", "committed_kwh", "deviation_kwh")]
            info = slot_info_from_plain(
                *args, chunk["net_kwh"][t], chunk["p2p_price"][t], chunk["slot_price"][t]
            )
            c = np.where(chunk["accepted"][t], chunk["committed_kwh"][t], 0.0)
            amount, money, energy = settle_slot_plain(
                model, c, chunk["deviation_kwh"][t], info, PRICES
            )
            bills += amount
            profit += np.bincount(supplier, money, N_SUPPLIERS)
            energy_kwh += np.bincount(supplier, np.abs(energy), N_SUPPLIERS)
            pot += float(amount.sum() - money.sum())
            slot_energy.append(float(np.abs(energy).sum()))
        out[model] = (bills, profit, energy_kwh, pot, slot_energy)
    return out


def _chunk_args(chunk: dict[str, np.ndarray], lo: int, hi: int) -> list[np.ndarray]:
    keys = ("side", "accepted", "committed_kwh", "deviation_kwh", "net_kwh", "p2p_price")
    return [chunk[k][lo:hi] for k in keys] + [chunk["slot_price"][lo:hi]]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("split", [None, 1, 7])
def test_chunk_is_bit_identical_to_slot_by_slot(seed: int, split: int | None) -> None:
    rng = np.random.default_rng(seed)
    n_slots, n = 40, int(rng.integers(5, 300))
    chunk = random_chunk(rng, n_slots, n)
    supplier = rng.integers(0, N_SUPPLIERS, n)
    ledger = Ledger(MODELS, supplier, N_SUPPLIERS, PRICES)
    step = split or n_slots
    energies: dict[str, list[float]] = {m: [] for m in MODELS}
    for lo in range(0, n_slots, step):
        for model, e in ledger.settle_chunk(*_chunk_args(chunk, lo, lo + step)).items():
            energies[model].extend(e.tolist())
    expected = slot_by_slot(chunk, supplier)
    for model in MODELS:
        bills, profit, energy_kwh, pot, slot_energy = expected[model]  # type: ignore[misc]
        assert np.array_equal(ledger.bills[model], bills), model
        assert np.array_equal(ledger.supplier_profit[model], profit), model
        assert np.array_equal(ledger.supplier_energy_kwh[model], energy_kwh), model
        assert ledger.pot[model] == pot, model
        assert energies[model] == slot_energy == ledger.slot_supplier_energy_kwh[model], model


@pytest.mark.parametrize("model", MODELS)
def test_bill_terms_over_slots_equal_each_slot(model: str) -> None:
    rng = np.random.default_rng(99)
    chunk = random_chunk(rng, 25, 60)
    balanced = balanced_slot(60)
    chunk = {k: np.concatenate([chunk[k], balanced[k]]) for k in chunk}
    info = slot_info_from_plain(*_chunk_args(chunk, 0, 26))
    terms = bill_terms(model, info, PRICES, aggregate_plain(info, chunk["deviation_kwh"]))
    for t in range(26):
        one = slot_info_from_plain(*(a[0] for a in _chunk_args(chunk, t, t + 1)))
        ref = bill_terms(model, one, PRICES, aggregate_plain(one, chunk["deviation_kwh"][t]))
        for got, want in ((terms.p2p, ref.p2p), (terms.supplier, ref.supplier)):
            for name in ("coef_c", "coef_d", "const"):
                assert np.array_equal(getattr(got, name)[t], getattr(want, name)), (t, name)
        assert np.array_equal(terms.supplier_energy.coef_d[t], ref.supplier_energy.coef_d)


def test_chunk_rejects_missing_slot_price() -> None:
    chunk = balanced_slot(6)
    with pytest.raises(ValueError, match="slot_price must be finite"):
        slot_info_from_plain(*_chunk_args(chunk, 0, 1)[:-1], np.array([np.nan]))
    with pytest.raises(ValueError, match="slot_price must have shape"):
        slot_info_from_plain(*_chunk_args(chunk, 0, 1)[:-1], np.array([0.2, 0.2]))


@pytest.mark.parametrize("model", MODELS)
def test_platform_coefficients_over_a_batch_equal_each_slot(model: str) -> None:
    """The encrypted platform computes a batch's plaintext coefficients with the chunk forms; a
    slot whose aggregate group was refused is billed ``individual``, exactly as slot by slot."""
    from cosim.settlement.actors import TradingPlatform, gross_energy_form
    from cosim.settlement.billing import AGGREGATE_MODELS

    rng = np.random.default_rng(5)
    chunk = random_chunk(rng, 30, 40)
    info = slot_info_from_plain(*_chunk_args(chunk, 0, 30))
    aggregates = aggregate_plain(info, chunk["deviation_kwh"])
    platform = TradingPlatform.__new__(TradingPlatform)  # only the plaintext side is used
    platform.prices, platform.tol_kwh = PRICES, 1e-9
    platform._small = rng.random(30) < 0.3
    terms = platform._chunk_terms(model, info, aggregates)
    gross, unknown = gross_energy_form(terms.supplier_energy, info)
    for t in range(30):
        one = slot_info_from_plain(*(a[0] for a in _chunk_args(chunk, t, t + 1)))
        used = "individual" if platform._small[t] and model in AGGREGATE_MODELS else model
        agg = aggregate_plain(one, chunk["deviation_kwh"][t])
        ref = bill_terms(used, one, PRICES, agg)
        ref_gross, ref_unknown = gross_energy_form(ref.supplier_energy, one)
        pairs = [(terms.p2p, ref.p2p), (terms.supplier, ref.supplier)]
        pairs += [(terms.supplier_energy, ref.supplier_energy), (gross, ref_gross)]
        for got, want in pairs:
            for name in ("coef_c", "coef_d", "const"):
                assert np.array_equal(getattr(got, name)[t], getattr(want, name)), (t, name)
        assert np.array_equal(unknown[t], ref_unknown)
