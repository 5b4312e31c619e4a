"""Summary, confirmation, correction, stop, cancel and ownership actions, with rasa-sdk
trackers and a real ticket service (SQLite, and PostgreSQL with DATABASE_URL_TEST)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from actions_support import (
    DOMAIN,
    FILLED,
    buttons,
    request,
    slot_events,
    texts,
    tracker,
)
from rasa_sdk.events import ActiveLoop, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.form_corrections import ActionOfferCorrections, ActionResetField
from actions.ticket_cancel import ActionCancelTicket, ActionConfirmCancel
from actions.ticket_status import ActionShowVerifiedTicket, ValidateOwnershipForm
from actions.ticket_views import render_ticket
from actions.tickets import ActionNothingToConfirm, ActionOpenTicket
from actions.unbind_form import (
    ActionStopForm,
    ActionSummariseRequest,
    ActionUnfinishedRequest,
    ValidateUnbindForm,
)
from bot.tickets import STEPS, TicketService

MERCHANT = FILLED["merchant_id"]
TIME = re.compile(r"（\d\d-\d\d \d\d:\d\d）")


async def run(action: Any, tr: Any) -> tuple[CollectingDispatcher, list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    return dispatcher, await action.run(dispatcher, tr, DOMAIN)


# --- 1. "好的" after an answer that was not a summary never crashes ---------------------


async def test_summary_of_an_incomplete_request_hands_over_without_a_summary(service):
    partial = {"merchant_id": MERCHANT, "unbind_reason": "设备故障"}
    dispatcher, events = await run(ActionSummariseRequest(), tracker("12", slots=partial))
    assert events == [FollowupAction("action_unfinished_request")]
    assert dispatcher.messages == []  # no "确认提交" button for an incomplete request


async def test_complete_request_gets_the_summary_with_confirm_buttons(service):
    dispatcher, events = await run(ActionSummariseRequest(), tracker("x", slots=FILLED))
    assert events == [] and "请核对您的解绑申请" in texts(dispatcher)
    assert ("确认提交", "/affirm") in buttons(dispatcher)


async def test_third_failure_offers_a_person_and_keeps_the_draft(service):
    partial = {"merchant_id": MERCHANT, "unbind_reason": "设备故障"}
    dispatcher, events = await run(ActionUnfinishedRequest(), tracker("56", slots=partial))
    assert "“原POS机序列号”好像不太好填" in texts(dispatcher) and "保留" in texts(dispatcher)
    # the hand-off button records why (handoff_reason), for the handoff analytics
    assert ("转人工", '/human_handoff{"handoff_reason":"failed_attempts"}') in buttons(dispatcher)
    assert ("重新填写", "/request_unbind") in buttons(dispatcher)
    assert events == []  # merchant number and reason are kept


async def test_yes_to_a_partial_draft_says_what_is_missing_and_opens_nothing(service):
    partial = {"merchant_id": MERCHANT, "unbind_reason": "设备故障"}
    dispatcher, events = await run(ActionOpenTicket(), tracker("好的", "affirm", partial))
    assert "还缺少“原POS机序列号”、“联系手机号”，暂时不能提交" in texts(dispatcher)
    assert ("继续填写", "/request_unbind") in buttons(dispatcher)
    assert events == [] and service.tickets_for_merchant(MERCHANT) == ()


async def test_yes_after_the_existing_ticket_answer_names_that_ticket(service):
    # The conversation that opened the ticket (another one learns nothing: issue 20,
    # tests/actions/test_ticket_privacy.py).
    existing = service.open_ticket(request(sender="owner")).ticket
    dispatcher, events = await run(
        ActionUnfinishedRequest(), tracker("x", slots={"merchant_id": MERCHANT}, sender="owner")
    )
    remembered = slot_events(events)
    assert remembered["last_ticket_no"] == existing.ticket_no
    assert all(remembered[slot] is None for slot in (*FILLED, "failed_attempts"))
    for action in (ActionNothingToConfirm(), ActionOpenTicket()):
        dispatcher, events = await run(
            action, tracker("好的", "affirm", remembered, sender="owner", active_loop=None)
        )
        assert f"已经登记过了，工单号：{existing.ticket_no}，无需重复提交" in texts(dispatcher)
        assert events == []
    assert len(service.tickets_for_merchant(MERCHANT)) == 1


async def test_rejected_input_apologises_and_keeps_the_request(service):
    bad = {**FILLED, "serial_number": "X" * 65}  # longer than the ticket store accepts
    dispatcher, events = await run(ActionOpenTicket(), tracker("确认", "affirm", bad))
    assert "这份申请没能提交" in texts(dispatcher) and "保留" in texts(dispatcher)
    assert events == [FollowupAction("action_summarise_request")]  # nothing cleared
    assert service.tickets_for_merchant(MERCHANT) == ()


async def test_yes_with_nothing_drafted_and_no_ticket_offers_to_start(service):
    dispatcher, _ = await run(
        ActionNothingToConfirm(), tracker("好的", "affirm", active_loop=None)
    )
    assert "现在没有等待提交的解绑申请" in texts(dispatcher)
    assert ("我要申请解绑", "/request_unbind") in buttons(dispatcher)


# --- 5. a second "确认" names the ticket ---------------------------------------------


async def test_second_confirmation_names_the_ticket_opened_first(service):
    _, events = await run(ActionOpenTicket(), tracker("确认", "affirm", FILLED))
    [ticket] = service.tickets_for_merchant(MERCHANT)
    after = slot_events(events)
    assert after["last_ticket_no"] == ticket.ticket_no
    assert all(after[slot] is None for slot in (*FILLED, "failed_attempts"))
    dispatcher, _ = await run(ActionNothingToConfirm(), tracker("确认", "affirm", after))
    assert f"工单号：{ticket.ticket_no}，无需重复提交" in texts(dispatcher)
    # Without the remembered number the conversation's open ticket is found.
    dispatcher, _ = await run(ActionNothingToConfirm(), tracker("确认", "affirm"))
    assert ticket.ticket_no in texts(dispatcher)
    assert len(service.tickets_for_merchant(MERCHANT)) == 1


async def test_a_remembered_ticket_that_was_cancelled_is_not_named(service):
    ticket = service.open_ticket(request(sender="other")).ticket
    service.cancel_ticket(ticket.ticket_no)
    dispatcher, _ = await run(
        ActionNothingToConfirm(), tracker("确认", "affirm", {"last_ticket_no": ticket.ticket_no})
    )
    assert ticket.ticket_no not in texts(dispatcher) and "没有等待提交" in texts(dispatcher)


# --- 7. the failed-attempts counter ---------------------------------------------------


async def test_a_correct_entry_resets_the_failed_attempts_of_that_field(service):
    form = ValidateUnbindForm()
    slots: dict[str, Any] = {"merchant_id": MERCHANT, "unbind_reason": "设备故障",
                             "requested_slot": "serial_number"}
    for text in ("12", "34"):
        _, events = await run(form, tracker(text, slots=slots))
        slots["failed_attempts"] = slot_events(events)["failed_attempts"]
    assert slots["failed_attempts"] == {"serial_number": 2}
    _, events = await run(form, tracker("SN8A2B3C4D5", slots=slots))
    assert slot_events(events)["failed_attempts"] == {}
    slots.update(serial_number="SN8A2B3C4D5", requested_slot="contact_phone",
                 failed_attempts={})
    dispatcher, events = await run(form, tracker("1234", slots=slots))
    after = slot_events(events)
    assert after["failed_attempts"] == {"contact_phone": 1}
    assert "requested_slot" not in after  # one slip: asked again, no offer of a person
    assert "手机号应为11位数字，您输入的是4位" in texts(dispatcher)


async def test_an_opened_ticket_clears_the_failed_attempts(service):
    slots = {**FILLED, "failed_attempts": {"contact_phone": 2}}
    _, events = await run(ActionOpenTicket(), tracker("确认", "affirm", slots))
    assert SlotSet("failed_attempts", None) in events


# --- 4. "No", then the corrected value or the field ----------------------------------


async def test_offer_corrections_has_one_button_per_field():
    dispatcher, events = await run(ActionOfferCorrections(), tracker("不对", "deny"))
    assert "要修改哪一项" in texts(dispatcher) and events == []
    assert [p for _, p in buttons(dispatcher)] == [
        f'/inform{{"correction":"{slot}"}}'
        for slot in ("merchant_id", "unbind_reason", "serial_number", "contact_phone")
    ]


@pytest.mark.parametrize(
    ("text", "intent", "entities", "expected"),
    [
        ('/inform{"correction":"serial_number"}', "inform",
         [{"entity": "correction", "value": "serial_number"}], {"serial_number": None}),
        ("手机号错了", "deny", [], {"contact_phone": None}),
        ("原因选错了", "deny", [], {"unbind_reason": None, "reason_detail": None}),
        ("13900001111", "inform", [{"entity": "phone", "value": "13900001111"}],
         {"contact_phone": "13900001111"}),
        ("序列号应该是 sn1234 5678", "inform",
         [{"entity": "serial_number", "value": "sn1234 5678"}], {"serial_number": "SN12345678"}),
        ("商户号没错，手机是139-0000-1111", "inform",
         [{"entity": "phone", "value": "139-0000-1111"}], {"contact_phone": "13900001111"}),
    ],
)
async def test_reset_changes_only_the_named_or_typed_field(text, intent, entities, expected):
    dispatcher, events = await run(
        ActionResetField(), tracker(text, intent, FILLED, entities, active_loop=None)
    )
    assert slot_events(events) == expected
    assert not any(e["event"] == "followup" for e in events)


async def test_reset_with_an_invalid_typed_value_explains_and_asks_for_it():
    entity = [{"entity": "phone", "value": "1390000"}]
    dispatcher, events = await run(
        ActionResetField(), tracker("手机1390000", "inform", FILLED, entity, active_loop=None)
    )
    assert slot_events(events) == {"contact_phone": None}
    assert "手机号应为11位数字，您输入的是7位" in texts(dispatcher)


async def test_reset_that_cannot_tell_the_field_asks_which_and_clears_nothing():
    dispatcher, events = await run(
        ActionResetField(), tracker("嗯嗯", "inform", FILLED, active_loop=None)
    )
    assert events == [FollowupAction("action_offer_corrections")]
    assert "没看出您要修改哪一项" in texts(dispatcher)


# --- stop ---------------------------------------------------------------------------


async def test_stop_clears_the_unbind_draft(service):
    slots = {**FILLED, "failed_attempts": {"serial_number": 1}}
    dispatcher, events = await run(ActionStopForm(), tracker("取消", "stop", slots))
    assert dispatcher.messages[0]["response"] == "utter_form_stopped"
    assert all(slot_events(events)[s] is None for s in (*FILLED, "failed_attempts"))
    assert ActiveLoop(None) in events
    assert "verify_merchant_id" not in slot_events(events)


async def test_cancel_inside_the_form_with_an_open_ticket_says_how_to_cancel_it(service):
    service.open_ticket(request(merchant="849581058120077"))
    dispatcher, _ = await run(ActionStopForm(), tracker("取消申请", "cancel_ticket"))
    assert "请再说一次“取消工单”" in texts(dispatcher)
    dispatcher, _ = await run(ActionStopForm(), tracker("取消申请", "cancel_ticket", sender="n"))
    assert texts(dispatcher) == ""  # only the stop response, no ticket to mention


async def test_stop_while_proving_ownership_keeps_the_unbind_draft():
    dispatcher, events = await run(
        ActionStopForm(), tracker("算了", "stop", FILLED, active_loop="ownership_form")
    )
    assert "不查了" in texts(dispatcher)
    assert set(slot_events(events)) == {
        "verify_merchant_id", "verify_phone_last4", "ticket_no", "requested_slot"
    }


# --- ownership --------------------------------------------------------------------------


async def run_ownership(text: str, requested: str, intent: str = "inform",
                        entities: list[dict[str, Any]] | None = None) -> tuple[str, dict]:
    tr = tracker(text, intent, {"requested_slot": requested}, entities,
                 active_loop="ownership_form")
    dispatcher, events = await run(ValidateOwnershipForm(), tr)
    return texts(dispatcher), slot_events(events)


async def test_ownership_form_checks_the_merchant_number():
    said, slots = await run_ownership("12345", "verify_merchant_id")
    assert said == "商户号应为15位数字，您输入的是5位" and slots["verify_merchant_id"] is None
    entity = [{"entity": "merchant_id", "value": "849581058120003"}]
    said, slots = await run_ownership("商户号是849581058120003哦", "verify_merchant_id",
                                      entities=entity)
    assert said == "" and slots["verify_merchant_id"] == "849581058120003"


@pytest.mark.parametrize(("text", "last4"), [("尾号 5678", "5678"), ("５６７８", "5678"),
                                              ("56789", None), ("不记得", None)])
async def test_ownership_form_reads_the_last_four_digits(text, last4):
    said, slots = await run_ownership(text, "verify_phone_last4")
    assert slots["verify_phone_last4"] == last4
    assert ("请输入手机号的后四位数字" in said) is (last4 is None)


async def test_ownership_form_lets_stop_through():
    said, slots = await run_ownership("算了", "verify_merchant_id", intent="stop")
    assert said == "" and "verify_merchant_id" not in slots


async def test_too_many_wrong_answers_get_the_throttled_message(service):
    ticket = service.open_ticket(request()).ticket
    for i in range(5):  # five senders, one ticket: the ticket is locked for everyone
        service.verify_owner(ticket.ticket_no, MERCHANT, "0000", f"guess-{i}")
    proof = {"ticket_no": ticket.ticket_no, "verify_merchant_id": MERCHANT,
             "verify_phone_last4": "5678"}
    dispatcher, events = await run(
        ActionShowVerifiedTicket(), tracker("5678", slots=proof, sender="guess-5")
    )
    assert texts(dispatcher) == "核对失败的次数太多，请稍后再试，或转人工处理。"
    assert ticket.ticket_no not in texts(dispatcher)
    assert slot_events(events)["ticket_no"] is None


# --- cancel ------------------------------------------------------------------------------


async def test_confirm_cancel_with_no_open_ticket(service):
    dispatcher, events = await run(
        ActionConfirmCancel(), tracker("取消", "cancel_ticket", active_loop=None)
    )
    assert texts(dispatcher) == "这个对话里没有可以取消的处理中工单。"
    assert events == [SlotSet("ticket_no", None)]


async def test_confirm_cancel_with_one_open_ticket_asks_to_confirm(service):
    ticket = service.open_ticket(request()).ticket
    dispatcher, events = await run(
        ActionConfirmCancel(), tracker("取消", "cancel_ticket", active_loop=None)
    )
    assert f"确定要取消工单 {ticket.ticket_no} 吗" in texts(dispatcher)
    assert buttons(dispatcher) == [("确认取消", "/affirm"), ("不取消", "/deny")]
    assert events == [SlotSet("ticket_no", ticket.ticket_no)]


async def test_confirm_cancel_with_several_asks_which_or_takes_the_named_one(service):
    first = service.open_ticket(request("849581058120031")).ticket
    second = service.open_ticket(request("849581058120032")).ticket
    dispatcher, events = await run(
        ActionConfirmCancel(), tracker("取消", "cancel_ticket", active_loop=None)
    )
    assert "要取消哪一个" in texts(dispatcher) and events == [SlotSet("ticket_no", None)]
    assert {t for t, _ in buttons(dispatcher)} == {first.ticket_no, second.ticket_no}
    named = [{"entity": "ticket_no", "value": first.ticket_no.lower()}]
    dispatcher, events = await run(
        ActionConfirmCancel(), tracker("取消", "cancel_ticket", entities=named, active_loop=None)
    )
    assert events == [SlotSet("ticket_no", first.ticket_no)]


async def test_cancel_refuses_another_conversations_ticket(service):
    ticket = service.open_ticket(request(sender="owner")).ticket
    dispatcher, events = await run(
        ActionCancelTicket(),
        tracker("确认", "affirm", {"ticket_no": ticket.ticket_no}, sender="x", active_loop=None),
    )
    assert texts(dispatcher) == "这个对话里没有这个工单，无法取消。"
    assert service.get_ticket(ticket.ticket_no).status == "open"
    assert events == [SlotSet("ticket_no", None)]


async def test_cancel_own_ticket_cancels_the_remaining_steps(service: TicketService):
    ticket = service.open_ticket(request()).ticket
    service.advance_step(ticket.ticket_no, "资料审核", "已完成")
    dispatcher, _ = await run(
        ActionCancelTicket(),
        tracker("确认", "affirm", {"ticket_no": ticket.ticket_no}, active_loop=None),
    )
    assert f"已取消工单 {ticket.ticket_no}" in texts(dispatcher)
    after = service.get_ticket(ticket.ticket_no)
    assert after.status == "cancelled"
    assert [s.status for s in after.steps] == ["已完成"] + ["已取消"] * 7


async def test_cancel_without_a_chosen_ticket_cancels_nothing_and_says_so(service):
    """"确认" after "no ticket to cancel" must still get an answer (REST would 503)."""
    service.open_ticket(request(sender="s1"))
    dispatcher, events = await run(ActionCancelTicket(), tracker("确认", "affirm"))
    assert texts(dispatcher) == "现在没有等待取消的工单，没有取消任何工单。" and events == []
    assert all(t.is_open for t in service.tickets_for_sender("s1"))


async def test_cancel_when_the_store_is_down_says_nothing_was_cancelled(dead_service):
    dispatcher, events = await run(
        ActionCancelTicket(),
        tracker("确认", "affirm", {"ticket_no": "UB-20261128-0001"}, active_loop=None),
    )
    assert "暂时无法访问" in texts(dispatcher) and "工单没有取消" in texts(dispatcher)
    assert events == [SlotSet("ticket_no", None)]


# --- 8. status: every step with a time ------------------------------------------------


async def test_status_shows_every_step_with_its_time(service):
    ticket = service.open_ticket(request()).ticket
    service.advance_step(ticket.ticket_no, "资料审核", "需补充材料", note="请补营业执照副本")
    lines = render_ticket(service.get_ticket(ticket.ticket_no)).splitlines()
    steps = [line for line in lines if re.match(r"\d\. ", line)]
    assert [line.split("：")[0] for line in steps] == [f"{i}. {s}" for i, s in
                                                       enumerate(STEPS, start=1)]
    assert all(TIME.search(line) for line in steps)
    assert steps[0].startswith("1. 资料审核：需补充材料（") and "备注：请补营业执照副本" in steps[0]
    assert steps[1].startswith("2. 账户冻结：待处理（")
