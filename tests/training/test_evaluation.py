"""Evaluation metrics against scikit-learn's, and the PNG/JSON artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from workbench.training.evaluation import evaluate, write_artifacts


def test_metrics_match_sklearn(tmp_path: Path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 200)
    logits = rng.normal(size=(200, 4))
    logits[np.arange(200), labels] += 1.5  # mostly right
    logits[:5, 3] = 50  # a few very confident mistakes (unless the label is 3)
    result = evaluate(logits, labels, ["a", "b", "c", "d"])
    predicted = logits.argmax(1)
    p, r, f, _ = precision_recall_fscore_support(labels, predicted, zero_division=0)
    assert np.allclose(result.precision, p) and np.allclose(result.recall, r)
    assert np.allclose(result.f1, f)
    assert np.array_equal(result.confusion, confusion_matrix(labels, predicted))
    assert np.array_equal(result.predicted, predicted)
    assert result.accuracy == pytest.approx(float((predicted == labels).mean()))
    confident = [i for i in range(5) if labels[i] != 3]
    assert result.misclassified[: len(confident)] == confident
    assert result.metrics()["test_recall_b"] == pytest.approx(r[1])

    images = rng.random((200, 1, 8, 8)).astype(np.float32)
    paths = write_artifacts(result, images, labels, tmp_path)
    assert [p.name for p in paths] == [
        "evaluation.json",
        "confusion_matrix.png",
        "misclassified.png",
    ]
    assert json.loads(paths[0].read_text())["per_class"]["a"]["support"] == int((labels == 0).sum())
    for png in paths[1:]:
        with Image.open(png) as im:
            assert im.format == "PNG" and im.size[0] > 100


def test_shape_errors():
    with pytest.raises(ValueError, match=r"must be \(N, 3\)"):
        evaluate(np.zeros((4, 2)), np.zeros(4, np.int64), ["a", "b", "c"])
