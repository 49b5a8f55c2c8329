"""Helpers shared by the run and sweep figures: options and saving."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cosim.errors import InputError

#: Resolution of raster figures [dots per inch].
DPI = 120
#: File formats ``cosim plot --format`` writes.
FORMATS = ("png", "pdf", "svg")


@dataclass(frozen=True)
class PlotOptions:
    """How figures are written.

    Parameters
    ----------
    fmt : str
        ``png``, ``pdf`` or ``svg``.
    currency : str
        Label of money amounts in axis titles (``EUR``, ``GBP``, ...).
    aggregate : str
        Time step of the market figure: ``auto`` (per slot up to 1,000 slots, else per day or
        per week), ``slot``, ``day`` or ``week``.
    """

    fmt: str = "png"
    currency: str = "currency"
    aggregate: str = "auto"

    def __post_init__(self) -> None:
        if self.fmt not in FORMATS:
            raise InputError(None, "--format", f"one of {', '.join(FORMATS)}, got {self.fmt!r}")
        if self.aggregate not in ("auto", "slot", "day", "week"):
            raise InputError(
                None, "--aggregate", f"auto, slot, day or week, got {self.aggregate!r}"
            )


def save(fig: Figure, out: Path, stem: str, options: PlotOptions) -> Path:
    """Render ``fig`` with the Agg canvas (headless, no pyplot state) into ``out/stem.<fmt>``."""
    FigureCanvasAgg(fig)
    fig.tight_layout(rect=(0, 0.03, 1, 1))  # room for the footnote at the bottom
    path = out / f"{stem}.{options.fmt}"
    # text stays text in SVG and PDF (TrueType), so figures can be edited and searched
    with rc_context({"svg.fonttype": "none", "pdf.fonttype": 42, "svg.hashsalt": "cosim"}):
        fig.savefig(path, dpi=DPI, format=options.fmt, metadata=_METADATA[options.fmt])
    return path


#: No creation dates in the files: the same results give the same figure files.
_METADATA: dict[str, dict[str, str | None]] = {
    "png": {"Software": None},
    "pdf": {"CreationDate": None, "Producer": None, "Creator": None},
    "svg": {"Date": None, "Creator": None},
}
