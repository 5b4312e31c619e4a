"""Intent classifier: TF-IDF over jieba words, character n-grams and pinyin syllables,
logistic regression.

The pinyin syllables (``bot.nlu.pinyin``) make homophone typos (解帮, 商护号) and typed
pinyin look like the words they stand for.

Chosen over Rasa's CountVectors + LogisticRegressionClassifier and over DIET by
measurement on the hold-out set (docs/nlu.md): sub-linear TF-IDF weighting and a
weaker regularisation generalise better to unseen phrasings, at a fraction of DIET's
cost per message.

Merchants send the same short texts again and again (你好, 转人工, 谢谢, the same FAQ
question), so the ranking of each distinct normalised text is kept in a small LRU
cache (``cache_size``); a model is immutable once loaded, so a cached ranking is
exactly what the model would compute again.

A message that asks more than one thing ("要带什么资料，多久能办完", see ``bot.nlu.clauses``)
also gets each clause ranked, in ``clauses`` of the parsed message; a message of one
clause that runs two questions together is cut where the second begins, when both parts
rank as different, sure questions (``_run_on``). When its clauses ask
a question while the whole message is a greeting, thanks or a bare value, or is unsure,
the message's intent becomes the first question's; the answer action reads ``clauses``
to answer a second question in the order asked.

The model is stored as what it learnt, not as pickled objects (``bot.nlu.tfidf_store``;
skops' safe loading searched every imported module for each type it restored: a fifth
of the Rasa server's start-up). Rankings are corrected where a message's wording
settles the question (``bot.nlu.ranking_rules``).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
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

from bot.nlu import fingerprint, tfidf_store
from bot.nlu.clauses import (
    inner_cuts,
    negated_statement,
    next_after_done,
    refers_back,
    short_question,
    split_clauses,
    topic_start,
    without_joiner,
)
from bot.nlu.impatience import filler
from bot.nlu.pinyin import to_pinyin
from bot.nlu.probabilities import probabilities as class_probabilities
from bot.nlu.ranking_rules import (
    asked_first,
    asks_choice,
    asks_else,
    aspect_question,
    confirmed,
    guide_or_beyond,
    urged,
    withdrawal,
)
from bot.nlu.tfidf_features import tfidf

CLAUSES = "clauses"
NOT_QUESTIONS = frozenset((
    "greet", "thank", "goodbye", "affirm", "deny", "inform", "nlu_fallback", "not_helpful",
))
"""Intents that never lead a message of several clauses: they ask nothing (a complaint
about the last answer is followed by what the merchant asks instead)."""
POLITE = frozenset(("greet", "thank", "not_helpful"))
"""A greeting, thanks or complaint before a question ("谢谢，另外审核要几天", "问了半天都没用
给我转人工") gives way to it."""
MIN_QUESTION_CHARS = 3
"""A shorter clause ("后面", "好吗") is part of its neighbour's question, not one of its own."""
NAMED_BY = {"stop": "cancel_ticket"}
"""A vague request and the request a clause may name it by ("算了不弄了，把申请撤了": the stop
is the cancelling of the application)."""
LEADS = frozenset(("check_status", "cancel_ticket", "human_handoff"))
"""Requests that, asked first, lead a message whose whole reads as a guide question
("帮我查下进度，还有测试验证是干嘛的"), or one beyond the guide: their action answers
the guide question after."""


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

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """Our helper modules and data files (bot.nlu.fingerprint)."""
        return fingerprint.digest()

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "C": 300.0, "char_ngrams": [1, 3], "max_iter": 3000, "ranking_length": 10,
            "cache_size": 4096, "format": tfidf_store.FORMAT, "clause_confidence": 0.7,
            "run_on_confidence": 0.5, "done_confidence": 0.5, "referred_step_confidence": 0.1,
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

    def _features(self, messages: list[Message], words: list[str] | None = None) -> csr_matrix:
        assert self._model is not None
        by_word = tfidf(
            self._model["words"], words if words is not None else [_words(m) for m in messages]
        )
        texts = [m.get(TEXT) or "" for m in messages]
        chars = tfidf(self._model["chars"], texts)
        sounds = tfidf(self._model["pinyin"], [to_pinyin(t) for t in texts])
        return hstack([by_word, chars, sounds]).tocsr()

    def train(self, training_data: TrainingData) -> Resource:
        examples = [m for m in training_data.intent_examples if m.get(TEXT) and m.get(INTENT)]
        low, high = self.config["char_ngrams"]
        self._model = {
            "words": TfidfVectorizer(token_pattern=r"[^ ]+", sublinear_tf=True),
            "chars": TfidfVectorizer(
                analyzer="char_wb", ngram_range=(low, high), sublinear_tf=True
            ),
            "pinyin": TfidfVectorizer(
                token_pattern=r"[^ ]+", ngram_range=(1, 2), sublinear_tf=True
            ),
        }
        self._model["words"].fit([_words(m) for m in examples])
        self._model["chars"].fit([m.get(TEXT) for m in examples])
        self._model["pinyin"].fit([to_pinyin(m.get(TEXT)) for m in examples])
        clf = LogisticRegression(
            C=self.config["C"], max_iter=self.config["max_iter"], class_weight="balanced"
        )
        clf.fit(self._features(examples), [m.get(INTENT) for m in examples])
        self._model["clf"] = clf
        with self._storage.write_to(self._resource) as directory:
            tfidf_store.save(self._model, directory)
        return self._resource

    @classmethod
    def load(
        cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
        execution_context: ExecutionContext, **kwargs: Any,
    ) -> TfidfIntentClassifier:
        try:
            with model_storage.read_from(resource) as directory:
                model = tfidf_store.load(directory)
        except ValueError:  # Rasa's storage: nothing was trained (no intent examples)
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
            ranking = self._without_filler(message) or [dict(r) for r in self._cache[key]]
            clauses = self._clauses(message, ranking[0])
            first = self._first_question(ranking[0], clauses)
            if first is not None:
                ranking = [first, *(r for r in ranking if r["name"] != first["name"])]
            done = self._done_then_next(message, ranking[0])
            if done is not None:
                clauses = done
                top = {**done[0]["intent"],
                       "confidence": max(done[0]["intent"]["confidence"], ranking[0]["confidence"])}
                ranking = [top, *(r for r in ranking if r["name"] != top["name"])]
            ranking = aspect_question(message.get(TEXT), ranking)
            ranking = withdrawal(message.get(TEXT), ranking)
            ranking = urged(message.get(TEXT), ranking)
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
            if clauses:
                message.set(CLAUSES, clauses, add_to_output=True)
        while len(self._cache) > self.config["cache_size"]:
            self._cache.popitem(last=False)
        return messages

    def _clauses(self, message: Message, top: dict[str, Any]) -> list[dict[str, Any]]:
        """Each clause with its top intent and the intent ranked next (``runner_up``), when
        the message has more than one."""
        text = message.get(TEXT) or ""
        tokens = [t for t in message.get(TOKENS_NAMES[TEXT]) or [] if t.text.strip()]
        spans = [(start + topic_start(text[start:end]), end)
                 for start, end in split_clauses(text)]
        if len(spans) < 2:
            spans = self._run_on(text, tokens, top)
        if len(spans) < 2:
            return []
        spans = [without_joiner(text, start, end) for start, end in spans]
        keys = self._ranked(text, tokens, spans)
        clauses = []
        for key, (start, end) in zip(keys, spans, strict=True):
            intent = withdrawal(key[0], [dict(r) for r in self._cache[key]])[0]
            runner_up = [dict(r) for r in self._cache[key][1:2]]
            question = (intent["name"] not in NOT_QUESTIONS
                        and not filler(key[0])
                        and (intent["confidence"] >= self.config["clause_confidence"]
                             or asks_choice(key[0], self._cache[key],
                                            self.config["clause_confidence"]))
                        and (sum(ch.isalnum() for ch in key[0]) >= MIN_QUESTION_CHARS
                             or short_question(key[0]))
                        and not (intent["name"].startswith("faq_")
                                 and negated_statement(key[0])))
            clauses.append({"text": key[0], "start": start, "end": end, "intent": intent,
                            "question": question, "runner_up": runner_up[0] if runner_up else None})
        return confirmed(self._referred_steps(clauses, keys))

    def _without_filler(self, message: Message) -> list[dict[str, Any]] | None:
        """The ranking of the message without its clauses of impatience alone ("急死了 资料要
        哪些" → "资料要哪些", ``bot.nlu.impatience``), when it has such clauses and others;
        None otherwise."""
        text = message.get(TEXT) or ""
        spans = split_clauses(text)
        kept = [(start, end) for start, end in spans if not filler(text[start:end])]
        if not kept or len(kept) == len(spans):
            return None
        tokens = [t for t in message.get(TOKENS_NAMES[TEXT]) or [] if t.text.strip()]
        key = (" ".join(text[start:end] for start, end in kept),
               " ".join(t.text.lower() for t in tokens
                        if any(t.start >= start and t.end <= end for start, end in kept)))
        if key not in self._cache:
            self._rank([Message(data={TEXT: key[0]})], [key], [key[1]])
        return [dict(r) for r in self._cache[key]]

    def _referred_steps(
        self, clauses: list[dict[str, Any]], keys: list[tuple[str, str]]
    ) -> list[dict[str, Any]]:
        """``clauses`` with a clause that asks about "that step" ("新机子装好了没 那一步干嘛
        的", ``bot.nlu.clauses.refers_back``) asking about the step the clause before it
        names: the first step among that clause's ranking, when it is at least
        ``referred_step_confidence`` sure ("装好了没" is the step's yes/no, not a status
        check of the ticket)."""
        out = list(clauses)
        for number in range(1, len(out)):
            if not refers_back(out[number]["text"]):
                continue
            step = next((r for r in self._cache[keys[number - 1]]
                         if r["name"].startswith("faq_step_")), None)
            if step is None or step["confidence"] < self.config["referred_step_confidence"]:
                continue
            out[number] = {**out[number], "question": True, "intent": {
                "name": step["name"],
                "confidence": max(step["confidence"], out[number]["intent"]["confidence"])}}
        return out

    def _ranked(
        self, text: str, tokens: list[Any], spans: list[tuple[int, int]]
    ) -> list[tuple[str, str]]:
        """The cache keys of ``spans`` of ``text``, each ranked (and cached)."""
        keys = [
            (text[start:end],
             " ".join(t.text.lower() for t in tokens if t.start >= start and t.end <= end))
            for start, end in spans
        ]
        missing = [k for k in dict.fromkeys(keys) if k not in self._cache]
        if missing:
            self._rank([Message(data={TEXT: k[0]}) for k in missing], missing,
                       [k[1] for k in missing])
        return keys

    def _done_then_next(
        self, message: Message, top: dict[str, Any]
    ) -> list[dict[str, Any]] | None:
        """A message that says something is done and closes with a "what next" naming
        nothing of its own ("审核通过了然后呢", ``bot.nlu.clauses.next_after_done``) asks
        about what is done: its clauses, the done part ranked as the question (when it
        ranks as a guide topic at least ``done_confidence`` sure and the whole message
        as another) and the "what next" as a clause that asks after it, which offers
        the next step (``actions.topics.next_step_asked``). None otherwise."""
        text = message.get(TEXT) or ""
        spans = next_after_done(text)
        if spans is None:
            return None
        tokens = [t for t in message.get(TOKENS_NAMES[TEXT]) or [] if t.text.strip()]
        keys = self._ranked(text, tokens, spans)
        head, tail = (self._cache[k] for k in keys)
        if (not head[0]["name"].startswith("faq_") or head[0]["name"] == top["name"]
                or head[0]["confidence"] < self.config["done_confidence"]):
            return None
        return [
            {"text": key[0], "start": start, "end": end, "intent": dict(ranked[0]),
             "question": asked, "runner_up": dict(ranked[1]) if len(ranked) > 1 else None}
            for key, (start, end), ranked, asked in zip(
                keys, spans, (head, tail), (True, False), strict=True)
        ]

    def _run_on(
        self, text: str, tokens: list[Any], top: dict[str, Any]
    ) -> list[tuple[int, int]]:
        """Two questions typed or dictated without a break ("要带什么资料多久能办好"): the
        word boundary (``bot.nlu.clauses.inner_cuts``) where one part still asks what the
        whole message asks and the other part something else, both at least
        ``run_on_confidence`` sure (the surest such cut); the whole text when no cut is."""
        cuts = inner_cuts(text, [t.start for t in tokens])
        if not cuts or not asks_else(top["name"]):
            return [(0, len(text))]
        spans = [((0, cut), (cut, len(text))) for cut in cuts]
        keys = self._ranked(text, tokens, [s for pair in spans for s in pair])
        best, best_confidence = None, self.config["run_on_confidence"]
        for number, pair in enumerate(spans):
            left = self._cache[keys[2 * number]][0]
            right = self._cache[keys[2 * number + 1]][0]
            names = {left["name"], right["name"]}
            sure = min(left["confidence"], right["confidence"])
            if (len(names) == 2 and top["name"] in names and all(map(asks_else, names))
                    and sure >= best_confidence):
                best, best_confidence = pair, sure
        return list(best) if best else [(0, len(text))]

    def _first_question(
        self, top: dict[str, Any], clauses: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        """The first question among the clauses, when the whole message is a greeting or
        thanks that comes before it, or is unsure of itself, or a guide question after a
        request of ``LEADS``; for a request to unbind, the first guide question; for a
        vague request of ``NAMED_BY``, the clause that names what it is. Its
        confidence is the higher of its clause's and the whole message's, so that the
        ranking stays in order. (Two confident questions keep the whole message's intent;
        the answer action answers both in the order asked.)"""
        questions = [c["intent"] for c in clauses if c["question"]]
        if not questions or top["name"] == "share_secret":
            return None
        named = NAMED_BY.get(top["name"])
        first = next((q for q in questions if q["name"] == named), None)
        if first is None and top["name"] == "request_unbind":
            # "我要解绑，要带什么资料": the question leads; its answer starts the form.
            first = next((q for q in questions if q["name"].startswith("faq_")), None)
        elif first is None and asked_first(top["name"], clauses):
            first = questions[0]
        elif first is None:
            if not ((top["name"] in POLITE and clauses[0]["intent"]["name"] == top["name"])
                    or top["confidence"] < self.config["clause_confidence"]
                    or (questions[0]["name"] in LEADS and guide_or_beyond(top["name"]))):
                return None
            first = questions[0]
        if first is None or first["name"] == top["name"]:
            return None
        return {"name": first["name"], "confidence": max(first["confidence"], top["confidence"])}

    def _rank(
        self, messages: list[Message], keys: list[tuple[str, str]],
        words: list[str] | None = None,
    ) -> None:
        """Classify ``messages`` and cache each ranking under its key (``words``: their
        jieba words, when the messages carry no tokens)."""
        probabilities = class_probabilities(self._model["clf"], self._features(messages, words))
        classes = self._model["clf"].classes_
        for key, row in zip(keys, probabilities, strict=True):
            order = np.argsort(-row)[: self.config["ranking_length"]]
            self._cache[key] = [
                {"name": str(classes[i]), "confidence": float(row[i])} for i in order
            ]
