"""Auto-labeling on real data (sklearn digits): ten labels per class label the rest well."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.datasets import load_digits

from workbench.errors import InvalidInput
from workbench.labeling.autolabel import MIN_PER_CLASS, fit_autolabeler
from workbench.labeling.features import array_features

CLASSES = [str(d) for d in range(10)]


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, list[str]]:
    data = load_digits()
    features = array_features(data.images[:, None] / 16.0)
    return features, [CLASSES[t] for t in data.target]


def few_per_class(labels: list[str], per_class: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    arr = np.array(labels)
    picks = [rng.choice(np.flatnonzero(arr == c), per_class, replace=False) for c in CLASSES]
    return np.sort(np.concatenate(picks))


def test_ten_labels_per_class_auto_label_the_rest(digits):
    features, labels = digits
    train = few_per_class(labels, 10)
    model = fit_autolabeler(features[train], [labels[i] for i in train], CLASSES)
    assert model.classes == CLASSES and model.n_train == 100 and model.cv_folds == 5
    assert model.held_out_accuracy >= 0.8

    rest = np.setdiff1d(np.arange(len(labels)), train)
    predicted, confidence = model.predict(features[rest])
    truth = [labels[i] for i in rest]
    accuracy = np.mean([p == t for p, t in zip(predicted, truth, strict=True)])
    assert accuracy >= 0.8
    assert confidence.shape == (len(rest),) and ((confidence > 0) & (confidence <= 1)).all()
    right = np.array([p == t for p, t in zip(predicted, truth, strict=True)])
    assert confidence[right].mean() > confidence[~right].mean()  # confidence means something

    probs = model.predict_proba(features[rest])
    assert probs.shape == (len(rest), 10) and np.allclose(probs.sum(axis=1), 1.0)
    assert [CLASSES[i] for i in probs.argmax(axis=1)] == predicted


def test_probability_columns_follow_the_given_class_order(digits):
    features, labels = digits
    train = few_per_class(labels, 6)
    shuffled = ["7", "3", "0", "9", "1", "5", "2", "8", "4", "6"]
    model = fit_autolabeler(features[train], [labels[i] for i in train], shuffled)
    assert model.cv_folds == 5  # min(5, smallest class count of 6)
    probs = model.predict_proba(features[:200])
    predicted = [shuffled[i] for i in probs.argmax(axis=1)]
    assert np.mean([p == t for p, t in zip(predicted, labels[:200], strict=True)]) >= 0.7


def test_cv_folds_follow_the_smallest_class(digits):
    features, labels = digits
    train = few_per_class(labels, 3)
    model = fit_autolabeler(features[train], [labels[i] for i in train], CLASSES, min_per_class=3)
    assert model.cv_folds == 3 and model.n_train == 30


def test_too_few_labels_names_the_class_and_its_count(digits):
    features, labels = digits
    train = list(few_per_class(labels, 10))
    train = [i for i in train if labels[i] != "4"] + list(
        np.flatnonzero(np.array(labels) == "4")[:3]
    )
    train = [i for i in train if labels[i] != "8"]
    with pytest.raises(InvalidInput, match=r"'4' has 3, '8' has 0") as err:
        fit_autolabeler(features[train], [labels[i] for i in train], CLASSES)
    assert str(MIN_PER_CLASS) in str(err.value) and "'3'" not in str(err.value)


@pytest.mark.parametrize(
    ("labels", "classes", "message"),
    [
        (["a"] * 5 + ["zebra"] * 5, ["a", "b"], "zebra"),
        (["a"] * 5 + ["b"] * 4, ["a", "b"], "9 labels for 10"),
        (["a"] * 10, ["a", "a"], "unique"),
    ],
)
def test_bad_labels_are_rejected(labels, classes, message):
    with pytest.raises(InvalidInput, match=message):
        fit_autolabeler(np.zeros((10, 3)), labels, classes)


def test_predict_rejects_features_of_another_width(digits):
    features, labels = digits
    train = few_per_class(labels, 5)
    model = fit_autolabeler(features[train], [labels[i] for i in train], CLASSES)
    with pytest.raises(InvalidInput, match="columns"):
        model.predict(features[:3, :10])


def test_fits_a_thousand_images_quickly(digits):
    features, labels = digits
    start = time.perf_counter()
    model = fit_autolabeler(features[:1000], labels[:1000], CLASSES)
    elapsed = time.perf_counter() - start
    assert model.n_train == 1000 and model.held_out_accuracy >= 0.9
    assert elapsed < 60, f"fit on 1000 images took {elapsed:.1f}s"
