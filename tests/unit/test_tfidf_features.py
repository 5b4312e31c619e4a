"""The classifier's TF-IDF features equal scikit-learn's ``TfidfVectorizer.transform``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.nlu.pinyin import to_pinyin
from bot.nlu.tfidf_features import tfidf

ROOT = Path(__file__).resolve().parents[2]
UNSEEN = [
    "", "   ", "？？", "860000000000123", "SN0000000123", "13812345678", "我要解绑",
    "解绑要带什么资料啊", "請問解綁要多久", "jiebang xuyao shenme ziliao", "unbind my POS pls",
    "解帮要带啥", "你好你好你好", "zzzz qqqq", "要带什么资料，多久能办完？",
]


def _examples() -> list[str]:
    texts: list[str] = []
    for path in sorted((ROOT / "data" / "nlu").glob("*.yml")):
        for block in yaml.safe_load(path.read_text("utf-8")).get("nlu") or []:
            for line in str(block.get("examples") or "").splitlines():
                text = line.strip().removeprefix("- ").strip()
                if text:
                    texts.append(text)
    return texts


TRAINING = _examples()

# The classifier's three vectorizers (bot.nlu.tfidf_classifier.train), and variants.
KINDS = {
    "words": (dict(token_pattern=r"[^ ]+", sublinear_tf=True), lambda t: " ".join(t)),
    "chars": (dict(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True), str),
    "pinyin": (dict(token_pattern=r"[^ ]+", ngram_range=(1, 2), sublinear_tf=True), to_pinyin),
    "binary-l1": (dict(analyzer="char", binary=True, norm="l1"), str),
    "raw-counts": (dict(analyzer="char", use_idf=False, norm=None), str),
}


@pytest.mark.parametrize("kind", KINDS)
def test_features_are_sklearns_bit_for_bit(kind: str) -> None:
    params, prepare = KINDS[kind]
    assert len(TRAINING) > 500
    vectorizer = TfidfVectorizer(**params).fit([prepare(t) for t in TRAINING])
    documents = [prepare(t) for t in TRAINING[:300] + UNSEEN]
    for batch in ([d] for d in documents):
        ours, theirs = tfidf(vectorizer, batch), vectorizer.transform(batch)
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        assert np.array_equal(ours.indptr, theirs.indptr)
        assert np.array_equal(ours.indices, theirs.indices)
        assert np.array_equal(ours.data, theirs.data)  # exact, not approximately
    ours, theirs = tfidf(vectorizer, documents), vectorizer.transform(documents)
    assert (ours != theirs).nnz == 0 and np.array_equal(ours.data, theirs.data)


def test_a_text_with_no_known_feature_has_an_empty_row() -> None:
    vectorizer = TfidfVectorizer(analyzer="char").fit(["解绑", "资料"])
    row = tfidf(vectorizer, ["xyz"])
    assert row.shape == (1, len(vectorizer.vocabulary_)) and row.nnz == 0
