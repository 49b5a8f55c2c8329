"""The DES's local solves of an ADMM iteration, in the main process or on worker processes.

In the privacy model every distributed energy system (DES) is its own party and solves its own
subproblem on its own computer; the iterations of consensus ADMM wait for the slowest DES, not
for the sum of them. A simulation on one machine plays the DES with ``workers`` processes:
:class:`LocalSolves` assigns the DES of a solve to the processes once (largest first, each to
the process with the fewest variables so far), and in every iteration sends each process its
DES's Hessian diagonals and linear terms and collects the minimisers. The local solver is
deterministic (:mod:`cosim.dispatch.qp`), so the iterates do not depend on ``workers`` (tested:
bit for bit).

A worker receives the DES's local problem (what that DES holds anyway) and nothing of any other
party; like the settlement's workers it is started with :func:`cosim.subprocesses.init_child`,
so it never outlives the run and leaves Ctrl-C to it. With ``workers=1`` nothing is started.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any, Protocol

import numpy as np

from cosim.subprocesses import init_child

__all__ = ["LocalSolver", "LocalSolves"]


class LocalSolver(Protocol):
    """A DES's local problem (a :class:`~cosim.dispatch.qp.LocalQP`): minimiser and LP cost."""

    def solve(self, hess: np.ndarray, lin: np.ndarray) -> tuple[np.ndarray, float]: ...


def _serve(conn: Connection, parent_pid: int) -> None:
    """A worker: holds the local problems it was given and solves them on request."""
    init_child(parent_pid)
    solvers: dict[int, LocalSolver] = {}
    while True:
        try:
            kind, payload = conn.recv()
        except EOFError:
            return
        if kind == "stop":
            return
        try:
            if kind == "load":
                solvers = dict(payload)
                conn.send(("ok", None))
            else:  # "solve"
                conn.send(("ok", [(k, solvers[k].solve(h, lin)[0]) for k, h, lin in payload]))
        except Exception as exc:  # sent back and raised in the main process
            conn.send(("error", exc))


def assign(sizes: Sequence[int], workers: int) -> list[list[int]]:
    """DES per worker: largest first, each to the worker with the fewest variables so far.

    Examples
    --------
    >>> assign([10, 40, 30, 20], 2)
    [[1, 0], [2, 3]]
    """
    groups: list[list[int]] = [[] for _ in range(max(1, min(workers, len(sizes))))]
    load = [0] * len(groups)
    for k in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        w = load.index(min(load))
        groups[w].append(k)
        load[w] += sizes[k]
    return groups


class LocalSolves:
    """The local solves of the DES, serially or on ``workers`` processes kept across solves.

    Parameters
    ----------
    workers : int, default 1
        Processes playing the DES (1: the main process solves them one after the other).
        The processes start at the first :meth:`load` and are reused by later solves of the
        same run.

    Examples
    --------
    >>> import numpy as np
    >>> class Scale:
    ...     def solve(self, hess, lin):
    ...         return -lin / hess, 0.0
    >>> local = LocalSolves()
    >>> local.load([Scale(), Scale()])
    >>> [x.tolist() for x in local.solve([np.ones(1), 2 * np.ones(1)], [np.ones(1)] * 2)]
    [[-1.0], [-0.5]]
    """

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1 (got {workers})")
        self.workers = workers
        self._solvers: list[LocalSolver] = []
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        self._groups: list[list[int]] = []

    def __getstate__(self) -> dict[str, Any]:
        """Pickle (checkpoints) without processes or problems: restarted on the next load."""
        return {"workers": self.workers}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.workers = int(state["workers"])
        self._solvers, self._conns, self._procs, self._groups = [], [], [], []

    def _start(self) -> None:
        ctx = mp.get_context("spawn")
        for _ in range(self.workers):
            here, there = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(there, os.getpid()), daemon=True)
            proc.start()
            there.close()
            self._conns.append(here)
            self._procs.append(proc)

    def load(self, solvers: Sequence[LocalSolver], sizes: Sequence[int] | None = None) -> None:
        """The local problems of a new solve (``sizes``: their variables, for the split)."""
        self._solvers = list(solvers)
        if self.workers == 1 or len(self._solvers) < 2:
            self._groups = []
            return
        if not self._procs:
            self._start()
        self._groups = assign(list(sizes) if sizes else [1] * len(self._solvers), self.workers)
        for conn, group in zip(self._conns, self._groups, strict=False):
            conn.send(("load", [(k, self._solvers[k]) for k in group]))
        self._answers()

    def _answers(self) -> list[Any]:
        """Every busy worker's answer, in worker order; a worker's error is raised after all
        answers are in (so no answer is left in a pipe)."""
        got = [conn.recv() for conn, _ in zip(self._conns, self._groups, strict=False)]
        for status, payload in got:
            if status == "error":
                raise payload
        return [payload for _, payload in got]

    def solve(self, hess: Sequence[np.ndarray], lin: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Minimiser of every DES's local problem, in DES order."""
        if not self._groups:
            return [s.solve(h, q)[0] for s, h, q in zip(self._solvers, hess, lin, strict=True)]
        for conn, group in zip(self._conns, self._groups, strict=False):
            conn.send(("solve", [(k, hess[k], lin[k]) for k in group]))
        out: list[np.ndarray] = [np.zeros(0)] * len(self._solvers)
        for answer in self._answers():
            for k, x in answer:
                out[k] = x
        return out

    def close(self) -> None:
        """Stop the worker processes (idempotent)."""
        for conn in self._conns:
            try:
                conn.send(("stop", None))
                conn.close()
            except OSError:
                pass
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
        self._conns, self._procs, self._groups = [], [], []
