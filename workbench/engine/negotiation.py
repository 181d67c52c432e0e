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
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, NamedTuple

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


def checks_enabled_by_env() -> bool:
    return os.environ.get(CHECK_CALLS_ENV, "1").strip().lower() not in {"0", "false", "off", "no"}


@lru_cache(maxsize=4096)
def stable_hash(text: str) -> int:
    """A signed 64-bit hash equal on every rank (``hash()`` is salted per process)."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


class CallDescriptor(NamedTuple):
    """What one rank is about to do; every field but the first dimension must agree.

    A named tuple: built on every call, and its row is cached by value (a training loop
    repeats the same calls), so the check costs little Python.
    """

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
        row = np.array(_row_values(self), dtype=np.int64)
        row[_STATUS] = status
        return row

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


@lru_cache(maxsize=4096)
def _row_values(call: CallDescriptor) -> tuple[int, ...]:
    first = call.shape[0] if call.shape else 1
    tail = (
        f"{len(call.shape)}:{call.shape[1:]}:{call.scale}:{call.splits}:"
        f"{call.members}:{call.placement}"
    )
    return (
        int(call.kind),
        stable_hash(call.name),
        stable_hash(call.etype),
        stable_hash(call.op),
        call.root,
        stable_hash(tail),
        first,
        0,
    )


class CallCheck:
    """The call check of one communicator, with its exchange buffers (reused: the check
    runs on every collective, under the engine's lock).

    Each rank's row travels in a slot with room for ``capacity`` more bytes, where up to
    that much of a payload rides along (a payload that does not fit travels as nothing).
    The slots come back as one byte row per rank: a small allreduce reduces them locally,
    so its check and its data cost one latency-bound exchange. Every check of a
    communicator uses the same slot, so ranks in different collectives still exchange equal
    sizes and see the mismatch instead of hanging.
    """

    def __init__(
        self, comm: Communicator, capacity: int, labels: Sequence[str] | None = None
    ) -> None:
        self.comm = comm
        # how errors name each rank (a process set's ranks by their world rank)
        self.labels = (
            list(labels) if labels is not None else [f"rank {r}" for r in range(comm.size)]
        )
        self.capacity = capacity // 8 * 8
        self._slot = np.zeros(ROW + self.capacity // 8, dtype=np.int64)
        self._slot_bytes = self._slot[ROW:].view(np.uint8)
        self._gathered = np.zeros((comm.size, self._slot.size), dtype=np.int64)
        self._table = self._gathered[:, :ROW]
        self._carried = self._gathered[:, ROW:].view(np.uint8)
        self._rows: dict[tuple[np.dtype[Any], int], list[npt.NDArray[Any]]] = {}

    def agree(
        self,
        call: CallDescriptor,
        local_error: str | None = None,
        payload: npt.NDArray[Any] | None = None,
    ) -> tuple[npt.NDArray[np.int64], list[npt.NDArray[Any]] | None]:
        """Exchange ``call``; the ``(size, 8)`` table, and every rank's ``payload`` (a 1-d
        contiguous array) when it fits, or raise the same error on every rank.

        ``local_error`` reports a problem only this rank saw (bad dtype, bad root): every
        rank then raises, so nobody waits in a data phase this rank will never enter. Both
        results are views of this check's buffers, valid until its next exchange.
        """
        slot = self._slot
        slot[:ROW] = _row_values(call)
        if local_error:
            slot[_STATUS] = 1
        fits = payload is not None and payload.nbytes <= self.capacity
        if fits and payload is not None and payload.nbytes:
            self._slot_bytes[: payload.nbytes] = payload.view(np.uint8)
        self.comm.allgather_int64_into(slot, self._gathered)
        check_table(self.comm, call, self._table, local_error, self.labels)
        if not fits or payload is None:
            return self._table, None
        return self._table, self._carried_rows(payload.dtype, payload.nbytes)

    def _carried_rows(self, dtype: np.dtype[Any], nbytes: int) -> list[npt.NDArray[Any]]:
        key = (dtype, nbytes)
        rows = self._rows.get(key)
        if rows is None:
            if len(self._rows) >= 256:
                self._rows.clear()
            rows = self._rows[key] = [row[:nbytes].view(dtype) for row in self._carried]
        return rows


def check_table(
    comm: Communicator,
    call: CallDescriptor,
    table: npt.NDArray[np.int64],
    local_error: str | None,
    labels: Sequence[str],
) -> None:
    """Raise the same ``CollectiveMismatchError`` on every rank unless the rows agree."""
    agreeing = _FIRST_DIM + 1 if call.kind not in _RAGGED else _FIRST_DIM  # leading columns
    rows = table.tolist()
    first = rows[0][:agreeing]
    if all(row[:agreeing] == first and not row[_STATUS] for row in rows):
        return
    text = call.describe() + (f" (error on this rank: {local_error})" if local_error else "")
    described = comm.allgather_object(text)
    lines = "\n".join(f"  {label}: {desc}" for label, desc in zip(labels, described, strict=True))
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
