"""Keras 3 / TensorFlow tensor swapping: a model transform and a ``model.fit`` callback.

    from workbench.engine.swap.keras import SwapCallback
    model.fit(x, y, callbacks=[SwapCallback(SwapPolicy(tier="disk"))])

or, for a custom loop, ``swapper = KerasSwapper(model, policy)`` and
``with swapper.step() as stats:`` around the forward pass and ``tape.gradient``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import keras

from workbench.engine.swap.keras.layers import swappable, unwrap_layer, wrap_layer
from workbench.engine.swap.keras.session import KerasSwapSession
from workbench.engine.swap.policy import SwapPolicy
from workbench.engine.swap.stats import SwapStats

__all__ = ["KerasSwapper", "SwapCallback", "swappable"]


class KerasSwapper:
    """Wraps every swappable layer of ``model``; each training step gets a fresh session."""

    def __init__(self, model: keras.Model, policy: SwapPolicy | None = None) -> None:
        self.model = model
        self.policy = policy or SwapPolicy()
        self.session: KerasSwapSession | None = None
        self.layers = [layer for layer in _all_layers(model) if wrap_layer(layer, self.current)]
        self.last_stats: SwapStats | None = None

    def current(self) -> KerasSwapSession | None:
        return self.session

    def begin_step(self) -> SwapStats:
        self.end_step()
        self.session = KerasSwapSession(self.policy)
        return self.session.stats

    def end_step(self) -> None:
        if self.session is not None:
            self.last_stats = self.session.stats
            self.session.close()
            self.session = None

    @contextmanager
    def step(self) -> Iterator[SwapStats]:
        stats = self.begin_step()
        try:
            yield stats
        finally:
            self.end_step()

    def remove(self) -> None:
        self.end_step()
        for layer in self.layers:
            unwrap_layer(layer)
        self.layers = []


class SwapCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """Turns swapping on for ``model.fit``: pass it in ``callbacks=[...]``, nothing else changes.

    Per-step numbers land in ``self.history`` (a list of ``SwapStats.as_metrics()`` dicts).
    """

    def __init__(self, policy: SwapPolicy | None = None) -> None:
        super().__init__()
        self.policy = policy or SwapPolicy()
        self.swapper: KerasSwapper | None = None
        self.history: list[dict[str, float]] = []

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.swapper = KerasSwapper(self.model, self.policy)
        self.model.make_train_function(force=True)  # retrace with the wrapped layers

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        assert self.swapper is not None
        self.swapper.begin_step()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        assert self.swapper is not None
        self.swapper.end_step()
        if self.swapper.last_stats is not None:
            self.history.append(self.swapper.last_stats.as_metrics())

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.swapper is not None:
            self.swapper.remove()
            self.model.make_train_function(force=True)


def _all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    found: list[keras.layers.Layer] = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(_all_layers(layer))
        else:
            found.append(layer)
    return found
