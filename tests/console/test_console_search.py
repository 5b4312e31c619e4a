"""Answer search quality and speed (BM25 alone, so no Rasa is needed)."""

from __future__ import annotations

import time

import pytest
import yaml

from bot.knowledge.topics import load_topics
from bot.paths import ROOT
from bot.web.console.search import AnswerIndex, default_index, locate, nlu_confidences, tokenize

QUERIES = yaml.safe_load((ROOT / "tests" / "console_queries.yml").read_text(encoding="utf-8"))
CASES = QUERIES["queries"]


def test_queries_are_well_formed() -> None:
    assert len(CASES) == 30
    topics = load_topics()
    assert all(case["topic"] in topics for case in CASES)
    assert len({case["q"] for case in CASES}) == 30


def test_expected_topic_in_top_3_for_90_percent() -> None:
    index = default_index()
    misses = []
    for case in CASES:
        top3 = [hit.topic.id for hit in index.search(case["q"]).hits[:3]]
        if case["topic"] not in top3:
            misses.append((case["q"], case["topic"], top3))
    hit_rate = 1 - len(misses) / len(CASES)
    assert hit_rate >= 0.9, misses


def test_search_is_fast() -> None:
    index = default_index()
    index.search("预热")
    started = time.perf_counter()
    for case in CASES:
        index.search(case["q"])
    per_query = (time.perf_counter() - started) / len(CASES)
    assert per_query < 0.02  # far under the 100 ms budget


def test_every_source_passage_is_located_in_the_guide() -> None:
    index = default_index()
    for topic, passages in zip(index.topics, index.passages, strict=True):
        assert len(passages) == len(topic.sources), topic.id


def test_nlu_ranking_is_fused() -> None:
    index = default_index()
    plain = index.search("钱")
    fused = index.search("钱", {"funds": 0.2, "about_pos": 0.95})
    assert fused.nlu_used and not plain.nlu_used
    assert [h.topic.id for h in fused.hits[:2]] == ["funds", "about_pos"]
    about = fused.hits[1]  # no word of the query in it: the NLU alone brought it up
    assert about.nlu_confidence == 0.95 and about.matched_terms == () and about.bm25 == 0
    assert fused.hits[0].score == pytest.approx(0.5 * 1 + 0.5 * 0.2, abs=1e-3)
    assert about.score == pytest.approx(0.5 * 0.95, abs=1e-3)


def test_nlu_confidences_maps_faq_intents_to_topics() -> None:
    parse = {"intent": {"name": "faq_audit", "confidence": 0.8},
             "intent_ranking": [{"name": "faq_audit", "confidence": 0.8},
                                {"name": "greet", "confidence": 0.1},
                                {"name": "faq_process", "confidence": 0.05}]}
    assert nlu_confidences(parse) == {"audit": 0.8, "process": 0.05}
    assert nlu_confidences({}) == {}


@pytest.mark.parametrize("query", ["", "的了吗", "!!!", "🙂" * 300])
def test_empty_or_meaningless_queries_have_no_hits(query: str) -> None:
    assert default_index().search(query).hits == ()


def test_tokenize_and_locate() -> None:
    assert tokenize("按F1和F4键") == ["按", "f1", "f4", "键"]
    assert locate("a b", "xxa\nbyy") == (2, 5)
    assert locate("missing", "text") is None


def test_index_of_custom_topics() -> None:
    topics = list(load_topics().values())[:2]
    index = AnswerIndex(topics, "")
    assert index.search("F1").hits[0].topic.id == topics[0].id
    assert index.passages[0] == ()


@pytest.mark.server
def test_with_nlu_ranking_of_the_running_bot(running_bot) -> None:
    """Same queries fused with the running Rasa's ranking."""
    import json
    import urllib.request

    url = running_bot.rasa_url
    index = default_index()
    hits = 0
    for case in CASES:
        request = urllib.request.Request(
            f"{url}/model/parse", data=json.dumps({"text": case["q"]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            parse = json.load(reply)
        top3 = [h.topic.id for h in index.search(case["q"], nlu_confidences(parse)).hits[:3]]
        hits += case["topic"] in top3
    print(f"top-3 with NLU ranking: {hits}/{len(CASES)}")
    assert hits / len(CASES) >= 0.9
