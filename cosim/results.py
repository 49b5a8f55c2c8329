"""Result files: columnar buffers appended to CSV in chunks.

Rows are collected as numpy column blocks (one block per slot and table) and appended to
the CSV files every ``output.chunk_slots`` slots, so memory stays bounded over a year and a
run that fails halfway keeps every chunk already written. Floats are written with Python's
shortest round-trip representation (full precision); NaN is written as an empty field.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "TABLE_COLUMNS",
    "ResultWriter",
    "background_writes_possible",
    "write_json",
    "write_table",
]

#: Required columns of each per-slot table, in order (DESIGN.md contract), plus our additions.
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "slots": tuple(
        "slot time clearing_price traded_kwh import_kwh export_kwh vm_min_pu vm_max_pu "
        "loading_max_percent losses_kwh pf_converged trafo_loading_max_percent load_kwh pv_kwh "
        "battery_kwh net_kwh buy_orders sell_orders bid_kwh offer_kwh p2p_requested_kwh "
        "p2p_executable_kwh p2p_share_of_load p2p_buyer_benefit p2p_seller_benefit "
        "export_requested_kwh export_allowed_kwh pv_curtailed_kwh "
        "network_check_status".split()
    ),
    "participants": tuple(
        "slot participant bus supplier load_kwh pv_kwh battery_kwh soc_kwh net_kwh side accepted "
        "committed_kwh delivered_kwh deviation_kwh order_kwh limit_price p2p_price "
        "pv_curtailed_kwh".split()
    ),
    "buses": ("slot", "bus", "vm_pu", "p_mw"),
    "lines": ("slot", "line", "loading_percent"),
    "trafos": ("slot", "trafo", "loading_percent"),
    "trades": ("slot", "buyer", "seller", "energy_kwh", "price"),
}


def write_table(path: Path, frame: pd.DataFrame, append: bool = False) -> None:
    """Write (or append) a table as CSV at full float precision; booleans as true/false."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == bool:
            out[col] = np.where(out[col].to_numpy(), "true", "false")
    out.to_csv(
        path, mode="a" if append else "w", header=not append, index=False, lineterminator="\n"
    )


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write a JSON document (sorted keys, NaN as null)."""
    path.write_text(json.dumps(_json_safe(data), indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return None if not np.isfinite(f) else f
    if isinstance(value, np.bool_):
        return bool(value)
    return value


class ResultWriter:
    """Buffers per-slot rows of each table and appends them to ``out_dir/<table>.csv``.

    Parameters
    ----------
    out_dir : Path
        Run directory (created if missing).
    tables : sequence of str
        Tables to write (keys of :data:`TABLE_COLUMNS`).
    chunk_slots : int
        Flush after this many slots.
    extra_columns : mapping of str to sequence of str, optional
        Further columns per table, appended after the standard ones.
    background : bool, default False
        Format and append chunks in a separate process (same bytes; call :meth:`close` at the
        end). Ignored where this process may not have children.
    """

    def __init__(
        self,
        out_dir: Path,
        tables: Sequence[str],
        chunk_slots: int,
        extra_columns: Mapping[str, Sequence[str]] | None = None,
        background: bool = False,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.columns = {
            t: TABLE_COLUMNS[t] + tuple((extra_columns or {}).get(t, ())) for t in tables
        }
        self.chunk_slots = chunk_slots
        self._buffers: dict[str, dict[str, list[np.ndarray]]] = {
            t: {c: [] for c in self.columns[t]} for t in tables
        }
        self._pending_slots = 0
        self.rows_written: dict[str, int] = {t: 0 for t in tables}
        for t in tables:  # start every table fresh, with a header even if it stays empty
            write_table(self.path(t), pd.DataFrame(columns=list(self.columns[t])))
        self._background = (
            _BackgroundWriter() if background and background_writes_possible() else None
        )

    def path(self, table: str) -> Path:
        """File of a table."""
        return self.out_dir / f"{table}.csv"

    def add(self, table: str, columns: Mapping[str, Any]) -> None:
        """Buffer one block of rows; scalar values broadcast to the block's length.

        Tables not configured for writing are ignored.
        """
        buffer = self._buffers.get(table)
        if buffer is None:
            return
        missing = set(buffer) - set(columns)
        if missing:
            raise KeyError(f"{table}: missing columns {sorted(missing)}")
        arrays = {c: np.asarray(columns[c]) for c in buffer}
        length = max((a.size for a in arrays.values() if a.ndim), default=1)
        for col, arr in arrays.items():
            buffer[col].append(np.broadcast_to(arr, (length,)) if arr.ndim == 0 else arr)

    def end_slot(self) -> None:
        """Mark a slot complete; flushes every ``chunk_slots`` slots."""
        self._pending_slots += 1
        if self._pending_slots >= self.chunk_slots:
            self.flush()

    def flush(self) -> None:
        """Append everything buffered to the CSV files (through the background writer if any)."""
        blocks: list[tuple[str, dict[str, np.ndarray]]] = []
        for table, buffer in self._buffers.items():
            first = next(iter(buffer.values()))
            if first:
                columns = {c: np.concatenate(parts) for c, parts in buffer.items()}
                rows = len(next(iter(columns.values())))
                if rows:
                    blocks.append((str(self.path(table)), columns))
                    self.rows_written[table] += rows
            for parts in buffer.values():
                parts.clear()
        self._pending_slots = 0
        if not blocks:
            return
        if self._background is not None:
            self._background.submit(blocks)
        else:
            _append_blocks(blocks)

    def close(self) -> None:
        """Wait until the background writer has written everything; raise its error if any.

        Without a background writer this does nothing. Call :meth:`flush` first.
        """
        if self._background is not None:
            background, self._background = self._background, None
            background.close()


def _append_blocks(blocks: list[tuple[str, dict[str, np.ndarray]]]) -> None:
    for path, columns in blocks:
        write_table(Path(path), pd.DataFrame(columns), append=True)


def _writer_loop(tasks: Any, errors: Any) -> None:
    """Body of the background writer process: append blocks in the order they come."""
    while True:
        blocks = tasks.get()
        if blocks is None:
            return
        try:
            _append_blocks(blocks)
        except Exception as exc:  # reported to the simulation at close()
            errors.put(f"{type(exc).__name__}: {exc}")
            return


class _BackgroundWriter:
    """One process that formats and appends CSV blocks while the simulation goes on.

    CSV formatting at full precision costs about half of a fast simulated year; on a machine
    with a second core this process takes it off the simulation's core. It runs the same
    :func:`write_table` code, so the files are byte-identical to synchronous writing. The queue
    holds at most two chunks, so memory stays bounded when writing is the slower side.
    """

    def __init__(self) -> None:
        # the platform's default start method: fork on Linux, so nothing of the user's main
        # module is imported again; with spawn (macOS, Windows) a script calling cosim must
        # guard its entry point with ``if __name__ == "__main__":`` or set
        # ``output.background_writes: false``
        ctx = multiprocessing.get_context()
        self._tasks = ctx.Queue(maxsize=2)
        self._errors = ctx.Queue()
        self._process = ctx.Process(
            target=_writer_loop, args=(self._tasks, self._errors), daemon=True
        )
        self._process.start()

    def submit(self, blocks: list[tuple[str, dict[str, np.ndarray]]]) -> None:
        if not self._process.is_alive():
            self._raise_error("the background CSV writer stopped")
        self._tasks.put(blocks)

    def close(self) -> None:
        if self._process.is_alive():
            self._tasks.put(None)
        self._process.join()
        self._raise_error(None)

    def _raise_error(self, default: str | None) -> None:
        try:
            message = self._errors.get_nowait()
        except queue.Empty:
            message = default
        if message is not None:
            raise OSError(f"writing results failed: {message}")


def background_writes_possible() -> bool:
    """Whether this process may start a writer process (daemonic workers, e.g. Dask's, may not)."""
    return not multiprocessing.current_process().daemon
