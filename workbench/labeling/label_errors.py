"""Label-error search: which given labels look wrong (confident learning via cleanlab).

Out-of-sample class probabilities come from cross-validated predictions of the same
classifier auto-labeling uses; cleanlab's ``find_label_issues`` flags the rows whose given
label disagrees with them, ranked by self-confidence (the probability of the given label).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from cleanlab.filter import find_label_issues
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from workbench.errors import InvalidInput
from workbench.labeling.autolabel import (
    check_features,
    encode_labels,
    make_classifier,
    single_threaded_blas,
)


@dataclass(frozen=True)
class Suspect:
    """A row whose given label is probably wrong."""

    index: int
    given_label: str
    suggested_label: str
    self_confidence: float  # out-of-sample probability of the given label; low = suspect


def out_of_sample_probs(
    features: npt.ArrayLike,
    labels_idx: npt.ArrayLike,
    n_classes: int,
    folds: int = 5,
    seed: int = 0,
) -> npt.NDArray[np.float64]:
    """Cross-validated class probabilities (N, n_classes): each row from a model not fit on it.

    Folds drop to the smallest class's count; every class that has labels needs two.
    Columns of classes with no labels at all are zero.
    """
    x = check_features(features)
    y = np.asarray(labels_idx)
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        raise InvalidInput(
            f"labels_idx must be {len(x)} integer class indices, got {y.dtype} {y.shape}"
        )
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise InvalidInput(f"labels_idx must lie in [0, {n_classes}), got {y.min()}..{y.max()}")
    if not isinstance(folds, int) or folds < 2:
        raise InvalidInput(f"folds must be an integer >= 2, got {folds!r}")
    present, counts = np.unique(y, return_counts=True)
    if len(present) < 2:
        raise InvalidInput(f"need labels from at least 2 classes, got {len(present)}")
    if counts.min() < 2:
        lonely = present[counts < 2].tolist()
        raise InvalidInput(
            f"each labeled class needs at least 2 examples; class index {lonely} has 1"
        )
    splitter = StratifiedKFold(
        n_splits=min(folds, int(counts.min())), shuffle=True, random_state=seed
    )
    with single_threaded_blas():
        probs = cross_val_predict(make_classifier(seed), x, y, cv=splitter, method="predict_proba")
    full = np.zeros((len(x), n_classes), dtype=np.float64)
    full[:, present] = probs  # cross_val_predict's columns are the sorted labels present
    return full


def rank_label_errors(
    features: npt.ArrayLike,
    labels: list[str],
    classes: list[str],
    top: int | None = None,
    folds: int = 5,
    seed: int = 0,
) -> list[Suspect]:
    """Rows whose label is probably wrong, most suspect first (at most ``top`` of them)."""
    if top is not None and (not isinstance(top, int) or top < 1):
        raise InvalidInput(f"top must be a positive integer or None, got {top!r}")
    x = check_features(features)
    y = encode_labels(labels, classes, n_rows=len(x))
    probs = out_of_sample_probs(x, y, len(classes), folds=folds, seed=seed)
    present = np.unique(y)  # classes nobody labeled yet: leave them out of cleanlab's counts
    ranked = find_label_issues(
        labels=np.searchsorted(present, y),
        pred_probs=probs[:, present],
        return_indices_ranked_by="self_confidence",
        n_jobs=1,
    )
    suspects = [
        Suspect(
            index=int(i),
            given_label=classes[y[i]],
            suggested_label=classes[int(probs[i].argmax())],
            self_confidence=float(probs[i, y[i]]),
        )
        for i in ranked[:top]
    ]
    return suspects
