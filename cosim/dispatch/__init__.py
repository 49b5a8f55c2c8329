"""Decentralized privacy-preserving economic dispatch of distributed energy systems (DES).

Modules: :mod:`~cosim.dispatch.devices` (the dispatch blocks' interface; the kinds of the one
device registry, :data:`cosim.participants.devices.DEVICE_TYPES`),
:mod:`~cosim.dispatch.case` (cases and partitions), :mod:`~cosim.dispatch.model` (local DES
blocks and the central reference), :mod:`~cosim.dispatch.admm` (consensus ADMM),
:mod:`~cosim.dispatch.privacy` (encrypted DSO exchange, signed keys),
:mod:`~cosim.dispatch.rmme` (masked cloud solves). docs/dispatch.md has the design.
"""
