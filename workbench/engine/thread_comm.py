"""An in-process communicator: N threads play N ranks, so ring logic runs without mpiexec.

Messages match like MPI's: per (source, destination, tag) in posting order. Sends are eager
(the payload is copied at ``isend``), receives complete when a matching send arrived. Every
blocking wait gives up after ``timeout`` seconds with a ``StallError`` so a buggy algorithm
fails a test instead of hanging it.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from workbench.engine.comm import Communicator, Request, SharedArena
from workbench.engine.errors import EngineError, StallError

T = TypeVar("T")
_Key = tuple[int, int, int]  # (source, destination, tag)


class _ThreadRecv:
    def __init__(self, world: _ThreadWorld, buf: npt.NDArray[Any], key: _Key) -> None:
        self._world = world
        self._buf = buf
        self._key = key
        self.done = False

    def deliver(self, payload: npt.NDArray[np.uint8]) -> None:
        """Called with the world lock held, by the matching send."""
        if payload.nbytes != self._buf.nbytes:
            source, dest, tag = self._key
            raise EngineError(
                f"message size mismatch: rank {source} sent {payload.nbytes} bytes with tag "
                f"{tag}, rank {dest} posted a receive of {self._buf.nbytes} bytes"
            )
        self._buf.reshape(-1).view(np.uint8)[:] = payload
        self.done = True

    def Wait(self) -> bool:
        self._world.wait_until(lambda: self.done, f"receive {self._key}")
        return True

    def Test(self) -> bool:
        return self.done


class _CompletedSend:
    def Wait(self) -> bool:
        return True

    def Test(self) -> bool:
        return True


class _ThreadWorld:
    """State the ranks of one thread communicator share: mailboxes, splits, arenas."""

    def __init__(self, size: int, timeout: float) -> None:
        self.size = size
        self.timeout = timeout
        self.cond = threading.Condition()
        self.unexpected: dict[_Key, deque[npt.NDArray[np.uint8]]] = defaultdict(deque)
        self.posted: dict[_Key, deque[_ThreadRecv]] = defaultdict(deque)
        self.exchanges: dict[tuple[str, int], dict[int, Any]] = defaultdict(dict)
        self.children: dict[tuple[int, int], _ThreadWorld] = {}

    def wait_until(self, ready: Callable[[], bool], what: str) -> None:
        with self.cond:
            if not self.cond.wait_for(ready, timeout=self.timeout):
                raise StallError(f"thread communicator: {what} not done after {self.timeout}s")

    def send(self, payload: npt.NDArray[np.uint8], key: _Key) -> None:
        with self.cond:
            waiting = self.posted[key]
            if waiting:
                waiting.popleft().deliver(payload)
            else:
                self.unexpected[key].append(payload.copy())
            self.cond.notify_all()

    def post_recv(self, recv: _ThreadRecv, key: _Key) -> None:
        with self.cond:
            queue = self.unexpected[key]
            if queue:
                recv.deliver(queue.popleft())
            else:
                self.posted[key].append(recv)

    def exchange(self, kind: str, seq: int, rank: int, value: T) -> list[T]:
        """Collective: every rank's ``value`` for the ``seq``-th exchange of this ``kind``."""
        slot = (kind, seq)
        with self.cond:
            table = self.exchanges[slot]
            table[rank] = value
            self.cond.notify_all()
        self.wait_until(lambda: len(table) == self.size, f"{kind} #{seq}")
        return [table[r] for r in range(self.size)]


class _ThreadArena:
    def __init__(self, regions: list[npt.NDArray[np.uint8]]) -> None:
        self._regions = regions

    def region(self, rank: int) -> npt.NDArray[np.uint8]:
        return self._regions[rank]

    def fence(self) -> None:
        """Threads share one address space and the GIL orders their numpy stores."""

    def close(self) -> None:
        self._regions = []


class ThreadCommunicator(Communicator):
    """One rank of an in-process group; build all ranks with ``ThreadCommunicator.create``."""

    def __init__(self, world: _ThreadWorld, rank: int, node_keys: Sequence[str]) -> None:
        super().__init__()
        self._world = world
        self.rank = rank
        self.size = world.size
        self._node_keys = list(node_keys)
        self._seq: dict[str, int] = defaultdict(int)

    @classmethod
    def create(
        cls, size: int, *, ranks_per_node: int | None = None, timeout: float = 60.0
    ) -> list[ThreadCommunicator]:
        """``size`` communicators, one per thread; ``ranks_per_node`` fakes a node layout."""
        per_node = ranks_per_node or size
        world = _ThreadWorld(size, timeout)
        keys = [f"node-{r // per_node}" for r in range(size)]
        return [cls(world, r, keys) for r in range(size)]

    def _next(self, kind: str) -> int:
        self._seq[kind] += 1
        return self._seq[kind]

    def isend(self, buf: npt.NDArray[Any], dest: int, tag: int) -> Request:
        self.bytes_sent += buf.nbytes
        payload = np.ascontiguousarray(buf).reshape(-1).view(np.uint8).copy()
        self._world.send(payload, (self.rank, dest, tag))
        return _CompletedSend()

    def irecv(self, buf: npt.NDArray[Any], source: int, tag: int) -> Request:
        if not buf.flags.c_contiguous:
            raise EngineError("irecv needs a contiguous buffer")
        key = (source, self.rank, tag)
        recv = _ThreadRecv(self._world, buf, key)
        self._world.post_recv(recv, key)
        return recv

    def waitall(self, requests: Sequence[Request]) -> None:
        for request in requests:
            request.Wait()

    def barrier(self) -> None:
        self._world.exchange("barrier", self._next("barrier"), self.rank, None)

    def allgather_int64(self, values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        mine = np.array(values, dtype=np.int64).reshape(-1)
        rows = self._world.exchange("allgather", self._next("allgather"), self.rank, mine)
        return np.stack(rows)

    def allgather_object(self, obj: object) -> list[Any]:
        return self._world.exchange("object", self._next("object"), self.rank, obj)

    def split(self, color: int, key: int) -> Communicator:
        seq = self._next("split")
        entries = self._world.exchange("split", seq, self.rank, (color, key, self.rank))
        members = sorted((k, r) for c, k, r in entries if c == color)
        ranks = [r for _k, r in members]
        with self._world.cond:
            child = self._world.children.setdefault(
                (seq, color), _ThreadWorld(len(ranks), self._world.timeout)
            )
        keys = [self._node_keys[r] for r in ranks]
        return ThreadCommunicator(child, ranks.index(self.rank), keys)

    def node_key(self) -> str:
        return self._node_keys[self.rank]

    def allocate_shared(self, nbytes: int) -> SharedArena:
        mine = np.zeros(max(nbytes, 8), dtype=np.uint8)[:nbytes]
        regions = self._world.exchange("arena", self._next("arena"), self.rank, mine)
        return _ThreadArena(regions)


def run_ranks(comms: Sequence[ThreadCommunicator], body: Callable[[Communicator], T]) -> list[T]:
    """Run ``body(comm)`` on one thread per communicator; results by rank, errors re-raised."""
    results: list[Any] = [None] * len(comms)
    errors: list[BaseException | None] = [None] * len(comms)

    def target(index: int) -> None:
        try:
            results[index] = body(comms[index])
        except BaseException as exc:  # handed to the caller below, never swallowed
            errors[index] = exc

    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(len(comms))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for error in errors:
        if error is not None:
            raise error
    return results
