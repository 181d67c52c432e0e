"""Horovod-parity cases (process sets, sparse gradients, aggregation, partial optimizer,
callbacks' options) run inside 2 real MPI ranks; one launch (importing TF costs ~6 s).

Every value is checked against a reference computed in the same process without the
engine: the union of all ranks' batches, on one model, with a plain GradientTape.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import workbench.engine.keras as hvd
from tests.engine.case_report import emit, raises, run_case

LR = 0.1


def digest(arrays: list[Any]) -> str:
    return hashlib.sha256(b"".join(np.asarray(a).tobytes() for a in arrays)).hexdigest()


def close(got: list[Any], want: list[Any], tol: float = 1e-5) -> tuple[bool, float]:
    error = max(
        float(np.abs(np.asarray(g) - np.asarray(w)).max()) for g, w in zip(got, want, strict=True)
    )
    return error < tol, error


def dense_model() -> Any:
    keras.utils.set_random_seed(7)
    return keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, name="local"), keras.layers.Dense(2, name="head")]
    )


def batches(steps: int, batch: int) -> list[tuple[Any, Any]]:
    """The union batch of every step (all ranks' rows); rank r's rows are its r-th share."""
    rng = np.random.default_rng(3)
    n = hvd.size()
    x = rng.normal(size=(steps, n * batch, 4)).astype(np.float32)
    y = rng.normal(size=(steps, n * batch, 2)).astype(np.float32)
    return list(zip(x, y, strict=True))


def my_rows(union: tuple[Any, Any]) -> tuple[Any, Any]:
    x, y = union
    share = len(x) // hvd.size()
    me = slice(hvd.rank() * share, (hvd.rank() + 1) * share)
    return x[me], y[me]


def gradients(model: Any, x: Any, y: Any) -> list[Any]:
    with tf.GradientTape() as tape:
        loss = keras.losses.MeanSquaredError()(y, model(x))
    return [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]


class Snapshots(keras.callbacks.Callback):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.weights: list[list[Any]] = []

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.weights.append([w.copy() for w in self.model.get_weights()])


def fit_steps(model: Any, optimizer: Any, steps: list[tuple[Any, Any]]) -> list[list[Any]]:
    """Weights after each step of ``model.fit`` on this rank's rows of ``steps``."""
    model.compile(optimizer=optimizer, loss="mse")
    rows = [my_rows(s) for s in steps]
    x = np.concatenate([r[0] for r in rows])
    y = np.concatenate([r[1] for r in rows])
    snapshots = Snapshots()
    model.fit(
        x, y, batch_size=len(rows[0][0]), epochs=1, shuffle=False, verbose=0, callbacks=[snapshots]
    )
    return snapshots.weights


def all_true(checks: dict[str, Any]) -> bool:
    return all(v[0] if isinstance(v, tuple) else v for v in checks.values())


def sgd_step(model: Any, x: Any, y: Any) -> list[Any]:
    """The weights one plain SGD step on (x, y) gives ``model`` (the reference)."""
    grads = gradients(model, x, y)
    return [w.numpy() - LR * g for w, g in zip(model.trainable_variables, grads, strict=True)]


def world_set_checks(world: Any) -> dict[str, Any]:
    n, me = hvd.size(), hvd.rank()
    total = [n * (n + 1) / 2] * 2
    value = tf.fill([2], float(me + 1))
    checks: dict[str, Any] = {}
    summed = hvd.allreduce(value, op=hvd.Sum, process_set=world)
    checks["world_sum"] = summed.numpy().tolist() == total
    graph = tf.function(lambda t: hvd.allreduce(t, op=hvd.Sum, process_set=world))(value)
    checks["world_graph"] = graph.numpy().tolist() == total
    gathered = hvd.allgather(tf.fill([1], me), process_set=world)
    checks["world_gather"] = gathered.numpy().tolist() == list(range(n))
    scattered = hvd.reducescatter(tf.fill([n, 1], float(me)), op=hvd.Sum, process_set=world)
    checks["world_reducescatter"] = scattered.numpy().tolist() == [[n * (n - 1) / 2]]
    received, counts = hvd.alltoall(tf.fill([n], me), process_set=world)
    checks["world_alltoall"] = (
        received.numpy().tolist() == list(range(n)) and counts.numpy().tolist() == [1] * n
    )
    steps = batches(1, 2)  # the optimizer over the world, named explicitly
    opt = hvd.DistributedOptimizer(keras.optimizers.SGD(LR), process_set=world)
    checks["world_optimizer"] = close(
        fit_steps(dense_model(), opt, steps)[-1], sgd_step(dense_model(), *steps[0])
    )
    return checks


def solo_set_checks(solo: Any) -> dict[str, Any]:
    """On the one member of a 1-rank set: every collective gives this rank's own value."""
    value = tf.fill([2], 1.0)
    checks: dict[str, Any] = {"solo_size": solo.size() == 1}
    summed = hvd.allreduce(value, op=hvd.Sum, process_set=solo)
    checks["solo_sum"] = summed.numpy().tolist() == [1.0, 1.0]
    graph = tf.function(lambda t: hvd.allreduce(t, process_set=solo))(value)
    checks["solo_graph"] = graph.numpy().tolist() == [1.0, 1.0]
    gathered = hvd.allgather(tf.fill([1], 5), process_set=solo)
    checks["solo_gather"] = gathered.numpy().tolist() == [5]
    sent = hvd.broadcast(value, 0, process_set=solo)
    checks["solo_broadcast"] = sent.numpy().tolist() == [1.0, 1.0]
    variable = tf.Variable([3.0])
    hvd.broadcast_variables([variable], 0, process_set=solo)
    checks["solo_broadcast_variables"] = variable.numpy().tolist() == [3.0]
    model = dense_model()
    x, y = my_rows(batches(1, 2)[0])
    with hvd.DistributedGradientTape(tf.GradientTape(), process_set=solo) as tape:
        loss = keras.losses.MeanSquaredError()(y, model(x))
    got = [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]
    checks["solo_tape"] = close(got, gradients(model, x, y))
    opt = hvd.DistributedOptimizer(keras.optimizers.SGD(LR), process_set=solo)
    weights = fit_steps(dense_model(), opt, batches(1, 2))[-1]
    checks["solo_optimizer"] = close(weights, sgd_step(dense_model(), x, y))  # own rows only
    warmup = hvd.callbacks.LearningRateWarmupCallback(0.4, warmup_epochs=2, process_set=solo)
    checks["solo_warmup"] = warmup.learning_rate(0) == 0.4  # a 1-rank set starts at the top
    return checks


def process_sets() -> tuple[bool, Any]:
    solo = hvd.add_process_set([0])
    checks = world_set_checks(hvd.global_process_set)
    if hvd.rank() == 0:
        checks.update(solo_set_checks(solo))
    else:
        outsider = raises(
            hvd.InvalidProcessSetError, lambda: hvd.allreduce(tf.ones([1]), process_set=solo)
        )
        checks["outsider"] = outsider[0]
    checks["removed"] = hvd.remove_process_set(solo) and solo.size() is None
    return all_true(checks), checks


def embedding_model() -> Any:
    keras.utils.set_random_seed(11)
    return keras.Sequential(
        [
            keras.Input((3,), dtype="int32"),
            keras.layers.Embedding(12, 4),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]
    )


def sparse_gradients() -> tuple[bool, Any]:
    rng = np.random.default_rng(5)
    n, steps, batch = hvd.size(), 3, 4
    x = rng.integers(0, 12, size=(steps * n * batch, 3)).astype(np.int32)
    y = rng.normal(size=(steps * n * batch, 2)).astype(np.float32)
    reference = embedding_model()
    reference.compile(optimizer=keras.optimizers.SGD(LR), loss="mse")
    reference.fit(x, y, batch_size=n * batch, epochs=1, shuffle=False, verbose=0)
    mine = np.concatenate(
        [
            np.arange(s * n * batch, (s + 1) * n * batch)[hvd.rank() * batch :][:batch]
            for s in range(steps)
        ]
    )
    checks: dict[str, Any] = {}
    for sparse_as_dense in (True, False):
        model = embedding_model()
        opt = hvd.DistributedOptimizer(keras.optimizers.SGD(LR), sparse_as_dense=sparse_as_dense)
        model.compile(optimizer=opt, loss="mse")
        model.fit(x[mine], y[mine], batch_size=batch, epochs=1, shuffle=False, verbose=0)
        checks[f"sparse_as_dense={sparse_as_dense}"] = close(
            model.get_weights(), reference.get_weights()
        )
        emit(f"sparse/weights/{sparse_as_dense}", True, digest(model.get_weights()))
    rows = tf.IndexedSlices(
        tf.fill([1, 4], float(hvd.rank() + 1)), tf.constant([hvd.rank()]), tf.constant([12, 4])
    )
    gathered = hvd.allreduce_gradients([rows])[0]
    dense = hvd.allreduce_gradients([rows], sparse_as_dense=True)[0]
    want = np.zeros((12, 4))
    for r in range(n):
        want[r] = (r + 1) / n
    checks["allgathered_slices"] = isinstance(gathered, tf.IndexedSlices) and np.allclose(
        tf.convert_to_tensor(gathered).numpy(), want
    )
    checks["dense_slices"] = not isinstance(dense, tf.IndexedSlices) and np.allclose(
        dense.numpy(), want
    )
    return all_true(checks), checks


def aggregation(average: bool) -> tuple[bool, Any]:
    """backward_passes_per_step=2: nothing moves after passes 1 and 3; after pass 2 the
    weights moved by the union gradients of passes 1+2 (halved when averaged)."""
    steps = batches(4, 2)
    opt = hvd.DistributedOptimizer(
        keras.optimizers.SGD(LR), backward_passes_per_step=2, average_aggregated_gradients=average
    )
    snapshots = fit_steps(dense_model(), opt, steps)
    reference = dense_model()
    start = [w.numpy() for w in reference.trainable_variables]
    g1, g2 = gradients(reference, *steps[0]), gradients(reference, *steps[1])
    scale = 0.5 if average else 1.0
    after_two = [w - LR * scale * (a + b) for w, a, b in zip(start, g1, g2, strict=True)]
    checks = {
        "still_after_1": close(snapshots[0], start, 0.0 + 1e-12),
        "moved_after_2": close(snapshots[1], after_two),
        "still_after_3": close(snapshots[2], snapshots[1], 1e-12),
        "moved_after_4": not close(snapshots[3], snapshots[2], 1e-6)[0],
        "iterations": int(opt.iterations) == 4,
    }
    emit(f"aggregation/{average}/weights", True, digest(snapshots[-1]))
    return all_true(checks), checks


def partial_optimizer(passes: int) -> tuple[bool, Any]:
    """The ``local`` layer learns from this rank's rows only (gradient / size); ``head`` from
    the union; with 2 passes both aggregate (averaged) first."""
    n = hvd.size()
    steps = batches(passes, 2)
    model = dense_model()
    local = model.get_layer("local")
    opt = hvd.PartialDistributedOptimizer(
        keras.optimizers.SGD(LR),
        backward_passes_per_step=passes,
        average_aggregated_gradients=True,
        local_layers=[local],
    )
    weights = fit_steps(model, opt, steps)[-1]
    reference = dense_model()
    start = [w.numpy() for w in reference.trainable_variables]
    union = [
        sum(parts) / passes
        for parts in zip(*(gradients(reference, *s) for s in steps), strict=True)
    ]
    own = [
        sum(parts) / passes
        for parts in zip(*(gradients(reference, *my_rows(s)) for s in steps), strict=True)
    ]
    want = [
        w - LR * (o / n if i < 2 else u)
        for i, (w, o, u) in enumerate(zip(start, own, union, strict=True))
    ]
    emit(f"partial/{passes}/local", True, digest(weights[:2]))
    emit(f"partial/{passes}/shared", True, digest(weights[2:]))
    return close(weights, want)


def broadcast_skips_local_variables() -> tuple[bool, Any]:
    keras.utils.set_random_seed(hvd.rank())  # different weights on every rank
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    keras.utils.set_random_seed(0)
    root = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    before = [w.numpy().copy() for w in model.layers[0].weights]
    callback = hvd.callbacks.BroadcastGlobalVariablesCallback(
        0, local_variables=model.layers[0].weights
    )
    callback.set_model(model)
    callback.on_train_begin()
    kept = close([w.numpy() for w in model.layers[0].weights], before, 1e-12)
    shared = close(
        [w.numpy() for w in model.layers[1].weights],
        [w.numpy() for w in root.layers[1].weights],
        1e-12,
    )
    emit("broadcast/local", True, digest(before))
    return kept[0] and shared[0], (kept, shared)


def schedules() -> tuple[bool, Any]:
    x = np.zeros((8, 4), np.float32)
    y = np.zeros((8, 2), np.float32)

    def rates(callback: Any, epochs: int = 3) -> list[float]:
        seen: list[float] = []
        model = dense_model()
        model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
        record = keras.callbacks.LambdaCallback(
            on_train_batch_begin=lambda b, logs: seen.append(
                float(np.asarray(model.optimizer.learning_rate))
            )
        )
        model.fit(
            x,
            y,
            batch_size=4,
            epochs=epochs,
            shuffle=False,
            verbose=0,
            callbacks=[callback, record],
        )
        return [round(r, 6) for r in seen]

    halving = hvd.callbacks.LearningRateScheduleCallback(0.8, lambda e: 0.5**e, start_epoch=1)
    smooth = hvd.callbacks.LearningRateScheduleCallback(
        0.8, lambda e: 1 + e, end_epoch=1, staircase=False
    )
    constant = hvd.callbacks.LearningRateScheduleCallback(0.8, 0.25, start_epoch=2)
    got = {"halving": rates(halving), "smooth": rates(smooth, 2), "constant": rates(constant)}
    want = {
        "halving": [1.0, 1.0, 0.4, 0.4, 0.2, 0.2],  # epoch 0 untouched
        "smooth": [0.8, 1.2, 1.2, 1.2],  # per batch in epoch 0, then left alone
        "constant": [1.0, 1.0, 1.0, 1.0, 0.2, 0.2],
    }
    return got == want, got


def best_checkpoint() -> tuple[bool, Any]:
    path = os.path.join(tempfile.mkdtemp(), "best.weights.h5")
    model = dense_model()
    model.compile(optimizer=hvd.DistributedOptimizer(keras.optimizers.SGD(LR)), loss="mse")
    x, y = batches(1, 4)[0]
    callbacks = [
        hvd.callbacks.MetricAverageCallback(),
        hvd.callbacks.BestModelCheckpoint(filepath=path),
    ]
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, validation_data=(x, y), callbacks=callbacks)
    written = os.path.exists(path)
    return written == (hvd.rank() == 0), (hvd.rank(), written)


def elastic_names() -> tuple[bool, Any]:
    results = [
        raises(NotImplementedError, lambda: hvd.elastic.KerasState(None)),
        raises(NotImplementedError, lambda: hvd.elastic.TensorFlowKerasState(None)),
        raises(NotImplementedError, lambda: hvd.elastic.run(lambda state: None)),
    ]
    ok = all(r[0] for r in results) and "restart" in str(results[0][1])
    return ok, results


def main() -> None:
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    hvd.init()
    run_case("parity/process_sets", process_sets)
    run_case("parity/sparse", sparse_gradients)
    run_case("parity/aggregation_sum", lambda: aggregation(average=False))
    run_case("parity/aggregation_average", lambda: aggregation(average=True))
    run_case("parity/partial", lambda: partial_optimizer(1))
    run_case("parity/partial_aggregated", lambda: partial_optimizer(2))
    run_case("parity/broadcast_local_variables", broadcast_skips_local_variables)
    run_case("parity/schedules", schedules)
    run_case("parity/best_checkpoint", best_checkpoint)
    run_case("parity/elastic", elastic_names)
    emit("done", True)
