"""Guide topics: what the bot answers for each faq_* intent."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from bot.paths import DATA
from bot.settings import Contacts

TOPICS_PATH = DATA / "knowledge" / "topics.yml"
INTENT_PREFIX = "faq_"


@dataclass(frozen=True)
class Topic:
    """One answerable topic of the guide."""

    id: str
    title: str
    answer: tuple[str, ...]
    follow_ups: tuple[str, ...]
    sources: tuple[str, ...]
    step: int | None = None
    """For the eight process steps: the step's position (1–8) in the guide's order."""

    @property
    def intent(self) -> str:
        return INTENT_PREFIX + self.id

    @property
    def payload(self) -> str:
        """The button payload that asks about this topic."""
        return "/" + self.intent

    def render(self, contacts: Contacts) -> list[str]:
        """The answer's messages with contact placeholders filled in."""
        values = contacts.placeholders()
        return [part.strip().format(**values) for part in self.answer]


@lru_cache(maxsize=4)
def load_topics(path: Path = TOPICS_PATH) -> dict[str, Topic]:
    """Topics by id, in file order."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))["topics"]
    return {
        item["id"]: Topic(
            id=item["id"],
            title=item["title"],
            answer=tuple(item["answer"]),
            follow_ups=tuple(item.get("follow_ups", ())),
            sources=tuple(item["sources"]),
            step=item.get("step"),
        )
        for item in raw
    }


def topic_for_intent(intent: str | None) -> Topic | None:
    """The topic answered for an intent name, if it is a topic intent."""
    if not intent or not intent.startswith(INTENT_PREFIX):
        return None
    return load_topics().get(intent[len(INTENT_PREFIX) :])


def follow_up_buttons(topic: Topic) -> list[dict[str, str]]:
    """Buttons offering the topic's related topics."""
    topics = load_topics()
    return [
        {"title": topics[t].title, "payload": topics[t].payload}
        for t in topic.follow_ups
    ]
