"""How the TF-IDF intent model is stored: what it learnt, not pickled objects.

The vocabularies, classes and settings go to JSON and the weights to a NumPy archive
read with ``allow_pickle=False``: nothing in a model file can run code when it is
loaded, and loading takes milliseconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

MODEL_JSON, MODEL_ARRAYS = "tfidf_intent.json", "tfidf_intent.npz"
FORMAT = 3  # in the config, so that Rasa's training cache never restores an older format

_VECTORIZER_PARAMS = ("analyzer", "ngram_range", "token_pattern", "sublinear_tf")


def save(model: dict[str, Any], directory: Path) -> None:
    """What the vectorizers and the regression learnt, as JSON and plain arrays."""
    clf: LogisticRegression = model["clf"]
    meta = {
        "format": FORMAT,
        "classes": [str(c) for c in clf.classes_],
        "vectorizers": {
            name: {
                "params": {k: model[name].get_params()[k] for k in _VECTORIZER_PARAMS},
                "vocabulary": {term: int(i) for term, i in model[name].vocabulary_.items()},
            }
            for name in ("words", "chars", "pinyin")
        },
    }
    (directory / MODEL_JSON).write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
    np.savez(
        directory / MODEL_ARRAYS, words_idf=model["words"].idf_,
        chars_idf=model["chars"].idf_, pinyin_idf=model["pinyin"].idf_, coef=clf.coef_,
        intercept=clf.intercept_,
    )


def load(directory: Path) -> dict[str, Any]:
    """The model ``save`` wrote, rebuilt without unpickling anything."""
    meta = json.loads((directory / MODEL_JSON).read_text("utf-8"))
    if meta.get("format") != FORMAT:
        raise RuntimeError(f"{directory / MODEL_JSON}: model format {meta.get('format')}, "
                           f"expected {FORMAT}; retrain (make train)")
    with np.load(directory / MODEL_ARRAYS, allow_pickle=False) as arrays:
        model: dict[str, Any] = {}
        for name, saved in meta["vectorizers"].items():
            params = dict(saved["params"])
            params["ngram_range"] = tuple(params["ngram_range"])
            vectorizer = TfidfVectorizer(**params)
            vectorizer.vocabulary_ = saved["vocabulary"]
            vectorizer.idf_ = arrays[f"{name}_idf"]
            model[name] = vectorizer
        clf = LogisticRegression()
        clf.classes_ = np.array(meta["classes"])
        clf.coef_, clf.intercept_ = arrays["coef"], arrays["intercept"]
        clf.n_features_in_ = clf.coef_.shape[1]
        model["clf"] = clf
    return model
