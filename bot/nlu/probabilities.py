"""The intent classifier's probabilities without copying its coefficients on every call.

sklearn's ``LogisticRegression.predict_proba`` multiplies the sparse features by the
transposed view ``coef_.T``; scipy flattens that non-contiguous view, so every call copied
the whole coefficient matrix (5% of the Rasa server's CPU under load). Here the transposed
matrix is made contiguous once per fitted classifier, and the product, intercept and
softmax are sklearn's own: the same numbers, bit for bit (tests/unit/test_tfidf_classifier.py).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression
from sklearn.utils.extmath import safe_sparse_dot, softmax


def _multinomial(clf: LogisticRegression) -> bool:
    """Whether sklearn's ``predict_proba`` takes the softmax path with 2-D scores."""
    ovr = clf.multi_class in ("ovr", "warn") or (
        clf.multi_class == "auto" and (clf.classes_.size <= 2 or clf.solver == "liblinear"))
    return not ovr and clf.coef_.shape[0] > 1


def _transposed(clf: LogisticRegression) -> np.ndarray:
    """``clf.coef_.T`` as a C-contiguous array, made once for the fitted coefficients."""
    kept = clf.__dict__.get("_bot_coef_t")
    if kept is None or kept[0] is not clf.coef_:
        kept = clf.__dict__["_bot_coef_t"] = (clf.coef_, np.ascontiguousarray(clf.coef_.T))
    return kept[1]


def probabilities(clf: LogisticRegression, features: csr_matrix) -> np.ndarray:
    """``clf.predict_proba(features)``."""
    if (not _multinomial(clf) or not isinstance(features, csr_matrix)
            or features.dtype != np.float64 or features.shape[1] != clf.coef_.shape[1]):
        return clf.predict_proba(features)
    scores = safe_sparse_dot(features, _transposed(clf), dense_output=True) + clf.intercept_
    return softmax(scores, copy=False)
