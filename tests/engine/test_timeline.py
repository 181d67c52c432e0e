"""The Chrome-trace timeline: the file format, swap events, and every phase on real ranks."""

from __future__ import annotations

import json
import time

import pytest

from workbench.engine.swap.stats import SwapStats
from workbench.engine.timeline import Timeline, rank_path


def test_timeline_writes_a_chrome_trace_with_swap_events(tmp_path):
    timeline = Timeline(tmp_path / "t.json", rank=1)
    with timeline.span("grad.w", "ALLREDUCE", bytes=8):
        time.sleep(0.001)
    stats = SwapStats()
    stats.record("swap_out", time.perf_counter(), 1024)
    added = timeline.add_events(stats.chrome_trace(), stats.origin, "tensor swapping")
    timeline.close()
    timeline.close()  # idempotent
    events = json.loads((tmp_path / "t.json").read_text())
    spans = [e for e in events if e["ph"] == "X"]
    assert added == 1 and {e["name"] for e in spans} == {"ALLREDUCE", "swap_out"}
    assert all(e["pid"] == 1 for e in events)
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    by_name = {e["name"]: e for e in spans}
    assert names[by_name["ALLREDUCE"]["tid"]] == "grad.w"
    assert names[by_name["swap_out"]["tid"]] == "tensor swapping"
    assert by_name["ALLREDUCE"]["dur"] >= 1000
    assert by_name["swap_out"]["ts"] >= by_name["ALLREDUCE"]["ts"]  # same clock
    assert rank_path(tmp_path / "t.json", 2).name == "t.rank2.json"


SNIPPET = """
import numpy as np
import workbench.engine as wb
wb.init()
x = np.ones(1000, np.float32)
wb.allreduce(x, name="sync")
handles = [wb.allreduce_async(x, name=f"async.{i}") for i in range(4)]
[wb.synchronize(h) for h in handles]
wb.grouped_allreduce([x, x], name="grouped")
wb.broadcast(x, 0, name="bcast")
import torch
from workbench.engine import swap
x = torch.randn(512, 512, requires_grad=True)
with swap.activations(swap.SwapPolicy(tier="disk", min_bytes=0, keep_resident=0)) as stats:
    y = x
    for _ in range(12):  # more swap-outs than may be in flight: most are done by backward
        y = y.sin()
    y = y.sum()
y.backward()  # the session closes when backward frees the last saved tensor
print(stats.swapped_out_bytes > 0 and stats.swapped_in_bytes > 0)
wb.shutdown()
"""


@pytest.mark.mpi
def test_every_collective_phase_on_two_ranks(mpirun, tmp_path):
    path = tmp_path / "trace.json"
    result = mpirun(SNIPPET, n=2, env={"WORKBENCH_TIMELINE": str(path)})
    assert [out.strip() for out in result.outputs] == ["True", "True"]
    for rank in range(2):
        events = json.loads(rank_path(path, rank).read_text())
        threads = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
        phases = {(threads.get(e["tid"], "?"), e["name"]) for e in events if e["ph"] == "X"}
        for expected in [
            ("sync", "NEGOTIATE"),
            ("sync", "ALLREDUCE"),
            ("async.0", "QUEUE"),
            ("async-queue", "NEGOTIATE"),
            ("grouped", "MEMCPY_IN_FUSION_BUFFER"),
            ("grouped", "MEMCPY_OUT_FUSION_BUFFER"),
            ("bcast", "BROADCAST"),
            ("tensor swapping", "swap_out"),  # published by the swap session itself
            ("tensor swapping", "swap_in"),
        ]:
            assert expected in phases, f"rank {rank} lacks {expected}: {sorted(phases)}"
        assert any(name.startswith("fused:async") for name in threads.values())
