"""Label-error search finds deliberately flipped digit labels."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits

from workbench.errors import InvalidInput
from workbench.labeling.features import array_features
from workbench.labeling.label_errors import Suspect, out_of_sample_probs, rank_label_errors

CLASSES = [str(d) for d in range(10)]


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    data = load_digits()
    return array_features(data.images[:, None] / 16.0), data.target


def flip(targets: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels with ``n`` rows moved to a different (random) class, and which rows."""
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(targets), n, replace=False)
    noisy = targets.copy()
    noisy[flipped] = (targets[flipped] + rng.integers(1, 10, n)) % 10
    return noisy, flipped


def test_flipped_labels_rank_among_the_top_suspects(digits):
    features, targets = digits
    noisy, flipped = flip(targets, 20, seed=0)
    labels = [CLASSES[t] for t in noisy]
    suspects = rank_label_errors(features, labels, CLASSES, top=50)
    assert 20 <= len(suspects) <= 50
    found = {s.index for s in suspects} & set(flipped.tolist())
    assert len(found) >= 16, f"only {len(found)} of 20 flipped labels in the top 50"

    first = suspects[0]
    assert isinstance(first, Suspect) and first.given_label == labels[first.index]
    confidences = [s.self_confidence for s in suspects]
    assert confidences == sorted(confidences)  # most suspect (least self-confident) first
    # the fix offered for a flipped label is mostly the true digit
    fixed = [
        s for s in suspects if s.index in found and s.suggested_label == CLASSES[targets[s.index]]
    ]
    assert len(fixed) >= 0.8 * len(found)


def test_clean_labels_raise_few_suspects(digits):
    features, targets = digits
    suspects = rank_label_errors(features, [CLASSES[t] for t in targets], CLASSES)
    assert len(suspects) < 0.03 * len(targets)


def test_classes_nobody_labeled_yet_are_fine(digits):
    features, targets = digits
    keep = np.flatnonzero(targets < 4)
    noisy = targets[keep].copy()
    noisy[:5] = (noisy[:5] + 1) % 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # cleanlab warns about classes it sees no labels of
        suspects = rank_label_errors(features[keep], [CLASSES[t] for t in noisy], CLASSES)
    assert len({s.index for s in suspects} & {0, 1, 2, 3, 4}) >= 4
    assert all(s.suggested_label in CLASSES[:4] for s in suspects)


def test_out_of_sample_probs_are_held_out_and_fill_absent_classes(digits):
    features, targets = digits
    keep = targets < 3
    probs = out_of_sample_probs(features[keep], targets[keep], n_classes=5, folds=3)
    assert probs.shape == (keep.sum(), 5)
    assert np.allclose(probs.sum(axis=1), 1.0) and (probs[:, 3:] == 0).all()
    assert (probs.argmax(axis=1) == targets[keep]).mean() > 0.95


def test_folds_shrink_to_the_smallest_class(digits):
    features, targets = digits
    rows = np.concatenate([np.flatnonzero(targets == 0)[:2], np.flatnonzero(targets == 1)[:30]])
    probs = out_of_sample_probs(features[rows], targets[rows], n_classes=2, folds=5)
    assert probs.shape == (32, 2)


@pytest.mark.parametrize(
    ("labels_idx", "n_classes", "message"),
    [
        (np.array([0, 0, 1, 1, 2]), 3, "at least 2 examples"),
        (np.array([0, 0, 1, 1, 5]), 3, r"\[0, 3\)"),
        (np.zeros(5, dtype=int), 3, "at least 2 classes"),
        (np.array([0.0, 0, 1, 1, 1]), 2, "integer"),
    ],
)
def test_bad_labels_are_rejected(labels_idx, n_classes, message):
    with pytest.raises(InvalidInput, match=message):
        out_of_sample_probs(np.zeros((5, 2)), labels_idx, n_classes)


def test_top_must_be_positive(digits):
    features, targets = digits
    with pytest.raises(InvalidInput, match="top"):
        rank_label_errors(features, [CLASSES[t] for t in targets], CLASSES, top=0)
