"""Batch augmentations on (N, C, H, W) float arrays, driven by a seeded generator."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Augment:
    """hflip: mirror half the images; crop_padding: pad by p and crop back at a random
    offset; noise_std: add gaussian noise. All off by default."""

    hflip: bool = False
    crop_padding: int = 0
    noise_std: float = 0.0

    def __post_init__(self) -> None:
        if self.crop_padding < 0:
            raise ValueError(f"crop_padding must be >= 0, got {self.crop_padding}")
        if self.noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {self.noise_std}")

    def __call__(
        self, x: npt.NDArray[np.float32], rng: np.random.Generator
    ) -> npt.NDArray[np.float32]:
        out = x.copy()
        n, _, h, w = out.shape
        if self.hflip:
            flip = rng.random(n) < 0.5
            out[flip] = out[flip][..., ::-1]
        if self.crop_padding:
            p = self.crop_padding
            padded = np.pad(out, ((0, 0), (0, 0), (p, p), (p, p)))
            dy, dx = rng.integers(0, 2 * p + 1, size=(2, n))
            for i in range(n):
                out[i] = padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w]
        if self.noise_std:
            out += rng.normal(0.0, self.noise_std, size=out.shape).astype(out.dtype)
        return out
