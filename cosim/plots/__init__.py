"""Figures (PNG) of a run directory or a sweep directory, written into ``DIR/plots/``.

Headless: figures are plain :class:`matplotlib.figure.Figure` objects rendered by the Agg
canvas, so no pyplot state, no display and no global backend switch are involved.

Run directory (has ``slots.csv``):

=========================  ==========================================================
``voltage_heatmap.png``    bus voltage [pu] per bus and slot (needs ``buses.csv``)
``grid_over_time.png``     min/max voltage [pu]; max line/transformer loading [%]
``market_over_time.png``   clearing price [currency/kWh]; traded energy [kWh/slot]
``daily_profile.png``      mean load, PV, import, export by time of day [kW]
``bills.png``              bill per participant by billing model [currency]
=========================  ==========================================================

Sweep directory (has ``sweep.csv``): ``sweep_<metric>.png``, one figure per key metric
against PV penetration (or the first varied key) with the median over the other keys (seeds)
and their min-max band, and ``sweep_billing.png`` (supplier profit and mean bill per billing
model).

Example
-------
>>> from cosim.plots import plot_dir  # doctest: +SKIP
>>> plot_dir("results/quickstart")  # doctest: +SKIP
[PosixPath('results/quickstart/plots/voltage_heatmap.png'), ...]
"""

from __future__ import annotations

from pathlib import Path

from cosim.errors import InputError
from cosim.plots.run import plot_run
from cosim.plots.sweep import SWEEP_METRICS, plot_sweep

__all__ = ["SWEEP_METRICS", "plot_dir", "plot_run", "plot_sweep"]


def plot_dir(directory: str | Path) -> list[Path]:
    """Plot a run directory or a sweep directory into ``directory/plots/``.

    Parameters
    ----------
    directory : str or Path
        A run directory (``slots.csv``) or a sweep directory (``sweep.csv``).

    Returns
    -------
    list of Path
        The PNG files written.

    Raises
    ------
    InputError
        If the directory is missing or is neither kind.
    """
    d = Path(directory)
    if not d.is_dir():
        raise InputError(d, "(directory)", "directory not found")
    if (d / "sweep.csv").is_file():
        return plot_sweep(d)
    if (d / "slots.csv").is_file():
        return plot_run(d)
    raise InputError(
        d, "(directory)", "expected a run directory (slots.csv) or a sweep directory (sweep.csv)"
    )
