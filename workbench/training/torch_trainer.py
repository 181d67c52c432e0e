"""Training a PyTorch model of the zoo on 1..N ranks through the engine's Horovod-like API.

Every rank reads its own shard; gradients are averaged by the engine's
``DistributedOptimizer`` (overlapped with backward); rank 0 evaluates, checkpoints and
reports through the :class:`Observer` it is given.
"""

from __future__ import annotations

import os
import pickle
import re
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from workbench.errors import InvalidInput
from workbench.training.checkpoints import mark_latest
from workbench.training.context import Observer, RunContext, checkpoint_name
from workbench.training.data import Augment
from workbench.training.datasets import load_datasets, model_params
from workbench.training.evaluation import Evaluation, evaluate
from workbench.training.spec import TrainingSpec


def _optimizer(spec: TrainingSpec, model: nn.Module) -> torch.optim.Optimizer:
    t = spec.train
    if t.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay
        )
    factory = torch.optim.Adam if t.optimizer == "adam" else torch.optim.AdamW
    return factory(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)


def _swap_context(spec: TrainingSpec, keep: torch.Tensor) -> Any:
    if spec.swap is None:
        return nullcontext(None)
    from workbench.engine import swap

    policy = swap.SwapPolicy(**spec.swap.model_dump())
    return swap.activations(policy, keep=[keep])


def predict(model: nn.Module, images: np.ndarray, batch: int = 256) -> np.ndarray:
    model.eval()
    outs = []
    with torch.no_grad():
        for start in range(0, len(images), batch):
            outs.append(model(torch.from_numpy(images[start : start + batch])).numpy())
    model.train()
    return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)


def train_torch(spec: TrainingSpec, ctx: RunContext, observer: Observer) -> dict[str, Any]:
    import workbench.engine.torch as hvd
    from workbench.training.models import build_model

    hvd.init()
    if "OMP_NUM_THREADS" not in os.environ:  # ranks sharing a node share its cores
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // hvd.local_size()))
    torch.manual_seed(spec.train.seed)
    train, test = load_datasets(spec, ctx.base)
    if ctx.rank == 0 and ctx.resume_from is None:
        observer.log_dataset(spec.data.source, train, test)
    model: nn.Module = build_model(spec.model.name, **model_params(spec, train))
    optimizer = _optimizer(spec, model)
    start_epoch = _resume(ctx, model, optimizer)
    optimizer = hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters())
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    hvd.broadcast_optimizer_state(optimizer, root_rank=0)
    loss_fn = nn.CrossEntropyLoss()
    augment = Augment(**spec.train.augment.model_dump())
    result: Evaluation | None = None
    for epoch in range(start_epoch, spec.train.epochs):
        started = time.perf_counter()
        loss_sum, seen, swap_metrics = 0.0, 0, {}
        batches = train.batches(
            spec.train.batch_size,
            rank=ctx.rank,
            size=ctx.size,
            epoch=epoch,
            seed=spec.train.seed,
            augment=augment,
        )
        steps = len(train) // ctx.size // spec.train.batch_size + 1
        bar = tqdm(
            batches,
            total=steps,
            desc=f"epoch {epoch + 1}/{spec.train.epochs}",
            disable=ctx.rank != 0,
            leave=False,
        )
        for x_np, y_np in bar:
            x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
            optimizer.zero_grad()
            with _swap_context(spec, x) as stats:
                loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(y)
            seen += len(y)
            if stats is not None:
                swap_metrics = stats.as_metrics()
        mean_loss = float(hvd.allreduce(torch.tensor(loss_sum / max(seen, 1)), op=hvd.Average))
        seconds = time.perf_counter() - started
        if ctx.rank == 0:
            result = evaluate(predict(model, test.images), test.labels, test.classes)
            metrics = {
                "train_loss": mean_loss,
                "epoch_seconds": seconds,
                "images_per_second": seen * ctx.size / seconds,
                **result.metrics(),
                **swap_metrics,
            }
            observer.log_metrics(metrics, step=epoch)
            _save_checkpoint(ctx, model, optimizer, epoch, observer.run_id)
            print(f"epoch {epoch + 1}: loss {mean_loss:.4f} test accuracy {result.accuracy:.4f}")
    if ctx.rank == 0:
        if result is None:  # resumed past the last epoch: evaluate what was trained
            result = evaluate(predict(model, test.images), test.labels, test.classes)
        observer.log_evaluation(result, test.images, test.labels)
        observer.log_model(model, "torch", test.images[:2])
    return {"accuracy": result.accuracy if result else None, "model": model}


def _resume(ctx: RunContext, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    if ctx.resume_from is None:
        return 0
    state = load_checkpoint(ctx.resume_from)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if ctx.rank == 0:
        print(f"resumed from {ctx.resume_from} (epoch {state['epoch'] + 1} done)")
    return int(state["epoch"]) + 1


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by :func:`_save_checkpoint`: tensors and plain data only.

    Loaded with ``weights_only=True``, so a file that would build other objects (and could
    run code while unpickling) is refused, not executed.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"WeightsUnpickler error: (.*?\.)(\s|$)", str(exc))
        why = found[1] if found else (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InvalidInput(
            f"checkpoint {path} holds more than tensors and plain data, so it was not "
            f"loaded (it may run code when unpickled; workbench writes plain state dicts): "
            f"{why}"
        ) from exc
    if not isinstance(state, dict) or not {"model", "optimizer", "epoch"} <= state.keys():
        raise InvalidInput(
            f"checkpoint {path} is not a workbench checkpoint (model, optimizer, epoch)"
        )
    return state


def _save_checkpoint(
    ctx: RunContext, model: nn.Module, optimizer: Any, epoch: int, run_id: str | None
) -> None:
    if ctx.checkpoint_dir is None:
        return
    ctx.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    name = checkpoint_name(epoch, "pt")
    tmp = ctx.checkpoint_dir / f".{name}.tmp"
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": epoch,
            "run_id": run_id,
        },
        tmp,
    )
    os.replace(tmp, ctx.checkpoint_dir / name)
    mark_latest(ctx.checkpoint_dir, name)
    for old in sorted(Path(ctx.checkpoint_dir).glob("epoch-*.pt"))[:-2]:  # keep the last two
        old.unlink(missing_ok=True)
