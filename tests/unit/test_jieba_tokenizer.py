"""The domain jieba tokenizer cuts a text it has seen before exactly as Rasa's would."""

from __future__ import annotations

from pathlib import Path

from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu import jieba_tokenizer
from bot.nlu.jieba_tokenizer import DomainJiebaTokenizer

TEXTS = ["我要解绑", "商户号 898100012345678 序列号是多少", "你好", "我要解绑", "  ", "解绑 要带啥"]


def _tokenizers(tmp_path: Path) -> tuple[DomainJiebaTokenizer, JiebaTokenizer]:
    storage = LocalModelStorage(tmp_path)
    context = ExecutionContext(GraphSchema({}), "test")
    config = {**JiebaTokenizer.get_default_config(), "dictionary_path": None}
    ours = DomainJiebaTokenizer.create(config, storage, Resource("ours"), context)
    theirs = JiebaTokenizer.create(config, storage, Resource("theirs"), context)
    return ours, theirs


def _tokens(tokenizer: JiebaTokenizer, text: str) -> list[tuple[str, int, int, dict, str]]:
    message = Message(data={TEXT: text})
    tokenizer.process([message])
    return [(t.text, t.start, t.end, t.data, t.lemma) for t in message.get("text_tokens")]


def test_a_text_seen_before_gets_rasas_tokens_as_new_objects(tmp_path: Path) -> None:
    ours, theirs = _tokenizers(tmp_path)
    for text in TEXTS + TEXTS:
        assert _tokens(ours, text) == _tokens(theirs, text)
    first, second = (Message(data={TEXT: "我要解绑"}) for _ in range(2))
    ours.process([first, second])
    first.get("text_tokens")[0].set("x", 1)  # a later component marking its tokens
    assert second.get("text_tokens")[0].data == {}


def test_the_cache_keeps_only_the_latest_texts(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(jieba_tokenizer, "CACHE_SIZE", 3)
    ours, theirs = _tokenizers(tmp_path)
    texts = [f"第{n}个问题怎么解绑" for n in range(10)]
    for text in texts:
        assert _tokens(ours, text) == _tokens(theirs, text)
    assert list(ours._words) == texts[-3:]
