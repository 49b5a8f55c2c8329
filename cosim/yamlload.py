"""Strict YAML reading for scenario files and ``--set`` values.

PyYAML's ``safe_load`` with three changes that make user mistakes visible:

* a mapping with the same key twice is refused, naming both lines (PyYAML keeps the last
  value silently);
* an impossible date such as ``2017-02-30`` is a YAML error with its line (PyYAML raises a bare
  ``ValueError`` from inside its constructor);
* numbers in exponent notation without a dot (``1e6``, ``2E-3``) are floats, as in YAML 1.2
  and JSON (YAML 1.1 reads them as strings, so ``pv_kwp: 1e6`` would be refused as "not a
  number").

>>> read_yaml("a: 1e3\\nb: [1, 2]", "x.yaml")
{'a': 1000.0, 'b': [1, 2]}
>>> read_yaml("a: 1\\na: 2", "x.yaml")
Traceback (most recent call last):
...
cosim.errors.InputError: x.yaml: line 2: invalid YAML: duplicate key 'a' (first at line 1)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from cosim.errors import InputError

__all__ = ["StrictLoader", "read_yaml"]

_MERGE_TAG = "tag:yaml.org,2002:merge"
_FLOAT_TAG = "tag:yaml.org,2002:float"
#: Exponent floats without a dot: YAML 1.2 floats that YAML 1.1 leaves as strings.
_EXP_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` refusing duplicate keys and impossible dates; YAML 1.2 exponents."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            first_line: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    continue  # PyYAML reports unhashable keys itself
                line = key_node.start_mark.line + 1
                if key in first_line:
                    raise ConstructorError(
                        None,
                        None,
                        f"duplicate key {key!r} (first at line {first_line[key]})",
                        key_node.start_mark,
                    )
                first_line[key] = line
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]

    def construct_yaml_timestamp(self, node: yaml.Node) -> Any:
        try:
            return super().construct_yaml_timestamp(node)  # type: ignore[arg-type]
        except (ValueError, OverflowError) as exc:
            raise ConstructorError(
                None, None, f"invalid date {node.value!r} ({exc})", node.start_mark
            ) from None


StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", StrictLoader.construct_yaml_timestamp)
StrictLoader.add_implicit_resolver(_FLOAT_TAG, _EXP_FLOAT, list("-+0123456789"))


def read_yaml(text: str, file: str | Path | None, what: str = "invalid YAML") -> Any:
    """Parse YAML text strictly; any problem is an :class:`InputError` naming the line.

    Parameters
    ----------
    text : str
        The YAML document.
    file : str or Path or None
        Where the text came from (for the message).
    what : str
        Start of the message, e.g. ``"invalid YAML"``.

    Raises
    ------
    InputError
        Key ``line N`` (or ``(yaml)`` without a position) and the parser's problem.
    """
    try:
        return yaml.load(text, Loader=StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(yaml)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(file, where, f"{what}: {problem}") from None
    except RecursionError:
        raise InputError(file, "(yaml)", f"{what}: nested too deeply") from None
    except (ValueError, OverflowError, TypeError) as exc:  # PyYAML constructors, last resort
        raise InputError(file, "(yaml)", f"{what}: {exc}") from None
