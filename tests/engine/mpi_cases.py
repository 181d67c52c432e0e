"""Cases that run inside real MPI ranks (started by tests/engine/test_mpi_collectives.py).

Every rank can regenerate every other rank's input from a seed, so each rank computes the
numpy reference itself; outcomes are printed as one JSON line per case and the test asserts
on them. Failures are data (``ok: false`` with a detail), not exceptions, so one bad case
does not hide the others.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from tests.engine.case_report import emit, run_case
from workbench.engine import CollectiveMismatchError, Engine
from workbench.engine.background import AsyncExecutor
from workbench.engine.bfloat16 import from_bfloat16, to_bfloat16
from workbench.engine.comm import VIRTUAL_NODES_ENV, MPICommunicator
from workbench.engine.reduce_ops import ReduceOp
from workbench.engine.requests import AllreduceOptions, Kind, Request
from workbench.engine.ring import ring_allreduce_bytes

TYPES = ("float16", "bfloat16", "float32", "float64", "int32", "int64")
OPS = ("sum", "average", "min", "max", "product")


def rank_input(rank: int, n: int, etype: str, seed: int = 0) -> np.ndarray:
    """Rank ``rank``'s input: floats in [0.5, 1.5), small ints; bfloat16 as uint16 bits."""
    rng = np.random.default_rng([seed, rank, n, TYPES.index(etype)])
    if etype.startswith("int"):
        return rng.integers(-9, 10, size=n).astype(etype)
    values = rng.uniform(0.5, 1.5, size=n)
    if etype == "bfloat16":
        return to_bfloat16(values)
    return values.astype(etype)


def as_float64(values: np.ndarray, etype: str) -> np.ndarray:
    return from_bfloat16(values).astype(np.float64) if etype == "bfloat16" else values.astype("f8")


def reference(inputs: list[np.ndarray], op: str, etype: str) -> np.ndarray:
    stacked = np.stack([as_float64(x, etype) for x in inputs])
    if etype.startswith("int"):
        stacked = np.stack(inputs).astype(np.int64)
    if op == "min":
        return stacked.min(axis=0)
    if op == "max":
        return stacked.max(axis=0)
    if op == "product":
        return stacked.prod(axis=0)
    total = stacked.sum(axis=0)
    if op == "average":
        if etype.startswith("int"):  # truncated toward zero
            return np.sign(total) * (np.abs(total) // len(inputs))
        return total / len(inputs)
    return total


def matches(got: np.ndarray, want: np.ndarray, etype: str) -> tuple[bool, str]:
    values = as_float64(got, etype) if not etype.startswith("int") else got.astype(np.int64)
    if values.shape != want.shape:
        return False, f"shape {values.shape} != {want.shape}"
    rtol = {"float16": 1e-2, "bfloat16": 2e-2, "float32": 1e-5, "float64": 1e-12}.get(etype, 0)
    ok = bool(np.allclose(values, want, rtol=rtol, atol=0))
    return ok, "" if ok else f"max err {np.abs(values - want).max() if want.size else 0}"


AVERAGE = AllreduceOptions(ReduceOp.AVERAGE)


def lengths(size: int) -> list[int]:
    return sorted({0, 1, size - 1, size, 7, 13, 1021, 65537, 100003})


def allreduce_cases(engine: Engine, label: str, types: tuple[str, ...] = TYPES) -> None:
    rank, size = engine.rank, engine.size
    for etype in types:
        for op in OPS:
            for n in lengths(size):
                inputs = [rank_input(r, n, etype) for r in range(size)]

                def body(inputs: list[np.ndarray] = inputs, op: str = op, e: str = etype) -> Any:
                    got = engine.allreduce(
                        inputs[rank],
                        AllreduceOptions(ReduceOp.parse(op), bfloat16_bits=e == "bfloat16"),
                    )
                    return matches(got, reference(inputs, op, e), e)

                run_case(f"{label}/allreduce/{etype}/{op}/{n}", body)


def layout_cases(engine: Engine) -> None:
    """Non-contiguous and multi-dimensional inputs, out=, in place, scale factors."""
    rank, size = engine.rank, engine.size
    grids = [np.arange(600, dtype=np.float64).reshape(20, 30) * (r + 1) for r in range(size)]
    total = sum(grids)
    cases: dict[str, Callable[[], tuple[bool, Any]]] = {
        "strided": lambda: matches(
            engine.allreduce(grids[rank][::3, 1::2]), total[::3, 1::2], "float64"
        ),
        "fortran": lambda: matches(
            engine.allreduce(np.asfortranarray(grids[rank])), total, "float64"
        ),
        "transposed": lambda: matches(engine.allreduce(grids[rank].T), total.T, "float64"),
        "scalar": lambda: matches(
            engine.allreduce(np.float64(rank)), np.float64(sum(range(size))), "float64"
        ),
    }
    for name, body in cases.items():
        run_case(f"layout/{name}", body)

    def in_place() -> tuple[bool, Any]:
        buf = grids[rank].copy()
        result = engine.allreduce(buf, out=buf)
        return result is buf or np.shares_memory(result, buf), matches(buf, total, "float64")[1]

    def scaled() -> tuple[bool, Any]:
        got = engine.allreduce(
            grids[rank], AllreduceOptions(prescale_factor=0.5, postscale_factor=3.0)
        )
        return matches(got, total * 1.5, "float64")

    run_case("layout/in_place", in_place)
    run_case("layout/scaled", scaled)


def byte_cases(engine: Engine, label: str = "bytes") -> None:
    for n in (0, 1, 1000, 65536, 100003):
        data = np.ones(n, dtype=np.float32)

        def body(data: np.ndarray = data) -> tuple[bool, Any]:
            engine.allreduce(data)
            carried = data.nbytes <= engine.carry_bytes  # rode in the call check: no ring
            want = 0 if carried else ring_allreduce_bytes(data.nbytes, engine.size)
            got = engine.last_bytes_sent
            return abs(got - want) <= 2 * engine.size * data.itemsize, f"{got} vs {want}"

        run_case(f"{label}/{n}", body)


def gather_cases(engine: Engine) -> None:
    rank, size = engine.rank, engine.size
    mine = np.full((rank % 3, 4), rank, dtype=np.int32)  # rank 0 (and every third) sends none
    want = np.concatenate([np.full((r % 3, 4), r, dtype=np.int32) for r in range(size)])
    run_case("allgather/uneven", lambda: (np.array_equal(engine.allgather(mine), want), ""))
    pieces = engine.allgatherv(np.arange(rank + 1, dtype=np.float32))
    run_case("allgatherv", lambda: (all(len(p) == r + 1 for r, p in enumerate(pieces)), ""))
    for root in range(size):
        for n in (0, 1, 100003):
            data = np.arange(n, dtype=np.float64) * (root + 1) if rank == root else np.zeros(n)
            want_b = np.arange(n, dtype=np.float64) * (root + 1)
            run_case(
                f"broadcast/root{root}/{n}",
                lambda d=data, w=want_b, r=root: (np.array_equal(engine.broadcast(d, r), w), ""),
            )


def scatter_cases(engine: Engine) -> None:
    rank, size = engine.rank, engine.size
    rows = 2 * size + 1
    inputs = [np.arange(rows * 3, dtype=np.int64).reshape(rows, 3) * (r + 1) for r in range(size)]
    total = sum(inputs)
    base, extra = divmod(rows, size)
    start = rank * base + min(rank, extra)
    mine = total[start : start + base + (1 if rank < extra else 0)]
    run_case(
        "reducescatter/even", lambda: (np.array_equal(engine.reducescatter(inputs[rank]), mine), "")
    )
    splits = [rows] + [0] * (size - 1)
    got = engine.reducescatter(inputs[rank], splits=splits)
    run_case(
        "reducescatter/splits", lambda: (got.shape[0] == (rows if rank == 0 else 0), got.shape)
    )
    sends = [(rank + j) % 3 for j in range(size)]
    data = np.concatenate([np.full(s, 100 * rank + j, dtype=np.int32) for j, s in enumerate(sends)])
    received, splits_in = engine.alltoall(data, sends)
    want = np.concatenate(
        [np.full((r + rank) % 3, 100 * r + rank, dtype=np.int32) for r in range(size)]
    )
    run_case("alltoall/splits", lambda: (np.array_equal(received, want), splits_in))


def mismatch_cases(engine: Engine) -> None:
    rank = engine.rank

    def expect_mismatch(call: Callable[[], Any]) -> tuple[bool, Any]:
        try:
            call()
        except CollectiveMismatchError as exc:
            return "rank 0" in str(exc) and "rank 1" in str(exc), str(exc).splitlines()[0]
        return False, "no error raised"

    run_case(
        "mismatch/shape",
        lambda: expect_mismatch(lambda: engine.allreduce(np.ones(10 + rank), name="g")),
    )
    dtype = np.float32 if rank == 0 else np.float64
    run_case(
        "mismatch/dtype",
        lambda: expect_mismatch(lambda: engine.allreduce(np.ones(8, dtype), name="g")),
    )
    bad = np.ones(4, dtype=np.complex64 if rank == 1 else np.float32)
    run_case(
        "mismatch/unsupported_on_one_rank", lambda: expect_mismatch(lambda: engine.allreduce(bad))
    )
    run_case(
        "mismatch/kind",
        lambda: expect_mismatch(
            lambda: (
                engine.allreduce(np.ones(3), name="k")
                if rank
                else engine.broadcast(np.ones(3), name="k")
            )
        ),
    )
    run_case(
        "mismatch/then_ok", lambda: (float(engine.allreduce(np.ones(3))[0]) == engine.size, "")
    )


def async_cases(engine: Engine) -> None:
    size = engine.size
    executor = AsyncExecutor(engine)

    def allreduce_async(array: np.ndarray, name: str) -> Any:
        return executor.submit(Request(Kind.ALLREDUCE, name, [array]))

    handles = [allreduce_async(np.full(1000, i, dtype=np.float32), f"a{i}") for i in range(50)]
    results = [h.wait(120) for h in handles]
    ok = all(np.all(r == i * size) for i, r in enumerate(results)) and all(
        h.poll() for h in handles
    )
    run_case("async/fused_results", lambda: (ok, ""))
    names = ["x", "y"] if engine.rank == 0 else ["y", "x"]
    swapped = [allreduce_async(np.ones(4), n) for n in names]

    def swapped_order() -> tuple[bool, Any]:
        raised = 0
        for h in swapped:
            try:
                h.wait(120)
            except CollectiveMismatchError:
                raised += 1
        return raised == 2, f"{raised} of 2 handles raised"

    run_case("async/mismatched_order", swapped_order)
    executor.drain()
    run_case("async/then_sync", lambda: (float(engine.allreduce(np.ones(2))[1]) == size, ""))
    executor.stop()


def topology_cases(size: int) -> None:
    """Every topology gives the reference answer (ints exactly)."""
    engines = {"shm": Engine(MPICommunicator(), topology="shm")}
    if size == 4:
        engines["2x2"] = Engine(MPICommunicator(), topology="2x2")
        os.environ[VIRTUAL_NODES_ENV] = "2"  # read when a communicator's layout is built
        engines["hierarchical"] = Engine(MPICommunicator(), topology="hierarchical")
        os.environ.pop(VIRTUAL_NODES_ENV)
    for topo, engine in engines.items():
        run_case(f"topology/{topo}/name", lambda e=engine: (True, e.algorithm.name))
        allreduce_cases(engine, topo, types=("int64", "float32", "bfloat16"))
    shared_memory_cases(engines["shm"])


def shared_memory_cases(engine: Engine) -> None:
    """In place in shared memory: shared arrays and fused batches skip the MPI transport."""
    rank, size = engine.rank, engine.size
    for n in (1, size - 1, 1021, 300007):
        array = engine.shared_array((n,), np.float32)

        def body(array: np.ndarray = array, n: int = n) -> tuple[bool, Any]:
            for repeat in range(3):  # the same block again and again
                array[...] = np.arange(n) + rank + repeat
                engine.allreduce(array, AVERAGE, out=array)
                want = np.arange(n) + (size - 1) / 2 + repeat
                if not np.allclose(array, want) or engine.last_bytes_sent:
                    return False, f"repeat {repeat}: {array[:4]} sent {engine.last_bytes_sent}"
            return True, ""

        run_case(f"shm/in_place/{n}", body)
    arrays = [np.full(s, rank, dtype=np.float64) for s in (3, 1, 0, 70001)]
    fused = engine.grouped_allreduce(arrays)
    total = sum(range(size))
    run_case("shm/fused", lambda: (all((f == total).all() for f in fused), engine.last_bytes_sent))


def public_api_cases() -> None:
    """``import workbench.engine as wb`` the way training code will use it."""
    import workbench.engine as wb

    wb.init()
    size = wb.size()
    handle = wb.allreduce_async(np.full(5, wb.rank(), dtype=np.float32), op="average")
    mean = wb.synchronize(handle)
    run_case("api/async_average", lambda: (np.allclose(mean, (size - 1) / 2), mean))
    layout = (wb.local_rank(), wb.local_size(), wb.cross_rank(), wb.cross_size())
    run_case("api/layout", lambda: (layout == (wb.rank(), size, 0, 1), layout))
    wb.shutdown()


def main() -> None:
    engine = Engine(MPICommunicator(), topology="flat")
    allreduce_cases(engine, "flat")
    layout_cases(engine)
    byte_cases(engine)
    gather_cases(engine)
    scatter_cases(engine)
    mismatch_cases(engine)
    async_cases(engine)
    topology_cases(engine.size)
    small = Engine(MPICommunicator(), topology="flat", small_allreduce_bytes=1 << 20)
    allreduce_cases(small, "small", types=("float32", "int64", "float16"))
    ring_only = Engine(MPICommunicator(), topology="flat", carry_bytes=0)  # tiny rings too
    allreduce_cases(ring_only, "ring_only", types=("float32", "bfloat16"))
    byte_cases(ring_only, "ring_only_bytes")
    unchecked = Engine(MPICommunicator(), topology="flat", check_calls=False)
    allreduce_cases(unchecked, "unchecked", types=("float32",))
    public_api_cases()
    emit("done", True)
