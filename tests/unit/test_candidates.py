"""Candidate training messages: kept redacted, grouped by similar text, labelled, exported,
purged (SQLite here; tests/tickets covers the same store on PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.db import make_engine
from bot.learning.candidates import (
    CandidateError,
    CandidateStore,
    group_similar,
    record_candidate,
)
from bot.nlu.__main__ import render, select
from bot.tickets.migrate import upgrade


@pytest.fixture
def store(tmp_path: Path) -> CandidateStore:
    url = f"sqlite:///{tmp_path / 'tickets.db'}"
    upgrade(url)
    return CandidateStore(make_engine(url))


def test_kept_text_has_no_secret_and_no_full_number(store: CandidateStore) -> None:
    number = store.record("s1", "我的密码是123456，商户号849581058120003，电话13812345678",
                          "fallback", "nlu_fallback", 0.21, "rest")
    assert number is not None
    [kept] = store.candidates()
    assert "123456" not in kept.text and "849581058120003" not in kept.text
    assert "13812345678" not in kept.text and "849581" in kept.text  # masked, not dropped
    assert (kept.reason, kept.intent, kept.confidence, kept.channel) == (
        "fallback", "nlu_fallback", 0.21, "rest")


def test_payloads_and_empty_texts_are_not_kept(store: CandidateStore) -> None:
    assert store.record("s1", "/faq_audit", "fallback") is None
    assert store.record("s1", "  。。 ", "fallback") is None
    with pytest.raises(CandidateError):
        store.record("s1", "审核要多久", "because")
    assert store.candidates() == []


def test_record_candidate_never_raises(tmp_path: Path) -> None:
    broken = CandidateStore(make_engine(f"sqlite:///{tmp_path / 'no-table.db'}"))
    assert record_candidate("s1", "审核要多久", "fallback", store=broken) is None


def test_similar_texts_are_grouped_biggest_first() -> None:
    texts = ["解绑要交多少钱", "天气怎么样", "解绑要交多少钱啊", "解绑要交多少钱呢",
             "今天天气怎么样"]
    groups = group_similar(texts)
    assert groups == [["解绑要交多少钱", "解绑要交多少钱啊", "解绑要交多少钱呢"],
                      ["天气怎么样", "今天天气怎么样"]]
    assert group_similar([]) == []


def test_groups_label_dismiss_and_counts(store: CandidateStore) -> None:
    ids = [store.record(f"s{i}", text, "fallback") for i, text in
           enumerate(["店员要培训吗", "店员要培训吗？", "收费吗"])]
    groups = store.groups()
    assert [g.count for g in groups] == [2, 1] and groups[0].reasons == {"fallback": 2}
    assert store.label(ids[:2], "faq_step_training", "张三") == 2
    assert store.label(ids[2:], None, "张三") == 1
    assert store.counts() == {"labelled": 2, "dismissed": 1}
    assert store.groups() == []
    assert [c.label for c in store.labelled()] == ["faq_step_training"] * 2
    with pytest.raises(CandidateError):
        store.label([], "faq_audit", "张三")


def test_purge_keeps_labelled_texts_without_their_sender(store: CandidateStore) -> None:
    old = datetime.now(timezone.utc) - timedelta(days=200)
    kept = store.record("s1", "店员要培训吗", "fallback", at=old)
    store.record("s2", "收费吗", "fallback", at=old)
    store.record("s3", "今天的问题", "fallback")
    store.label([kept], "faq_step_training", "张三")
    assert store.purge(datetime.now(timezone.utc) - timedelta(days=180)) == 1
    remaining = {c.text: c for c in store.candidates(status=None)}
    assert set(remaining) == {"店员要培训吗", "今天的问题"}
    assert remaining["店员要培训吗"].sender_id == ""


def test_export_leaves_out_trained_duplicate_and_masked(store: CandidateStore) -> None:
    for text in ("店员要不要去培训一下", "店员要不要去培训一下！", "我要解绑",
                 "商户号849581058120003要培训吗"):
        store.label([store.record("s", text, "fallback", "nlu_fallback")], "faq_step_training",
                    "张三")
    chosen, skipped = select(store.labelled(), trained={"我要解绑"})
    assert [c.text for c in chosen["faq_step_training"]] == ["店员要不要去培训一下"]
    assert skipped == {"already trained": 1, "duplicate": 1, "masked": 1}
    yaml_text = render(chosen, datetime(2026, 12, 7, 9, 0))
    assert "- intent: faq_step_training" in yaml_text
    assert "    - 店员要不要去培训一下" in yaml_text and "张三" in yaml_text

    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    data = RasaYAMLReader().reads(yaml_text)
    assert [m.get("intent") for m in data.intent_examples] == ["faq_step_training"]
