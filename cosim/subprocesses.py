"""Child processes of a run: they never outlive it and leave Ctrl-C to it.

Every process cosim starts (the background CSV writer, the settlement's encryption workers,
sweep workers) calls :func:`init_child` first:

* On Linux the kernel kills the child when its parent dies, whatever killed the parent
  (``PR_SET_PDEATHSIG``; SIGKILL of the parent included). Elsewhere the child is a daemon
  process of :mod:`multiprocessing`, which its parent ends on a normal exit.
* The child ignores SIGINT: a Ctrl-C in a terminal reaches the whole process group, and the
  parent, not each child, decides how the run stops (children print no traceback). Sweep
  workers are the exception (see :func:`init_child`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

__all__ = ["init_child", "parent_death_signal_supported"]

_PR_SET_PDEATHSIG = 1


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def parent_death_signal_supported() -> bool:
    """Whether this platform kills children when their parent dies (Linux)."""
    return _libc() is not None


def init_child(parent_pid: int | None = None, ignore_sigint: bool = True) -> None:
    """Make the calling process a well-behaved child of the run.

    Parameters
    ----------
    parent_pid : int, optional
        The parent's process id as the parent saw it. If the parent already died before the
        death signal was armed (a race at start-up), the child exits at once.
    ignore_sigint : bool, default True
        Leave Ctrl-C to the parent. Sweep workers keep it (False): each runs a whole
        simulation, and an interrupted sweep stops its runs at once (they are re-run on the
        sweep's next start).
    """
    if ignore_sigint:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    libc = _libc()
    if libc is not None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)
