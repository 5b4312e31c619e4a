"""The intent classifier: trained rankings, and the cache of repeated texts."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.tfidf_classifier import TfidfIntentClassifier

EXAMPLES = {
    "greet": ["hello there", "hi", "good morning", "hey you"],
    "unbind": ["unbind my pos", "please unbind the terminal", "remove my device", "unbind pos"],
    "thank": ["thanks a lot", "thank you", "many thanks", "cheers thanks"],
}


@pytest.fixture()
def tokenizer() -> WhitespaceTokenizer:
    return WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())


def _messages(tokenizer: WhitespaceTokenizer, *texts: str) -> list[Message]:
    messages = [Message(data={TEXT: text}) for text in texts]
    tokenizer.process(messages)
    return messages


def _trained(
    tmp_path: Path, tokenizer: WhitespaceTokenizer, cache_size: int
) -> tuple[TfidfIntentClassifier, dict, LocalModelStorage, Resource, ExecutionContext]:
    """A classifier trained on ``EXAMPLES`` and stored, with what loads it again."""
    data = TrainingData([
        Message(data={TEXT: text, INTENT: intent})
        for intent, texts in EXAMPLES.items() for text in texts
    ])
    tokenizer.process_training_data(data)
    storage = LocalModelStorage(tmp_path)
    context = ExecutionContext(GraphSchema({}), "test")
    resource = Resource("clf")
    config = {**TfidfIntentClassifier.get_default_config(), "cache_size": cache_size}
    trained = TfidfIntentClassifier.create(config, storage, resource, context)
    trained.train(data)
    return trained, config, storage, resource, context


@pytest.fixture()
def classifier(tmp_path: Path, tokenizer: WhitespaceTokenizer) -> TfidfIntentClassifier:
    _, config, storage, resource, context = _trained(tmp_path, tokenizer, cache_size=2)
    return TfidfIntentClassifier.load(config, storage, resource, context)


def test_ranks_by_what_it_learnt(classifier, tokenizer) -> None:
    first, second = classifier.process(_messages(tokenizer, "unbind my terminal", "thanks"))
    assert first.get(INTENT)["name"] == "unbind"
    assert second.get(INTENT)["name"] == "thank"
    ranking = first.get(INTENT_RANKING_KEY)
    assert [r["confidence"] for r in ranking] == sorted(
        (r["confidence"] for r in ranking), reverse=True)


def test_a_repeated_text_gets_the_same_ranking_as_a_fresh_model(
    classifier, tokenizer, tmp_path
) -> None:
    fresh = classifier.process(_messages(tokenizer, "hello pos"))[0].get(INTENT_RANKING_KEY)
    again = classifier.process(_messages(tokenizer, "hello pos"))[0]
    assert again.get(INTENT_RANKING_KEY) == fresh
    again.get(INTENT_RANKING_KEY)[0]["confidence"] = -1.0  # a later component changes it
    assert classifier.process(_messages(tokenizer, "hello pos"))[0].get(
        INTENT_RANKING_KEY) == fresh


def test_the_cache_keeps_only_the_most_recent_texts(classifier, tokenizer) -> None:
    for text in ("hi", "thanks", "unbind pos", "hi"):
        classifier.process(_messages(tokenizer, text))
    assert [key[0] for key in classifier._cache] == ["unbind pos", "hi"]


def test_a_loaded_model_ranks_exactly_as_the_trained_one(tmp_path: Path, tokenizer) -> None:
    """The stored vocabularies and weights rebuild the same model; no pickle is involved."""
    import json

    import numpy as np

    from bot.nlu import tfidf_store

    trained, config, storage, resource, context = _trained(tmp_path, tokenizer, cache_size=0)
    loaded = TfidfIntentClassifier.load(config, storage, resource, context)
    texts = ("unbind my terminal", "thanks", "hello pos", "完全没见过的话")
    for ours, theirs in zip(loaded.process(_messages(tokenizer, *texts)),
                            trained.process(_messages(tokenizer, *texts)), strict=True):
        assert ours.get(INTENT_RANKING_KEY) == theirs.get(INTENT_RANKING_KEY)
    with storage.read_from(resource) as directory:
        assert {p.name for p in directory.iterdir()} == {
            tfidf_store.MODEL_JSON, tfidf_store.MODEL_ARRAYS}
        np.load(directory / tfidf_store.MODEL_ARRAYS, allow_pickle=False)
        meta = json.loads((directory / tfidf_store.MODEL_JSON).read_text("utf-8"))
        meta["format"] = 1
        (directory / tfidf_store.MODEL_JSON).write_text(json.dumps(meta), "utf-8")
    with pytest.raises(RuntimeError, match="retrain"):
        TfidfIntentClassifier.load(config, storage, resource, context)


def test_each_clause_of_a_longer_message_is_ranked(classifier, tokenizer) -> None:
    [message] = classifier.process(_messages(tokenizer, "hello there, please unbind the terminal"))
    clauses = message.get("clauses")
    assert [c["text"] for c in clauses] == ["hello there", "please unbind the terminal"]
    assert [c["intent"]["name"] for c in clauses] == ["greet", "unbind"]
    assert [c["question"] for c in clauses] == [False, clauses[1]["intent"]["confidence"] >= 0.7]
    assert all(c["runner_up"]["name"] != c["intent"]["name"]
               and c["runner_up"]["confidence"] <= c["intent"]["confidence"] for c in clauses)
    [single] = classifier.process(_messages(tokenizer, "unbind my pos"))
    assert single.get("clauses") is None


def test_a_greeting_does_not_hide_the_question_after_it(classifier, tokenizer) -> None:
    top = {"name": "greet", "confidence": 0.5}
    question = {"name": "unbind", "confidence": 0.9}
    clauses = [{"intent": {"name": "greet", "confidence": 0.9}, "question": False},
               {"intent": question, "question": True}]
    assert classifier._first_question(top, clauses) == {"name": "unbind", "confidence": 0.9}
    sure = {"name": "greet", "confidence": 0.95}  # "你好 我要解绑": the question leads
    assert classifier._first_question(sure, clauses) == {"name": "unbind", "confidence": 0.95}
    # "好了没事了 拜拜" stays a goodbye: a sure goodbye, or politeness after the question.
    bye = {"name": "goodbye", "confidence": 0.95}
    assert classifier._first_question(bye, [clauses[1], {**clauses[0], "intent": bye}]) is None
    assert classifier._first_question(sure, [clauses[1], clauses[0]]) is None
    assert classifier._first_question({"name": "share_secret", "confidence": 0.2}, clauses) is None


def test_a_request_to_unbind_lets_a_guide_question_lead(classifier) -> None:
    top = {"name": "request_unbind", "confidence": 0.97}
    clauses = [{"intent": {"name": "request_unbind", "confidence": 1.0}, "question": True},
               {"intent": {"name": "faq_materials", "confidence": 0.9}, "question": True}]
    assert classifier._first_question(top, clauses) == {"name": "faq_materials",
                                                        "confidence": 0.97}
    unsure = [clauses[0], {**clauses[1], "question": False}]
    assert classifier._first_question(top, unsure) is None


def test_pinyin_is_a_feature(classifier, tokenizer) -> None:
    assert "pinyin" in classifier._model  # homophones share these features


CHINESE = {
    "faq_materials": ["要带什么资料", "需要什么资料", "资料要带什么", "带哪些资料", "什么材料"],
    "faq_audit": ["多久能办好", "要多久", "审核多久", "几天能办好", "多久审核完"],
    "greet": ["你好", "您好", "你好啊"],
}


def _by_character(*texts: str) -> list[Message]:
    """Messages tokenised one character a token (as if every character were a word)."""
    from rasa.nlu.tokenizers.tokenizer import Token as RasaToken

    messages = []
    for text in texts:
        message = Message(data={TEXT: text})
        message.set("text_tokens", [RasaToken(ch, i) for i, ch in enumerate(text)])
        messages.append(message)
    return messages


def _trained_on_chinese(tmp_path: Path) -> TfidfIntentClassifier:
    """A classifier trained on ``CHINESE``, one character a token."""
    data = TrainingData([
        message for intent, texts in CHINESE.items() for message in _by_character(*texts)
    ])
    for message, intent in zip(
        data.training_examples,
        [i for i, texts in CHINESE.items() for _ in texts], strict=True,
    ):
        message.set(INTENT, intent)
    clf = TfidfIntentClassifier.create(
        TfidfIntentClassifier.get_default_config(), LocalModelStorage(tmp_path),
        Resource("clf"), ExecutionContext(GraphSchema({}), "test"))
    clf.train(data)
    return clf


def test_two_questions_run_together_are_cut_where_the_second_begins(tmp_path: Path) -> None:
    data = TrainingData([
        message for intent, texts in CHINESE.items() for message in _by_character(*texts)
    ])
    for message, (intent, _) in zip(
        data.training_examples,
        [(i, t) for i, texts in CHINESE.items() for t in texts], strict=True,
    ):
        message.set(INTENT, intent)
    clf = TfidfIntentClassifier.create(
        TfidfIntentClassifier.get_default_config(), LocalModelStorage(tmp_path),
        Resource("clf"), ExecutionContext(GraphSchema({}), "test"))
    clf.train(data)
    [run_on, single] = clf.process(_by_character("要带什么资料多久能办好", "要带什么资料"))
    assert run_on.get(INTENT)["name"] == "faq_materials"
    clauses = run_on.get("clauses")
    assert [c["text"] for c in clauses] == ["要带什么资料", "多久能办好"]
    assert [c["intent"]["name"] for c in clauses] == ["faq_materials", "faq_audit"]
    assert single.get("clauses") is None


def test_a_negated_clause_names_a_topic_without_asking_it(tmp_path: Path) -> None:
    """"不带资料 多久能办好": the first clause states a condition, the second asks."""
    clf = _trained_on_chinese(tmp_path)
    [negated, asked] = clf.process(_by_character("不带资料 多久能办好", "带什么资料 多久能办好"))
    first = negated.get("clauses")[0]
    assert first["intent"]["name"] == "faq_materials" and first["question"] is False
    assert asked.get("clauses")[0]["question"] is True


def test_what_a_confirmation_tag_closes_is_no_question_when_one_follows(
    tmp_path: Path,
) -> None:
    """"要带什么资料是吧 多久能办好": the merchant states the first, asks the second."""
    clf = _trained_on_chinese(tmp_path)
    [tagged, last, plain] = clf.process(_by_character(
        "要带什么资料是吧 多久能办好", "多久能办好 要带什么资料是吧", "要带什么资料 多久能办好"))
    assert [c["question"] for c in tagged.get("clauses")] == [False, True]
    assert [c["question"] for c in last.get("clauses")] == [True, True]  # nothing follows
    assert [c["question"] for c in plain.get("clauses")] == [True, True]


def test_a_status_asked_first_leads_a_message_read_as_a_guide_question(classifier) -> None:
    """"帮我查下进度，还有测试验证是干嘛的": the status first (its action answers the guide
    question after it); a status asked second, or a request not asked surely, leads not."""
    top = {"name": "faq_step_testing", "confidence": 0.8}
    status = {"intent": {"name": "check_status", "confidence": 0.9}, "question": True}
    guide = {"intent": {"name": "faq_step_testing", "confidence": 0.9}, "question": True}
    assert classifier._first_question(top, [status, guide]) == {"name": "check_status",
                                                                "confidence": 0.9}
    assert classifier._first_question(top, [guide, status]) is None
    assert classifier._first_question(top, [{**status, "question": False}, guide]) is None
    cancel = {"intent": {"name": "cancel_ticket", "confidence": 0.85}, "question": True}
    assert classifier._first_question(top, [cancel, guide])["name"] == "cancel_ticket"


def test_a_request_asked_first_leads_a_message_read_as_out_of_scope(classifier) -> None:
    """"帮我转人工 另外想问下押金咋退": the whole reads as out of scope, but the request
    comes first (its action says the deposit is not in the guide after it); a greeting
    first, or the request second, leads not."""
    top = {"name": "out_of_scope", "confidence": 0.9}
    handoff = {"intent": {"name": "human_handoff", "confidence": 0.95}, "question": True}
    beyond = {"intent": {"name": "out_of_scope", "confidence": 0.9}, "question": True}
    assert classifier._first_question(top, [handoff, beyond]) == {"name": "human_handoff",
                                                                  "confidence": 0.95}
    assert classifier._first_question(top, [beyond, handoff]) is None
    greet = {"intent": {"name": "greet", "confidence": 0.95}, "question": True}
    assert classifier._first_question(top, [greet, beyond]) is None


def test_a_stop_named_as_cancelling_the_application_is_a_cancel(classifier) -> None:
    """"算了不弄了，把申请撤了": the stop is the cancel its clause names; a stop alone, or
    with a cancel not asked surely, stays a stop."""
    top = {"name": "stop", "confidence": 0.95}
    stop = {"intent": {"name": "stop", "confidence": 1.0}, "question": True}
    cancel = {"intent": {"name": "cancel_ticket", "confidence": 0.9}, "question": True}
    assert classifier._first_question(top, [stop, cancel]) == {"name": "cancel_ticket",
                                                              "confidence": 0.95}
    assert classifier._first_question(top, [stop, {**cancel, "question": False}]) is None
    assert classifier._first_question(top, [stop]) is None


def test_a_request_that_asks_about_an_unstated_aspect_is_a_question() -> None:
    """"别人能代办解绑吗" asks whether, it does not ask to unbind; "帮我…" still requests, and
    a status check keeps "how long"."""
    from bot.nlu.ranking_rules import aspect_question as _aspect_question

    def top(text: str, intent: str) -> str:
        ranking = [{"name": intent, "confidence": 0.8}, {"name": "faq_process", "confidence": 0.1}]
        return _aspect_question(text, ranking)[0]["name"]

    assert top("别人能代办解绑吗", "request_unbind") == "out_of_scope"
    assert top("解绑对我的信用有影响没", "check_status") == "out_of_scope"
    assert top("帮我解绑 要多少钱", "request_unbind") == "request_unbind"
    assert top("我的审核还要多久", "check_status") == "check_status"
    assert top("我要解绑", "request_unbind") == "request_unbind"
    assert top("解绑收费吗", "faq_process") == "faq_process"  # the answer action checks it
    assert top("可以找人代办不", "deny") == "out_of_scope"  # no yes or no
    assert top("换了法人咋办", "inform") == "out_of_scope"  # no form value
    assert top("不用了", "deny") == "deny"  # asks nothing
    assert top("我的申请是不是被驳回了", "check_status") == "check_status"


def test_something_done_then_a_bare_what_next_asks_about_what_is_done(tmp_path: Path) -> None:
    """"资料带好了然后呢": the message asks about what is done (its step's successor is
    offered by the answer action); the bare "what next" is a clause that asks nothing of
    its own. A "what next" alone stays what it is."""
    examples = {**CHINESE, "faq_process": ["然后呢", "下一步呢", "接下来做什么", "然后干嘛",
                                           "之后呢", "后面呢"]}
    data = TrainingData([m for texts in examples.values() for m in _by_character(*texts)])
    for message, intent in zip(data.training_examples,
                               [i for i, texts in examples.items() for _ in texts], strict=True):
        message.set(INTENT, intent)
    clf = TfidfIntentClassifier.create(
        TfidfIntentClassifier.get_default_config(), LocalModelStorage(tmp_path),
        Resource("clf"), ExecutionContext(GraphSchema({}), "test"))
    clf.train(data)
    [done, bare] = clf.process(_by_character("资料带好了然后呢", "然后呢"))
    assert done.get(INTENT)["name"] == "faq_materials"
    clauses = done.get("clauses")
    assert [c["text"] for c in clauses] == ["资料带好了", "然后呢"]
    assert [c["question"] for c in clauses] == [True, False]
    assert bare.get(INTENT)["name"] == "faq_process" and bare.get("clauses") is None


def test_a_stop_that_names_the_unbind_it_gives_up_is_a_cancel() -> None:
    """"解绑我不做了 撤销吧" withdraws the application; a bare "取消吧" stays a stop, and
    other intents are left alone."""
    from bot.nlu.ranking_rules import withdrawal as _withdrawal

    ranking = [{"name": "stop", "confidence": 0.9}, {"name": "cancel_ticket", "confidence": 0.1}]
    assert _withdrawal("解绑我不做了 撤销吧", ranking)[0] == {"name": "cancel_ticket",
                                                        "confidence": 0.9}
    assert [r["name"] for r in _withdrawal("解绑我不做了 撤销吧", ranking)] == [
        "cancel_ticket", "stop"]
    assert _withdrawal("取消吧", ranking) == ranking
    status = [{"name": "check_status", "confidence": 0.9}]
    assert _withdrawal("申请撤了吧", status) == status


def test_a_choice_between_two_guide_topics_is_a_question() -> None:
    """"是网上申请还是在机器上弄" shares its sureness between the two topics it offers: a
    question when both are guide topics sure together; not a clause without 还是, nor one
    whose runner-up is no guide topic, nor two unsure topics."""
    from bot.nlu.ranking_rules import asks_choice

    def ranking(first: str, second: str, a: float, b: float) -> list[dict]:
        return [{"name": first, "confidence": a}, {"name": second, "confidence": b}]

    two = ranking("faq_terminal_steps", "faq_online_application", 0.52, 0.42)
    assert asks_choice("是网上申请还是在机器上弄", two, 0.7)
    assert not asks_choice("网上申请在机器上弄", two, 0.7)
    assert not asks_choice("是网上申请还是在机器上弄",
                           ranking("faq_terminal_steps", "request_unbind", 0.52, 0.42), 0.7)
    assert not asks_choice("是网上申请还是在机器上弄",
                           ranking("faq_terminal_steps", "faq_online_application", 0.4, 0.2), 0.7)
    assert not asks_choice("是网上申请还是在机器上弄", two[:1], 0.7)
