"""Correcting one field of the unbind request after its summary ("不对" → which field?).

The other fields are kept; the form asks again only for the field being changed.
"""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.unbind_form import ENTITY_FIELDS, FIELD_TITLES, NORMALISERS, latest_text


class ActionOfferCorrections(Action):
    """The merchant said the summary is wrong: which field?"""

    def name(self) -> str:
        return "action_offer_corrections"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(
            text="请问要修改哪一项？其他信息会保留。",
            buttons=[
                {"title": title, "payload": f'/inform{{"correction":"{slot}"}}'}
                for slot, title in FIELD_TITLES.items()
            ],
        )
        return []


class ActionResetField(Action):
    """Changes only the field the merchant wants to correct, keeping the others.

    A value typed straight away (``13900001111`` is a phone number) replaces that field,
    so the form re-checks it and shows the summary again; an invalid one is explained and
    asked for. A field chosen by button (``correction`` entity) or named in words
    ("手机号错了") is cleared, so the form asks for it. When no field can be worked out,
    nothing is cleared and the merchant is asked which field to change.
    """

    def name(self) -> str:
        return "action_reset_field"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        changes = self.changes(tracker)
        if not changes:
            dispatcher.utter_message(text="抱歉，我没看出您要修改哪一项。")
            return [FollowupAction("action_offer_corrections")]
        events: list[EventType] = []
        for field, value in changes.items():
            if field == "unbind_reason":
                events += [SlotSet("unbind_reason", value), SlotSet("reason_detail", None)]
                continue
            result = NORMALISERS[field](value) if value else None
            if result is not None and not result.ok:
                dispatcher.utter_message(text=result.error or "")
            events.append(SlotSet(field, result.value if result is not None else None))
        return events

    @classmethod
    def changes(cls, tracker: Tracker) -> dict[str, str | None]:
        """Fields to change: new values typed in the message, else the one field named
        (by button or in words) with no value, so that the form asks for it."""
        typed = {
            ENTITY_FIELDS[e["entity"]]: str(e.get("value") or "")
            for e in reversed(tracker.latest_message.get("entities") or [])
            if e.get("entity") in ENTITY_FIELDS
        }
        if typed:
            return typed
        field = next(tracker.get_latest_entity_values("correction"), None)
        if field not in FIELD_TITLES:
            field = cls._field_from_text(latest_text(tracker))
        return {field: None} if field else {}

    @staticmethod
    def _field_from_text(text: str) -> str | None:
        keywords = {
            "merchant_id": ("商户",),
            "unbind_reason": ("原因",),
            "serial_number": ("序列", "sn", "机身"),
            "contact_phone": ("手机", "电话", "联系"),
        }
        lowered = text.lower()
        return next((s for s, words in keywords.items() if any(w in lowered for w in words)), None)
