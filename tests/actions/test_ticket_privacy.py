"""Issue 20: nothing about a ticket reaches a conversation that did not open it and has
not proven ownership (merchant number + last four digits of the contact phone).

Each path runs as a stranger (another conversation) and as the owner, with rasa-sdk
trackers and a real ticket service (SQLite, and PostgreSQL with DATABASE_URL_TEST).
The end-to-end walk through the running bot is tests/integration/test_ticket_privacy_channels.py.
"""

from __future__ import annotations

from typing import Any

from actions_support import DOMAIN, FILLED, buttons, request, slot_events, texts, tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.ticket_status import ActionCheckStatus, ActionShowVerifiedTicket
from actions.tickets import CANNOT_REGISTER, ActionOpenTicket
from actions.unbind_form import ActionUnfinishedRequest, ValidateUnbindForm
from bot.tickets import STEPS, TicketService, TicketView

MERCHANT = FILLED["merchant_id"]
OWNER = "owner-session"


def revealed(text: str, ticket: TicketView) -> list[str]:
    """What of ``ticket`` a reply gives away (empty when nothing)."""
    found = [word for word in (ticket.ticket_no, ticket.contact_phone[-4:], "已经有", "已有",
                               "已登记", "处理中") if word in text]
    return found + [step for step in STEPS if step in text]


def owners_ticket(service: TicketService) -> TicketView:
    return service.open_ticket(request(sender=OWNER)).ticket


async def run(action: Any, tr: Any) -> tuple[str, dict[str, Any], CollectingDispatcher]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tr, DOMAIN)
    return texts(dispatcher), slot_events(events), dispatcher


async def test_a_strangers_merchant_number_goes_on_with_the_form(service):
    ticket = owners_ticket(service)
    text, slots, _ = await run(
        ValidateUnbindForm(), tracker(MERCHANT, slots={"requested_slot": "merchant_id"})
    )
    assert slots["merchant_id"] == MERCHANT and "requested_slot" not in slots  # asked on
    assert revealed(text, ticket) == []


async def test_the_owner_is_told_at_once_as_before(service):
    ticket = owners_ticket(service)
    _, slots, _ = await run(
        ValidateUnbindForm(),
        tracker(MERCHANT, slots={"requested_slot": "merchant_id"}, sender=OWNER),
    )
    assert slots["requested_slot"] is None
    text, slots, _ = await run(
        ActionUnfinishedRequest(), tracker("x", slots={"merchant_id": MERCHANT}, sender=OWNER)
    )
    assert ticket.ticket_no in text and slots["last_ticket_no"] == ticket.ticket_no


async def test_an_unfinished_strangers_request_names_no_ticket(service):
    ticket = owners_ticket(service)
    text, slots, _ = await run(
        ActionUnfinishedRequest(), tracker("x", slots={"merchant_id": MERCHANT})
    )
    assert revealed(text, ticket) == [] and "last_ticket_no" not in slots


async def test_a_stranger_confirming_without_the_proof_learns_nothing(service):
    ticket = owners_ticket(service)
    wrong_phone = {**FILLED, "contact_phone": "13900001111"}
    text, slots, dispatcher = await run(
        ActionOpenTicket(), tracker("确认", "affirm", wrong_phone)
    )
    assert text == CANNOT_REGISTER and revealed(text, ticket) == []
    assert ("转人工", "/human_handoff") in buttons(dispatcher)
    assert "last_ticket_no" not in slots and slots["merchant_id"] is None  # draft cleared
    assert [t.ticket_no for t in service.tickets_for_merchant(MERCHANT)] == [ticket.ticket_no]


async def test_the_refusal_is_the_same_whoever_asks_and_throttles_guessing(service):
    """A sixth confirmation with the right phone, after five wrong ones, is refused
    with the same words: phone tails cannot be tried one by one."""
    ticket = owners_ticket(service)
    for guess in range(5):
        slots = {**FILLED, "contact_phone": f"1390000{guess:04d}"}
        text, _, _ = await run(ActionOpenTicket(), tracker("确认", "affirm", slots, sender="g"))
        assert text == CANNOT_REGISTER
    text, _, _ = await run(ActionOpenTicket(), tracker("确认", "affirm", FILLED, sender="late"))
    assert text == CANNOT_REGISTER and revealed(text, ticket) == []


async def test_the_owner_in_another_conversation_proves_it_with_the_forms_phone(service):
    ticket = owners_ticket(service)
    other_phone_same_tail = {**FILLED, "contact_phone": "15000005678"}
    text, slots, _ = await run(
        ActionOpenTicket(), tracker("确认", "affirm", other_phone_same_tail, sender="new-tab")
    )
    assert ticket.ticket_no in text and "无需重复" in text and "资料审核" in text
    assert slots["last_ticket_no"] == ticket.ticket_no
    assert len(service.tickets_for_merchant(MERCHANT)) == 1


async def test_status_by_a_merchant_number_asks_for_proof_whether_or_not_it_exists(service):
    owners_ticket(service)
    replies = []
    for merchant in (MERCHANT, "849581058129999"):  # one with a ticket, one without
        entity = [{"entity": "merchant_id", "value": merchant}]
        text, slots, _ = await run(
            ActionCheckStatus(),
            tracker(f"{merchant} 的进度", "check_status", entities=entity, active_loop=None),
        )
        assert slots["needs_verification"] is True and slots["verify_merchant_id"] == merchant
        replies.append(text)
    assert replies[0] == replies[1] == "为了保护您的信息，查询这个商户号的解绑进度前需要核实身份。"


async def test_status_by_my_own_merchant_number_needs_no_proof(service):
    ticket = owners_ticket(service)
    entity = [{"entity": "merchant_id", "value": MERCHANT}]
    text, slots, _ = await run(
        ActionCheckStatus(),
        tracker("进度", "check_status", entities=entity, sender=OWNER, active_loop=None),
    )
    assert slots["needs_verification"] is False and ticket.ticket_no in text


async def test_proof_by_merchant_number_shows_only_matching_tickets(service):
    ticket = owners_ticket(service)
    proof = {"verify_merchant_id": MERCHANT, "verify_phone_last4": "5678"}
    text, _, _ = await run(ActionShowVerifiedTicket(), tracker("5678", slots=proof))
    assert ticket.ticket_no in text and "资料审核" in text


async def test_a_wrong_proof_by_merchant_number_looks_like_no_ticket_at_all(service):
    ticket = owners_ticket(service)
    replies = []
    for merchant, last4 in ((MERCHANT, "0000"), ("849581058129999", "5678")):
        proof = {"verify_merchant_id": merchant, "verify_phone_last4": last4}
        text, _, _ = await run(ActionShowVerifiedTicket(), tracker(last4, slots=proof))
        assert revealed(text, ticket) == []
        replies.append(text)
    assert replies[0] == replies[1]
