"""Result files and the run directory: columnar buffers appended to CSV in chunks.

Rows are collected as numpy column blocks (one block per slot and table) and appended to
the CSV files every ``output.chunk_slots`` slots, so memory stays bounded over a year and a
run that fails halfway keeps every chunk already written. Floats are written with Python's
shortest round-trip representation (full precision); NaN is written as an empty field.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cosim.errors import InputError
from cosim.jsonio import write_json
from cosim.results.checkpoint import CHECKPOINT_FILE, Checkpoint, write_checkpoint
from cosim.results.formats import FORMATS
from cosim.results.periods import BUS_COLUMNS, PARTICIPANT_COLUMNS, PERIODS
from cosim.subprocesses import init_child

__all__ = [
    "TABLE_COLUMNS",
    "OutputError",
    "ResultWriter",
    "background_writes_possible",
    "output_errors",
    "prepare_run_dir",
    "resumable_run",
    "run_status",
    "write_table",
]

#: Required columns of each per-slot table, in order (the result-file contract), plus our additions.
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
    # per period with output.aggregate (cosim.results.periods)
    **{f"participants_{p}": PARTICIPANT_COLUMNS for p in PERIODS},
    **{f"buses_{p}": BUS_COLUMNS for p in PERIODS},
    # only with faults configured (cosim.faults.FAULTS_COLUMNS, docs/faults.md)
    "faults": tuple(
        "slot time time_minutes kind participant element delay_minutes energy_kwh handling".split()
    ),
}


#: Files and folders cosim writes into a run directory (``--force`` removes only these).
#: Tables of a run besides the per-slot ones (written once, at the end).
FINAL_TABLES: tuple[str, ...] = (
    "bills",
    "suppliers",
    "participants_info",
    "settlement_slots",
    "rejected_payloads",
)
RUN_FILES: tuple[str, ...] = (
    *(f"{t}.csv" for t in (*TABLE_COLUMNS, *FINAL_TABLES, "faults", "dispatch")),
    *(f"{t}.parquet" for t in (*TABLE_COLUMNS, *FINAL_TABLES, "faults", "dispatch")),
    "dispatch_iterations.csv",
    "privacy.json",
    "summary.json",
    "summary.json.tmp",
    "scenario.yaml",
    CHECKPOINT_FILE,
    CHECKPOINT_FILE + ".tmp",
)
RUN_FOLDERS: tuple[str, ...] = (
    "plots",
    "views",
    *(f"{t}.parquet" for t in TABLE_COLUMNS),  # Parquet tables written in chunks
)


def prepare_run_dir(out_dir: Path, force: bool) -> None:
    """Make ``out_dir`` ready for a new run, or refuse.

    An empty or missing folder is used as it is (missing parents are created). A non-empty
    one is refused unless ``force``, which removes cosim's own files and folders
    (:data:`RUN_FILES`, :data:`RUN_FOLDERS`) and keeps anything else.

    Raises
    ------
    OutputError
        The folder is a file, not empty (without ``force``), or cannot be created or written.
    """
    out = Path(out_dir)
    with output_errors(out):
        if out.exists() and not out.is_dir():
            raise OutputError(out, "--out", "is a file; expected a directory")
        if out.is_dir() and any(out.iterdir()):
            if not force:
                raise OutputError(
                    out,
                    "--out",
                    "is not empty; add --force to replace cosim's files in it, or continue an "
                    "interrupted run with: cosim run --resume DIR",
                )
            for name in RUN_FOLDERS:
                if (out / name).is_dir():
                    shutil.rmtree(out / name)
            for name in RUN_FILES:
                (out / name).unlink(missing_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".cosim-write-test"
        probe.write_bytes(b"")
        probe.unlink()


def run_status(run_dir: Path) -> dict[str, Any]:
    """``summary.json`` of a run directory.

    Raises
    ------
    InputError
        No such folder, no summary, or a summary that is not a cosim run's.
    """
    d = Path(run_dir)
    if not d.is_dir():
        raise InputError(d, "(folder)", "no such run directory")
    path = d / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "(file)", "missing: not a cosim run directory") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, "(file)", f"unreadable ({type(exc).__name__})") from None
    if not isinstance(summary, dict) or "status" not in summary:
        raise InputError(path, "status", "missing: not a cosim run summary")
    return summary


def resumable_run(run_dir: Path) -> Path:
    """Check that ``run_dir`` holds a run that ``--resume`` can continue; its scenario file.

    Raises
    ------
    InputError
        Not a run directory, a completed run, a run still going, or no checkpoint.
    """
    d = Path(run_dir)
    summary = run_status(d)
    status = summary["status"]
    if status == "completed":
        raise InputError(d / "summary.json", "status", "the run is already completed")
    pid = summary.get("pid")
    if status == "running" and isinstance(pid, int) and pid != os.getpid() and _alive(pid):
        raise InputError(
            d / "summary.json", "status", f"the run is still going (process {pid}); stop it first"
        )
    for name in ("scenario.yaml", CHECKPOINT_FILE):
        if not (d / name).is_file():
            raise InputError(d / name, "(file)", "missing: this run cannot be resumed")
    return d / "scenario.yaml"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_table(path: Path, frame: pd.DataFrame) -> None:
    """Write a table as CSV (:class:`cosim.results.formats.CsvFormat`: exact floats, true/false)."""
    FORMATS["csv"].write(Path(path), frame)


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
    resume_marks : mapping of str to int, optional
        A checkpoint's :attr:`~cosim.results.checkpoint.Checkpoint.table_bytes`: reopen the
        tables of an interrupted run cut back to it, instead of starting them afresh.
    table_format : str, default "csv"
        A key of :data:`cosim.results.formats.FORMATS` (``output.format``).
    """

    def __init__(
        self,
        out_dir: Path,
        tables: Sequence[str],
        chunk_slots: int,
        extra_columns: Mapping[str, Sequence[str]] | None = None,
        background: bool = False,
        resume_marks: Mapping[str, int] | None = None,
        table_format: str = "csv",
    ) -> None:
        self.out_dir = Path(out_dir)
        self.table_format = table_format
        self._format = FORMATS[table_format]
        self.columns = {
            t: TABLE_COLUMNS[t] + tuple((extra_columns or {}).get(t, ())) for t in tables
        }
        self.chunk_slots = chunk_slots
        self._buffers: dict[str, dict[str, list[np.ndarray]]] = {
            t: {c: [] for c in self.columns[t]} for t in tables
        }
        self._pending_slots = 0
        self.rows_written: dict[str, int] = {t: 0 for t in tables}
        with output_errors(self.out_dir):
            self.out_dir.mkdir(parents=True, exist_ok=True)
            if resume_marks is None:  # every table fresh, with a header even if it stays empty
                for t in tables:
                    self._format.start(self.path(t), list(self.columns[t]))
            else:  # drop whatever was written after the checkpoint
                for t in tables:
                    self._format.cut(self.path(t), resume_marks[t])
        self._background = (
            _BackgroundWriter() if background and background_writes_possible() else None
        )

    def path(self, table: str) -> Path:
        """File of a table."""
        return self._format.path(self.out_dir, table)

    def write_frame(self, table: str, frame: pd.DataFrame) -> None:
        """Write a table that is complete at once (bills, suppliers ...) in the run's format."""
        with output_errors(self.out_dir):
            self._format.write(self.path(table), frame)

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
        blocks: list[Block] = []
        for table, buffer in self._buffers.items():
            first = next(iter(buffer.values()))
            if first:
                columns = {c: np.concatenate(parts) for c, parts in buffer.items()}
                rows = len(next(iter(columns.values())))
                if rows:
                    blocks.append((self.table_format, str(self.path(table)), columns))
                    self.rows_written[table] += rows
            for parts in buffer.values():
                parts.clear()
        self._pending_slots = 0
        if not blocks:
            return
        if self._background is not None:
            self._background.submit(("blocks", blocks))
        else:
            with output_errors(self.out_dir):
                _append_blocks(blocks)

    def checkpoint(self, checkpoint: Checkpoint) -> None:
        """Write ``checkpoint`` once everything flushed so far is on disk.

        Its ``table_bytes`` are measured at that moment, so they mark the end of the slots
        before ``checkpoint.slot`` (rows buffered but not flushed belong to later slots).
        """
        paths = {t: (self.table_format, str(self.path(t))) for t in self._buffers}
        task = ("checkpoint", str(self.out_dir), paths, checkpoint)
        if self._background is not None:
            self._background.submit(task)
        else:
            with output_errors(self.out_dir):
                _run_task(task)

    def close(self) -> None:
        """Wait until the background writer has written everything; raise its error if any.

        Without a background writer this does nothing. Call :meth:`flush` first.
        """
        if self._background is not None:
            background, self._background = self._background, None
            background.close()

    def cut_back(self, marks: Mapping[str, int]) -> None:
        """Cut each table back to where a checkpoint says it ended (after :meth:`abort`)."""
        with output_errors(self.out_dir):
            for table in self._buffers:
                self._format.cut(self.path(table), marks[table])

    def abort(self, timeout_s: float = 30.0) -> None:
        """Stop after a failure: let the background writer finish what it was given (the
        last checkpoint among it) for up to ``timeout_s`` seconds, then stop it; drop the
        buffers. Errors are not raised (the failure that led here is the one to report)."""
        for buffer in self._buffers.values():
            for parts in buffer.values():
                parts.clear()
        if self._background is not None:
            background, self._background = self._background, None
            background.finish_or_kill(timeout_s)


Block = tuple[str, str, dict[str, np.ndarray]]  # format, path, columns


def _append_blocks(blocks: list[Block]) -> None:
    for table_format, path, columns in blocks:
        FORMATS[table_format].append(Path(path), columns)


def _run_task(task: tuple[Any, ...]) -> None:
    """One task of the writer: append blocks, or write a checkpoint with the tables' ends."""
    if task[0] == "blocks":
        _append_blocks(task[1])
        return
    _, out_dir, paths, checkpoint = task
    checkpoint.table_bytes = {
        t: FORMATS[table_format].mark(Path(path)) for t, (table_format, path) in paths.items()
    }
    write_checkpoint(Path(out_dir) / CHECKPOINT_FILE, checkpoint)
    _note_progress(Path(out_dir) / "summary.json", checkpoint.slot)


def _note_progress(path: Path, slots_done: int) -> None:
    """Keep the ``running`` summary's ``slots_completed`` at the last checkpoint."""
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if summary.get("status") != "running":
        return
    summary["slots_completed"] = slots_done
    tmp = path.with_name(path.name + ".tmp")
    write_json(tmp, summary)
    os.replace(tmp, path)


def _writer_loop(tasks: Any, errors: Any, parent_pid: int) -> None:
    """Body of the background writer process: run the tasks in the order they come."""
    init_child(parent_pid)
    while True:
        task = tasks.get()
        if task is None:
            return
        try:
            _run_task(task)
        except Exception as exc:  # reported to the simulation at close()
            reason = getattr(exc, "strerror", None) or str(exc)
            errors.put((type(exc).__name__, reason, getattr(exc, "filename", None)))
            return


class OutputError(InputError):
    """The run directory cannot be written (permissions, disk full, a file in the way).

    A problem the user can fix: the CLI reports it in one line with exit code 2.
    """


@contextmanager
def output_errors(out_dir: Path) -> Iterator[None]:
    """Turn an operating-system error while writing results into an :class:`OutputError`."""
    try:
        yield
    except OSError as exc:
        raise _output_error(out_dir, exc.filename, exc.strerror or str(exc)) from None


def _output_error(out_dir: Path, filename: Any, reason: str) -> OutputError:
    where = str(filename) if filename else str(out_dir)
    return OutputError(where, "", f"cannot write the results: {reason}")


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
        self._tasks = ctx.Queue(maxsize=3)
        self._errors = ctx.Queue()
        self._process = ctx.Process(
            target=_writer_loop, args=(self._tasks, self._errors, os.getpid()), daemon=True
        )
        self._process.start()

    def submit(self, task: tuple[Any, ...]) -> None:  # ("blocks", [Block]) or a checkpoint
        while True:
            if not self._process.is_alive():
                self._raise_error("the background CSV writer stopped")
            try:
                self._tasks.put(task, timeout=1.0)
                return
            except queue.Full:  # the writer is busy, or died with an error
                continue

    def close(self) -> None:
        if self._process.is_alive():
            self._tasks.put(None)
        self._process.join()
        self._raise_error(None)

    def finish_or_kill(self, timeout_s: float) -> None:
        if self._process.is_alive():
            try:
                self._tasks.put(None, timeout=timeout_s)
            except queue.Full:
                pass
            self._process.join(timeout_s)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._tasks.cancel_join_thread()

    def _raise_error(self, default: str | None) -> None:
        self._process.join()  # its queue is flushed once it has exited
        try:
            name, message, filename = self._errors.get_nowait()
        except queue.Empty:
            if default is None:
                return
            raise RuntimeError(default) from None
        if name in _OS_ERRORS:
            raise _output_error(Path("."), filename, message)
        raise RuntimeError(f"the background CSV writer failed: {name}: {message}")


_OS_ERRORS: set[str] = {"OSError", *(c.__name__ for c in OSError.__subclasses__())}


def background_writes_possible() -> bool:
    """Whether this process may start a writer process (daemonic workers, e.g. Dask's, may not)."""
    return not multiprocessing.current_process().daemon
