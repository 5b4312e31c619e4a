"""After a run: compare what the clients saw with the tickets and the trackers.

- every turn answered to a client is in its conversation's tracker, in the order sent;
- no REST turn is stored twice: retries carry the turn id as ``message_id``, so one
  whose first attempt was stored (its answer lost) gets the stored answer back;
- every conversation's events are in order (ids and timestamps agree);
- exactly one ticket per completed form, none missing, none duplicated;
- every WeChat message id reached Rasa at most once, and every answered one once;
- while an agent held a conversation the bot never answered (whichever replica got the
  message), and every agent reply, handoff message and step-change notice was delivered
  and stored in its conversation exactly once.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text


@dataclass
class Verdict:
    numbers: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def read_log(out: Path) -> list[dict[str, Any]]:
    records = []
    for path in sorted(out.glob("turns-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                records.append(json.loads(line))
    return records


def verify(records: list[dict[str, Any]], run: str, tracker_url: str, tickets_url: str,
           wechat_account: str) -> Verdict:
    v = Verdict()
    turns = [r for r in records if r["event"] == "turn"]
    by_turn: dict[str, list[dict]] = defaultdict(list)
    for r in turns:
        by_turn[r["turn_id"]].append(r)
    answered = {t for t, rs in by_turn.items() if any(r["ok"] for r in rs)}
    errored = {t for t, rs in by_turn.items() if any(not r["ok"] for r in rs)}
    unanswered = set(by_turn) - answered
    sent_order: dict[str, list[str]] = defaultdict(list)
    for r in sorted(turns, key=lambda r: r["t"]):
        if r["turn_id"] not in sent_order[r["conv"]]:
            sent_order[r["conv"]].append(r["turn_id"])

    engine = create_engine(tracker_url)
    stored: dict[str, list[str]] = defaultdict(list)
    wechat_ids: Counter[str] = Counter()
    out_of_order = []
    with engine.connect() as conn:
        rows = conn.execute(text(
            "select id, sender_id, type_name, timestamp, data from events "
            "where sender_id like :p or sender_id like :w order by sender_id, id"),
            {"p": f"{run}-%", "w": f"o{run}-%"}).all()
    engine.dispose()
    last: dict[str, float] = {}
    for row in rows:
        if row.timestamp < last.get(row.sender_id, 0) - 1e-6:
            out_of_order.append(row.sender_id)
        last[row.sender_id] = row.timestamp
        if row.type_name != "user":
            continue
        data = json.loads(row.data)
        turn_id = (data.get("metadata") or {}).get("turn_id")
        if turn_id:
            stored[row.sender_id].append(turn_id)
        message_id = data.get("message_id") or ""
        if message_id.startswith("wechat-"):
            wechat_ids[message_id] += 1

    missing, reordered, duplicates, unexplained_dupes = [], [], [], []
    for conv, order in sent_order.items():
        seen = stored.get(conv, [])
        counts = Counter(seen)
        for turn_id in order:
            if turn_id in answered and counts[turn_id] == 0:
                missing.append(turn_id)
            if counts[turn_id] > 1:
                duplicates.append(turn_id)
                if turn_id not in errored:
                    unexplained_dupes.append(turn_id)
        firsts = list(dict.fromkeys(seen))
        expected = [t for t in order if t in set(firsts)]
        if firsts != expected:
            reordered.append(conv)

    forms = [r for r in records if r["event"] == "form_done"]
    merchants = {r["merchant"] for r in records if r["event"] == "form"}
    completed = {r["merchant"]: r["ticket"] for r in forms if r["ticket"]}
    engine = create_engine(tickets_url)
    with engine.connect() as conn:
        ticket_rows = conn.execute(text(
            "select merchant_id, ticket_no, sender_id from tickets where sender_id like :p"),
            {"p": f"{run}-%"}).all()
    engine.dispose()
    per_merchant = Counter(r.merchant_id for r in ticket_rows)
    dup_tickets = [m for m, n in per_merchant.items() if n > 1]
    lost_tickets = [m for m in completed if per_merchant[m] == 0]
    wrong_number = [m for m, no in completed.items()
                    if no not in {r.ticket_no for r in ticket_rows if r.merchant_id == m}]
    unconfirmed_with_ticket = [m for m in per_merchant if m in merchants and m not in completed]

    wx = [r for r in records if r["event"] == "wechat"]
    wx_msgs: dict[int, list[dict]] = defaultdict(list)
    for r in wx:
        wx_msgs[r["msg_id"]].append(r)
    wx_answered = {m for m, rs in wx_msgs.items() if any(r["ok"] for r in rs)}
    # Answered with the apology only: a visible error, which the merchant sends again.
    wx_apologised = {m for m in wx_answered
                     if all(r.get("apology") for r in wx_msgs[m] if r["ok"])}
    wx_stored = {int(k.rsplit(":", 1)[1]): n for k, n in wechat_ids.items()
                 if k.startswith(f"wechat-{wechat_account}:")}
    wx_dupes = [m for m, n in wx_stored.items() if n > 1]
    wx_missing = [m for m in wx_answered - wx_apologised if wx_stored.get(m, 0) == 0]

    handoff = verify_handoffs(records, run, tracker_url, tickets_url, by_turn)
    v.problems.extend(handoff.pop("problems"))

    latencies = sorted(r["latency"] for r in turns if r["ok"])
    v.numbers = {
        "conversations": len({r["conv"] for r in records if r["event"] == "start"}),
        "rest_turns_sent": len(by_turn),
        "rest_attempts": len(turns),
        "rest_turns_answered": len(answered),
        "rest_turns_unanswered_after_retries": len(unanswered),
        "rest_attempts_failed_visibly": sum(1 for r in turns if not r["ok"]),
        "rest_empty_200": sum(1 for r in turns if r.get("error") == "empty 200"),
        "turns_missing_from_tracker": len(missing),
        "turns_stored_twice_after_visible_error": len(duplicates) - len(unexplained_dupes),
        "turns_stored_twice_unexplained": len(unexplained_dupes),
        "conversations_out_of_order": len(set(reordered) | set(out_of_order)),
        "forms_started": len(merchants),
        "forms_completed": len(completed),
        "tickets_created": len(ticket_rows),
        "tickets_expected": len(completed),
        "tickets_duplicated": len(dup_tickets),
        "tickets_lost": len(lost_tickets),
        "tickets_for_unconfirmed_forms": len(unconfirmed_with_ticket),
        "wechat_messages": len(wx_msgs),
        "wechat_callbacks": len(wx),
        "wechat_answered": len(wx_answered),
        "wechat_answered_with_apology_then_resent": len(wx_apologised),
        "wechat_turns_stored_twice": len(wx_dupes),
        "wechat_answered_not_stored": len(wx_missing),
        "latency_ok_count": len(latencies),
        **handoff,
    }
    checks = {
        "turns answered but missing from the tracker": missing,
        # Every REST turn carries its turn id as ``message_id``: a retry is never
        # processed again, whether or not the client saw an error.
        "REST turns stored twice": duplicates,
        "conversations with events out of order": sorted(set(reordered) | set(out_of_order)),
        "merchants with duplicate tickets": dup_tickets,
        "completed forms without a ticket": lost_tickets,
        "ticket numbers told to the merchant but not stored": wrong_number,
        "WeChat messages processed twice": wx_dupes,
        "WeChat messages answered but not stored": wx_missing,
        "REST turns answered 200 with []": [r["turn_id"] for r in turns
                                              if r.get("error") == "empty 200"],
    }
    for label, items in checks.items():
        if items:
            v.problems.append(f"{label}: {len(items)} (e.g. {sorted(map(str, items))[:3]})")
    return v


def verify_handoffs(records: list[dict[str, Any]], run: str, tracker_url: str,
                    tickets_url: str, by_turn: dict[str, list[dict]]) -> dict[str, Any]:
    """Live handoffs and step-change notices: the bot silent while claimed (whichever
    replica answered), every outbox message delivered and stored exactly once."""
    claimed = {r["conv"] for r in records if r["event"] == "handoff"}
    to_agent = [r["turn_id"] for r in records if r["event"] == "to_agent"]
    not_silent = [t for t in to_agent
                  if any(r["ok"] and not r.get("with_agent") for r in by_turn.get(t, []))]
    engine = create_engine(tickets_url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "select id, kind, channel, sender_id, state, last_error, ticket_no from outbox "
            "where sender_id like :p order by id"), {"p": f"{run}-%"}).all()
        handoffs = conn.execute(text(
            "select sender_id, reason, state, outcome from handoffs where sender_id like :p"),
            {"p": f"{run}-%"}).all()
    engine.dispose()
    undelivered = [f"{r.id}:{r.state}:{r.last_error[:40]}" for r in rows if r.state != "sent"]
    engine = create_engine(tracker_url)
    stored: Counter[int] = Counter()
    spoke_while_claimed = []
    with engine.connect() as conn:
        events = conn.execute(text(
            "select sender_id, type_name, data from events where sender_id like :p "
            "and type_name in ('user', 'bot') order by sender_id, id"), {"p": f"{run}-%"}).all()
    engine.dispose()
    previous: dict[str, dict] = {}
    for event in events:
        data = json.loads(event.data)
        meta = data.get("metadata") or {}
        if event.type_name == "bot":
            if isinstance(meta.get("outbox_id"), int):
                stored[meta["outbox_id"]] += 1
            elif "handoff" in (previous.get(event.sender_id) or {}):
                spoke_while_claimed.append(event.sender_id)
        else:
            previous[event.sender_id] = meta
    twice = [i for i, n in stored.items() if n > 1]
    missing = [r.id for r in rows if r.state == "sent" and stored[r.id] == 0]
    step_changes = {r["ticket"] for r in records if r["event"] == "step_change"}
    noticed = {r.ticket_no for r in rows if r.kind == "notice"}
    problems = []
    for label, items in {
        "turns a claimed conversation's bot answered": not_silent,
        "bot answers stored while an agent held the conversation": spoke_while_claimed,
        "outbox messages not delivered": undelivered,
        "outbox messages stored twice in a conversation": twice,
        "outbox messages sent but not in the conversation": missing,
        "step changes without a notice": sorted(step_changes - noticed),
        "handoffs asked for but not queued": [r["conv"] for r in records
                                               if r["event"] == "handoff_missing"],
    }.items():
        if items:
            problems.append(f"{label}: {len(items)} (e.g. {sorted(map(str, items))[:3]})")
    return {
        "handoffs": len(handoffs),
        "handoffs_claimed": len(claimed),
        "handoffs_handed_back": sum(1 for h in handoffs if h.outcome == "handed_back"),
        "turns_to_agent": len(to_agent),
        "turns_to_agent_answered_by_bot": len(not_silent),
        "agent_replies": sum(1 for r in records if r["event"] == "agent_reply"),
        "notices": sum(1 for r in rows if r.kind == "notice"),
        "outbox_messages": len(rows),
        "outbox_delivered": sum(1 for r in rows if r.state == "sent"),
        "outbox_stored_twice": len(twice),
        "problems": problems,
    }
