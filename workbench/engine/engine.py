"""The engine: one communicator, its allreduce topology, and every collective on arrays.

Each call follows the same path: flatten the input, agree on the call with every rank
(``negotiation.agree``; a mismatch raises everywhere), move the data, restore the shape.
One lock serialises all communication, so MPI sees one thread at a time (``SERIALIZED``)
whether a call comes from the caller's thread or the background thread of async ops.
Synchronous calls first wait for this rank's queued async ops, so every rank issues
collectives in program order.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from workbench.engine import collectives
from workbench.engine.arrays import FlatInput, flatten, output_payload, row_splits, same_memory
from workbench.engine.comm import Communicator, MPICommunicator
from workbench.engine.errors import CollectiveMismatchError, EngineError
from workbench.engine.fusion import FusionBuffer, tensor_group
from workbench.engine.join import DescribedCall, StandIn, stand_in_of
from workbench.engine.negotiation import (
    CallDescriptor,
    CollectiveKind,
    agree,
    checks_enabled_by_env,
    first_dims,
)
from workbench.engine.reduce_ops import ElementType, ReduceOp, Reducer
from workbench.engine.ring import RingWorkspace
from workbench.engine.stall import Peer, StallWatchdog, board_directory
from workbench.engine.timeline import maybe_span, timeline_from_env
from workbench.engine.topology import build_allreduce, plan_topology

K = CollectiveKind
SMALL_ALLREDUCE_ENV = "WORKBENCH_SMALL_ALLREDUCE_BYTES"
DEFAULT_SMALL_ALLREDUCE_BYTES = 512 << 10  # measured crossover with the ring: 0.5-1 MiB


class QueueDrainer(Protocol):
    def drain_before_sync_call(self) -> None:
        """Return once this rank's queued async ops ran (no-op on the executor's thread)."""


class Engine:
    """Collectives over ``comm`` (default: a private copy of ``MPI.COMM_WORLD``)."""

    def __init__(
        self,
        comm: Communicator | None = None,
        *,
        topology: str | None = None,
        check_calls: bool | None = None,
        small_allreduce_bytes: int | None = None,
    ) -> None:
        self.comm = comm if comm is not None else MPICommunicator()
        self.rank, self.size = self.comm.rank, self.comm.size
        self.plan = plan_topology(self.comm, topology)
        self.workspace = RingWorkspace()
        ring_comm = self.comm.split(0, self.rank)  # the allreduce's own tag space
        self.algorithm = build_allreduce(ring_comm, self.plan, self.workspace)
        self.check_calls = checks_enabled_by_env() if check_calls is None else check_calls
        if small_allreduce_bytes is None:
            small_allreduce_bytes = int(
                os.environ.get(SMALL_ALLREDUCE_ENV, DEFAULT_SMALL_ALLREDUCE_BYTES)
            )
        # allreduces up to this size use MPI's own (latency-bound there, ring wins above)
        self.small_allreduce_bytes = small_allreduce_bytes
        # payload bytes this rank sent in the latest collective (by our algorithms; small
        # allreduces handed to MPI are not counted)
        self.last_bytes_sent = 0
        self.lock = threading.RLock()
        self.executor: QueueDrainer | None = None  # the async executor, once started
        # while set, collectives called from this thread only describe themselves (join)
        self.describing_thread: int | None = None
        self._fusion = FusionBuffer(self.algorithm.allocate)
        self._reducers: dict[tuple[ReduceOp, ElementType], Reducer] = {}
        self._calls_named = 0
        self._failure: BaseException | None = None
        self.timeline = timeline_from_env(self.rank)  # WORKBENCH_TIMELINE=path.json
        token = os.urandom(4).hex()  # tells apart in-process worlds (thread communicators)
        hosts = self.comm.allgather_object((socket.gethostname(), os.getpid(), token))
        peers = [Peer(r, host, pid) for r, (host, pid, _) in enumerate(hosts)]
        self.watchdog = StallWatchdog(self.rank, peers, board_directory(peers, hosts[0][2]))

    # -- plumbing ---------------------------------------------------------------------------
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
        key = (op, etype)
        if key not in self._reducers:
            self._reducers[key] = Reducer(op, etype)
        return self._reducers[key]

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

    def describe_instead(
        self,
        kind: str,
        name: str | None,
        arrays: Sequence[Any],
        root: int = -1,
        **options: Any,
    ) -> None:
        """In describe mode (``join.describe_by_dry_run``) raise the call's stand-in;
        ``options``: the keywords a joined rank's stand-in call passes on."""
        if self.describing_thread == threading.get_ident():
            raise DescribedCall(stand_in_of(kind, name or kind, arrays, options, root))

    @contextmanager
    def collective(
        self, call: CallDescriptor, error: str | None, *, need_table: bool = False
    ) -> Iterator[npt.NDArray[np.int64] | None]:
        """Run one collective: agree on ``call``, yield the table, account bytes."""
        if self.describing_thread == threading.get_ident():
            raise DescribedCall(StandIn(call.kind.name.lower(), call.name))
        self.raise_if_failed()
        if self.executor is not None:
            self.executor.drain_before_sync_call()
        with self.lock, self.watching(call):
            before = self.bytes_sent()
            table = None
            if self.check_calls or need_table:
                with maybe_span(self.timeline, call.name, "NEGOTIATE"):
                    table = agree(self.comm, call, local_error=error)
            elif error:
                raise EngineError(
                    f"{call.describe()}: {error} (call checks are off, "
                    "WORKBENCH_CHECK_CALLS=0, so the other ranks are not told and may wait)"
                )
            try:
                with maybe_span(self.timeline, call.name, call.kind.name):
                    yield table
            except CollectiveMismatchError:
                raise
            except BaseException as exc:
                self.mark_failed(exc)
                raise
            finally:
                self.last_bytes_sent = self.bytes_sent() - before

    @contextmanager
    def watching(self, what: Any, *, patient: bool = False) -> Iterator[None]:
        """Tell the stall watchdog this rank waits in ``what`` until the block ends
        (``patient``: a wait that may rightly last; only a dead peer ends it)."""
        self.watchdog.enter(what, patient=patient)
        try:
            yield
        finally:
            self.watchdog.leave()

    # -- allreduce ------------------------------------------------------------------------
    def allreduce(
        self,
        array: Any,
        *,
        op: ReduceOp | str = ReduceOp.SUM,
        name: str | None = None,
        prescale_factor: float = 1.0,
        postscale_factor: float = 1.0,
        out: Any = None,
        bfloat16_bits: bool = False,
    ) -> Any:
        """``op`` over every rank's ``array`` (same shape and dtype everywhere)."""
        reduce_op = ReduceOp.parse(op)
        self.describe_instead(
            "allreduce",
            name,
            [array],
            op=reduce_op,
            prescale_factor=prescale_factor,
            postscale_factor=postscale_factor,
            bfloat16_bits=bfloat16_bits,
        )
        flat = flatten(array, bfloat16_bits=bfloat16_bits)
        target, out_error = output_payload(out, flat)
        if target is not None and same_memory(target, flat.payload):
            target = flat.payload  # in place: one object, so algorithms see src is dst
        placement = -1 if target is None else self.algorithm.placement(flat.payload, target)
        call = CallDescriptor(
            K.ALLREDUCE,
            self.auto_name("allreduce", name),
            flat.etype_name,
            reduce_op.value,
            shape=flat.shape,
            scale=(prescale_factor, postscale_factor),
            placement=placement,
        )
        with self.collective(call, flat.error or out_error):
            result = self.allreduce_flat(flat, reduce_op, prescale_factor, postscale_factor, target)
        return out if out is not None else flat.restore(result)

    def allreduce_flat(
        self,
        flat: FlatInput,
        op: ReduceOp,
        prescale: float,
        postscale: float,
        target: npt.NDArray[Any] | None = None,
    ) -> npt.NDArray[Any]:
        """The data phase of an allreduce on an agreed flat payload."""
        assert flat.etype is not None  # agreed calls have a supported dtype
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
        self,
        arrays: Sequence[Any],
        *,
        op: ReduceOp | str = ReduceOp.SUM,
        name: str | None = None,
        prescale_factor: float = 1.0,
        postscale_factor: float = 1.0,
        bfloat16_bits: bool = False,
    ) -> list[Any]:
        """One fused allreduce of many same-dtype arrays; results in the same order."""
        reduce_op = ReduceOp.parse(op)
        self.describe_instead(
            "grouped_allreduce",
            name,
            arrays,
            op=reduce_op,
            prescale_factor=prescale_factor,
            postscale_factor=postscale_factor,
            bfloat16_bits=bfloat16_bits,
        )
        group = tensor_group(arrays, bfloat16_bits=bfloat16_bits)
        call = CallDescriptor(
            K.ALLREDUCE,
            self.auto_name("grouped_allreduce", name),
            group.etype.name if group.etype else str(group.dtype),
            reduce_op.value,
            shape=(group.total,),
            scale=(prescale_factor, postscale_factor),
            members=hash(tuple(group.shapes)),  # int tuples hash alike in every process
            placement=0 if self.plan.kind == "shm" else -1,
        )
        with self.collective(call, group.error):
            if group.etype is None:
                return []
            with maybe_span(self.timeline, call.name, "MEMCPY_IN_FUSION_BUFFER"):
                packed = self._fusion.pack(group.payloads, group.etype.payload)
            fused = FlatInput(packed, group.etype, packed.shape, packed.dtype)
            self.allreduce_flat(fused, reduce_op, prescale_factor, postscale_factor, packed)
            with maybe_span(self.timeline, call.name, "MEMCPY_OUT_FUSION_BUFFER"):
                return FusionBuffer.unpack(packed, group)

    def shared_array(self, shape: tuple[int, ...], dtype: Any = np.float32) -> Any:
        """Collective: an array ``allreduce(x, out=x)`` reduces without copying it in.

        Under the shm topology it lives in shared memory (the fastest allreduce there);
        otherwise it is a plain array. Fill it, reduce it in place, reuse it.
        """
        want = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        if self.executor is not None:
            self.executor.drain_before_sync_call()  # allocating is collective too
        with self.lock:
            raw = self.algorithm.allocate(max(count * want.itemsize, 1))
        return raw[: count * want.itemsize].view(want).reshape(shape)

    # -- the other collectives --------------------------------------------------------------
    def allgatherv(self, array: Any, *, name: str | None = None) -> list[Any]:
        """Every rank's ``array`` (first dimensions may differ), by rank."""
        self.describe_instead("allgather", name, [array])
        flat = flatten(array)
        call = CallDescriptor(
            K.ALLGATHER, self.auto_name("allgather", name), flat.etype_name, shape=flat.shape
        )
        with self.collective(call, flat.error, need_table=True) as table:
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
        self.describe_instead("broadcast", name, [array], root)
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
        *,
        op: ReduceOp | str = ReduceOp.SUM,
        splits: Sequence[int] | None = None,
        name: str | None = None,
    ) -> Any:
        """Rows ``splits[rank]`` (default: an even split of the first dimension) of ``op``."""
        reduce_op = ReduceOp.parse(op)
        flat = flatten(array)
        rows, split_error = row_splits(flat.rows, splits, self.size, "reducescatter")
        call = CallDescriptor(
            K.REDUCESCATTER,
            self.auto_name("reducescatter", name),
            flat.etype_name,
            reduce_op.value,
            shape=flat.shape,
            splits=tuple(rows),
        )
        with self.collective(call, flat.error or split_error):
            assert flat.etype is not None
            reducer = self.reducer(reduce_op, flat.etype)
            counts = [r * flat.row_size for r in rows]
            mine = collectives.reduce_scatter(
                self.comm, flat.payload, counts, reducer, self.workspace
            )
            if reduce_op is ReduceOp.AVERAGE:
                reducer.average(mine, self.size)
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
