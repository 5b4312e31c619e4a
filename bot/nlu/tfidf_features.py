"""TF-IDF features of a message without scikit-learn's per-call checks.

``TfidfVectorizer.transform`` checks on every call that the vectorizer is fitted:
``check_is_fitted`` reads every attribute of it, and one of them, ``idf_``, sums the
whole IDF diagonal matrix to answer; it also builds the analyzer again and validates
the count matrix it has just built. For one fresh message these checks were about half
of the intent classifier's time, which is most of the NLU time of a message not seen
before (a merchant number, a serial number). A loaded model is immutable, so the
analyzer is built once per vectorizer, and the counting, sub-linear scaling, IDF
product and normalisation are scikit-learn's own calls in its own order: the same
matrix, bit for bit (tests/unit/test_tfidf_features.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize


def _analyzer(vectorizer: TfidfVectorizer) -> Callable[[str], list[str]]:
    kept = vectorizer.__dict__.get("_bot_analyzer")
    if kept is None:
        kept = vectorizer.__dict__["_bot_analyzer"] = vectorizer.build_analyzer()
    return kept


def _counts(vectorizer: TfidfVectorizer, documents: Sequence[str]) -> csr_matrix:
    """scikit-learn's ``_count_vocab(documents, fixed_vocab=True)``, analyzer built once."""
    analyzer, vocabulary = _analyzer(vectorizer), vectorizer.vocabulary_
    columns: list[int] = []
    values: list[int] = []
    indptr = [0]
    for document in documents:
        counter: dict[int, int] = {}
        for feature in analyzer(document):
            column = vocabulary.get(feature)
            if column is not None:
                counter[column] = counter.get(column, 0) + 1
        columns.extend(counter)
        values.extend(counter.values())
        indptr.append(len(columns))
    matrix = csr_matrix(
        (np.asarray(values, dtype=np.intc), np.asarray(columns, dtype=np.int32),
         np.asarray(indptr, dtype=np.int32)),
        shape=(len(indptr) - 1, len(vocabulary)), dtype=vectorizer.dtype,
    )
    matrix.sort_indices()
    return matrix


def tfidf(vectorizer: TfidfVectorizer, documents: Sequence[str]) -> csr_matrix:
    """``vectorizer.transform(documents)`` of a fitted vectorizer (scikit-learn 1.1)."""
    counts = _counts(vectorizer, documents)
    if vectorizer.binary:
        counts.data.fill(1)
    if counts.dtype not in (np.float64, np.float32):
        counts = counts.astype(np.float64)
    weights = vectorizer._tfidf
    if weights.sublinear_tf:
        np.log(counts.data, counts.data)
        counts.data += 1
    if weights.use_idf:
        counts = counts * weights._idf_diag
    if weights.norm:
        counts = normalize(counts, norm=weights.norm, copy=False)
    return counts
