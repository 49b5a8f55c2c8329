"""JSON documents of a run directory: one writer and one reader for every module.

:func:`write_json` writes sorted keys, two-space indentation and a final newline, with numpy
scalars as plain numbers and non-finite floats as ``null``; :func:`read_json` reads a JSON
object back and returns None for a missing, unreadable or non-object file.

Examples
--------
>>> import math, tempfile
>>> from pathlib import Path
>>> with tempfile.TemporaryDirectory() as d:
...     path = Path(d) / "x.json"
...     write_json(path, {"b": math.nan, "a": 1}, atomic=True)
...     print(path.read_text(encoding="utf-8"), end="")
...     print(read_json(path))
{
  "a": 1,
  "b": null
}
{'a': 1, 'b': None}
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["json_safe", "read_json", "write_json"]


def write_json(path: Path, data: Mapping[str, Any], *, atomic: bool = False) -> None:
    """Write a JSON document (sorted keys, NaN as null).

    Parameters
    ----------
    path : Path
        File to write.
    data : mapping
        The document; numpy scalars and non-finite floats are converted by :func:`json_safe`.
    atomic : bool, default False
        Write a hidden temporary file beside ``path`` and rename it over ``path``, so a reader
        never sees a half-written file.
    """
    text = json.dumps(json_safe(data), indent=2, sort_keys=True) + "\n"
    path = Path(path)
    if not atomic:
        path.write_text(text, encoding="utf-8")
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from a file, or None when missing, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def json_safe(value: Any) -> Any:
    """``value`` with mapping keys as str, arrays as lists, numpy scalars as Python numbers and
    NaN/inf as None.

    >>> json_safe({1: np.array([0.5, np.nan]), "n": np.int64(3)})
    {'1': [0.5, None], 'n': 3}
    """
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.ndarray, pd.Series, pd.Index)):
        return [json_safe(v) for v in np.asarray(value).tolist()]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return None if not np.isfinite(f) else f
    if isinstance(value, np.bool_):
        return bool(value)
    return value
