"""How result tables are stored: CSV (default) or Parquet, through Apache Arrow.

One interface, :class:`TableFormat`, and a registry, :data:`FORMATS`, keyed by
``output.format``. A format writes a whole table at once (:meth:`TableFormat.write`), or starts
a table and appends chunks of rows to it (:meth:`~TableFormat.start`,
:meth:`~TableFormat.append`); :meth:`~TableFormat.mark` and :meth:`~TableFormat.cut` let a
checkpoint record where a table ends and a resumed run cut it back there.

CSV
    Written by Arrow's CSV writer (about 3x faster than pandas here). Floats keep Python's
    shortest round-trip digits, so every value parses back exactly; a float that happens to be
    whole keeps its ``.0`` (``3.0``, not ``3``), so readers still see a float column; the
    exponent has no leading zero (``1e-7``). NaN and missing values are empty fields, booleans
    ``true``/``false``, strings unquoted, unless a string of the chunk holds a comma, a quote or
    a line break (an error message in ``sweep.csv``): then the chunk's strings are quoted.
Parquet
    A table written in chunks is a folder ``<table>.parquet/`` of numbered part files, one per
    chunk, read back in order by :func:`read_table` (or by ``pandas.read_parquet`` on the
    folder); a table written at once is one file. Column types are kept (bool, int64, float64,
    string).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

__all__ = ["FORMATS", "CsvFormat", "ParquetFormat", "TableFormat", "has_table", "read_table"]

Columns = Mapping[str, np.ndarray]


class TableFormat(ABC):
    """How one kind of file holds a table (see the module docstring)."""

    #: File name ending of a table (``slots.csv``, ``slots.parquet``).
    suffix: str

    def path(self, folder: Path, table: str) -> Path:
        """Where ``table`` is stored in ``folder``."""
        return Path(folder) / f"{table}{self.suffix}"

    @abstractmethod
    def write(self, path: Path, frame: pd.DataFrame) -> None:
        """Write a whole table (replacing any earlier one)."""

    @abstractmethod
    def start(self, path: Path, columns: list[str]) -> None:
        """Start an empty table with these columns (replacing any earlier one)."""

    @abstractmethod
    def append(self, path: Path, columns: Columns) -> None:
        """Append rows (equal-length arrays in the table's column order)."""

    @abstractmethod
    def mark(self, path: Path) -> int:
        """Where the table ends now (bytes for CSV, part files for Parquet)."""

    @abstractmethod
    def cut(self, path: Path, mark: int) -> None:
        """Drop everything appended after :meth:`mark` returned ``mark``."""


def _arrow_column(values: np.ndarray) -> pa.Array:
    """A numpy column as Arrow; NaN becomes null (an empty CSV field)."""
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        return pa.array(arr, mask=np.isnan(arr))
    if arr.dtype.kind in "OU":
        return pa.array(arr.astype(object), type=pa.string(), from_pandas=True)
    return pa.array(arr)


def _csv_text(column: pa.Array) -> pa.Array:
    """Floats as text with Python's look for whole numbers (``3.0``); other types unchanged."""
    if not pa.types.is_floating(column.type):
        return column
    text = pc.cast(column, pa.string())
    whole = pc.match_substring_regex(text, r"^-?[0-9]+$")
    return pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)


def _needs_quotes(table: pa.Table) -> bool:
    """Whether a string holds a comma, quote or line break (then every string is quoted)."""
    for column in table.columns:
        if (
            pa.types.is_string(column.type)
            and pc.any(pc.match_substring_regex(column, r'[,"\r\n]')).as_py()
        ):
            return True
    return False


class CsvFormat(TableFormat):
    """Comma-separated text, one header line (see the module docstring)."""

    suffix = ".csv"
    _options = pacsv.WriteOptions(include_header=False, quoting_style="none")

    def write(self, path: Path, frame: pd.DataFrame) -> None:
        self.start(path, [str(c) for c in frame.columns])
        if len(frame):
            self.append(path, {str(c): frame[c].to_numpy() for c in frame.columns})

    def start(self, path: Path, columns: list[str]) -> None:
        Path(path).write_text(",".join(columns) + "\n", encoding="utf-8")

    _quoted = pacsv.WriteOptions(include_header=False, quoting_style="needed")

    def append(self, path: Path, columns: Columns) -> None:
        table = pa.table({name: _csv_text(_arrow_column(v)) for name, v in columns.items()})
        if table.num_rows == 0:
            return
        with open(path, "ab") as f:
            pacsv.write_csv(table, f, self._quoted if _needs_quotes(table) else self._options)

    def mark(self, path: Path) -> int:
        return Path(path).stat().st_size

    def cut(self, path: Path, mark: int) -> None:
        with open(path, "r+b") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() < mark:
                raise ValueError(f"{path} is shorter ({f.tell()} bytes) than its checkpoint")
            f.truncate(mark)


class ParquetFormat(TableFormat):
    """Apache Parquet (see the module docstring)."""

    suffix = ".parquet"

    def write(self, path: Path, frame: pd.DataFrame) -> None:
        p = Path(path)
        if p.is_dir():
            _remove_parts(p, 0)
            p.rmdir()
        table = pa.table({str(c): _arrow_column(frame[c].to_numpy()) for c in frame.columns})
        pq.write_table(table, p)

    def start(self, path: Path, columns: list[str]) -> None:
        p = Path(path)
        if p.is_file():
            p.unlink()
        p.mkdir(exist_ok=True)
        _remove_parts(p, 0)
        (p / "_columns").write_text(",".join(columns) + "\n", encoding="utf-8")

    def append(self, path: Path, columns: Columns) -> None:
        table = pa.table({name: _arrow_column(v) for name, v in columns.items()})
        if table.num_rows == 0:
            return
        part = self.mark(path)
        tmp = Path(path) / f".part-{part:06d}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, Path(path) / f"part-{part:06d}.parquet")

    def mark(self, path: Path) -> int:
        return len(_parts(Path(path)))

    def cut(self, path: Path, mark: int) -> None:
        if self.mark(path) < mark:
            raise ValueError(f"{path} has fewer parts than its checkpoint")
        _remove_parts(Path(path), mark)


def _parts(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.parquet"))


def _remove_parts(folder: Path, first: int) -> None:
    for part in _parts(folder)[first:]:
        part.unlink()
    for tmp in folder.glob(".part-*.tmp"):
        tmp.unlink()


#: The formats of ``output.format``.
FORMATS: dict[str, TableFormat] = {"csv": CsvFormat(), "parquet": ParquetFormat()}


def has_table(folder: Path, table: str) -> bool:
    """Whether ``folder`` holds ``table`` in either format."""
    return any(f.path(Path(folder), table).exists() for f in FORMATS.values())


def read_table(folder: Path, table: str, **kwargs: Any) -> pd.DataFrame:
    """Read a result table written in either format (CSV preferred when both exist).

    Parameters
    ----------
    folder : Path
        Run directory.
    table : str
        Table name (``slots``, ``participants``, ``bills`` ...).
    **kwargs
        Passed to :func:`pandas.read_csv` for CSV files.
    """
    folder = Path(folder)
    csv = FORMATS["csv"].path(folder, table)
    if csv.exists():
        return pd.read_csv(csv, **kwargs)
    path = FORMATS["parquet"].path(folder, table)
    if path.is_dir():
        parts = _parts(path)
        if not parts:
            names = (path / "_columns").read_text(encoding="utf-8").strip().split(",")
            return pd.DataFrame(columns=[n for n in names if n])
        return pa.concat_tables([pq.read_table(p) for p in parts]).to_pandas()
    if path.is_file():
        return pq.read_table(path).to_pandas()
    raise FileNotFoundError(f"{folder}: no {table}.csv or {table}.parquet")
