"""The intent classifier's probabilities are sklearn's, bit for bit (bot.nlu.probabilities)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import random as sparse_random
from sklearn.linear_model import LogisticRegression

from bot.nlu.probabilities import probabilities


def _problem(classes: int, seed: int = 0) -> tuple[LogisticRegression, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = sparse_random(300, 2000, density=0.01, format="csr", random_state=seed)
    labels = rng.integers(0, classes, 300)
    clf = LogisticRegression(C=300, max_iter=200).fit(features, labels)
    queries = sparse_random(40, 2000, density=0.02, format="csr", random_state=seed + 1)
    return clf, queries


@pytest.mark.parametrize("classes", [2, 3, 40])
def test_equal_to_predict_proba_bit_for_bit(classes: int) -> None:
    clf, queries = _problem(classes)
    for row in range(queries.shape[0]):
        one = queries[row]
        assert np.array_equal(probabilities(clf, one), clf.predict_proba(one))
    assert np.array_equal(probabilities(clf, queries), clf.predict_proba(queries))


def test_refitted_coefficients_are_not_stale() -> None:
    clf, queries = _problem(5)
    probabilities(clf, queries)
    clf.fit(*(_problem(5, seed=3)[1][:30], np.arange(30) % 5))
    assert np.array_equal(probabilities(clf, queries), clf.predict_proba(queries))


def test_one_vs_rest_and_wrong_widths_go_to_sklearn() -> None:
    clf, queries = _problem(4)
    clf.multi_class = "ovr"
    assert np.array_equal(probabilities(clf, queries), clf.predict_proba(queries))
    clf.multi_class = "auto"
    with pytest.raises(ValueError, match="features"):
        probabilities(clf, queries[:, :100])
