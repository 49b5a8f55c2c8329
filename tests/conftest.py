"""Shared fixtures: a tiny scenario and its run (computed once per test session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosim.cli import main

ROOT = Path(__file__).resolve().parents[1]

#: Six half-hour slots around noon on CIGRE LV: PV surplus, trades, batteries, deviations.
TINY = """\
name: tiny
seed: 11
time: {start: "2016-06-01T09:00:00+00:00", slots: 6, slot_minutes: 30}
network: {name: cigre_lv}
participants: {pv_penetration: 0.7, battery_penetration: 0.3}
market: {mechanism: pay_as_clear, retail_price: 0.35, feed_in_tariff: 0.05}
fulfilment: {forecast_error: 0.2}
settlement: {models: [retail, individual, social, universal], suppliers: 3}
output: {chunk_slots: 4}
"""


@pytest.fixture(scope="session")
def tiny_scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_run(tiny_scenario: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "tiny"
    assert main(["run", str(tiny_scenario), "--out", str(out), "--quiet"]) == 0
    return out
