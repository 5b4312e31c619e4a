"""Answer search quality and speed (BM25 alone, so no Rasa is needed).

Two query sets: ``console_queries.yml`` (used to tune the search vocabulary) and
``console_queries_heldout.yml`` (never used to tune anything). Neither may contain an
NLU training example, or the NLU half of the ranking would be tested on its own data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.knowledge.topics import load_topics
from bot.nlu.training_examples import nlu_examples, normalise
from bot.paths import ROOT
from bot.web.console.search import (
    AnswerIndex,
    back_off,
    default_index,
    locate,
    nlu_confidences,
    tokenize,
)

QUERY_FILES = {
    "tuned": ROOT / "tests" / "console_queries.yml",
    "heldout": ROOT / "tests" / "console_queries_heldout.yml",
}
MIN_HIT_RATE = {"tuned": 0.9, "heldout": 0.85}
QUERY_SETS: dict[str, list[dict[str, str]]] = {
    name: yaml.safe_load(path.read_text(encoding="utf-8"))["queries"]
    for name, path in QUERY_FILES.items()
}
CASES = QUERY_SETS["tuned"]


def top3_misses(cases: list[dict[str, str]]) -> list[tuple[str, str, list[str]]]:
    index = default_index()
    misses = []
    for case in cases:
        top3 = [hit.topic.id for hit in index.search(case["q"]).hits[:3]]
        if case["topic"] not in top3:
            misses.append((case["q"], case["topic"], top3))
    return misses


@pytest.mark.parametrize("name", QUERY_FILES)
def test_queries_are_well_formed(name: str) -> None:
    cases = QUERY_SETS[name]
    assert len(cases) >= 25
    topics = load_topics()
    assert all(case["topic"] in topics for case in cases)
    assert len({normalise(case["q"]) for case in cases}) == len(cases)


def test_the_two_query_sets_do_not_share_a_query() -> None:
    tuned = {normalise(c["q"]) for c in QUERY_SETS["tuned"]}
    assert not tuned & {normalise(c["q"]) for c in QUERY_SETS["heldout"]}


@pytest.mark.parametrize("name", QUERY_FILES)
def test_no_query_is_an_nlu_training_example(name: str) -> None:
    examples = nlu_examples()
    assert len(examples) > 1000  # the reader found the training data
    copied = [c["q"] for c in QUERY_SETS[name] if normalise(c["q"]) in examples]
    assert copied == []


def test_the_overlap_check_finds_copies(tmp_path: Path) -> None:
    """Sanity for the test above: annotated, spaced and cased copies are all found."""
    (tmp_path / "x.yml").write_text(
        'nlu:\n- intent: a\n  examples: |\n    - 商户号[849581058120003](merchant_id)绑错了\n'
        '    - F1F4\n- lookup: b\n  examples: |\n    - 营业执照\n', encoding="utf-8")
    found = nlu_examples(tmp_path)
    assert {normalise(q) for q in ("商户号849581058120003绑错了", "f1 f4", "营业执照!")} <= found


def test_expected_topic_in_top_3_for_90_percent() -> None:
    misses = top3_misses(CASES)
    assert 1 - len(misses) / len(CASES) >= MIN_HIT_RATE["tuned"], misses


def test_heldout_queries_find_their_topic_in_top_3_for_85_percent() -> None:
    cases = QUERY_SETS["heldout"]
    misses = top3_misses(cases)
    assert 1 - len(misses) / len(cases) >= MIN_HIT_RATE["heldout"], misses


@pytest.mark.parametrize("topic", list(load_topics().values()), ids=lambda t: t.id)
def test_every_topic_is_found_by_its_own_title(topic: Any) -> None:
    top3 = [hit.topic.id for hit in default_index().search(topic.title).hits[:3]]
    assert topic.id in top3, top3


def test_a_query_of_domain_words_alone_ranks_by_title() -> None:
    """解绑/POS机/海科融通 are in every topic's text; a title still tells topics apart."""
    hits = default_index().search("海科融通POS机").hits
    assert hits and hits[0].topic.id == "about_pos"
    assert {"海科", "融通", "pos机"} <= set(hits[0].matched_terms)


def test_unknown_words_back_off_to_their_known_characters() -> None:
    vocab = {"前": 0, "准备": 1}
    assert back_off(["前要", "准备", "屏幕", "x"], vocab) == ["前", "准备", "x"]


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
def test_answers_api_of_the_running_bot_fuses_its_nlu_ranking(running_bot) -> None:
    """Both query sets through ``/api/answers`` of the running web app and Rasa."""
    import json
    import statistics
    import urllib.parse
    import urllib.request

    headers = {"Authorization": f"Bearer {running_bot.console_token}", "X-Agent": "ci"}
    took = []
    for name, cases in QUERY_SETS.items():
        hits = 0
        for case in cases:
            request = urllib.request.Request(
                f"{running_bot.web_url}/api/answers?q={urllib.parse.quote(case['q'])}",
                headers=headers,
            )
            with urllib.request.urlopen(request, timeout=30) as reply:
                body = json.load(reply)
            assert body["nlu"]["available"] is True, body["nlu"]
            assert any(h["nlu_confidence"] is not None for h in body["hits"]), case
            took.append(body["took_ms"])
            hits += case["topic"] in [h["topic"] for h in body["hits"][:3]]
        print(f"{name}: top-3 through /api/answers with NLU {hits}/{len(cases)}")
        assert hits / len(cases) >= MIN_HIT_RATE[name]
    took.sort()
    print(f"took_ms p50 {statistics.median(took):.1f} p95 {took[int(len(took) * 0.95)]:.1f}")
