"""Checkpoints of a running simulation, so an interrupted run can be resumed exactly.

A checkpoint holds the state of every stateful part of a run at a slot boundary ``K``
(all slots ``< K`` done, none ``>= K`` started): the participants' state of charge and every
seeded random stream, the battery planner's counters, the settlement backend (plain totals or,
for encrypted runs, every actor with its keys and its open accumulators), the run totals and
the byte length of every result table at that point. The engine's processes run ahead of one
another, so each contributes its own part when it crosses ``K`` (:class:`CheckpointAssembler`);
the checkpoint is written once all parts are in and the tables are flushed to ``K``.

A resumed run truncates each table to the recorded length, restores the state and goes on
from slot ``K``. Because both flow backends are history-free and every random draw comes from
the restored streams, the resumed files are byte-identical to those of an uninterrupted run
(tested).

The file is a pickle (``checkpoint.pkl`` in the run directory, replaced atomically): resume
only run directories you wrote yourself, as with any pickle. Encrypted runs store the actors'
private keys in it, like the memory of the simulation process does (docs/privacy.md).
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cosim import __version__

__all__ = [
    "CHECKPOINT_FILE",
    "Checkpoint",
    "CheckpointAssembler",
    "dumps",
    "loads",
    "read_checkpoint",
    "scenario_digest",
    "write_checkpoint",
]

CHECKPOINT_FILE = "checkpoint.pkl"

#: Parts every checkpoint needs, one per engine process that holds state.
PARTS = ("participants", "settlement", "recorder")


@dataclass
class Checkpoint:
    """The state of a run at the start of slot ``slot``.

    Attributes
    ----------
    slot : int
        Slots done (the next slot to run).
    scenario_digest : str
        :func:`scenario_digest` of the run's resolved scenario.
    parts : dict
        State per engine process (:data:`PARTS`).
    table_bytes : dict of str to int
        Where each result table ends once the slots ``< slot`` were written: its length [byte]
        for CSV, its number of part files for Parquet (:meth:`TableFormat.mark
        <cosim.results.formats.TableFormat.mark>`).
    source_file : str or None
        The scenario file the run was started from (relative data paths resolve against it).
    version : str
        cosim version that wrote it.
    """

    slot: int
    scenario_digest: str
    parts: dict[str, Any]
    table_bytes: dict[str, int] = field(default_factory=dict)
    source_file: str | None = None
    version: str = __version__


def scenario_digest(resolved_yaml: str) -> str:
    """SHA-256 of a resolved scenario's YAML text (a resumed run must use the same scenario)."""
    return hashlib.sha256(resolved_yaml.encode("utf-8")).hexdigest()


class _StatePickler(pickle.Pickler):
    """Pickles state that holds objects the standard pickler cannot take.

    * Ed25519 keys (``cryptography``) travel as their raw bytes.
    * Process pools, their pending futures and the DJN randomizer pools fed by them are
      dropped (stored as None); their owners start them again when needed. Unused
      randomizers are discarded with their pool, never stored, so none is ever used twice.
    """

    def reducer_override(self, obj: Any) -> Any:
        from concurrent.futures import Executor, Future

        from cryptography.hazmat.primitives.asymmetric import ed25519
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            NoEncryption,
            PrivateFormat,
            PublicFormat,
        )

        from cosim.settlement.paillier import RandomizerPool

        if isinstance(obj, ed25519.Ed25519PrivateKey):
            raw = obj.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
            return ed25519.Ed25519PrivateKey.from_private_bytes, (raw,)
        if isinstance(obj, ed25519.Ed25519PublicKey):
            raw = obj.public_bytes(Encoding.Raw, PublicFormat.Raw)
            return ed25519.Ed25519PublicKey.from_public_bytes, (raw,)
        if isinstance(obj, (Executor, Future, RandomizerPool)):
            return _none, ()
        return NotImplemented


def _none() -> None:
    return None


def dumps(state: Any) -> bytes:
    """Serialise checkpoint state (a snapshot: later changes of ``state`` do not affect it)."""
    buffer = io.BytesIO()
    _StatePickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(state)
    return buffer.getvalue()


def loads(data: bytes) -> Any:
    """Inverse of :func:`dumps`."""
    return pickle.loads(data)  # our own checkpoint (see the module docstring)


def write_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Write ``checkpoint`` to ``path`` atomically (a reader sees the old or the new one)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(checkpoint, f, protocol=pickle.HIGHEST_PROTOCOL)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_checkpoint(path: Path) -> Checkpoint:
    """Read a checkpoint written by :func:`write_checkpoint`.

    Raises
    ------
    ValueError
        If the file is not a cosim checkpoint.
    """
    try:
        with open(path, "rb") as f:
            checkpoint = pickle.load(f)  # our own checkpoint
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError) as exc:
        raise ValueError(f"not a readable cosim checkpoint ({type(exc).__name__})") from None
    if not isinstance(checkpoint, Checkpoint):
        raise ValueError("not a cosim checkpoint")
    return checkpoint


class CheckpointAssembler:
    """Collects the parts of the checkpoints at slot ``K`` from the engine's processes.

    Parameters
    ----------
    digest : str
        :func:`scenario_digest` of the run.
    sink : callable
        Called with each complete :class:`Checkpoint` (without ``table_bytes``; the writer adds
        them when it has written the tables up to the checkpoint's slot).
    source_file : str, optional
        The run's scenario file.
    """

    def __init__(
        self, digest: str, sink: Callable[[Checkpoint], None], source_file: str | None = None
    ) -> None:
        self._digest = digest
        self._sink = sink
        self._source_file = source_file
        self._pending: dict[int, dict[str, Any]] = {}
        self._emitted: set[int] = set()

    def contribute(self, slot: int, part: str, state: Any) -> None:
        """Add one process's state at the start of ``slot``; emits the checkpoint when complete.

        ``state`` is serialised here (:func:`dumps`), so the process may go on changing it.
        """
        if slot in self._emitted:  # e.g. a stop exactly at a chunk's end
            return
        parts = self._pending.setdefault(slot, {})
        parts[part] = dumps(state)
        if set(parts) == set(PARTS):
            del self._pending[slot]
            self._emitted.add(slot)
            self._sink(Checkpoint(slot, self._digest, parts, source_file=self._source_file))


def restore_parts(checkpoint: Checkpoint) -> Mapping[str, Any]:
    """The deserialised state of each part of ``checkpoint``."""
    return {name: loads(data) for name, data in checkpoint.parts.items()}
