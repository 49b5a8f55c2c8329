"""Object-graph walk shared by the privacy tests (what an actor can reach)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def walk(obj: object, seen: set[int] | None = None) -> Iterator[object]:
    """Every object reachable from ``obj`` through attributes, containers and bound methods."""
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, (str, bytes, float, bool, type(None), type)):
        return
    seen.add(id(obj))
    yield obj
    if isinstance(obj, int):
        return
    children: list[object] = []
    if isinstance(obj, dict):
        children = [*obj.keys(), *obj.values()]
    elif isinstance(obj, (list, tuple, set, frozenset)):
        children = list(obj)
    elif isinstance(obj, np.ndarray):
        children = list(obj.ravel()) if obj.dtype == object else []
    else:
        children = list(getattr(obj, "__dict__", {}).values())
        children += [
            getattr(obj, s) for s in getattr(type(obj), "__slots__", ()) if hasattr(obj, s)
        ]
        bound = getattr(obj, "__self__", None)
        if bound is not None:
            children.append(bound)
        closure = getattr(obj, "__closure__", None) or ()
        children += [c.cell_contents for c in closure]
    for child in children:
        yield from walk(child, seen)
