"""Helpers shared by the run and sweep figures: reading inputs, saving PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cosim.errors import InputError

#: Resolution of every figure [dots per inch].
DPI = 120


def read_csv(path: Path) -> pd.DataFrame:
    """A result CSV; :class:`InputError` if it is missing or unreadable."""
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise InputError(path, "(file)", "file not found") from None
    except (OSError, ValueError) as exc:
        raise InputError(path, "(file)", f"cannot read the CSV: {exc}") from None


def scenario_info(d: Path) -> dict[str, Any]:
    """The run's resolved ``scenario.yaml`` as a mapping (empty if missing or unreadable)."""
    try:
        data = yaml.safe_load((d / "scenario.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def save(fig: Figure, path: Path) -> Path:
    """Render ``fig`` with the Agg canvas (headless, no pyplot state) into a PNG at ``path``."""
    FigureCanvasAgg(fig)
    fig.tight_layout(rect=(0, 0.03, 1, 1))  # room for the footnote at the bottom
    fig.savefig(path, dpi=DPI)
    return path
