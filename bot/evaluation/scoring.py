"""Score the bot's answers to a message set, per kind and per label.

A message is answered correctly when the first reply that names an answer answers
``expect`` or one of ``also_ok``; for two questions, ``second`` must also be answered or
offered as a button. ``nlu_fallback`` (the "didn't understand" reply) is wrong unless it
was expected or the message is out of scope. In the older sets labelled before the step
topics existed (``legacy``), a step's answer also satisfies the broader topic its guide
passage belongs to (:func:`narrower_topics`), and such answers are counted apart.
Replies to questions the guide does not answer (kind ``not_in_guide``) are scanned for
invented facts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from bot.evaluation.answered import TurnAnswers
from bot.evaluation.facts import invented_facts
from bot.evaluation.message_set import Case
from bot.knowledge.topics import load_topics
from bot.web.console.search import default_index


@lru_cache(maxsize=1)
def narrower_topics() -> dict[str, frozenset[str]]:
    """Broad topic intent → the step intents whose main guide passage lies in it.

    A step's first source passage is its definition ("测试验证:对新POS机进行功能测试…");
    when it overlaps a passage of another topic (faq_process lists all eight steps,
    faq_funds quotes 账户冻结, faq_backup quotes 数据迁移), the step is part of it.
    """
    index = default_index()
    spans = {t.id: [(p.start, p.end) for p in ps]
             for t, ps in zip(index.topics, index.passages, strict=True)}
    out: dict[str, set[str]] = {}
    for step in (t for t in load_topics().values() if t.step is not None):
        start, end = spans[step.id][0]
        for broad in load_topics().values():
            if broad.step is None and any(s < end and start < e for s, e in spans[broad.id]):
                out.setdefault(broad.intent, set()).add(step.intent)
    return {k: frozenset(v) for k, v in out.items()}


@dataclass(frozen=True)
class Outcome:
    """One case and what the bot did with it."""

    case: Case
    answers: TurnAnswers
    seconds: float
    correct: bool
    by_narrower: bool = False
    second_ok: bool | None = None
    invented: tuple[str, ...] = ()


def judge(case: Case, answers: TurnAnswers, seconds: float = 0.0,
          allowed_facts: Iterable[str] = ()) -> Outcome:
    """Whether ``answers`` satisfy ``case``."""
    first = answers.first
    accepted = case.accepted
    if "out_of_scope" in accepted:  # "didn't understand" invents nothing either
        accepted = accepted | {"nlu_fallback"}
    correct = bool(first & accepted)
    by_narrower = False
    if not correct and case.legacy:
        wider = set().union(*(narrower_topics().get(label, ()) for label in accepted))
        by_narrower = correct = bool(first & wider)
    second_ok = None
    if case.second is not None:
        second_ok = case.second in answers.answered | answers.offered
        correct = correct and second_ok
    invented: tuple[str, ...] = ()
    if "not_in_guide" in case.kinds:
        invented = tuple(invented_facts(answers.text, allowed_facts))
    return Outcome(case, answers, seconds, correct, by_narrower, second_ok, invented)


@dataclass
class Tally:
    correct: int = 0
    total: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def add(self, ok: bool) -> None:
        self.total += 1
        self.correct += ok


@dataclass
class SetScore:
    """Accuracy of one message set, overall, per kind and per expected label."""

    name: str
    outcomes: list[Outcome]
    overall: Tally = field(default_factory=Tally)
    per_kind: dict[str, Tally] = field(default_factory=dict)
    per_label: dict[str, Tally] = field(default_factory=dict)

    @property
    def invented(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.invented]

    @property
    def not_in_guide(self) -> int:
        return sum("not_in_guide" in o.case.kinds for o in self.outcomes)

    @property
    def by_narrower(self) -> int:
        return sum(o.by_narrower for o in self.outcomes)

    @property
    def grounded(self) -> Tally:
        tally = Tally()
        for outcome in self.outcomes:
            if outcome.answers.grounded:
                tally.add(outcome.correct)
        return tally

    @property
    def errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.correct]


def score_set(name: str, outcomes: Sequence[Outcome]) -> SetScore:
    result = SetScore(name, list(outcomes))
    for outcome in outcomes:
        result.overall.add(outcome.correct)
        for kind in outcome.case.kinds:
            result.per_kind.setdefault(kind, Tally()).add(outcome.correct)
        result.per_label.setdefault(outcome.case.expect, Tally()).add(outcome.correct)
    return result
