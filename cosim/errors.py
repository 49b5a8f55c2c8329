"""Errors that carry enough context for a one-line user message.

The CLI turns :class:`InputError` into ``cosim: <file>: <key>: <message>`` and exit code 2.
Library code raises it for anything a user can fix (bad scenario values, unreadable or
malformed data files, unknown network names); it never prints.

An :class:`InputError` keeps its three parts in ``args``, so code that rebuilds an exception
as ``type(exc)(*exc.args)`` (SimPy does, when a process fails) or pickles it (worker
processes) gets the same error back:

>>> err = InputError("a.yaml", "time.slots", "expected >= 1")
>>> type(err)(*err.args).one_line()
'a.yaml: time.slots: expected >= 1'
"""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Invalid user input.

    Parameters
    ----------
    file : str or Path or None
        The file the bad value came from (scenario, profile CSV, network JSON).
    key : str
        Dotted key path in the scenario (``time.slots``) or the column/field in a data file.
    expected : str
        What was expected, and ideally what was found, in one short sentence.
    """

    def __init__(self, file: str | Path | None, key: str, expected: str) -> None:
        self.file = str(file) if file is not None else None
        self.key = key
        self.expected = expected
        # args are exactly the constructor's arguments: rebuilding and pickling keep them
        super().__init__(self.file, key, expected)

    def __str__(self) -> str:
        return self.one_line()

    def one_line(self) -> str:
        """Return the message as one line: ``<file>: <key>: <expected>``."""
        parts = [p for p in (self.file, self.key) if p]
        text = ": ".join([*parts, self.expected])
        return " ".join(text.split())
