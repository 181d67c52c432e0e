"""Uncertainty scores against hand-computed values; k-center on a constructed layout."""

from __future__ import annotations

import time

import numpy as np
import pytest

from workbench.errors import InvalidInput
from workbench.labeling.active import confidence_score, k_center, select_batch, uncertainty

PROBS = np.array(
    [
        [0.90, 0.05, 0.05],
        [0.40, 0.35, 0.25],
        [0.34, 0.33, 0.33],
        [0.50, 0.50, 0.00],  # a zero probability: 0 log 0 = 0
    ]
)
# By hand: least-confidence 1 - p1; margin 1 - (p1 - p2); entropy -sum p ln p / ln 3.
EXPECTED = {
    "least-confidence": [0.10, 0.60, 0.66, 0.50],
    "margin": [0.15, 0.95, 0.99, 1.00],
    "entropy": [0.3589962, 0.9835386, 0.9999093, 0.6309298],
}


@pytest.mark.parametrize("strategy", sorted(EXPECTED))
def test_uncertainty_matches_hand_computed_values(strategy: str):
    scores = uncertainty(PROBS, strategy)
    assert scores.shape == (4,)
    assert scores == pytest.approx(EXPECTED[strategy], abs=1e-6)
    confidence = confidence_score(PROBS, strategy)
    assert confidence == pytest.approx(1.0 - np.array(EXPECTED[strategy]), abs=1e-6)
    assert np.array_equal(confidence, 1.0 - scores)


def test_certain_and_uniform_rows_hit_the_ends_of_the_scale():
    probs = np.array([[1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]])
    assert uncertainty(probs, "entropy") == pytest.approx([0.0, 1.0])
    assert uncertainty(probs, "margin") == pytest.approx([0.0, 1.0])
    assert confidence_score(probs, "least-confidence") == pytest.approx([1.0, 0.25])


@pytest.mark.parametrize(
    ("strategy", "order"),
    [("least-confidence", [2, 1, 3, 0]), ("margin", [3, 2, 1, 0]), ("entropy", [2, 1, 3, 0])],
)
def test_select_batch_orders_most_uncertain_first(strategy: str, order: list[int]):
    assert select_batch(PROBS, 4, strategy).tolist() == order
    assert select_batch(PROBS, 2, strategy).tolist() == order[:2]
    assert select_batch(PROBS, 10, strategy).tolist() == order  # pool smaller than n


def test_select_batch_breaks_ties_by_index_and_respects_candidates():
    probs = np.array([[0.6, 0.4], [0.5, 0.5], [0.9, 0.1], [0.5, 0.5], [0.6, 0.4]])
    assert select_batch(probs, 5, "margin").tolist() == [1, 3, 0, 4, 2]
    assert select_batch(probs, 3, "margin", candidates=[4, 2, 3]).tolist() == [3, 4, 2]


def two_clusters() -> tuple[np.ndarray, np.ndarray]:
    """A labeled cluster at the origin, a near cluster at x=1 and a far one at x=10."""
    rng = np.random.default_rng(0)
    near = rng.normal([0.0, 0.0], 0.05, size=(20, 2))
    mid = rng.normal([1.0, 0.0], 0.05, size=(10, 2))
    far = rng.normal([10.0, 0.0], 0.05, size=(5, 2))
    points = np.vstack([near, mid, far])
    labeled = np.zeros(len(points), dtype=bool)
    labeled[:20] = True
    return points, labeled


def test_k_center_picks_the_far_cluster_first_then_the_uncovered_one():
    points, labeled = two_clusters()
    picks = k_center(points, labeled, 2)
    assert picks[0] in range(30, 35)  # the far cluster at x=10
    assert picks[1] in range(20, 30)  # then the mid cluster, not a second far point
    assert not labeled[picks].any()
    assert len(k_center(points, labeled, 100)) == 15  # only 15 unlabeled points exist


def test_k_center_without_labels_starts_closest_to_the_mean():
    points = np.array([[0.0, 0.0], [4.0, 0.0], [2.1, 0.0], [1.0, 0.0]])  # mean (1.775, 0)
    picks = k_center(points, np.zeros(4, dtype=bool), 3)
    assert picks.tolist() == [2, 0, 1]


def test_select_batch_k_center_treats_rows_outside_the_pool_as_labeled():
    points, labeled = two_clusters()
    probs = np.full((len(points), 2), 0.5)
    picks = select_batch(
        probs, 1, "k-center", embeddings=points, candidates=np.flatnonzero(~labeled)
    )
    assert picks.tolist() == k_center(points, labeled, 1).tolist()
    assert 30 <= picks[0] < 35


def test_k_center_is_fast_on_10k_by_64():
    rng = np.random.default_rng(1)
    embeddings = rng.normal(size=(10_000, 64))
    labeled = np.zeros(10_000, dtype=bool)
    labeled[rng.choice(10_000, 500, replace=False)] = True
    start = time.perf_counter()
    picks = k_center(embeddings, labeled, 20)
    elapsed = time.perf_counter() - start
    assert len(set(picks.tolist())) == 20 and not labeled[picks].any()
    assert elapsed < 1.0, f"k_center took {elapsed:.2f}s"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: uncertainty(PROBS, "random"), "least-confidence"),
        (lambda: select_batch(PROBS, 2, "coreset"), "k-center"),
        (lambda: uncertainty(PROBS[:, 0], "margin"), "shape"),
        (lambda: uncertainty(np.array([[0.7, 0.7]]), "margin"), "sum to 1"),
        (lambda: uncertainty(np.array([[1.0]]), "entropy"), "K >= 2"),
        (lambda: select_batch(PROBS, 0, "margin"), "positive integer"),
        (lambda: select_batch(PROBS, 2, "margin", candidates=[7]), "row indices"),
        (lambda: select_batch(PROBS, 2, "k-center"), "needs embeddings"),
        (lambda: select_batch(PROBS, 2, "k-center", embeddings=np.zeros((3, 2))), "rows"),
        (lambda: k_center(np.zeros((4, 2)), np.zeros(3, dtype=bool), 1), "labeled_mask"),
    ],
)
def test_bad_input_is_rejected_with_the_rule(call, message: str):
    with pytest.raises(InvalidInput, match=message):
        call()
