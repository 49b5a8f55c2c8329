"""Figures (PNG, PDF or SVG) of a run directory or a sweep directory, into ``DIR/plots/``.

Headless: figures are plain :class:`matplotlib.figure.Figure` objects rendered by the Agg
canvas, so no pyplot state, no display and no global backend switch are involved.

Files are read through :class:`cosim.results.rundir.RunDir`. Runs longer than 1,000 slots are shown
per day (per week beyond 1,000 days) unless ``aggregate`` says otherwise; money is labelled
with ``currency``.

Run directory (has ``slots.csv``):

=========================  ==========================================================
``voltage_heatmap.*``      bus voltage [pu] per bus (network bus names) and slot or day
``grid_over_time.*``       min/max voltage [pu]; max line/transformer loading [%]
``market_over_time.*``     clearing price [currency/kWh] (per day: volume-weighted, with
                           the min-max range); traded energy, bids, offers [kWh]
``daily_profile.*``        mean load, PV, import, export by time of day [kW]
``bills.*``                bills by billing model (bars up to 30 participants, else box
                           plots) and each model's difference to the first [currency]
=========================  ==========================================================

Sweep directory (has ``sweep.csv``): ``sweep_<metric>.*``, one figure per key metric
against PV penetration (or the first varied key) with the median over the other keys (seeds)
and their min-max band, and ``sweep_billing.png`` (supplier profit and mean bill per billing
model).

Example::

    from cosim.plots import plot_dir

    plot_dir("results/quickstart", fmt="pdf", currency="EUR")
    # [PosixPath('results/quickstart/plots/voltage_heatmap.pdf'), ...]
"""

from __future__ import annotations

from pathlib import Path

from cosim.errors import InputError
from cosim.plots._common import FORMATS, PlotOptions
from cosim.plots.run import plot_run
from cosim.plots.sweep import SWEEP_METRICS, plot_sweep
from cosim.results.rundir import RunDir

__all__ = ["FORMATS", "SWEEP_METRICS", "PlotOptions", "plot_dir", "plot_run", "plot_sweep"]


def plot_dir(
    directory: str | Path, fmt: str = "png", currency: str = "currency", aggregate: str = "auto"
) -> list[Path]:
    """Plot a run directory or a sweep directory into ``directory/plots/``.

    Parameters
    ----------
    directory : str or Path
        A run directory (``slots.csv``) or a sweep directory (``sweep.csv``).
    fmt : str
        ``png``, ``pdf`` or ``svg``.
    currency : str
        Label of money amounts (``EUR``...).
    aggregate : str
        Time step of the time-series figures: ``auto``, ``slot``, ``day`` or ``week``.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    InputError
        If the directory is missing or is neither kind.
    """
    d = Path(directory)
    if not d.is_dir():
        raise InputError(d, "(directory)", "directory not found")
    options = PlotOptions(fmt, currency, aggregate)
    run = RunDir(d)
    if run.has("sweep"):
        return plot_sweep(run, options)
    if run.has("slots"):
        return plot_run(run, options)
    raise InputError(
        d, "(directory)", "expected a run directory (slots.csv) or a sweep directory (sweep.csv)"
    )
