"""The dispatch's LP blocks are :class:`cosim.lp.LinearProgram` programs.

Every distributed-energy-system (DES) subproblem of :mod:`cosim.dispatch` is one program built
with :meth:`~cosim.lp.LinearProgram.add_var`, :meth:`~cosim.lp.LinearProgram.add_eq` and
:meth:`~cosim.lp.LinearProgram.add_ub` (row groups of ``(columns, coefficients)`` terms, each
measured in ``kw`` or ``pu``) and exported with :meth:`~cosim.lp.LinearProgram.finish` as
:class:`~cosim.lp.LpMatrices`; the central reference stacks the blocks. This module only keeps
the names the dispatch modules import.
"""

from __future__ import annotations

from cosim.lp import LinearProgram, LpMatrices, Term

__all__ = ["LpBlock", "LpMatrices", "Term"]

LpBlock = LinearProgram
"""A DES block under construction (the project's :class:`~cosim.lp.LinearProgram`)."""
