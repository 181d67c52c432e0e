"""Typed requests on one engine's executor, spelled briefly for the thread-rank tests."""

from __future__ import annotations

from typing import Any

from workbench.engine.background import AsyncExecutor, Handle
from workbench.engine.engine import Engine
from workbench.engine.reduce_ops import ReduceOp
from workbench.engine.requests import AllreduceOptions, Kind, Request


class Queue:
    def __init__(self, engine: Engine, **executor_options: Any) -> None:
        self.engine = engine
        self.executor = AsyncExecutor(engine, **executor_options)

    def allreduce(self, array: Any, op: str = "sum", name: str | None = None) -> Handle:
        options = AllreduceOptions(ReduceOp.parse(op))
        return self.executor.submit(Request(Kind.ALLREDUCE, name, [array], options))

    def grouped_allreduce(self, arrays: list[Any], op: str = "sum", name: str | None = None):
        options = AllreduceOptions(ReduceOp.parse(op))
        return self.executor.submit(Request(Kind.GROUPED_ALLREDUCE, name, arrays, options))

    def broadcast(self, array: Any, root: int, name: str | None = None) -> Handle:
        return self.executor.submit(Request(Kind.BROADCAST, name, [array], root=root))

    def allgather(self, array: Any, name: str | None = None) -> Handle:
        return self.executor.submit(Request(Kind.ALLGATHER, name, [array]))

    def alltoall(self, array: Any, name: str | None = None) -> Handle:
        return self.executor.submit(Request(Kind.ALLTOALL, name, [array]))

    def join(self) -> int:
        return self.executor.join()

    def stop(self) -> None:
        self.executor.stop()
