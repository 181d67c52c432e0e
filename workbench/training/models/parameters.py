"""How many trainable parameters a zoo model has: what its gradients weigh.

    count_trainable_parameters("resnet50")  # 25_557_032

The model is built (torch or Keras, imported then) with its hyper-parameters checked
as for training, and its trainable parameters are counted.
"""

from __future__ import annotations

import math
from typing import Any

from workbench.training.models.registry import build_model, get_model_entry


def count_trainable_parameters(name: str, hparams: dict[str, Any] | None = None) -> int:
    entry = get_model_entry(name)
    model = build_model(name, **(hparams or {}))
    if entry.framework == "keras":
        return sum(math.prod(int(d) for d in w.shape) for w in model.trainable_weights)
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
