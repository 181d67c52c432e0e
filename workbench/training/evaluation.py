"""Model testing for every run: per-class precision/recall/F1, confusion matrix, the worst
misclassified examples, written as metrics and PNG/JSON artifacts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass
class Evaluation:
    classes: list[str]
    confusion: npt.NDArray[np.int64]  # [true, predicted]
    accuracy: float
    precision: npt.NDArray[np.float64]
    recall: npt.NDArray[np.float64]
    f1: npt.NDArray[np.float64]
    misclassified: list[int]  # dataset indices, most confident mistakes first
    predicted: npt.NDArray[np.int64]  # the predicted class of every example

    def metrics(self, prefix: str = "test_") -> dict[str, float]:
        out = {f"{prefix}accuracy": self.accuracy, f"{prefix}macro_f1": float(self.f1.mean())}
        for i, name in enumerate(self.classes):
            out[f"{prefix}precision_{name}"] = float(self.precision[i])
            out[f"{prefix}recall_{name}"] = float(self.recall[i])
        return out

    def report(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "classes": self.classes,
            "confusion": self.confusion.tolist(),
            "per_class": {
                name: {
                    "precision": float(self.precision[i]),
                    "recall": float(self.recall[i]),
                    "f1": float(self.f1[i]),
                    "support": int(self.confusion[i].sum()),
                }
                for i, name in enumerate(self.classes)
            },
            "misclassified": self.misclassified,
        }


def evaluate(
    logits: npt.NDArray[np.floating[Any]],
    labels: npt.NDArray[np.int64],
    classes: list[str],
    max_examples: int = 16,
) -> Evaluation:
    """Scores of ``logits`` (N, K) against ``labels`` (N,)."""
    if logits.ndim != 2 or logits.shape[0] != labels.shape[0] or logits.shape[1] != len(classes):
        raise ValueError(
            f"logits {logits.shape} must be (N, {len(classes)}) for {labels.shape[0]} labels"
        )
    k = len(classes)
    predicted = logits.argmax(axis=1)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    tp = np.diag(confusion).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.nan_to_num(tp / confusion.sum(axis=0))
        recall = np.nan_to_num(tp / confusion.sum(axis=1))
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    wrong = np.flatnonzero(predicted != labels)
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    worst = wrong[np.argsort(-probs[wrong, predicted[wrong]])][:max_examples]
    accuracy = float(tp.sum() / max(len(labels), 1))
    return Evaluation(
        classes, confusion, accuracy, precision, recall, f1, worst.tolist(), predicted
    )


def write_artifacts(
    result: Evaluation,
    images: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    out_dir: Path,
) -> list[Path]:
    """evaluation.json, confusion_matrix.png and misclassified.png under ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    report = out_dir / "evaluation.json"
    report.write_text(json.dumps(result.report(), indent=1))

    k = len(result.classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.5 * k, 1.0 + 0.5 * k), dpi=100)
    ax.imshow(result.confusion, cmap="Blues")
    ax.set_xticks(range(k), result.classes, rotation=90)
    ax.set_yticks(range(k), result.classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    dark = result.confusion.max() / 2
    for (i, j), count in np.ndenumerate(result.confusion):
        if count:
            color = "white" if count > dark else "black"
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color=color)
    ax.set_title(f"accuracy {result.accuracy:.3f}")
    fig.tight_layout()
    confusion_png = out_dir / "confusion_matrix.png"
    fig.savefig(confusion_png)
    plt.close(fig)

    shown = result.misclassified
    cols = max(1, min(8, len(shown)))
    rows = max(1, -(-len(shown) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), dpi=100, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, index in zip(axes.flat, shown, strict=False):
        image = images[index]
        ax.imshow(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0), cmap="gray")
        true, pred = result.classes[labels[index]], result.classes[result.predicted[index]]
        ax.set_title(f"{true} -> {pred}", fontsize=8, color="crimson")
    if not shown:
        axes[0, 0].text(0.5, 0.5, "no mistakes", ha="center", va="center")
    fig.tight_layout()
    mistakes_png = out_dir / "misclassified.png"
    fig.savefig(mistakes_png)
    plt.close(fig)
    return [report, confusion_png, mistakes_png]
