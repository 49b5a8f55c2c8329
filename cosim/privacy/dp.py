"""Distributed discrete Laplace noise made on the meters, and its privacy accounting.

Mechanism: the geometric (two-sided, discrete Laplace) mechanism of Ghosh, Roughgarden &
Sundararajan, "Universally Utility-Maximizing Privacy Mechanisms", STOC 2009: an integer query
of sensitivity ``Delta`` released with noise ``Z``, ``P(Z = k) ∝ alpha^|k|``,
``alpha = exp(-epsilon / Delta)``, is ``epsilon``-differentially private.

Distributed generation: a discrete Laplace variable is the difference of two geometric ones,
and a geometric variable (negative binomial with ``r = 1``) is the sum of ``m`` independent
negative-binomial variables with ``r = 1/m`` (infinite divisibility). Each of the ``m`` meters
of a group therefore adds ``NB(1/m, 1 - alpha) - NB(1/m, 1 - alpha)`` to its own reading before
masking or encryption; the group sum carries exactly discrete Laplace noise and no party ever
sees the noiseless sum (Goryczka & Xiong, "A Comprehensive Comparison of Multiparty Secure
Additions with Differential Privacy", IEEE TDSC 2017, section 5; Balle, Bell, Gascon, Nissim,
"The Privacy Blanket of the Shuffle Model", CRYPTO 2019, use the same decomposition).

Readings are clipped per participant kind to ``[-C, C]`` kWh and rounded to the release grid
``q`` kWh before noise, so the query is an integer count of ``q`` with sensitivity
``Delta = 2 C / q`` (one participant's reading replaced). When a meter drops out after the
noise was planned for ``m`` members, the release carries the noise of the survivors only (a
weaker guarantee); :class:`DPAccount` counts such releases.

Composition over the horizon (each participant is in one release per slot): basic composition
``T * epsilon`` and the advanced composition theorem of Dwork, Rothblum & Vadhan, "Boosting
and Differential Privacy", FOCS 2010 (theorem III.3): ``(epsilon', delta')`` with
``epsilon' = sqrt(2 T ln(1/delta')) epsilon + T epsilon (e^epsilon - 1)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["DPAccount", "alpha_of", "compose", "meter_noise"]


def alpha_of(epsilon: float, sensitivity: float) -> float:
    """``alpha = exp(-epsilon / sensitivity)`` of the discrete Laplace mechanism."""
    if epsilon <= 0 or sensitivity <= 0:
        raise ValueError("epsilon and sensitivity must be > 0")
    return math.exp(-epsilon / sensitivity)


def meter_noise(
    rng: np.random.Generator, alpha: float, members: int, size: int
) -> NDArray[np.int64]:
    """One meter's share of the group noise: ``NB(1/m, 1-alpha) - NB(1/m, 1-alpha)``.

    Summed over ``members`` meters this is discrete Laplace with parameter ``alpha``
    (``P(k) = (1-alpha)/(1+alpha) alpha^|k|``; scipy's ``dlaplace(-log(alpha))``).
    """
    r = 1.0 / members
    a = rng.negative_binomial(r, 1.0 - alpha, size)
    b = rng.negative_binomial(r, 1.0 - alpha, size)
    return (a - b).astype(np.int64)


def compose(epsilon: float, releases: int, delta: float) -> dict[str, float]:
    """Basic and advanced (Dwork-Rothblum-Vadhan 2010) composition of ``releases`` releases."""
    basic = epsilon * releases
    advanced = math.sqrt(2.0 * releases * math.log(1.0 / delta)) * epsilon + releases * epsilon * (
        math.expm1(epsilon)
    )
    return {
        "epsilon_basic": basic,
        "epsilon_advanced": advanced,
        "delta_advanced": delta,
        "epsilon_best": min(basic, advanced),
    }


@dataclass
class DPAccount:
    """Released values against the true aggregates, for the error report."""

    epsilon: float
    delta: float
    released: list[float] = field(default_factory=list)
    true: list[float] = field(default_factory=list)
    degraded_releases: int = 0
    releases_per_participant: NDArray[np.int64] | None = None

    def add(self, released: NDArray[np.float64], true: NDArray[np.float64]) -> None:
        """Record released and true group sums [kWh]."""
        self.released.extend(np.asarray(released, dtype=float).tolist())
        self.true.extend(np.asarray(true, dtype=float).tolist())

    def report(self) -> dict[str, object]:
        """epsilon per release, composition over the horizon, measured error [kWh]."""
        rel, tru = np.asarray(self.released), np.asarray(self.true)
        err = rel - tru
        most = (
            int(self.releases_per_participant.max())
            if self.releases_per_participant is not None and self.releases_per_participant.size
            else 0
        )
        return {
            "epsilon_per_release": self.epsilon,
            "releases": int(rel.size),
            "releases_per_participant_max": most,
            "composition": compose(self.epsilon, most, self.delta) if most else None,
            "degraded_releases": self.degraded_releases,
            "error_kwh": {
                "mean": float(err.mean()) if err.size else None,
                "mean_abs": float(np.abs(err).mean()) if err.size else None,
                "rmse": float(np.sqrt((err**2).mean())) if err.size else None,
                "max_abs": float(np.abs(err).max()) if err.size else None,
                "mean_abs_true": float(np.abs(tru).mean()) if tru.size else None,
            },
        }
