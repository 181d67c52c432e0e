"""Auto-labeling: learn from a few labels per class, pre-label the rest.

Like PowerAI Vision's auto-label, a class needs at least ``MIN_PER_CLASS`` labeled
examples. The classifier is a standardized logistic regression on image features
(``workbench.labeling.features``); its held-out accuracy comes from stratified k-fold
cross-validation on the labeled set, so a user sees how far to trust the pre-labels.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from workbench.errors import InvalidInput

MIN_PER_CLASS = 5  # PowerAI Vision's minimum labeled images per class
MAX_CV_FOLDS = 5


@dataclass
class AutoLabeler:
    """A fitted classifier plus how well it did on held-out labeled data."""

    estimator: Pipeline  # fitted on class indices 0..K-1, i.e. positions in ``classes``
    classes: list[str]
    held_out_accuracy: float
    cv_folds: int
    n_train: int

    def predict_proba(self, features: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Class probabilities (N, K), columns in ``classes`` order."""
        x = check_features(features, n_features=int(self.estimator.n_features_in_))
        with single_threaded_blas():
            return np.asarray(self.estimator.predict_proba(x), dtype=np.float64)

    def predict(self, features: npt.ArrayLike) -> tuple[list[str], npt.NDArray[np.float64]]:
        """Most likely class of each row and its probability (the pre-label's confidence)."""
        probs = self.predict_proba(features)
        best = probs.argmax(axis=1)
        return [self.classes[i] for i in best], probs[np.arange(len(probs)), best]


def single_threaded_blas() -> threadpool_limits:
    """Context for fitting the small classifier: one BLAS thread.

    Multi-threaded OpenBLAS on these small matrices mostly spins: fitting 1k digits took
    8.3 s with 2 BLAS threads on a busy 2-core machine and 0.5 s with one.
    """
    return threadpool_limits(limits=1, user_api="blas")


def make_classifier(seed: int = 0) -> Pipeline:
    """The one classifier auto-labeling and label-error search both use (unfitted)."""
    return make_pipeline(
        StandardScaler(), LogisticRegression(C=0.3, max_iter=2000, random_state=seed)
    )


def fit_autolabeler(
    features: npt.ArrayLike,
    labels: list[str],
    classes: list[str],
    min_per_class: int = MIN_PER_CLASS,
    seed: int = 0,
) -> AutoLabeler:
    """Fit on labeled rows; raises InvalidInput naming classes with too few labels."""
    if not isinstance(min_per_class, int) or min_per_class < 2:
        raise InvalidInput(f"min_per_class must be an integer >= 2, got {min_per_class!r}")
    x = check_features(features)
    y = encode_labels(labels, classes, n_rows=len(x))
    counts = np.bincount(y, minlength=len(classes))
    short = {c: int(counts[i]) for i, c in enumerate(classes) if counts[i] < min_per_class}
    if short:
        listed = ", ".join(f"{c!r} has {n}" for c, n in short.items())
        raise InvalidInput(
            f"auto-labeling needs at least {min_per_class} labeled examples per class: {listed}"
        )
    folds = min(MAX_CV_FOLDS, int(counts.min()))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with single_threaded_blas():
        scores = cross_val_score(make_classifier(seed), x, y, cv=splitter, scoring="accuracy")
        estimator = make_classifier(seed).fit(x, y)
    return AutoLabeler(
        estimator=estimator,
        classes=list(classes),
        held_out_accuracy=float(np.mean(scores)),
        cv_folds=folds,
        n_train=len(x),
    )


@dataclass
class ImageAutoLabels:
    """Pre-labels of unlabeled images, and how far to trust them."""

    labels: list[str]
    confidences: list[float]
    held_out_accuracy: float
    n_train: int


def autolabel_images(
    labeled: Sequence[Path], labels: list[str], unlabeled: Sequence[Path], classes: list[str],
    min_per_class: int = MIN_PER_CLASS,
) -> ImageAutoLabels:  # fmt: skip
    """Fit on the ``labeled`` image files, pre-label the ``unlabeled`` ones."""
    from workbench.labeling.features import image_features

    fitted = fit_autolabeler(image_features(labeled), labels, classes, min_per_class)
    probs = fitted.predict_proba(image_features(unlabeled)) if unlabeled else np.empty((0, 1))
    picks = probs.argmax(axis=1) if len(probs) else np.empty(0, dtype=int)
    return ImageAutoLabels(
        labels=[classes[i] for i in picks],
        confidences=[float(probs[row, i]) for row, i in enumerate(picks)],
        held_out_accuracy=fitted.held_out_accuracy,
        n_train=fitted.n_train,
    )


def check_features(
    features: npt.ArrayLike, n_features: int | None = None
) -> npt.NDArray[np.float64]:
    """Features as a finite float (N, D) array; D must equal ``n_features`` when given."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise InvalidInput(f"features must have shape (N, D), got {x.shape}")
    if n_features is not None and x.shape[1] != n_features:
        raise InvalidInput(f"features have {x.shape[1]} columns; the model was fit on {n_features}")
    if not np.isfinite(x).all():
        raise InvalidInput("features must be finite (no NaN or inf)")
    return x


def encode_labels(labels: list[str], classes: list[str], n_rows: int) -> npt.NDArray[np.intp]:
    """Class indices of ``labels`` (positions in ``classes``); checks both lists."""
    duplicated = sorted(c for c, n in Counter(classes).items() if n > 1)
    if duplicated:
        raise InvalidInput(f"classes must be unique; repeated: {duplicated}")
    if len(classes) < 2:
        raise InvalidInput(f"need at least 2 classes, got {list(classes)}")
    if len(labels) != n_rows:
        raise InvalidInput(f"got {len(labels)} labels for {n_rows} feature rows")
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({str(label) for label in labels if label not in index})
    if unknown:
        raise InvalidInput(f"labels not among the classes {list(classes)}: {unknown[:10]}")
    return np.fromiter((index[label] for label in labels), dtype=np.intp, count=len(labels))
