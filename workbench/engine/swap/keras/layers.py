"""Model transform: a layer's input leaves the device in forward and returns for its gradient.

A wrapped layer runs its forward under ``tf.custom_gradient``: nothing inside is recorded
by the outer tape, its input goes to the swap session, and its gradient brings the input
back and recomputes the layer's own forward under a local tape (one layer's worth of
recompute; the activations between layers are what is swapped). Layers whose forward is
random or updates state (dropout, noise, batch norm, anything with non-trainable weights)
are left alone: recomputing them would change the result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import numpy.typing as npt
import tensorflow as tf

from workbench.engine.swap.keras.session import KerasSwapSession

SessionSource = Callable[[], KerasSwapSession | None]

_NOT_RECOMPUTABLE = (
    "Dropout", "SpatialDropout", "AlphaDropout", "GaussianDropout", "GaussianNoise",
    "BatchNormalization", "RandomFlip", "RandomRotation", "RandomZoom", "RandomCrop",
)  # fmt: skip
_MARK = "_workbench_swap_original_call"

Array = npt.NDArray[Any]


def swappable(layer: keras.layers.Layer) -> bool:
    """Whether recomputing ``layer`` in backward gives the same result as in forward."""
    if isinstance(layer, keras.layers.InputLayer | keras.Model):
        return False
    if layer.non_trainable_weights:
        return False
    return not any(name in type(layer).__name__ for name in _NOT_RECOMPUTABLE)


def wrap_layer(layer: keras.layers.Layer, session_source: SessionSource) -> bool:
    """Make ``layer`` swap its input through ``session_source()``; False if it cannot be."""
    if not swappable(layer) or hasattr(layer, _MARK):
        return False
    original = layer.call
    setattr(layer, _MARK, original)

    def call(inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if not tf.is_tensor(inputs) or not inputs.dtype.is_floating:
            return original(inputs, *args, **kwargs)
        return _swapped_call(original, session_source, inputs, args, kwargs)

    layer.call = call
    return True


def unwrap_layer(layer: keras.layers.Layer) -> None:
    original = layer.__dict__.pop(_MARK, None)
    if original is not None:
        layer.__dict__.pop("call", None)


def _swapped_call(
    original: Callable[..., Any],
    session_source: SessionSource,
    inputs: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    def save(x: Any) -> np.int64:
        session = session_source()
        if session is None:
            return np.int64(-1)  # not training: nothing will ask for the gradient
        return np.int64(session.save(x.numpy()))

    def load(index: Any, _: Any) -> Array:
        session = session_source()
        if session is None or int(index) < 0:
            raise RuntimeError("workbench swap: backward ran outside a swapping session")
        return session.load(int(index))

    @tf.custom_gradient  # type: ignore[untyped-decorator]
    def forward(x: Any) -> Any:
        y = original(x, *args, **kwargs)
        token = tf.py_function(save, [x], tf.int64)

        def grad(dy: Any, variables: Any = None) -> Any:
            restored = tf.py_function(load, [token, dy], x.dtype)  # waits for dy: backward
            restored = tf.ensure_shape(restored, x.shape)
            with tf.GradientTape() as tape:
                tape.watch(restored)
                y_again = original(restored, *args, **kwargs)
            grads = tape.gradient(y_again, [restored, *(variables or [])], output_gradients=dy)
            return grads[0], grads[1:]

        return y, grad

    return forward(inputs)
