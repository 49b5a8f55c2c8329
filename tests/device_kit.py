"""Shared scaffolding of the device tests: a device context, synthetic load and PV, a slot loop."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cosim.participants.devices import DeviceContext, DeviceSet


def device_context(n: int, slots: int, slot_minutes: int, start: str) -> DeviceContext:
    """``n`` participants (every fifth commercial) over ``slots`` slots from ``start`` (UTC)."""
    kinds = np.array(["commercial" if i % 5 == 0 else "household" for i in range(n)])
    times = pd.date_range(start, periods=slots, freq=f"{slot_minutes}min", tz="UTC")
    return DeviceContext(n=n, kind=kinds, slot_minutes=slot_minutes, slot_times=times)


def load_and_pv(n: int, slots: int, slot_minutes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Base load and a midday PV bell [kWh per slot] (PV on about half the houses)."""
    rng = np.random.default_rng(seed)
    dt = slot_minutes / 60
    hour = (np.arange(slots) * dt) % 24
    sun = np.clip(np.sin((hour - 6) / 12 * np.pi), 0, None)
    pv = sun[:, None] * rng.uniform(0, 8, n) * (rng.random(n) < 0.6) * dt
    load = rng.uniform(0.1, 1.5, (slots, n)) * dt
    return load, pv


def simulate(devices: DeviceSet, load: np.ndarray, pv: np.ndarray, dt: float, k0: int = 0) -> dict:
    """Run ``devices`` slot by slot from ``k0``: every column per slot and the ``total``."""
    cols: dict[str, list[np.ndarray]] = {c: [] for c in devices.column_names}
    total = []
    for k in range(k0, load.shape[0]):
        total.append(devices.energy_kwh(k, load[k], pv[k], dt))
        for name, value in devices.columns().items():
            cols[name].append(value.copy())
    out = {name: np.array(v) for name, v in cols.items()}
    out["total"] = np.array(total)
    return out
