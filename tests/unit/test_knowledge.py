"""The knowledge stays faithful to the guide."""

import re

import pytest
import yaml

from bot.knowledge.guide import (
    GUIDE_PATH,
    GuideFixes,
    guide_text,
    normalise_quote,
    read_raw_guide,
    sanitise,
)
from bot.knowledge.topics import load_topics
from bot.paths import ROOT, SHARED_GUIDE_DIR
from bot.settings import Contacts

TOPICS = load_topics()
AD_MARKERS = ("soupos", "http://", "www.")


def test_shipped_guide_matches_the_shared_guide():
    assert SHARED_GUIDE_DIR.is_dir(), f"the guide must sit beside the repo: {SHARED_GUIDE_DIR}"
    expected = sanitise(read_raw_guide(), GuideFixes.load())
    assert GUIDE_PATH.read_text(encoding="utf-8") == expected, (
        "run `python -m bot.knowledge sync-guide`"
    )


def test_guide_copy_has_no_garbles_or_advertising():
    text = guide_text()
    for garbled in ("POSS明", "身份fen证"):
        assert garbled not in text
    for marker in AD_MARKERS:
        assert marker not in text.lower()


@pytest.mark.parametrize("topic_id", list(TOPICS))
def test_every_source_quote_is_in_the_guide(topic_id):
    guide = normalise_quote(guide_text())
    for quote in TOPICS[topic_id].sources:
        assert normalise_quote(quote) in guide, quote


@pytest.mark.parametrize("topic_id", list(TOPICS))
def test_answers_invent_no_contact_details(topic_id):
    for message in TOPICS[topic_id].render(Contacts()):
        assert not re.search(r"\d{5,}|\d{3,4}-\d{3,}", message), message
        assert "http" not in message and "www" not in message


def test_configured_contacts_appear_only_where_the_guide_names_the_channel():
    contacts = Contacts(hotline="400-000-0000", help_centre_url="https://help.example.com")
    hits = [t.id for t in TOPICS.values() if "400-000-0000" in "".join(t.render(contacts))]
    assert hits == ["contact_support"]


def test_follow_ups_name_existing_topics():
    for topic in TOPICS.values():
        assert set(topic.follow_ups) <= set(TOPICS), topic.id
        assert topic.id not in topic.follow_ups


def test_advertising_link_never_appears_in_domain_or_data():
    fixes = ROOT / "data/knowledge/guide_fixes.yml"  # names the advertising in order to drop it
    checked = [ROOT / "domain.yml", *sorted((ROOT / "data").rglob("*.yml"))]
    checked.remove(fixes)
    for path in checked:
        text = path.read_text(encoding="utf-8").lower()
        for marker in AD_MARKERS:
            assert marker not in text, f"{marker} in {path}"


def test_only_documented_fixes_are_applied():
    fixes = GuideFixes.load()
    assert fixes.replace == {"法人POSS明": "法人身份证明", "身份fen证": "身份证"}
    assert yaml.safe_load((ROOT / "data/knowledge/guide_fixes.yml").read_text())


def test_the_eight_step_topics_follow_the_guides_order():
    from bot.tickets import STEPS

    steps = sorted((t for t in TOPICS.values() if t.step is not None), key=lambda t: t.step)
    assert [t.step for t in steps] == list(range(1, 9))
    for topic, name in zip(steps, STEPS, strict=True):
        assert name in topic.title and f"第{topic.step}步" in topic.answer[0]
        assert topic.sources[0].startswith(name)  # the guide's own line for that step
        assert topic.intent == f"faq_step_{topic.id.removeprefix('step_')}"


def test_every_topic_has_an_intent_and_a_rule():
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    rules = (ROOT / "data" / "rules" / "topics.yml").read_text(encoding="utf-8")
    for topic in TOPICS.values():
        assert topic.intent in domain["intents"]
        assert f"intent: {topic.intent}\n" in rules
