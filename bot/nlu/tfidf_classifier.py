"""Intent classifier: TF-IDF over jieba words and character n-grams, logistic regression.

Chosen over Rasa's CountVectors + LogisticRegressionClassifier and over DIET by
measurement on the hold-out set (docs/nlu.md): sub-linear TF-IDF weighting and a
weaker regularisation generalise better to unseen phrasings, at a fraction of DIET's
cost per message.

Merchants send the same short texts again and again (你好, 转人工, 谢谢, the same FAQ
question), so the ranking of each distinct normalised text is kept in a small LRU
cache (``cache_size``); a model is immutable once loaded, so a cached ranking is
exactly what the model would compute again.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import skops.io as sio
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

MODEL_FILE = "tfidf_intent.skops"


def _words(message: Message) -> str:
    tokens = message.get(TOKENS_NAMES[TEXT]) or []
    return " ".join(t.text.lower() for t in tokens if t.text.strip())


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True
)
class TfidfIntentClassifier(GraphComponent, IntentClassifier):
    """Logistic regression over TF-IDF word and character n-gram features."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "C": 300.0, "char_ngrams": [1, 3], "max_iter": 3000, "ranking_length": 10,
            "cache_size": 4096,
        }

    def __init__(
        self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
        model: dict[str, Any] | None = None,
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        self._storage = model_storage
        self._resource = resource
        self._model = model
        self._cache: OrderedDict[tuple[str, str], list[dict[str, Any]]] = OrderedDict()

    @classmethod
    def create(
        cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
        execution_context: ExecutionContext,
    ) -> TfidfIntentClassifier:
        return cls(config, model_storage, resource)

    def _features(self, messages: list[Message]) -> csr_matrix:
        assert self._model is not None
        words = self._model["words"].transform([_words(m) for m in messages])
        chars = self._model["chars"].transform([m.get(TEXT) or "" for m in messages])
        return hstack([words, chars]).tocsr()

    def train(self, training_data: TrainingData) -> Resource:
        examples = [m for m in training_data.intent_examples if m.get(TEXT) and m.get(INTENT)]
        low, high = self.config["char_ngrams"]
        self._model = {
            "words": TfidfVectorizer(token_pattern=r"[^ ]+", sublinear_tf=True),
            "chars": TfidfVectorizer(
                analyzer="char_wb", ngram_range=(low, high), sublinear_tf=True
            ),
        }
        self._model["words"].fit([_words(m) for m in examples])
        self._model["chars"].fit([m.get(TEXT) for m in examples])
        clf = LogisticRegression(
            C=self.config["C"], max_iter=self.config["max_iter"], class_weight="balanced"
        )
        clf.fit(self._features(examples), [m.get(INTENT) for m in examples])
        self._model["clf"] = clf
        with self._storage.write_to(self._resource) as directory:
            sio.dump(self._model, directory / MODEL_FILE)
        return self._resource

    @classmethod
    def load(
        cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
        execution_context: ExecutionContext, **kwargs: Any,
    ) -> TfidfIntentClassifier:
        try:
            with model_storage.read_from(resource) as directory:
                path = directory / MODEL_FILE
                model = sio.load(path, trusted=sio.get_untrusted_types(file=path))
        except ValueError:
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, model)

    def process(self, messages: list[Message]) -> list[Message]:
        if self._model is None:
            return messages
        texts = [m for m in messages if m.get(TEXT)]
        keys = [(m.get(TEXT), _words(m)) for m in texts]
        missing = [(m, k) for m, k in zip(texts, keys, strict=True) if k not in self._cache]
        if missing:
            self._rank([m for m, _ in missing], [k for _, k in missing])
        for message, key in zip(texts, keys, strict=True):
            self._cache.move_to_end(key)
            ranking = [dict(r) for r in self._cache[key]]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        while len(self._cache) > self.config["cache_size"]:
            self._cache.popitem(last=False)
        return messages

    def _rank(self, messages: list[Message], keys: list[tuple[str, str]]) -> None:
        """Classify ``messages`` and cache each ranking under its key."""
        probabilities = self._model["clf"].predict_proba(self._features(messages))
        classes = self._model["clf"].classes_
        for key, row in zip(keys, probabilities, strict=True):
            order = np.argsort(-row)[: self.config["ranking_length"]]
            self._cache[key] = [
                {"name": str(classes[i]), "confidence": float(row[i])} for i in order
            ]
