"""``SyncBatchNorm``: batch statistics over the union of every rank's batch.

Forward allreduces per-channel (sum, sum of squares, count); backward allreduces the two
per-channel sums the input gradient needs. Weight and bias gradients stay local (the
``DistributedOptimizer`` averages them), as in ``torch.nn.SyncBatchNorm``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from workbench.engine import ops
from workbench.engine.reduce_ops import ReduceOp


def _allreduce_sum(tensor: torch.Tensor, name: str) -> torch.Tensor:
    data = tensor.detach().to(torch.float64).cpu().numpy()
    total = ops.allreduce(data, ReduceOp.SUM, name=name)
    return torch.from_numpy(np.asarray(total)).to(tensor.device)


def _channels_view(x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Per-channel ``values`` shaped to broadcast against ``x`` (N, C, ...)."""
    return values.view(1, -1, *([1] * (x.dim() - 2)))


class _SyncBatchNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor | None,
        bias: torch.Tensor | None,
        eps: float,
        name: str,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        dims = [0, *range(2, x.dim())]
        count = torch.tensor([x.numel() / x.shape[1]], dtype=torch.float64)
        local = torch.cat([x.sum(dims).double(), (x.double() ** 2).sum(dims), count])
        total = _allreduce_sum(local, name + ".stats")
        channels = x.shape[1]
        n = total[-1]
        mean = total[:channels] / n
        var = total[channels : 2 * channels] / n - mean**2
        invstd = torch.rsqrt(var.clamp_min(0) + eps)
        xhat = (x - _channels_view(x, mean.to(x.dtype))) * _channels_view(x, invstd.to(x.dtype))
        y = xhat
        if weight is not None:
            y = y * _channels_view(x, weight)
        if bias is not None:
            y = y + _channels_view(x, bias)
        ctx.save_for_backward(xhat, weight, invstd.to(x.dtype))
        ctx.name, ctx.count, ctx.has_bias = name, n, bias is not None
        return y, mean, var, n

    @staticmethod
    def backward(ctx: Any, grad_y: torch.Tensor, *_: Any) -> tuple[Any, ...]:
        xhat, weight, invstd = ctx.saved_tensors
        dims = [0, *range(2, xhat.dim())]
        sum_dy = grad_y.sum(dims)
        sum_dy_xhat = (grad_y * xhat).sum(dims)
        channels = xhat.shape[1]
        total = _allreduce_sum(torch.cat([sum_dy, sum_dy_xhat]), ctx.name + ".grads")
        mean_dy = (total[:channels] / ctx.count).to(grad_y.dtype)
        mean_dy_xhat = (total[channels:] / ctx.count).to(grad_y.dtype)
        scale = invstd if weight is None else invstd * weight
        grad_x = _channels_view(xhat, scale) * (
            grad_y - _channels_view(xhat, mean_dy) - xhat * _channels_view(xhat, mean_dy_xhat)
        )
        grad_weight = sum_dy_xhat if weight is not None else None
        grad_bias = sum_dy if ctx.has_bias else None
        return grad_x, grad_weight, grad_bias, None, None


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation whose training statistics cover every rank's batch.

    A drop-in for ``torch.nn.BatchNorm{1,2,3}d`` (inputs ``(N, C, ...)``); in eval mode, or
    on one rank, it is plain batch norm.
    """

    _instances = 0

    def __init__(self, num_features: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(num_features, *args, **kwargs)
        SyncBatchNorm._instances += 1
        self._wb_name = f"sync_batch_norm.{SyncBatchNorm._instances}"

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"SyncBatchNorm expects (N, C, ...) input, got {input.dim()}D")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(input)
        if not self.training or not ops.is_initialized() or ops.size() == 1:
            return super().forward(input)
        y, mean, var, n = _SyncBatchNormFunction.apply(  # type: ignore[no-untyped-call]
            input, self.weight, self.bias, self.eps, self._wb_name
        )
        if self.track_running_stats and self.running_mean is not None:
            self._update_running_stats(mean, var, n)
        return y  # type: ignore[no-any-return]

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor, n: torch.Tensor) -> None:
        assert self.running_mean is not None and self.running_var is not None
        assert self.num_batches_tracked is not None
        self.num_batches_tracked.add_(1)
        momentum = self.momentum
        if momentum is None:
            momentum = 1.0 / float(self.num_batches_tracked)
        unbiased = var * (n / max(float(n) - 1.0, 1.0))
        self.running_mean.mul_(1 - momentum).add_(mean.to(self.running_mean.dtype) * momentum)
        self.running_var.mul_(1 - momentum).add_(unbiased.to(self.running_var.dtype) * momentum)
