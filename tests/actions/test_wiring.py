"""Wiring between the Makefile, domain.yml, data/reasons.yml and Rasa's slot filling."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml
from rasa.core.actions.action import ActionExtractSlots
from rasa.core.channels import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActiveLoop, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.fields import reason_categories, reason_names
from bot.paths import ROOT

DOMAIN_FILE = ROOT / "domain.yml"
SECRET_WORDS = ("密码", "验证码", "PIN", "口令", "CVV", "动态码", "校验码")


def domain_yaml() -> dict[str, Any]:
    return yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))


def test_make_run_migrates_the_database_before_starting_the_bot() -> None:
    plan = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=True,
    ).stdout.splitlines()
    migrate = [i for i, line in enumerate(plan) if "-m bot.tickets migrate" in line]
    launch = [i for i, line in enumerate(plan) if "-m bot.launcher" in line]
    assert migrate and launch, plan
    assert max(migrate) < min(launch)


def test_reason_buttons_are_the_categories_of_data_reasons_yml() -> None:
    [ask] = domain_yaml()["responses"]["utter_ask_unbind_reason"]
    assert [b["title"] for b in ask["buttons"]] == reason_names()
    assert [b["payload"] for b in ask["buttons"]] == [
        f'/inform{{"unbind_reason":"{name}"}}' for name in reason_names()
    ]
    assert len(reason_categories()) == 7 and reason_names()[-1] == "其他"


def test_no_form_question_asks_for_a_password_or_a_code() -> None:
    domain = domain_yaml()
    responses = domain["responses"]
    asked = [slot for form in domain["forms"].values() for slot in form["required_slots"]]
    questions = {slot: responses[f"utter_ask_{slot}"] for slot in asked}
    assert set(questions) >= {"merchant_id", "unbind_reason", "serial_number",
                              "contact_phone", "verify_merchant_id", "verify_phone_last4"}
    for slot, variants in questions.items():
        for variant in variants:
            words = variant["text"] + "".join(b["title"] for b in variant.get("buttons", []))
            found = [w for w in SECRET_WORDS if w.lower() in words.lower()]
            assert not found, f"utter_ask_{slot} asks for {found}: {words}"


async def extracted(active_loop: str | None, requested: str | None) -> dict[str, Any]:
    """Slots Rasa fills from a message carrying a merchant number and a phone number."""
    domain = Domain.load(str(DOMAIN_FILE))
    text = "849581058120003 13812345678"
    entities = [
        {"entity": "merchant_id", "value": "849581058120003", "start": 0, "end": 15},
        {"entity": "phone", "value": "13812345678", "start": 16, "end": 27},
    ]
    events: list[Any] = []
    if active_loop:
        events += [ActiveLoop(active_loop), SlotSet("requested_slot", requested)]
    events.append(UserUttered(text, {"name": "inform", "confidence": 1.0}, entities))
    tracker = DialogueStateTracker.from_events("s", events, domain.slots)
    result = await ActionExtractSlots(None).run(
        CollectingOutputChannel(), TemplatedNaturalLanguageGenerator(domain.responses),
        tracker, domain,
    )
    return {e.key: e.value for e in result if isinstance(e, SlotSet)}


@pytest.mark.parametrize(
    ("loop", "requested"), [(None, None), ("unbind_form", "merchant_id")]
)
async def test_numbers_fill_the_unbind_request_outside_other_forms(loop, requested) -> None:
    slots = await extracted(loop, requested)
    assert slots["merchant_id"] == "849581058120003"
    assert slots["contact_phone"] == "13812345678"


async def test_numbers_typed_to_prove_ownership_do_not_fill_a_later_request() -> None:
    slots = await extracted("ownership_form", "verify_merchant_id")
    assert "merchant_id" not in slots and "contact_phone" not in slots
