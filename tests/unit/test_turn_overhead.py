"""The per-turn work we skip changes no result of Rasa's (bot.turn_overhead)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
import structlog
from rasa.core.actions import forms
from rasa.core.actions.forms import FormAction
from rasa.core.channels import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.log_utils import configure_structlog
from structlog.testing import capture_logs

from bot import rasa_fixes, turn_overhead
from bot.paths import ROOT

rasa_fixes.install()
FORM_DOMAIN = """
version: "3.1"
intents: [inform, greet]
entities: [merchant_id]
slots:
  merchant_id:
    type: text
    mappings:
      - type: from_entity
        entity: merchant_id
  note:
    type: text
    mappings:
      - type: from_text
        conditions:
          - active_loop: test_form
            requested_slot: note
forms:
  test_form:
    required_slots: [merchant_id, note]
responses:
  utter_ask_merchant_id: [{text: "商户号？"}]
  utter_ask_note: [{text: "备注？"}]
"""


@pytest.fixture()
def log_level() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def test_is_empty_answers_as_rasa() -> None:
    domains = [Domain.empty(), Domain.from_yaml(FORM_DOMAIN),
               Domain.load(str(ROOT / "domain.yml")), Domain.from_yaml("version: '3.1'")]
    answers = [turn_overhead._is_empty(d) for d in domains]
    assert answers == [turn_overhead.RASA_IS_EMPTY(d) for d in domains]
    assert answers == [True, False, False, True]


def _form_turns() -> list[tuple[DialogueStateTracker, Domain]]:
    domain = Domain.from_yaml(FORM_DOMAIN)
    start = [ActionExecuted("action_listen"), UserUttered("我要解绑", {"name": "greet"})]
    in_form = start + [ActionExecuted("test_form"), ActiveLoop("test_form"),
                       SlotSet("requested_slot", "merchant_id"), ActionExecuted("action_listen")]
    histories = [
        start,  # activation
        in_form + [UserUttered("86", {"name": "inform"}, [
            {"entity": "merchant_id", "value": "849581058120003", "start": 0, "end": 2}]),
            SlotSet("merchant_id", "849581058120003")],  # after listen: validated
        in_form + [UserUttered("备注文字", {"name": "inform"}), ActionExecuted("utter_x")],
    ]
    return [(DialogueStateTracker.from_events("s", h, domain.slots), domain) for h in histories]


def _run(method: object, tracker: DialogueStateTracker, domain: Domain) -> list:
    form = FormAction("test_form", None)
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    return asyncio.run(method(form, tracker, domain, CollectingOutputChannel(), nlg))


@pytest.mark.usefixtures("log_level")
@pytest.mark.parametrize("level", [logging.INFO, logging.DEBUG])
def test_form_validation_returns_rasas_events_and_logs_as_rasa(
    level: int, monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure_structlog(level)
    monkeypatch.setattr(forms, "structlogger", structlog.get_logger())  # not cached at INFO
    assert turn_overhead.debug_logging_on() is (level == logging.DEBUG)
    logged = []
    for tracker, domain in _form_turns():
        with capture_logs() as theirs_logged:
            theirs = _run(turn_overhead.RASA_VALIDATE_IF_REQUIRED, tracker, domain)
        with capture_logs() as ours_logged:
            ours = _run(turn_overhead._validate_if_required, tracker, domain)
        assert ours == theirs
        assert ours_logged == theirs_logged
        logged += ours_logged
    assert any(e.get("event") == "forms.validation.required" for e in logged) is (
        level == logging.DEBUG)


TWO_FORMS_DOMAIN = """
version: "3.1"
intents: [inform]
entities: [merchant_id, phone, city]
slots:
  merchant_id:
    type: text
    mappings:
      - type: from_entity
        entity: merchant_id
  phone:
    type: text
    mappings:
      - type: from_entity
        entity: phone
  other_phone:
    type: text
    mappings:
      - type: from_entity
        entity: phone
  city:
    type: text
    mappings:
      - type: from_entity
        entity: city
forms:
  first_form:
    required_slots: [merchant_id, phone, other_phone]
  second_form:
    required_slots: [city, phone]
"""


def test_unique_entity_mappings_are_rasas_and_worked_out_once_per_domain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = Domain.load(str(ROOT / "domain.yml"))
    two_forms = Domain.from_yaml(TWO_FORMS_DOMAIN)
    for domain in (project, two_forms):
        for form in domain.form_names:
            theirs = turn_overhead.RASA_UNIQUE_ENTITY_MAPPINGS(FormAction(form, None), domain)
            assert turn_overhead._create_unique_entity_mappings(
                FormAction(form, None), domain) == theirs
    # the duplicated phone mapping is not unique in first_form; it is in second_form
    assert len(turn_overhead._create_unique_entity_mappings(
        FormAction("first_form", None), two_forms)) == 1
    assert len(turn_overhead._create_unique_entity_mappings(
        FormAction("second_form", None), two_forms)) == 2

    calls = []
    rasas = turn_overhead.RASA_UNIQUE_ENTITY_MAPPINGS
    monkeypatch.setattr(turn_overhead, "RASA_UNIQUE_ENTITY_MAPPINGS",
                        lambda form, domain: calls.append(form.name()) or rasas(form, domain))
    monkeypatch.setattr(turn_overhead, "_unique_mappings", {})
    for _ in range(3):
        assert FormAction("first_form", None).entity_mapping_is_unique(
            {"type": "from_entity", "entity": "merchant_id"}, two_forms)
    assert calls == ["first_form"]  # a new FormAction per check, worked out once
    assert not FormAction("first_form", None).entity_mapping_is_unique(
        {"type": "from_entity", "entity": "phone"}, Domain.from_yaml(TWO_FORMS_DOMAIN))
    assert calls == ["first_form", "first_form"]  # another domain: worked out again
