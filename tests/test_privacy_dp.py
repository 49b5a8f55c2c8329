"""Distributed discrete Laplace noise: goodness of fit of the group sum, accounting."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from cosim.privacy import dp


@pytest.mark.parametrize(("members", "epsilon", "sensitivity"), [(47, 1.0, 4.0), (5, 0.5, 1.0)])
def test_summed_meter_noise_is_discrete_laplace(
    members: int, epsilon: float, sensitivity: float
) -> None:
    rng = np.random.default_rng(20)
    alpha = dp.alpha_of(epsilon, sensitivity)
    draws = 20_000
    total = sum(dp.meter_noise(rng, alpha, members, draws) for _ in range(members))
    law = stats.dlaplace(-math.log(alpha))
    # bins: every integer inside the central 99 %, the two tails pooled
    lo, hi = int(law.ppf(0.005)), int(law.ppf(0.995))
    edges = np.arange(lo, hi + 1)
    observed = np.array(
        [np.count_nonzero(total < lo)]
        + [np.count_nonzero(total == k) for k in edges]
        + [np.count_nonzero(total > hi)]
    )
    probs = np.concatenate([[law.cdf(lo - 1)], law.pmf(edges), [law.sf(hi)]])
    expected = probs / probs.sum() * draws
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    # and a single meter's share alone is far from the group's law (it is not the noise)
    alone = dp.meter_noise(rng, alpha, members, draws)
    assert alone.var() < 0.4 * law.var()  # expected ratio: 1 / members


def test_composition() -> None:
    eps, releases, delta = 0.1, 336, 1e-6
    out = dp.compose(eps, releases, delta)
    assert out["epsilon_basic"] == pytest.approx(33.6)
    advanced = math.sqrt(2 * releases * math.log(1 / delta)) * eps + releases * eps * (
        math.exp(eps) - 1
    )
    assert out["epsilon_advanced"] == pytest.approx(advanced)
    assert out["epsilon_best"] == min(out["epsilon_basic"], out["epsilon_advanced"])


def test_account_reports_the_error() -> None:
    acc = dp.DPAccount(1.0, 1e-6)
    acc.releases_per_participant = np.array([3, 3])
    acc.add(np.array([1.0, 2.0, 4.0]), np.array([1.5, 2.0, 3.0]))
    report = acc.report()
    assert report["error_kwh"]["mean_abs"] == pytest.approx(0.5)
    assert report["error_kwh"]["max_abs"] == pytest.approx(1.0)
    assert report["composition"]["epsilon_basic"] == pytest.approx(3.0)
