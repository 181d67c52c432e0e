"""Agreeing on a call before moving data: the cheap check that turns mismatches into errors.

Before a collective's data phase every rank contributes one row of 8 int64 (kind, name hash,
element type, op, root, shape hash, first dimension, status) to one small allgather. If the
rows disagree, or a rank reports a local error in ``status``, every rank sees the same table
and raises the same ``CollectiveMismatchError`` (after a second, slow-path exchange of
readable descriptions) instead of entering a data phase that would hang or return garbage.
Collectives that need per-rank sizes (allgather's first dimensions) read them from the table,
so for them the check is free.

The check costs one latency-bound allgather of ``8 * size`` int64 per call (per fused batch
in the background engine); ``WORKBENCH_CHECK_CALLS=0`` turns it off for allreduce and
broadcast, where it is pure overhead once a program is known to be correct.
"""

from __future__ import annotations

import enum
import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from workbench.engine.comm import Communicator
from workbench.engine.errors import CollectiveMismatchError

CHECK_CALLS_ENV = "WORKBENCH_CHECK_CALLS"
ROW = 8
_KIND, _NAME, _ETYPE, _OP, _ROOT, _SHAPE, _FIRST_DIM, _STATUS = range(ROW)


class CollectiveKind(enum.IntEnum):
    ALLREDUCE = 1
    ALLGATHER = 2
    BROADCAST = 3
    REDUCESCATTER = 4
    ALLTOALL = 5
    BARRIER = 6
    NEGOTIATE = 7  # the background engine's "how many requests are ready" round


# kinds whose first dimension may differ between ranks
_RAGGED = {CollectiveKind.ALLGATHER, CollectiveKind.ALLTOALL, CollectiveKind.NEGOTIATE}
_STRICT_RAGGED = (_KIND, _NAME, _ETYPE, _OP, _ROOT, _SHAPE)
_STRICT = (*_STRICT_RAGGED, _FIRST_DIM)


def checks_enabled_by_env() -> bool:
    return os.environ.get(CHECK_CALLS_ENV, "1").strip().lower() not in {"0", "false", "off", "no"}


@lru_cache(maxsize=4096)
def stable_hash(text: str) -> int:
    """A signed 64-bit hash equal on every rank (``hash()`` is salted per process)."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


@dataclass(frozen=True)
class CallDescriptor:
    """What one rank is about to do; every field but the first dimension must agree."""

    kind: CollectiveKind
    name: str
    etype: str = ""
    op: str = ""
    root: int = 0
    shape: tuple[int, ...] = ()
    scale: tuple[float, float] = (1.0, 1.0)  # prescale, postscale
    splits: tuple[int, ...] = ()  # reducescatter rows per rank
    members: int = 0  # fused calls: a hash of the member shapes
    placement: int = -1  # in-place allreduce inside a shared block: its byte offset

    def row(self, status: int = 0) -> npt.NDArray[np.int64]:
        first = self.shape[0] if self.shape else 1
        tail = (
            f"{len(self.shape)}:{self.shape[1:]}:{self.scale}:{self.splits}:"
            f"{self.members}:{self.placement}"
        )
        return np.array(
            [
                int(self.kind),
                stable_hash(self.name),
                stable_hash(self.etype),
                stable_hash(self.op),
                self.root,
                stable_hash(tail),
                first,
                status,
            ],
            dtype=np.int64,
        )

    def describe(self) -> str:
        dims = ", ".join(str(d) for d in self.shape)
        text = f"{self.kind.name.lower()} {self.name!r}"
        if self.etype:
            text += f" {self.etype}[{dims}]"
        if self.op:
            text += f" op={self.op}"
        if self.kind is CollectiveKind.BROADCAST:
            text += f" root={self.root}"
        if self.scale != (1.0, 1.0):
            text += f" prescale={self.scale[0]} postscale={self.scale[1]}"
        if self.splits:
            text += f" splits={list(self.splits)}"
        if self.placement >= 0:
            text += f" in shared memory at byte {self.placement}"
        return text


def agree(
    comm: Communicator,
    call: CallDescriptor,
    *,
    capacity: int = 0,
    payload: npt.NDArray[Any] | None = None,
    local_error: str | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """Exchange ``call`` with every rank; return the ``(size, 8)`` table or raise everywhere.

    ``local_error`` reports a problem only this rank saw (bad dtype, bad root): every rank
    then raises, so nobody waits in a data phase this rank will never enter.

    Each rank's row travels in a slot with room for ``capacity`` more bytes, where up to
    that much of ``payload`` rides along (a payload that does not fit travels as nothing).
    The slots come back as a ``(size, capacity)`` byte matrix: a small allreduce reduces it
    locally, so its check and its data cost one latency-bound exchange. Every check of a
    communicator must use the same ``capacity``, so that ranks in different collectives
    still exchange equal sizes and see the mismatch instead of hanging.
    """
    words = capacity // 8
    slot = np.zeros(ROW + words, dtype=np.int64)
    slot[:ROW] = call.row(status=1 if local_error else 0)
    if payload is not None and 0 < payload.nbytes <= capacity:
        slot[ROW:].view(np.uint8)[: payload.nbytes] = payload.reshape(-1).view(np.uint8)
    gathered = comm.allgather_int64(slot)
    table = np.ascontiguousarray(gathered[:, :ROW])
    check_table(comm, call, table, local_error)
    return table, gathered[:, ROW:].view(np.uint8)


def check_table(
    comm: Communicator, call: CallDescriptor, table: npt.NDArray[np.int64], local_error: str | None
) -> None:
    """Raise the same ``CollectiveMismatchError`` on every rank unless the rows agree."""
    columns = _STRICT if call.kind not in _RAGGED else _STRICT_RAGGED
    rows = table.tolist()
    consistent = all(row[c] == rows[0][c] for row in rows for c in columns)
    if consistent and not any(row[_STATUS] for row in rows):
        return
    text = call.describe() + (f" (error on this rank: {local_error})" if local_error else "")
    described = comm.allgather_object(text)
    lines = "\n".join(f"  rank {rank}: {desc}" for rank, desc in enumerate(described))
    failed = any(row[_STATUS] for row in rows)
    headline = "collective call failed on some ranks" if failed else "collective mismatch"
    raise CollectiveMismatchError(
        f"{headline} (every rank raises this error):\n{lines}\n"
        "Every rank must call the same collectives in the same order with the same name, "
        "dtype, op, root and shape (allgather/alltoall may differ in the first dimension)."
    )


def first_dims(table: npt.NDArray[np.int64]) -> list[int]:
    """Each rank's first dimension, from an agreed table."""
    return [int(v) for v in table[:, _FIRST_DIM]]
