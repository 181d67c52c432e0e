"""Process sets on real MPI ranks (run by ``test_process_sets.py`` on 3 and 4 ranks).

Sets used: ``low`` = ranks [0, 1], ``high`` = ranks [1, 2] (they overlap on rank 1),
``evens`` = every even rank. Every case reports a JSON line (see ``case_report``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import workbench.engine as wb
from tests.engine.case_report import emit, raises, run_case


def main() -> None:
    wb.init()
    rank, size = wb.rank(), wb.size()
    low = wb.add_process_set([0, 1])
    high = wb.add_process_set(wb.ProcessSet([2, 1]))
    evens = wb.add_process_set(range(0, size, 2))

    def registry() -> tuple[bool, Any]:
        got = (low.process_set_id, high.process_set_id, evens.process_set_id, high.ranks)
        mine = (low.included(), low.rank(), high.rank(), evens.size())
        want_mine = (rank < 2, rank if rank < 2 else None, rank - 1 if rank in (1, 2) else None)
        ok = got == (1, 2, 3, [1, 2]) and mine[:3] == want_mine
        ok = ok and evens.size() == len(range(0, size, 2))
        ok = ok and [s.process_set_id for s in wb.process_sets()] == [0, 1, 2, 3]
        return ok, (got, mine)

    run_case("registry", registry)

    def sums_in_each_set() -> tuple[bool, Any]:
        got = {}
        for name, ps in (("low", low), ("high", high), ("evens", evens)):
            if ps.included():
                got[name] = float(wb.allreduce(np.array([rank + 1.0]), process_set=ps)[0])
        want = {
            name: float(sum(r + 1 for r in ps.ranks))
            for name, ps in (("low", low), ("high", high), ("evens", evens))
            if rank in ps.ranks
        }
        return got == want, got

    run_case("allreduce", sums_in_each_set)

    def other_collectives() -> tuple[bool, Any]:
        if not high.included():
            return True, "not in high"
        me = high.rank()
        assert me is not None
        gathered = wb.allgather(np.full((me + 1, 2), rank), process_set=high)
        root_value = wb.broadcast(np.array([rank * 10.0]), root=2, process_set=high)
        scattered = wb.reducescatter(np.arange(4.0) + rank, process_set=high)
        received, splits = wb.alltoall(np.array([rank, rank]), process_set=high)
        wb.barrier(process_set=high)
        ok = gathered.tolist() == [[1, 1], [2, 2], [2, 2]]
        ok = ok and float(root_value[0]) == 20.0
        ok = ok and scattered.tolist() == ((np.arange(4.0) * 2 + 3)[2 * me : 2 * me + 2]).tolist()
        ok = ok and received.tolist() == [1, 2] and splits == [1, 1]
        return ok, (gathered.tolist(), root_value, scattered, received, splits)

    run_case("other_collectives", other_collectives)

    def overlapping_async_sets() -> tuple[bool, Any]:
        """Rank 1 queues into both sets at once, interleaved, with the world in between;
        rank 0 comes to ``low`` late, and ``high`` must not wait for it."""
        if rank == 0:
            time.sleep(1.0)
        start = time.monotonic()
        handles = []
        for k in range(5):
            for ps in (low, high):
                if ps.included():
                    value = np.full(1000, float(k + rank), np.float32)
                    handles.append((ps, k, wb.allreduce_async(value, process_set=ps)))
        world = wb.allreduce_async(np.ones(3))
        took = {}
        results = []
        for ps, k, handle in handles:
            results.append(
                (ps.ranks, k, float(wb.synchronize(handle)[0]) == sum(k + r for r in ps.ranks))
            )
            took[ps.process_set_id] = time.monotonic() - start
        ok = all(good for *_, good in results) and float(wb.synchronize(world)[0]) == size
        if rank == 2:  # only in high, which rank 0 is not in: done before rank 0 woke up
            ok = ok and took[high.process_set_id] < 0.8
        return ok, (took, results)

    run_case("overlapping_async", overlapping_async_sets)

    def outsider_is_refused() -> tuple[bool, Any]:
        if low.included():
            return True, "member"
        start = time.monotonic()
        ok, detail = raises(
            wb.InvalidProcessSetError, lambda: wb.allreduce(np.ones(2), process_set=low)
        )
        return ok and "is not in" in str(detail) and time.monotonic() - start < 1, detail

    run_case("outsider_refused", outsider_is_refused)

    def mismatch_reaches_every_member() -> tuple[bool, Any]:
        if not high.included():
            return True, "not in high"
        shape = 3 if rank == 1 else 4
        handle = wb.allreduce_async(np.ones(shape), name="bad", process_set=high)
        ok, detail = raises(wb.CollectiveMismatchError, lambda: wb.synchronize(handle, 30))
        after = wb.allreduce(np.ones(2), process_set=high)  # the set still works
        named = "rank 1: allreduce 'bad' float64[3]" in str(detail) and "rank 2:" in str(detail)
        return ok and named and float(after[0]) == 2, detail

    run_case("mismatch_in_set", mismatch_reaches_every_member)

    def duplicate_name_in_flight() -> tuple[bool, Any]:
        first = wb.allreduce_async(np.ones(2), name="twice")
        ok, detail = raises(ValueError, lambda: wb.allreduce_async(np.ones(2), name="twice"))
        wb.synchronize(first)
        again = wb.synchronize(wb.allreduce_async(np.ones(2), name="twice"))  # done: reusable
        return ok and "still in flight" in str(detail) and float(again[0]) == size, detail

    run_case("duplicate_name", duplicate_name_in_flight)

    def world_still_fine() -> tuple[bool, Any]:
        got = wb.allreduce(np.array([1.0]))
        return float(got[0]) == size, got

    run_case("world_after_sets", world_still_fine)

    def bad_sets() -> tuple[bool, Any]:
        checks = [
            raises(wb.InvalidProcessSetError, lambda: wb.add_process_set([0, size])),
            raises(wb.InvalidProcessSetError, lambda: wb.ProcessSet([1, 1])),
            raises(wb.InvalidProcessSetError, lambda: wb.add_process_set([1, 0])),  # exists
            raises(wb.InvalidProcessSetError, lambda: wb.remove_process_set(wb.global_process_set)),
            raises(wb.InvalidProcessSetError, lambda: wb.broadcast(np.ones(1), 3, process_set=low)),
        ]
        # ranks disagree on the set: every rank raises, naming what each passed
        disagree = raises(
            wb.InvalidProcessSetError, lambda: wb.add_process_set([1] if rank else [2])
        )
        ok = all(c[0] for c in checks) and disagree[0] and "rank 1: [1]" in str(disagree[1])
        ok = ok and [s.process_set_id for s in wb.process_sets()] == [0, 1, 2, 3]
        return ok, [str(c[1]) for c in (*checks, disagree)]

    run_case("bad_sets", bad_sets)

    def remove() -> tuple[bool, Any]:
        removed = wb.remove_process_set(high), wb.remove_process_set(high)
        refused = raises(
            wb.InvalidProcessSetError, lambda: wb.allreduce(np.ones(1), process_set=high)
        )
        ids = [s.process_set_id for s in wb.process_sets()]
        return removed == (True, False) and refused[0] and ids == [0, 1, 3], (removed, ids)

    run_case("remove", remove)

    def static_sets_at_init() -> tuple[bool, Any]:
        wb.shutdown()
        pair = wb.ProcessSet([0, size - 1])
        wb.init(process_sets=[pair])
        ids = [s.process_set_id for s in wb.process_sets()]
        got = None
        if pair.included():
            got = float(wb.allreduce(np.array([1.0]), process_set=pair)[0])
        return ids == [0, 1] and (got in (None, 2.0)), (ids, got)

    run_case("init_process_sets", static_sets_at_init)
    wb.shutdown()
    emit("done", True)


if __name__ == "__main__":
    main()
