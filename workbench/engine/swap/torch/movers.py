"""Moving one entry's bytes between the device and a tier, asynchronously.

- CPU tensor, disk tier: an I/O thread copies the storage's bytes into the spill arena
  (``spill.py``) and the in-memory copy is let go when that is done; swap-in is a view of
  the arena region (no copy), after asking the kernel to page it in if it was evicted.
- CUDA tensor, host tier: a side CUDA stream copies into pinned host memory; the device
  block is handed back to the caching allocator (``record_stream`` keeps it until the copy
  ran); swap-in copies back on the side stream and the compute stream waits on an event.
- CUDA tensor, disk tier: as host, then an I/O thread writes the pinned copy to a file.
State changes happen inside the submitted jobs, so a finished future means a finished move.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from workbench.engine.swap.residency import io_pool
from workbench.engine.swap.torch.entry import TorchEntry, TorchResidency


def needs_move(tier: str, device: torch.device, nbytes: int) -> bool:
    """Whether swapping to ``tier`` frees memory where a tensor on ``device`` lives."""
    if tier == "none" or nbytes == 0:
        return False
    return device.type != "cpu" or tier == "disk"


def _bytes_of(storage: torch.UntypedStorage) -> torch.Tensor:
    """A uint8 tensor over all bytes of ``storage`` (no copy)."""
    return torch.empty((0,), dtype=torch.uint8, device=storage.device).set_(storage)


def _side_stream(session: TorchResidency, device: torch.device) -> Any:
    index = device.index if device.index is not None else torch.cuda.current_device()
    stream = session.side_streams.get(index)
    if stream is None:
        stream = torch.cuda.Stream(device=index)  # type: ignore[no-untyped-call]
        session.side_streams[index] = stream
    return stream


# ----- swap out ---------------------------------------------------------------------------
def swap_out(session: TorchResidency, entry: TorchEntry) -> None:
    assert entry.storage is not None
    started = time.perf_counter()
    if entry.device.type == "cpu":
        data = _bytes_of(entry.storage)
        entry.future = io_pool(session.policy.io_threads).submit(
            session.write_out, entry, data.numpy().data, started
        )
        return
    stream = _side_stream(session, entry.device)
    src = _bytes_of(entry.storage)
    host = torch.empty((entry.nbytes,), dtype=torch.uint8, pin_memory=True)
    stream.wait_stream(torch.cuda.current_stream(entry.device))
    with torch.cuda.stream(stream):
        host.copy_(src, non_blocking=True)
        copied = torch.cuda.Event()  # type: ignore[no-untyped-call]
        copied.record(stream)
    src.record_stream(stream)  # the device block is reused only after the copy ran
    entry.host = host
    session.mark_swapped_out(entry, started)
    if session.policy.tier == "disk":
        entry.future = io_pool(session.policy.io_threads).submit(
            _write_pinned_job, session, entry, host, copied
        )


def _write_pinned_job(
    session: TorchResidency, entry: TorchEntry, host: torch.Tensor, copied: Any
) -> None:
    assert session.spill is not None
    copied.synchronize()
    try:
        region = session.spill.store(host.numpy().data)
    except OSError as exc:
        session.fail(exc)  # the pinned copy stays: swap-in still works from host memory
        return
    with session.lock:
        if session.keep_region(entry, region) and entry.state == "swapped":
            entry.host = None


# ----- swap in ----------------------------------------------------------------------------
def swap_in(session: TorchResidency, entry: TorchEntry) -> None:
    """Start bringing ``entry`` back (caller holds the session lock)."""
    started = time.perf_counter()
    entry.state = "reading"
    session.count(entry)
    if entry.device.type == "cpu":
        entry.storage = torch.from_numpy(session.view_region(entry)).untyped_storage()
        entry.state = "loaded"
    elif entry.host is not None:
        _copy_to_device(session, entry, entry.host, started)
    else:
        entry.future = io_pool(session.policy.io_threads).submit(
            _read_pinned_job, session, entry, started
        )


def _read_pinned_job(session: TorchResidency, entry: TorchEntry, started: float) -> None:
    assert session.spill is not None
    assert entry.region is not None
    host = torch.empty((entry.nbytes,), dtype=torch.uint8, pin_memory=True)
    session.spill.read_into(entry.region, host.numpy().data)
    with session.lock:
        session.release_region(entry)
        _copy_to_device(session, entry, host, started)


def _copy_to_device(
    session: TorchResidency, entry: TorchEntry, host: torch.Tensor, started: float
) -> None:
    stream = _side_stream(session, entry.device)
    with torch.cuda.stream(stream):
        device_bytes = torch.empty((entry.nbytes,), dtype=torch.uint8, device=entry.device)
        device_bytes.copy_(host, non_blocking=True)
        ready = torch.cuda.Event()  # type: ignore[no-untyped-call]
        ready.record(stream)
    entry.tensor = device_bytes
    entry.storage = device_bytes.untyped_storage()
    entry.ready = ready
    entry.state = "loaded"
    session.stats.swapped_in_bytes += entry.nbytes
    session.stats.record("swap_in", started, entry.nbytes)


def make_ready(session: TorchResidency, entry: TorchEntry) -> None:
    """Make the compute stream wait until ``entry``'s bytes are back on the device."""
    if entry.ready is None:
        return
    with session.lock:
        ready, entry.ready = entry.ready, None
        if ready is None:
            return
        current = torch.cuda.current_stream(entry.device)
        started = time.perf_counter()
        current.wait_event(ready)
        if entry.tensor is not None:
            entry.tensor.record_stream(current)
        session.stats.record("swap_wait", started, entry.nbytes)
