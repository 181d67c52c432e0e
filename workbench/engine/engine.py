"""The engine: one communicator, its allreduce topology, and every collective on arrays.

Each call follows the same path: flatten the input, agree on the call with every rank
(``negotiation.CallCheck``; a mismatch raises everywhere), move the data, restore the shape.
An allreduce of up to ``WORKBENCH_CARRY_BYTES`` (4 KiB) rides in its call check and is
reduced locally: one latency-bound exchange instead of two. One lock serialises this
engine's communication, whether a call comes from the caller's thread or from the async
executor's (``background.py``, which hands it typed ``Request``s through ``run``); the
engine knows nothing of that executor. Callers that mix synchronous calls with queued ones
drain the queue first (``ops`` does), so every rank issues collectives in program order.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from workbench.engine import collectives
from workbench.engine.arrays import FlatInput, flatten, output_payload, row_splits, same_memory
from workbench.engine.comm import Communicator, MPICommunicator
from workbench.engine.errors import CollectiveMismatchError, EngineError
from workbench.engine.fusion import FusionBuffer, tensor_group
from workbench.engine.negotiation import (
    CallCheck,
    CallDescriptor,
    CollectiveKind,
    checks_enabled_by_env,
    first_dims,
)
from workbench.engine.reduce_ops import ElementType, ReduceOp, Reducer
from workbench.engine.requests import SUM, AllreduceOptions, Kind, Request
from workbench.engine.ring import RingWorkspace
from workbench.engine.stall import Peer, StallWatchdog, board_directory
from workbench.engine.timeline import Timeline, maybe_span, timeline_from_env
from workbench.engine.topology import build_allreduce, plan_topology

K = CollectiveKind
SMALL_ALLREDUCE_ENV = "WORKBENCH_SMALL_ALLREDUCE_BYTES"
DEFAULT_SMALL_ALLREDUCE_BYTES = 512 << 10  # measured crossover with the ring: 0.5-1 MiB
CARRY_ENV = "WORKBENCH_CARRY_BYTES"
DEFAULT_CARRY_BYTES = 4096  # a checked allreduce up to this size rides in its call check
MAX_CARRIED_TOTAL = 32 << 10  # ... with all ranks' slots together kept latency-bound


class Agreed(NamedTuple):
    """What the call check gave: the table, and every rank's payload if it rode along
    (views of the check's buffers: use them inside the collective)."""

    table: npt.NDArray[np.int64] | None = None
    carried: list[npt.NDArray[Any]] | None = None  # each rank's payload, by rank


class Engine:
    """Collectives over ``comm`` (default: a private copy of ``MPI.COMM_WORLD``)."""

    def __init__(
        self,
        comm: Communicator | None = None,
        *,
        topology: str | None = None,
        check_calls: bool | None = None,
        small_allreduce_bytes: int | None = None,
        carry_bytes: int | None = None,
        timeline: Timeline | None = None,
        world_ranks: Sequence[int] | None = None,
    ) -> None:
        self.comm = comm if comm is not None else MPICommunicator()
        self.rank, self.size = self.comm.rank, self.comm.size
        self.plan = plan_topology(self.comm, topology)
        self.workspace = RingWorkspace()
        self._ring_comm = self.comm.split(0, self.rank)  # the allreduce's own tag space
        self.algorithm = build_allreduce(self._ring_comm, self.plan, self.workspace)
        self.check_calls = checks_enabled_by_env() if check_calls is None else check_calls
        if small_allreduce_bytes is None:
            small_allreduce_bytes = int(
                os.environ.get(SMALL_ALLREDUCE_ENV, DEFAULT_SMALL_ALLREDUCE_BYTES)
            )
        # allreduces up to this size use MPI's own (latency-bound there, ring wins above)
        self.small_allreduce_bytes = small_allreduce_bytes
        # checked allreduces up to this size travel inside the check (one exchange, no
        # data phase); smaller in big worlds, so all ranks' slots stay latency-bound
        if carry_bytes is None:
            carry_bytes = int(os.environ.get(CARRY_ENV, DEFAULT_CARRY_BYTES))
        self.carry_bytes = max(min(carry_bytes, MAX_CARRIED_TOTAL // self.size) // 8 * 8, 0)
        # a process set's engine names its ranks by their world rank in errors
        labels = None if world_ranks is None else [f"rank {r}" for r in world_ranks]
        self._check = CallCheck(self.comm, self.carry_bytes, labels)
        # payload bytes this rank sent in the latest collective (by our algorithms; small
        # allreduces handed to MPI are not counted)
        self.last_bytes_sent = 0
        self.lock = threading.RLock()
        self._fusion = FusionBuffer(self.algorithm.allocate)
        self._reducers: dict[tuple[ReduceOp, ElementType], Reducer] = {}
        self._calls_named = 0
        self._failure: BaseException | None = None
        # WORKBENCH_TIMELINE=path.json; process sets write into their world's timeline
        self.timeline = timeline if timeline is not None else timeline_from_env(self.rank)
        token = os.urandom(4).hex()  # tells apart in-process worlds (thread communicators)
        hosts = self.comm.allgather_object((socket.gethostname(), os.getpid(), token))
        peers = [Peer(r, host, pid) for r, (host, pid, _) in enumerate(hosts)]
        self.watchdog = StallWatchdog(self.rank, peers, board_directory(peers, hosts[0][2]))

    # -- plumbing ---------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the stall watchdog and release the allreduce's communicator (collective)."""
        self.watchdog.stop()
        self._ring_comm.free()

    def bytes_sent(self) -> int:
        """Payload bytes this rank has sent through every algorithm, ever."""
        return self.comm.bytes_sent + self.algorithm.bytes_sent()

    def auto_name(self, kind: str, name: str | None) -> str:
        """``name``, or ``kind.N`` with one counter for every kind (so a mismatched kind
        does not leave the ranks' counters apart)."""
        if name is not None:
            return name
        self._calls_named += 1
        return f"{kind}.{self._calls_named}"

    @property
    def calls_named(self) -> int:
        """How many names ``auto_name`` has drawn."""
        return self._calls_named

    def skip_auto_names(self, count: int) -> None:
        """Draw the next auto name after ``count`` (ranks that sat out calls catch up)."""
        self._calls_named = max(self._calls_named, count)

    def reducer(self, op: ReduceOp, etype: ElementType) -> Reducer:
        try:
            return self._reducers[op, etype]
        except KeyError:
            reducer = self._reducers[op, etype] = Reducer(op, etype)
            return reducer

    def mark_failed(self, error: BaseException) -> None:
        """Refuse further collectives: after ``error`` the ranks may be out of step."""
        if self._failure is None:
            self._failure = error

    def raise_if_failed(self) -> None:
        if self._failure is not None:
            raise EngineError(
                f"the engine failed earlier ({self._failure!r}); ranks may be out of step, "
                "restart the job"
            ) from self._failure

    def collective(
        self,
        call: CallDescriptor,
        error: str | None,
        *,
        need_table: bool = False,
        carry: npt.NDArray[Any] | None = None,
    ) -> _Collective:
        """``with engine.collective(...) as agreed``: agree on ``call`` (raising a mismatch
        everywhere), then run the block as the data phase; bytes are accounted, and an error
        in the data phase marks the engine failed (ranks may be out of step after it).

        ``carry``: a payload that may ride in the check (see ``negotiation.CallCheck``); only
        allreduces pass one, and only when checks are on.
        """
        return _Collective(self, call, error, need_table, carry)

    def agree(
        self, call: CallDescriptor, error: str | None = None, carry: npt.NDArray[Any] | None = None
    ) -> Agreed:
        """The call check on this engine's communicator (every check here has one slot
        size; see ``negotiation.CallCheck``); ``carry`` rides along when it fits."""
        return Agreed(*self._check.agree(call, error, carry))

    @contextmanager
    def watching(self, what: Any, *, patient: bool = False) -> Iterator[None]:
        """Tell the stall watchdog this rank waits in ``what`` until the block ends
        (``patient``: a wait that may rightly last; only a dead peer ends it)."""
        self.watchdog.enter(what, patient=patient)
        try:
            yield
        finally:
            self.watchdog.leave()

    # -- requests -------------------------------------------------------------------------
    def run(self, request: Request) -> Any:
        """Run one collective request now (the background thread's way in)."""
        if request.ready is not None:
            request.ready()
        kind, name, arrays = request.kind, request.name, request.arrays
        if kind is Kind.ALLREDUCE:
            return self.allreduce(arrays[0], request.options, name=name)
        if kind is Kind.GROUPED_ALLREDUCE:
            return self.grouped_allreduce(arrays, request.options, name=name)
        if kind is Kind.ALLGATHER:
            return self.allgather(arrays[0], name=name)
        if kind is Kind.ALLGATHERV:
            return self.allgatherv(arrays[0], name=name)
        if kind is Kind.BROADCAST:
            return self.broadcast(arrays[0], request.root, name=name)
        if kind is Kind.REDUCESCATTER:
            return self.reducescatter(arrays[0], request.options, splits=request.splits, name=name)
        if kind is Kind.ALLTOALL:
            return self.alltoall(arrays[0], request.splits, name=name)
        return self.barrier(name=name)

    # -- allreduce ------------------------------------------------------------------------
    def allreduce(
        self,
        array: Any,
        options: AllreduceOptions = SUM,
        *,
        name: str | None = None,
        out: Any = None,
    ) -> Any:
        """``options.op`` over every rank's ``array`` (same shape and dtype everywhere)."""
        flat = flatten(array, bfloat16_bits=options.bfloat16_bits)
        target, out_error = output_payload(out, flat)
        if target is not None and same_memory(target, flat.payload):
            target = flat.payload  # in place: one object, so algorithms see src is dst
        placement = -1 if target is None else self.algorithm.placement(flat.payload, target)
        call = CallDescriptor(
            K.ALLREDUCE,
            self.auto_name("allreduce", name),
            flat.etype_name,
            options.op.value,
            shape=flat.shape,
            scale=options.scales,
            placement=placement,
        )
        with self.collective(call, flat.error or out_error, carry=flat.payload) as agreed:
            if agreed.carried is not None:
                result = self._reduce_carried(flat, options, agreed.carried, target)
            else:
                result = self.allreduce_flat(flat, options, target)
        return out if out is not None else flat.restore(result)

    def _reduce_carried(
        self,
        flat: FlatInput,
        options: AllreduceOptions,
        carried: list[npt.NDArray[Any]],
        target: npt.NDArray[Any] | None,
    ) -> npt.NDArray[Any]:
        """Reduce every rank's payload from the check's slots, in rank order (so every rank
        computes the same bits)."""
        assert flat.etype is not None
        reducer = self.reducer(options.op, flat.etype)
        dst = np.empty_like(flat.payload) if target is None else target
        rows = carried
        if options.prescale_factor != 1.0:
            for row in rows:
                reducer.scale(row, options.prescale_factor)
        if len(rows) == 1:
            np.copyto(dst, rows[0])
        else:
            reducer.reduce_into(dst, rows[0], rows[1])
        for row in rows[2:]:
            reducer.reduce_into(dst, dst, row)
        if options.op is ReduceOp.AVERAGE:
            reducer.average(dst, self.size)
        reducer.scale(dst, options.postscale_factor)
        return dst

    def allreduce_flat(
        self,
        flat: FlatInput,
        options: AllreduceOptions,
        target: npt.NDArray[Any] | None = None,
    ) -> npt.NDArray[Any]:
        """The data phase of an allreduce on an agreed flat payload."""
        assert flat.etype is not None  # agreed calls have a supported dtype
        op, (prescale, postscale) = options.op, options.scales
        reducer = self.reducer(op, flat.etype)
        dst = np.empty_like(flat.payload) if target is None else target
        src = flat.payload
        if prescale != 1.0:
            if dst is not src:
                np.copyto(dst, src)
            reducer.scale(dst, prescale)
            src = dst
        if not self._small_allreduce(src, dst, op):
            self.algorithm.allreduce(src, dst, reducer)
        if op is ReduceOp.AVERAGE:
            reducer.average(dst, self.size)
        reducer.scale(dst, postscale)
        return dst

    def _small_allreduce(self, src: npt.NDArray[Any], dst: npt.NDArray[Any], op: ReduceOp) -> bool:
        """MPI's own allreduce for small payloads (shared-memory ones too: below ~1 MiB MPI's
        latency wins). Every rank decides alike: it depends on agreed size, dtype and op."""
        if not 0 < dst.nbytes <= self.small_allreduce_bytes:
            return False
        native = ReduceOp.SUM.value if op is ReduceOp.AVERAGE else op.value
        if not self.comm.has_native_allreduce(dst.dtype, native):
            return False
        if dst is not src:
            np.copyto(dst, src)
        self.comm.allreduce_native(dst, native)
        return True

    def grouped_allreduce(
        self, arrays: Sequence[Any], options: AllreduceOptions = SUM, *, name: str | None = None
    ) -> list[Any]:
        """One fused allreduce of many same-dtype arrays; results in the same order."""
        group = tensor_group(arrays, bfloat16_bits=options.bfloat16_bits)
        call = CallDescriptor(
            K.ALLREDUCE,
            self.auto_name("grouped_allreduce", name),
            group.etype.name if group.etype else str(group.dtype),
            options.op.value,
            shape=(group.total,),
            scale=options.scales,
            members=hash(tuple(group.shapes)),  # int tuples hash alike in every process
            placement=0 if self.plan.kind == "shm" else -1,
        )
        with self.collective(call, group.error):
            if group.etype is None:
                return []
            with maybe_span(self.timeline, call.name, "MEMCPY_IN_FUSION_BUFFER"):
                packed = self._fusion.pack(group.payloads, group.etype.payload)
            fused = FlatInput(packed, group.etype, packed.shape, packed.dtype)
            self.allreduce_flat(fused, options, packed)
            with maybe_span(self.timeline, call.name, "MEMCPY_OUT_FUSION_BUFFER"):
                return FusionBuffer.unpack(packed, group)

    def shared_array(self, shape: tuple[int, ...], dtype: Any = np.float32) -> Any:
        """Collective: an array ``allreduce(x, out=x)`` reduces without copying it in.

        Under the shm topology it lives in shared memory (the fastest allreduce there);
        otherwise it is a plain array. Fill it, reduce it in place, reuse it.
        """
        want = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        with self.lock:
            raw = self.algorithm.allocate(max(count * want.itemsize, 1))
        return raw[: count * want.itemsize].view(want).reshape(shape)

    # -- the other collectives --------------------------------------------------------------
    def allgatherv(self, array: Any, *, name: str | None = None) -> list[Any]:
        """Every rank's ``array`` (first dimensions may differ), by rank."""
        flat = flatten(array)
        call = CallDescriptor(
            K.ALLGATHER, self.auto_name("allgather", name), flat.etype_name, shape=flat.shape
        )
        with self.collective(call, flat.error, need_table=True) as agreed:
            table = agreed.table
            assert table is not None
            rows = first_dims(table) if flat.shape else [1] * self.size
            counts = [r * flat.row_size for r in rows]
            gathered = collectives.allgatherv(self.comm, flat.payload, counts, self.workspace)
        pieces, start = [], 0
        for rank_rows, count in zip(rows, counts, strict=True):
            shape = (rank_rows, *flat.shape[1:]) if flat.shape else ()
            pieces.append(flat.restore(gathered[start : start + count], shape))
            start += count
        return pieces

    def allgather(self, array: Any, *, name: str | None = None) -> Any:
        """Every rank's ``array`` concatenated along the first dimension (which may differ)."""
        pieces = self.allgatherv(array, name=name)
        if not np.ndim(array):
            return np.stack(pieces)
        return np.concatenate(pieces, axis=0)

    def broadcast(
        self, array: Any, root: int = 0, *, name: str | None = None, out: Any = None
    ) -> Any:
        """The root's ``array`` on every rank (a new array unless ``out`` is given)."""
        flat = flatten(array)
        target, error = output_payload(out, flat)
        if not 0 <= root < self.size:
            error = f"root {root} is not a rank of this {self.size}-rank communicator"
        call = CallDescriptor(
            K.BROADCAST,
            self.auto_name("broadcast", name),
            flat.etype_name,
            root=root,
            shape=flat.shape,
        )
        with self.collective(call, flat.error or error):
            if target is not None:
                buf = target
            elif self.rank == root:
                buf = flat.payload.copy()
            else:
                buf = np.empty_like(flat.payload)
            if target is not None and self.rank == root and target is not flat.payload:
                np.copyto(target, flat.payload)
            collectives.broadcast(self.comm, buf, root, self.workspace)
        return out if out is not None else flat.restore(buf)

    def reducescatter(
        self,
        array: Any,
        options: AllreduceOptions = SUM,
        *,
        splits: Sequence[int] | None = None,
        name: str | None = None,
    ) -> Any:
        """Rows ``splits[rank]`` (default: an even split of the first dimension) of the
        reduction; the scale factors apply before and after as in allreduce."""
        flat = flatten(array)
        rows, split_error = row_splits(flat.rows, splits, self.size, "reducescatter")
        call = CallDescriptor(
            K.REDUCESCATTER,
            self.auto_name("reducescatter", name),
            flat.etype_name,
            options.op.value,
            shape=flat.shape,
            scale=options.scales,
            splits=tuple(rows),
        )
        with self.collective(call, flat.error or split_error):
            assert flat.etype is not None
            reducer = self.reducer(options.op, flat.etype)
            counts = [r * flat.row_size for r in rows]
            src = flat.payload
            if options.prescale_factor != 1.0:
                src = src.copy()
                reducer.scale(src, options.prescale_factor)
            mine = collectives.reduce_scatter(self.comm, src, counts, reducer, self.workspace)
            if options.op is ReduceOp.AVERAGE:
                reducer.average(mine, self.size)
            reducer.scale(mine, options.postscale_factor)
        return flat.restore(mine, (rows[self.rank], *flat.shape[1:]))

    def alltoall(
        self, array: Any, splits: Sequence[int] | None = None, *, name: str | None = None
    ) -> tuple[Any, list[int]]:
        """Rows ``splits[j]`` of ``array`` go to rank ``j``; returns (received, rows by source)."""
        flat = flatten(array)
        sends, split_error = row_splits(flat.rows, splits, self.size, "alltoall")
        call = CallDescriptor(
            K.ALLTOALL, self.auto_name("alltoall", name), flat.etype_name, shape=flat.shape
        )
        with self.collective(call, flat.error or split_error, need_table=True):
            table = self.comm.allgather_int64(np.array(sends, dtype=np.int64))
            received = [int(v) for v in table[:, self.rank]]
            out = collectives.alltoallv(
                self.comm,
                flat.payload,
                [s * flat.row_size for s in sends],
                [r * flat.row_size for r in received],
            )
        return flat.restore(out, (sum(received), *flat.shape[1:])), received

    def barrier(self, *, name: str | None = None) -> None:
        with self.collective(CallDescriptor(K.BARRIER, self.auto_name("barrier", name)), None):
            self.comm.barrier()


class _Collective:
    """The context of one collective (a class, not a generator: it runs on every call)."""

    __slots__ = ("before", "call", "carry", "engine", "error", "need_table", "span")

    def __init__(
        self,
        engine: Engine,
        call: CallDescriptor,
        error: str | None,
        need_table: bool,
        carry: npt.NDArray[Any] | None,
    ) -> None:
        self.engine, self.call, self.error = engine, call, error
        self.need_table, self.carry = need_table, carry
        self.before = 0
        self.span: Any = None

    def __enter__(self) -> Agreed:
        engine, call = self.engine, self.call
        engine.raise_if_failed()
        engine.lock.acquire()
        engine.watchdog.enter(call)
        try:
            self.before = engine.bytes_sent()
            agreed = _UNCHECKED
            timeline = engine.timeline
            if (engine.check_calls or self.need_table) and timeline is None:
                agreed = engine.agree(call, self.error, self.carry)
            elif engine.check_calls or self.need_table:
                with maybe_span(timeline, call.name, "NEGOTIATE"):
                    agreed = engine.agree(call, self.error, self.carry)
            elif self.error:
                raise EngineError(
                    f"{call.describe()}: {self.error} (call checks are off, "
                    "WORKBENCH_CHECK_CALLS=0, so the other ranks are not told and may wait)"
                )
            if engine.timeline is not None:
                self.span = engine.timeline.span(call.name, call.kind.name)
                self.span.__enter__()
        except BaseException:
            engine.watchdog.leave()
            engine.lock.release()
            raise
        return agreed

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        engine = self.engine
        try:
            if self.span is not None:
                self.span.__exit__(kind, exc, tb)
            if exc is not None and not isinstance(exc, CollectiveMismatchError):
                engine.mark_failed(exc)
            engine.last_bytes_sent = engine.bytes_sent() - self.before
        finally:
            engine.watchdog.leave()
            engine.lock.release()


_UNCHECKED = Agreed()
