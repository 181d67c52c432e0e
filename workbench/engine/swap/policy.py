"""What to swap, where to, and how far ahead to bring it back (framework independent)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

TIERS = ("none", "host", "disk")


class SwapPolicyError(ValueError):
    """A policy field has a value it cannot take; the message names the field and the rule."""


@dataclass(frozen=True)
class SwapPolicy:
    """How saved activations leave the device during forward and come back for backward.

    tier: ``"host"`` (pinned host memory; on a CPU-only run this keeps tensors where they
        are), ``"disk"`` (files under ``spill_dir``) or ``"none"`` (only count bytes: the
        baseline).
    min_bytes: tensors smaller than this stay resident (swapping them costs more than it saves).
    keep_resident: the newest saved tensors kept resident during forward (backward needs
        them first); ``None`` means no count limit (use ``budget_bytes``).
    budget_bytes: keep resident saved-activation bytes under this; the oldest are swapped
        out first and prefetch never brings back past it.
    prefetch: during backward, how many swapped tensors ahead of the one in use are brought
        back; a tensor is never brought back earlier than that.
    spill_dir: where the disk tier writes (default: the system temp dir).
    io_threads: threads that move bytes to and from the disk tier.
    """

    tier: str = "host"
    min_bytes: int = 1 << 20
    keep_resident: int | None = 2
    budget_bytes: int | None = None
    prefetch: int = 2
    spill_dir: str | Path | None = None
    io_threads: int = 2

    def __post_init__(self) -> None:
        if self.tier not in TIERS:
            raise SwapPolicyError(f"tier must be one of {TIERS}, got {self.tier!r}")
        _check_int("min_bytes", self.min_bytes, minimum=0)
        if self.keep_resident is not None:
            _check_int("keep_resident", self.keep_resident, minimum=0)
        if self.budget_bytes is not None:
            _check_int("budget_bytes", self.budget_bytes, minimum=1)
        _check_int("prefetch", self.prefetch, minimum=0)
        _check_int("io_threads", self.io_threads, minimum=1)
        if self.tier == "disk" and self.spill_dir is not None and str(self.spill_dir) == "":
            raise SwapPolicyError("spill_dir must be a directory path, got ''")

    @classmethod
    def auto(
        cls, budget_bytes: int, *, tier: str = "host", spill_dir: str | Path | None = None
    ) -> SwapPolicy:
        """Swap whatever it takes to keep resident saved activations under ``budget_bytes``."""
        return cls(
            tier=tier,
            min_bytes=64 << 10,
            keep_resident=None,
            budget_bytes=budget_bytes,
            prefetch=2,
            spill_dir=spill_dir,
        )

    def with_tier(self, tier: str) -> SwapPolicy:
        return replace(self, tier=tier)


def _check_int(field: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SwapPolicyError(f"{field} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise SwapPolicyError(f"{field} must be >= {minimum}, got {value}")
