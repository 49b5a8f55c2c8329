"""Named implementations of one extension axis (power flow, mechanism, battery strategy ...).

A scenario names an implementation; the axis's :class:`Registry` validates the name and
returns the implementation, so the engine never asks which one it holds. An entry is the
object itself or a lazy ``"module:attribute"`` path, imported on first use, so a registry can
list heavy backends (pandapower, lightsim2grid) without importing them.

>>> r = Registry("market.mechanism", {"double": "math:fsum"})
>>> r.names
('double',)
>>> r.load("double")([0.1, 0.2, 0.3])
0.6
>>> r.load("triple")
Traceback (most recent call last):
...
ValueError: market.mechanism: expected one of 'double' (got 'triple')
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """The implementations of one axis, by name.

    Parameters
    ----------
    key : str
        The scenario key that names an implementation (used in error messages).
    entries : mapping, optional
        Name -> implementation or ``"module:attribute"`` path.
    """

    def __init__(self, key: str, entries: Mapping[str, T | str] | None = None) -> None:
        self.key = key
        self._entries: dict[str, T | str] = dict(entries or {})

    def register(self, name: str, implementation: T | str) -> None:
        """Add (or replace) the implementation called ``name``."""
        self._entries[name] = implementation

    @property
    def names(self) -> tuple[str, ...]:
        """Registered names, in registration order."""
        return tuple(self._entries)

    def check(self, name: str) -> str:
        """Return ``name`` if registered, else raise ``ValueError`` naming the choices (the
        scenario's validation prefixes the key)."""
        if name not in self._entries:
            choices = ", ".join(repr(n) for n in self._entries)
            raise ValueError(f"one of {choices} (got {name!r})")
        return name

    def load(self, name: str) -> T:
        """The implementation called ``name`` (importing a lazy entry).

        Raises ``ValueError`` naming the key and the choices for an unknown name.
        """
        try:
            entry = self._entries[self.check(name)]
        except ValueError as exc:
            raise ValueError(f"{self.key}: expected {exc}") from None
        if isinstance(entry, str):
            module, _, attribute = entry.partition(":")
            loaded: T = getattr(importlib.import_module(module), attribute)
            self._entries[name] = loaded
            return loaded
        return entry
