"""PyTorch tensor swapping: exact gradients, residency, prefetch order, cleanup, errors."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from workbench.engine import swap
from workbench.engine.swap.torch import SavedTensorModifiedError

MiB = 1 << 20


class Mixed(nn.Module):
    """Several layer kinds, in-place activations, views, a tensor saved by two ops."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.norm = nn.LayerNorm(16)
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.lstm = nn.LSTM(16, 8, batch_first=True)
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu_(self.bn(self.conv1(x)))  # in-place on a fresh tensor is fine
        y = self.pool(self.conv2(y) + y)  # residual: y saved by two consumers
        seq = y.flatten(2).transpose(1, 2)  # a view with non-trivial strides
        seq = self.norm(seq)
        seq = seq * torch.sigmoid(seq)  # seq saved twice (mul and sigmoid's input)
        seq, _ = self.attn(seq, seq, seq)
        out, _ = self.lstm(seq[:, ::2])  # strided slice
        return self.head(out[:, -1])


def _model(seed: int = 0) -> Mixed:
    torch.manual_seed(seed)
    return Mixed()


def _grads(model: nn.Module, x: torch.Tensor, policy: swap.SwapPolicy | None):
    model.zero_grad(set_to_none=True)
    if policy is None:
        loss = model(x).square().sum()
        stats = None
    else:
        with swap.activations(policy, keep=[x]) as stats:
            loss = model(x).square().sum()
    loss.backward()
    return [p.grad.clone() for p in model.parameters()], stats


POLICIES = {
    "disk-keep2": swap.SwapPolicy(tier="disk", min_bytes=4096, keep_resident=2, prefetch=2),
    "disk-keep0": swap.SwapPolicy(tier="disk", min_bytes=0, keep_resident=0, prefetch=1),
    "disk-budget": swap.SwapPolicy.auto(256 << 10, tier="disk"),
    "disk-no-prefetch": swap.SwapPolicy(tier="disk", min_bytes=4096, keep_resident=1, prefetch=0),
    "host": swap.SwapPolicy(tier="host", min_bytes=0),
    "none": swap.SwapPolicy(tier="none", min_bytes=0),
}


@pytest.mark.parametrize("name", list(POLICIES))
def test_gradients_bit_identical(name: str, tmp_path: Path):
    policy = POLICIES[name]
    if policy.tier == "disk":
        policy = swap.SwapPolicy(**{**policy.__dict__, "spill_dir": tmp_path})
    model, x = _model(), torch.randn(4, 3, 16, 16)
    expected, _ = _grads(model, x, None)
    got, stats = _grads(model, x, policy)
    assert all(torch.equal(a, b) for a, b in zip(expected, got, strict=True))
    assert stats is not None and stats.saved_tensors > 0
    assert stats.resident_bytes == 0, "every saved byte is let go after backward"
    if policy.tier == "disk":
        assert stats.swapped_out_bytes > 0 and stats.swapped_in_bytes > 0
        assert list(tmp_path.rglob("*.bin")) == []
        assert list(tmp_path.iterdir()) == [], "the session's spill dir is removed"
    else:
        assert stats.swapped_out_bytes == 0  # CPU tensors: host tier moves nothing


def test_disk_tier_cuts_resident_bytes(tmp_path: Path):
    torch.manual_seed(0)
    model = nn.Sequential(
        *[m for _ in range(24) for m in (nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())]
    )
    x = torch.randn(8, 8, 32, 32)
    _, base = _grads(model, x, swap.SwapPolicy(tier="none", min_bytes=0))
    _, swapped = _grads(
        model, x, swap.SwapPolicy(tier="disk", keep_resident=2, spill_dir=tmp_path, min_bytes=0)
    )
    assert base is not None and swapped is not None
    assert swapped.peak_resident_bytes <= 0.3 * base.peak_resident_bytes


def test_shared_storage_moves_once(tmp_path: Path):
    x = torch.randn(256, 1024, requires_grad=True)
    policy = swap.SwapPolicy(tier="disk", min_bytes=0, keep_resident=0, spill_dir=tmp_path)
    with swap.activations(policy) as stats:
        y = x * 2
        z = (y.sin() + y.cos() + y.t().sin().t()).sum()  # y saved by three ops, one via a view
    z.backward()
    assert stats.saved_tensors == 3
    assert stats.swapped_out_bytes == y.numel() * 4
    expected = 2 * (2 * (2 * x).cos() - (2 * x).sin())
    assert torch.allclose(x.grad, expected)


def test_swap_in_waits_for_backward(tmp_path: Path):
    """Swap-in never follows swap-out during forward: only backward brings bytes back."""
    torch.manual_seed(0)
    model = nn.Sequential(*[nn.Linear(512, 512) for _ in range(6)])
    x = torch.randn(64, 512)
    policy = swap.SwapPolicy(
        tier="disk", min_bytes=0, keep_resident=0, prefetch=1, spill_dir=tmp_path
    )
    with swap.activations(policy, keep=[x]) as stats:
        loss = model(x).sum()
    forward_end_us = (time.perf_counter() - stats.origin) * 1e6
    assert stats.swapped_in_bytes == 0 and not [e for e in stats.events if e.name == "swap_in"]
    loss.backward()
    ins = [e for e in stats.events if e.name == "swap_in"]
    assert ins and min(e.start_us for e in ins) >= forward_end_us
    assert [e for e in stats.events if e.name == "swap_out"]
    assert stats.prefetched > 0
    trace = stats.chrome_trace()
    json.dumps(trace)
    assert {e["name"] for e in trace} >= {"swap_out", "swap_in"}
    assert all(e["ph"] == "X" and e["cat"] == "swap" for e in trace)


def test_double_backward(tmp_path: Path):
    x = torch.randn(300, 300, requires_grad=True)
    policy = swap.SwapPolicy(tier="disk", min_bytes=0, keep_resident=0, spill_dir=tmp_path)
    with swap.activations(policy):
        y = (x.sin() * x).pow(3).sum()
    (g,) = torch.autograd.grad(y, x, create_graph=True)
    g.square().sum().backward()
    x2 = x.detach().clone().requires_grad_()
    y2 = (x2.sin() * x2).pow(3).sum()
    (g2,) = torch.autograd.grad(y2, x2, create_graph=True)
    g2.square().sum().backward()
    assert torch.equal(x.grad, x2.grad)


@pytest.mark.parametrize("keep_resident", [0, 4])
def test_inplace_on_saved_tensor_is_an_error(keep_resident: int, tmp_path: Path):
    x = torch.randn(512, 512, requires_grad=True)
    policy = swap.SwapPolicy(
        tier="disk", min_bytes=0, keep_resident=keep_resident, spill_dir=tmp_path
    )
    with swap.activations(policy):
        a = x * 2
        b = a.sin()  # saves a
        a.add_(1)  # ...which is then changed: the gradient of sin would be wrong
        c = b.exp().sum()
    with pytest.raises(SavedTensorModifiedError, match="modified by an in-place operation"):
        c.backward()


def test_spill_files_removed_when_forward_raises(tmp_path: Path):
    model = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 7))
    policy = swap.SwapPolicy(tier="disk", min_bytes=0, keep_resident=0, spill_dir=tmp_path)
    with pytest.raises(RuntimeError), swap.activations(policy):
        h = model[1](model[0](torch.randn(512, 256)))
        h @ torch.randn(3, 3)  # shape error mid-forward
    assert list(tmp_path.iterdir()) == []


def test_unusable_spill_dir_is_a_clear_error(tmp_path: Path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    policy = swap.SwapPolicy(tier="disk", spill_dir=not_a_dir / "spill")
    with pytest.raises(swap.SpillError, match=r"not writable.*spill_dir"), swap.activations(policy):
        pass


def _can_mount_tmpfs(target: Path) -> bool:
    if os.geteuid() != 0:
        return False
    target.mkdir(exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(target)], capture_output=True
    )
    return proc.returncode == 0


def test_full_disk_is_a_clear_error(tmp_path: Path):
    small = tmp_path / "small"
    if not _can_mount_tmpfs(small):
        pytest.skip("needs root to mount a 1 MiB tmpfs")
    try:
        x = torch.randn(1024, 1024, requires_grad=True)  # 4 MiB per saved tensor
        policy = swap.SwapPolicy(tier="disk", min_bytes=0, keep_resident=0, spill_dir=small)
        with pytest.raises(swap.SpillError, match=r"No space left.*free space"):
            with swap.activations(policy):
                y = x
                for _ in range(6):
                    y = y.sin()
            y.sum().backward()
        assert list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_wrap_keeps_params_and_inputs_resident(tmp_path: Path):
    model = _model()
    x = torch.randn(4, 3, 16, 16)
    expected, _ = _grads(model, x, None)
    wrapped = swap.wrap(
        model, swap.SwapPolicy(tier="disk", min_bytes=0, keep_resident=1, spill_dir=tmp_path)
    )
    model.zero_grad(set_to_none=True)
    wrapped(x).square().sum().backward()
    assert all(torch.equal(a, p.grad) for a, p in zip(expected, model.parameters(), strict=True))
    stats = wrapped.last_stats
    assert stats is not None and stats.swapped_out_bytes > 0
    assert stats.as_metrics()["swap/swapped_out_bytes"] == stats.swapped_out_bytes


def test_max_batch_grows_with_swapping(tmp_path: Path):
    torch.manual_seed(0)
    model = nn.Sequential(
        *[m for _ in range(24) for m in (nn.Conv2d(4, 4, 3, padding=1), nn.Tanh())]
    )
    make: Callable[[int], torch.Tensor] = lambda n: torch.randn(n, 4, 16, 16)  # noqa: E731
    budget = 2 * MiB
    plain = swap.max_batch(model, make, budget, limit=512)
    swapped = swap.max_batch(
        model,
        make,
        budget,
        policy=swap.SwapPolicy.auto(budget, tier="disk", spill_dir=tmp_path),
        limit=512,
    )
    assert plain >= 1
    assert swapped >= 4 * plain


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tier": "gpu"}, "tier must be one of"),
        ({"min_bytes": -1}, "min_bytes must be >= 0"),
        ({"keep_resident": 1.5}, "keep_resident must be an integer"),
        ({"budget_bytes": 0}, "budget_bytes must be >= 1"),
        ({"prefetch": True}, "prefetch must be an integer"),
        ({"io_threads": 0}, "io_threads must be >= 1"),
    ],
)
def test_policy_validation(kwargs: dict[str, object], message: str):
    with pytest.raises(swap.SwapPolicyError, match=message):
        swap.SwapPolicy(**kwargs)  # type: ignore[arg-type]


gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("tier", ["host", "disk"])
def test_cuda_tiers_identical_and_lower_peak(tier: str, tmp_path: Path):
    torch.manual_seed(0)
    model = nn.Sequential(
        *[m for _ in range(8) for m in (nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())]
    ).cuda()
    x = torch.randn(32, 16, 64, 64, device="cuda")
    expected, _ = _grads(model, x, None)
    torch.cuda.reset_peak_memory_stats()
    _grads(model, x, None)
    base_peak = torch.cuda.max_memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    got, stats = _grads(
        model, x, swap.SwapPolicy(tier=tier, min_bytes=0, keep_resident=2, spill_dir=tmp_path)
    )
    assert all(torch.equal(a, b) for a, b in zip(expected, got, strict=True))
    assert torch.cuda.max_memory_allocated() < 0.6 * base_peak
    assert stats is not None and stats.swapped_out_bytes > 0
