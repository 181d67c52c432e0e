"""Keras/TensorFlow tensor swapping: exact gradients, model.fit via the callback, cleanup."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # pinned: a broken install fails here, it is not skipped
import tensorflow as tf

from workbench.engine.swap import SwapPolicy
from workbench.engine.swap.keras import KerasSwapper, SwapCallback, swappable

X = np.random.RandomState(0).randn(32, 16, 16, 3).astype("float32")
Y = np.random.RandomState(1).randint(0, 10, 32)
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def build(depth: int = 2):
    keras.utils.set_random_seed(0)
    layers = [keras.Input((16, 16, 3))]
    for _ in range(depth):
        layers.append(keras.layers.Conv2D(8, 3, padding="same", activation="relu"))
    layers += [
        keras.layers.Activation("tanh"),
        keras.layers.BatchNormalization(),
        keras.layers.MaxPooling2D(),
        keras.layers.Dropout(0.25, seed=1),
        keras.layers.Flatten(),
        keras.layers.Dense(10),
    ]
    return keras.Sequential(layers)


def tape_grads(model):
    with tf.GradientTape() as tape:
        loss = LOSS(Y, model(X, training=True))
    return [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]


@pytest.mark.parametrize("tier", ["disk", "host"])
def test_gradients_bit_identical(tier: str, tmp_path: Path):
    expected = tape_grads(build())  # fresh models: Dropout's seed state advances per call
    model = build()
    swapper = KerasSwapper(
        model, SwapPolicy(tier=tier, min_bytes=0, keep_resident=0, spill_dir=tmp_path)
    )
    with swapper.step() as stats:
        got = tape_grads(model)
    swapper.remove()
    assert all(np.array_equal(a, b) for a, b in zip(expected, got, strict=True))
    assert stats.saved_tensors == 6  # 2 conv, activation, pool, flatten, dense
    assert stats.resident_bytes == 0
    if tier == "disk":
        assert stats.swapped_out_bytes > 0
    assert list(tmp_path.iterdir()) == []


def test_random_and_stateful_layers_are_not_wrapped():
    assert not swappable(keras.layers.Dropout(0.5))
    assert not swappable(keras.layers.BatchNormalization())
    assert not swappable(keras.layers.GaussianNoise(0.1))
    assert swappable(keras.layers.Dense(3))
    swapper = KerasSwapper(build(), SwapPolicy(tier="none"))
    names = [type(layer).__name__ for layer in swapper.layers]
    assert names == ["Conv2D", "Conv2D", "Activation", "MaxPooling2D", "Flatten", "Dense"]


def test_fit_with_callback_trains_identically(tmp_path: Path):
    plain = build()
    plain.compile(optimizer="sgd", loss=LOSS)
    plain_history = plain.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)

    swapped = build()
    swapped.compile(optimizer="sgd", loss=LOSS)
    policy = SwapPolicy(tier="disk", min_bytes=0, keep_resident=0, spill_dir=tmp_path)
    callback = SwapCallback(policy)
    history = swapped.fit(
        X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0, callbacks=[callback]
    )

    assert history.history["loss"] == plain_history.history["loss"]
    for a, b in zip(plain.get_weights(), swapped.get_weights(), strict=True):
        assert np.array_equal(a, b)
    assert len(callback.history) == 8  # 2 epochs x 4 steps
    assert all(step["swap/swapped_out_bytes"] > 0 for step in callback.history)
    assert list(tmp_path.iterdir()) == []
    # the callback leaves the model as it found it
    assert all("_workbench_swap_original_call" not in vars(layer) for layer in swapped.layers)


def test_disk_tier_cuts_resident_bytes(tmp_path: Path):
    model = build(depth=12)
    with (swapper := KerasSwapper(model, SwapPolicy(tier="none", min_bytes=0))).step() as base:
        tape_grads(model)
    swapper.remove()
    policy = SwapPolicy(tier="disk", min_bytes=0, keep_resident=1, spill_dir=tmp_path)
    with (swapper := KerasSwapper(model, policy)).step() as swapped:
        tape_grads(model)
    swapper.remove()
    assert swapped.peak_resident_bytes <= 0.3 * base.peak_resident_bytes
