"""Keras / TF cases run inside real MPI ranks (one launch: importing TF costs ~6 s).

The launcher sets ``KERAS_BACKEND=tensorflow``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import workbench.engine.keras as hvd
from tests.engine.case_report import emit, raises, run_case
from workbench.training.data import digits


def build_model(seed: int) -> Any:
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)]
    )


def fit_with_callbacks() -> tuple[bool, Any]:
    data = digits()
    x = data.images.reshape(len(data.labels), -1)[hvd.rank() :: hvd.size()]
    y = data.labels[hvd.rank() :: hvd.size()]
    model = build_model(seed=hvd.rank())  # different init per rank: the callback fixes it
    opt = hvd.DistributedOptimizer(keras.optimizers.SGD(0.05 * hvd.size(), momentum=0.9))
    model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    callbacks = [
        hvd.callbacks.BroadcastGlobalVariablesCallback(0),
        hvd.callbacks.MetricAverageCallback(),
        hvd.callbacks.LearningRateWarmupCallback(0.05 * hvd.size(), warmup_epochs=1),
    ]
    history = model.fit(
        x, y, batch_size=32, epochs=3, callbacks=callbacks, verbose=0, shuffle=False
    )
    losses = history.history["loss"]
    digest = hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()
    emit("keras/weights", True, digest)
    emit("keras/losses", True, losses)
    lr = float(np.asarray(model.optimizer.learning_rate))
    return losses[-1] < 0.6 * losses[0] and abs(lr - 0.05 * hvd.size()) < 1e-6, (losses, lr)


def gradient_tape_matches_union() -> tuple[bool, Any]:
    n, me = hvd.size(), hvd.rank()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n * 8, 64)).astype(np.float32)
    y = rng.integers(0, 10, n * 8)
    model = build_model(seed=1)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        union_loss = loss_fn(y, model(x))
    want = tape.gradient(union_loss, model.trainable_variables)
    with hvd.DistributedGradientTape(tf.GradientTape()) as tape:
        loss = loss_fn(y[me * 8 : (me + 1) * 8], model(x[me * 8 : (me + 1) * 8]))
    got = tape.gradient(loss, model.trainable_variables)
    errors = [float(np.abs(g.numpy() - w.numpy()).max()) for g, w in zip(got, want, strict=True)]
    return max(errors) < 1e-5, errors


def graph_allreduce() -> tuple[bool, Any]:
    n, me = hvd.size(), hvd.rank()

    @tf.function
    def reduce(t: Any) -> Any:
        return hvd.allreduce(t, op=hvd.Sum, name="graph")

    got = reduce(tf.fill([3], float(me + 1)))
    eager = hvd.allreduce(tf.constant([float(me)] * 2))
    fp16 = hvd.allreduce(tf.constant([1.5]), compression=hvd.Compression.fp16)
    ok = np.allclose(got.numpy(), n * (n + 1) / 2) and np.allclose(eager.numpy(), (n - 1) / 2)
    return ok and fp16.dtype == tf.float32 and np.allclose(fp16.numpy(), 1.5), (got, eager)


def other_collectives() -> tuple[bool, Any]:
    n, me = hvd.size(), hvd.rank()
    checks = {}
    gathered = hvd.allgather(tf.fill([me + 1, 2], float(me)))  # uneven first dimensions
    want = np.concatenate([np.full((r + 1, 2), float(r)) for r in range(n)])
    checks["allgather"] = np.array_equal(gathered.numpy(), want)
    graph = tf.function(lambda t: hvd.allgather(t))(tf.fill([1], me))
    checks["allgather_graph"] = graph.numpy().tolist() == list(range(n))
    summed, maxed = hvd.grouped_allreduce([tf.ones([2]), tf.fill([3], float(me))], op=hvd.Sum)
    checks["grouped"] = (
        summed.numpy().tolist() == [n, n] and maxed.numpy().tolist() == [n * (n - 1) / 2] * 3
    )
    checks["max"] = hvd.allreduce(tf.constant([float(me)]), op=hvd.Max).numpy().tolist() == [
        n - 1.0
    ]
    checks["broadcast"] = (
        hvd.broadcast(tf.fill([2], me), root_rank=n - 1).numpy().tolist() == [n - 1] * 2
    )
    variable = tf.Variable([float(me)] * 3)
    hvd.broadcast_variables([variable], root_rank=n - 1)
    checks["broadcast_variables"] = variable.numpy().tolist() == [n - 1.0] * 3
    return all(checks.values()), checks


def main() -> None:
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    run_case(
        "keras/before_init",
        lambda: raises(
            hvd.EngineNotInitializedError, lambda: hvd.DistributedOptimizer(keras.optimizers.SGD())
        ),
    )
    hvd.init()
    run_case("keras/fit", fit_with_callbacks)
    run_case("keras/gradient_tape", gradient_tape_matches_union)
    run_case("keras/graph_allreduce", graph_allreduce)
    run_case("keras/other_collectives", other_collectives)
    run_case(
        "keras/wrong_root",
        lambda: raises(
            hvd.CollectiveMismatchError, lambda: hvd.broadcast(tf.ones([2]), root_rank=hvd.size())
        ),
    )
    run_case(
        "keras/mismatch",
        lambda: raises(
            hvd.CollectiveMismatchError, lambda: hvd.allreduce(tf.ones([1 + hvd.rank()]))
        ),
    )
    emit("done", True)
