"""The disk tier's spill arena: regions, reuse from step to step, lifetimes, cleanup."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.engine import swap
from workbench.engine.swap.spill import _ARENAS, ALIGN, SpillArena, leave_arena, spill_arena


def test_regions_round_trip_and_holes_merge(tmp_path: Path):
    arena = SpillArena(tmp_path)
    data = [np.arange(n, dtype=np.uint8) for n in (10, 1000, 64, 3)]
    regions = [arena.store(memoryview(d)) for d in data]
    assert list(tmp_path.iterdir()) == []  # the spill file is unlinked at once
    assert all(r.offset % ALIGN == 0 for r in regions)
    assert arena.bytes_in_use == sum(d.nbytes for d in data)
    out = np.empty(1000, np.uint8)
    arena.read_into(regions[1], memoryview(out))
    assert np.array_equal(out, data[1])
    assert np.array_equal(arena.view(regions[3]), data[3])
    for region in (regions[2], regions[0], regions[1], regions[3]):  # any order
        arena.release(region)
    gc.collect()
    assert arena.bytes_in_use == 0
    (chunk,) = arena.chunks
    assert chunk.holes == [(0, chunk.size)]  # merged back into one hole
    again = arena.store(memoryview(data[1]))
    assert again.offset == 0  # the space is reused, the arena did not grow
    assert len(arena.chunks) == 1


def test_a_view_keeps_its_region_until_it_is_gone(tmp_path: Path):
    arena = SpillArena(tmp_path)
    region = arena.store(memoryview(np.full(256, 7, np.uint8)))
    tensor = torch.from_numpy(arena.view(region)).view(torch.int32)
    arena.release(region)
    other = arena.store(memoryview(np.full(256, 9, np.uint8)))
    assert other.offset != region.offset  # still in use by the tensor
    assert torch.all(tensor == 0x07070707)
    del tensor
    gc.collect()
    assert arena.bytes_in_use == 256


def test_training_steps_reuse_the_arena_and_leave_nothing_in_use(tmp_path: Path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(*[torch.nn.Linear(256, 256) for _ in range(8)])
    x = torch.randn(512, 256)
    policy = swap.SwapPolicy(tier="disk", min_bytes=0, keep_resident=0, spill_dir=tmp_path)
    arena = spill_arena(tmp_path)
    sizes = []
    for _ in range(3):
        with swap.activations(policy, keep=[x]) as stats:
            loss = model(x).square().mean()
        loss.backward()
        assert stats.swapped_out_bytes > 0 and stats.swapped_in_bytes > 0
        assert arena.bytes_in_use == 0
        sizes.append(arena.reserved_bytes)
    assert sizes[0] == sizes[1] == sizes[2]  # steps after the first write into mapped pages
    assert spill_arena(tmp_path) is arena


def test_saved_tensor_kept_by_the_user_is_not_overwritten_by_the_next_step(tmp_path: Path):
    x = torch.randn(256, 256, requires_grad=True)
    policy = swap.SwapPolicy(tier="disk", min_bytes=0, keep_resident=0, spill_dir=tmp_path)
    with swap.activations(policy):
        a = x * 3
        y = a.sin()
        z = y.exp().sum()
    kept = y.grad_fn._saved_self  # unpacked: a view of the arena
    expected = (x * 3).detach().clone()
    assert torch.equal(kept, expected)
    z.backward()
    del a, y, z
    for _ in range(2):  # later steps swap other bytes through the same arena
        with swap.activations(policy):
            w = (x * -5).cos().tan().sum()
        w.backward()
    assert torch.equal(kept, expected)


@pytest.mark.parametrize("fail_after", [1, 3])
def test_nothing_stays_in_use_when_forward_raises(tmp_path: Path, fail_after: int):
    policy = swap.SwapPolicy(tier="disk", min_bytes=0, keep_resident=0, spill_dir=tmp_path)
    arena = spill_arena(tmp_path)
    x = torch.randn(512, 512, requires_grad=True)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"), swap.activations(policy):
        y = x
        for _ in range(fail_after):
            y = y.sin()
        y @ torch.randn(3, 3)
    del y
    gc.collect()
    assert arena.bytes_in_use == 0
    assert list(tmp_path.iterdir()) == []


class _Cycle:
    """Keeps a view alive only through a reference cycle: a garbage collection frees it."""


def test_a_view_freed_by_a_collection_mid_allocation_never_double_books(tmp_path: Path):
    for threshold in range(1, 40):  # lands the collection at every point of an allocation
        arena = SpillArena(tmp_path / str(threshold))
        regions = [arena.store(memoryview(np.zeros(1024, np.uint8))) for _ in range(6)]
        arena.release(regions[3])
        cycle = _Cycle()
        cycle.self, cycle.view = cycle, arena.view(regions[1])  # type: ignore[attr-defined]
        arena.release(regions[1])
        del cycle
        gc.set_threshold(threshold, 1000, 1000)
        try:
            fresh = arena.store(memoryview(np.ones(2000, np.uint8)))
        finally:
            gc.set_threshold(700, 10, 10)
        gc.collect()
        (chunk,) = arena.chunks
        assert chunk.holes == sorted(chunk.holes)
        for offset, size in chunk.holes:  # no hole overlaps a live region
            for live in (fresh, regions[0], regions[2], regions[4], regions[5]):
                assert offset + size <= live.offset or live.offset + live.nbytes <= offset
        assert arena.bytes_in_use == 2000 + 4 * 1024


def test_idle_arenas_of_other_directories_are_dropped_beyond_a_few(tmp_path: Path):
    policy = lambda d: swap.SwapPolicy(tier="disk", min_bytes=0, spill_dir=d)  # noqa: E731
    x = torch.randn(64, 64, requires_grad=True)
    for i in range(5):
        with swap.activations(policy(tmp_path / str(i))):
            y = x.sin().cos().sum()
        y.backward()
    arena = spill_arena(tmp_path / "4")
    assert arena.sessions == 1  # this call's
    leave_arena(arena)
    alive = [tmp_path / str(i) in _ARENAS for i in range(5)]
    assert alive == [False, False, True, True, True]  # the newest kept warm, counting this
