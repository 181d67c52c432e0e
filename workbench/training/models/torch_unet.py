"""U-Net (Ronneberger et al. 2015) for segmentation: per-pixel class logits."""

from __future__ import annotations

import torch
from torch import nn

from workbench.training.models.torch_basic import double_conv


class UNet(nn.Module):
    """``depth`` down/up levels; input height and width must be divisible by 2**depth."""

    def __init__(self, in_channels: int, num_classes: int, width: int, depth: int) -> None:
        super().__init__()
        chans = [width * 2**i for i in range(depth + 1)]
        self.depth = depth
        self.stem = double_conv(in_channels, chans[0])
        self.down = nn.ModuleList(double_conv(chans[i], chans[i + 1]) for i in range(depth))
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(chans[i + 1], chans[i], 2, stride=2) for i in range(depth)
        )
        self.merge = nn.ModuleList(double_conv(2 * chans[i], chans[i]) for i in range(depth))
        self.head = nn.Conv2d(chans[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        step = 2**self.depth
        if x.shape[-1] % step or x.shape[-2] % step:
            raise ValueError(
                f"U-Net with depth {self.depth} needs height and width divisible by {step}, "
                f"got {tuple(x.shape[-2:])}"
            )
        skips = [self.stem(x)]
        for down in self.down:
            skips.append(down(nn.functional.max_pool2d(skips[-1], 2)))
        y = skips.pop()
        for i in reversed(range(self.depth)):
            y = self.merge[i](torch.cat([self.up[i](y), skips.pop()], dim=1))
        out: torch.Tensor = self.head(y)
        return out
