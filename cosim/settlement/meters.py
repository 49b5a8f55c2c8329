"""The users' smart meters of the PPBSP protocol: readings, signing keys, user-side encryption.

:class:`Meters` holds every meter as arrays over the users (struct of arrays): the plaintext
readings of the open batch, one Ed25519 signing key per meter, and the public keys of the
suppliers and of the grid operator (never a decryption key). :meth:`Meters.payloads` encrypts and
signs one payload per user, optionally on worker processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cosim.conventions import FloatArray, IntArray
from cosim.settlement.crypto import OpCounts, PublicKey
from cosim.settlement.messages import MeterPayload, SignedPayload
from cosim.settlement.signatures import MeterSigner
from cosim.settlement.terms import sign_with_tolerance

__all__ = ["GO_KEY_ID", "Meters"]

GO_KEY_ID = "grid-operator"
"""Key name of the grid operator."""


@dataclass(frozen=True, eq=False)
class _EncryptionTask:
    users: tuple[int, ...]
    first_slot: int
    side: NDArray[np.int8]  # (T, m)
    accepted: NDArray[np.bool_]
    deviation_sign: NDArray[np.int8]
    net_sign: NDArray[np.int8]
    c: FloatArray
    d: FloatArray
    key_of_user: tuple[str, ...]
    keys: dict[str, PublicKey]
    signers: tuple[MeterSigner, ...]


def _encrypt_task(task: _EncryptionTask) -> tuple[list[SignedPayload], int]:
    """User-side work of a group of meters: encrypt, encode, sign (runs in worker processes)."""
    counts = OpCounts()
    # what each meter encrypts, grouped by key so that a backend can encrypt a key's values in
    # one call: (user index j, ciphertext name, values)
    requests: dict[str, list[tuple[int, str, FloatArray]]] = {}
    for j in range(len(task.users)):
        own = requests.setdefault(task.key_of_user[j], [])
        acc = task.accepted[:, j]
        own.append((j, "S.d", task.d[:, j]))
        if np.any(acc):
            own.append((j, "S.c", task.c[:, j]))
            go = requests.setdefault(GO_KEY_ID, [])
            go.append((j, "GO.c", np.where(acc, task.c[:, j], 0.0)))
            go.append((j, "GO.d", np.where(acc, task.d[:, j], 0.0)))
    blobs_of: list[dict[str, bytes]] = [{} for _ in task.users]
    for key_id, items in requests.items():
        encrypted = task.keys[key_id].encrypt_many([values for _, _, values in items], counts)
        for (j, name, _), blob in zip(items, encrypted, strict=True):
            blobs_of[j][name] = blob
    out = []
    for j, user in enumerate(task.users):
        blobs: dict[str, bytes] = {
            name: blobs_of[j][name]
            for name in ("S.d", "S.c", "GO.c", "GO.d")
            if name in blobs_of[j]
        }
        payload = MeterPayload(
            user,
            task.first_slot,
            task.side[:, j],
            task.accepted[:, j],
            task.deviation_sign[:, j],
            task.net_sign[:, j],
            blobs,
        )
        message = payload.to_bytes()
        out.append(SignedPayload(message, task.signers[j].sign(message)))
    return out, counts.encryptions


class Meters:
    """The users' smart meters: plaintext readings, signing keys, user-side encryption.

    Parameters
    ----------
    supplier : ndarray of int
        Supplier of each participant.
    supplier_keys : sequence of PublicKey
        Public key of each supplier.
    go_key : PublicKey
        Public key of the grid operator.
    tol_kwh : float
        ``|x| <= tol_kwh`` [kWh] counts as zero in the signs.
    """

    def __init__(
        self,
        supplier: IntArray,
        supplier_keys: Sequence[PublicKey],
        go_key: PublicKey,
        tol_kwh: float,
    ) -> None:
        self.supplier = supplier
        self.tol_kwh = tol_kwh
        self._signers = tuple(MeterSigner() for _ in range(supplier.size))
        self.verify_keys: tuple[bytes, ...] = tuple(s.public_bytes for s in self._signers)
        keys = [*supplier_keys, go_key]
        self._keys = {k.key_id: k.for_meters() for k in keys}
        self._key_of_user = tuple(supplier_keys[int(j)].key_id for j in supplier)
        self.counts = OpCounts()
        self._rows: list[tuple[NDArray[Any], ...]] = []

    def record(
        self, side: NDArray[np.int8], accepted: NDArray[np.bool_], c: FloatArray, d: FloatArray
    ) -> None:
        """Buffer one slot's readings (side code, accepted flag, c and d [kWh]) of every meter."""
        s = np.where(side == -1, -1.0, 1.0)
        net = s * (c + d)
        self._rows.append((side, accepted, c, d, net))

    def payloads(
        self, first_slot: int, executor: Executor | None, workers: int
    ) -> list[SignedPayload]:
        """Encrypt and sign the buffered batch, one payload per user, in user order.

        Users are split into ``workers`` contiguous groups; results are collected in order, so
        the output does not depend on the number of workers (except for the ciphertexts'
        randomness).
        """
        side, acc, c, d, net = (np.stack([row[k] for row in self._rows]) for k in range(5))
        dev_sign = sign_with_tolerance(d, self.tol_kwh).reshape(d.shape)
        net_sign = sign_with_tolerance(net, self.tol_kwh).reshape(d.shape)
        n = self.supplier.size
        groups = [g for g in np.array_split(np.arange(n), max(workers, 1)) if g.size]
        tasks = [
            _EncryptionTask(
                tuple(int(u) for u in g),
                first_slot,
                side[:, g].astype(np.int8),
                acc[:, g].astype(bool),
                dev_sign[:, g],
                net_sign[:, g],
                c[:, g],
                d[:, g],
                tuple(self._key_of_user[u] for u in g),
                {k: self._keys[k] for k in {GO_KEY_ID, *(self._key_of_user[u] for u in g)}},
                tuple(self._signers[u] for u in g),
            )
            for g in groups
        ]
        results = executor.map(_encrypt_task, tasks) if executor else map(_encrypt_task, tasks)
        out: list[SignedPayload] = []
        for payloads, n_enc in results:
            out.extend(payloads)
            self.counts.encryptions += n_enc
        return out

    def use_randomizer_pools(self, executor: Executor | None) -> None:
        """Precompute encryption randomness on ``executor`` (None: stop doing so).

        Only keys of a scheme with pooled randomizers (DJN: encryptions of 0, see
        :class:`cosim.settlement.paillier.RandomizerPool`) use it; each meter still encrypts its
        own values, only the value-independent part of the encryption is made ahead.
        """
        for key in self._keys.values():
            key.use_pool(executor)

    def warm_randomizer_pools(self) -> None:
        """Precompute the randomizers of one slot's ``S.d`` of every meter (a lower bound of any
        batch's need: every meter encrypts its deviation every slot); blocks until they are
        ready. Nothing happens without pools (:meth:`use_randomizer_pools`)."""
        for key_id, key in self._keys.items():
            key.warm_pool(self._key_of_user.count(key_id))

    def reading_for_supplier(self, supplier_index: int, user: int) -> FloatArray:
        """Net import [kWh] per slot of the batch, over the supplier's own metering channel."""
        if int(self.supplier[user]) != supplier_index:
            raise PermissionError(f"supplier {supplier_index} does not supply user {user}")
        return np.array([row[4][user] for row in self._rows])

    def clear(self) -> None:
        """Forget the buffered batch."""
        self._rows = []
