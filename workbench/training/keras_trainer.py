"""Training a Keras model of the zoo on 1..N ranks with ``model.fit`` and the engine's
Horovod-like Keras API (distributed optimizer, broadcast and metric-averaging callbacks)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from workbench.training.checkpoints import mark_latest
from workbench.training.context import Observer, RunContext, checkpoint_name
from workbench.training.data import Augment
from workbench.training.datasets import load_datasets, model_params
from workbench.training.evaluation import Evaluation, evaluate
from workbench.training.spec import TrainingSpec


def _optimizer(spec: TrainingSpec) -> Any:
    import keras

    t = spec.train
    if t.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=t.lr, momentum=t.momentum)
    if t.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=t.lr)
    return keras.optimizers.AdamW(learning_rate=t.lr, weight_decay=t.weight_decay)


def _epoch_shard(train: Any, spec: TrainingSpec, ctx: RunContext, epoch: int) -> Any:
    parts = list(
        train.batches(
            spec.train.batch_size,
            rank=ctx.rank,
            size=ctx.size,
            epoch=epoch,
            seed=spec.train.seed,
            augment=Augment(**spec.train.augment.model_dump()),
        )
    )
    x = np.concatenate([p[0] for p in parts]).transpose(0, 2, 3, 1)  # NCHW -> NHWC
    return x, np.concatenate([p[1] for p in parts])


def train_keras(spec: TrainingSpec, ctx: RunContext, observer: Observer) -> dict[str, Any]:
    import keras

    import workbench.engine.keras as hvd
    from workbench.training.models import build_model

    keras.utils.set_random_seed(spec.train.seed)
    train, test = load_datasets(spec, ctx.base)
    if ctx.rank == 0 and ctx.resume_from is None:
        observer.log_dataset(spec.data.source, train, test)
    model = build_model(spec.model.name, **model_params(spec, train))
    model.compile(
        optimizer=hvd.DistributedOptimizer(_optimizer(spec)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start_epoch = _resume(ctx, model)
    callbacks: list[Any] = [hvd.BroadcastGlobalVariablesCallback(0), hvd.MetricAverageCallback()]
    swapping: Any = None
    if spec.swap is not None:
        from workbench.engine.swap import SwapPolicy
        from workbench.engine.swap.keras import SwapCallback

        swapping = SwapCallback(SwapPolicy(**spec.swap.model_dump()))
        callbacks.append(swapping)
    test_x = test.images.transpose(0, 2, 3, 1)
    result: Evaluation | None = None
    for epoch in range(start_epoch, spec.train.epochs):
        x, y = _epoch_shard(train, spec, ctx, epoch)
        started = time.perf_counter()
        history = model.fit(
            x,
            y,
            batch_size=spec.train.batch_size,
            epochs=epoch + 1,
            initial_epoch=epoch,
            shuffle=False,
            callbacks=callbacks,
            verbose=2 if ctx.rank == 0 else 0,
        )
        seconds = time.perf_counter() - started
        if ctx.rank == 0:
            result = evaluate(model.predict(test_x, verbose=0), test.labels, test.classes)
            metrics = {
                "train_loss": float(history.history["loss"][-1]),
                "epoch_seconds": seconds,
                "images_per_second": len(y) * ctx.size / seconds,
                **result.metrics(),
                **(swapping.history[-1] if swapping is not None and swapping.history else {}),
            }
            observer.log_metrics(metrics, step=epoch)
            _save_checkpoint(ctx, model, epoch)
    if ctx.rank == 0:
        if result is None:
            result = evaluate(model.predict(test_x, verbose=0), test.labels, test.classes)
        observer.log_evaluation(result, test.images, test.labels)
        observer.log_model(model, "keras", test_x[:2])
    return {"accuracy": result.accuracy if result else None, "model": model}


def _resume(ctx: RunContext, model: Any) -> int:
    if ctx.resume_from is None:
        return 0
    model.load_weights(str(ctx.resume_from))
    epoch = int(ctx.resume_from.name.split("-")[1].split(".")[0])
    if ctx.rank == 0:
        print(f"resumed from {ctx.resume_from} (epoch {epoch + 1} done)")
    return epoch + 1


def _save_checkpoint(ctx: RunContext, model: Any, epoch: int) -> None:
    if ctx.checkpoint_dir is None:
        return
    ctx.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    name = checkpoint_name(epoch, "weights.h5")
    tmp = ctx.checkpoint_dir / f"tmp-{name}"  # Keras insists on the .weights.h5 suffix
    model.save_weights(str(tmp))
    os.replace(tmp, ctx.checkpoint_dir / name)
    mark_latest(ctx.checkpoint_dir, name)
    for old in sorted(Path(ctx.checkpoint_dir).glob("epoch-*.weights.h5"))[:-2]:
        old.unlink(missing_ok=True)
