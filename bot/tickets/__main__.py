"""Command line for agents: ``python -m bot.tickets {migrate,show,list,advance,cancel}``.

Uses ``DATABASE_URL`` (default: the embedded SQLite file ``var/tickets.db``).
Exit codes: 0 ok, 1 ticket error (unknown ticket, bad step/status, closed ticket),
2 usage error, 3 database unavailable.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from datetime import datetime

from bot.tickets.models import STEPS, StepStatus, TicketStatus
from bot.tickets.service import TicketService
from bot.tickets.values import (
    SHANGHAI,
    EventView,
    TicketError,
    TicketNotFound,
    TicketStoreUnavailable,
    TicketView,
)


def _time(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _print_ticket(t: TicketView, history: Sequence[EventView] = ()) -> None:
    print(f"工单号: {t.ticket_no}    状态: {TicketStatus.label_of(t.status)}")
    print(f"商户号: {t.merchant_id}    联系电话: {t.contact_phone}")
    print(f"机身序列号: {t.serial_number}")
    detail = f"（{t.reason_detail}）" if t.reason_detail else ""
    print(f"解绑原因: {t.reason_category}{detail}")
    print(f"渠道: {t.channel}    会话: {t.sender_id}")
    print(f"创建: {_time(t.created_at)}    更新: {_time(t.updated_at)}（北京时间）")
    for s in t.steps:
        note = f"  备注: {s.note}" if s.note else ""
        print(f"  {s.position}. {s.name}  {s.status}  {_time(s.updated_at)}{note}")
    if history:
        print("变更历史:")
    for e in history:
        note = f"  {e.note}" if e.note else ""
        print(
            f"  [{_time(e.created_at)}] {e.step or '工单'}: {e.old_status or '-'} → "
            f"{e.new_status} ({e.actor}){note}"
        )


def _print_row(t: TicketView) -> None:
    current = t.current_step
    where = f"{current.name}:{current.status}" if current else "-"
    print(
        f"{t.ticket_no}  {TicketStatus.label_of(t.status)}  {t.merchant_id}  "
        f"{t.contact_phone}  {where}  {_time(t.created_at)}"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot.tickets", description="解绑工单管理 / unbind ticket admin"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="升级数据库结构 / upgrade the schema")
    show = sub.add_parser("show", help="查看工单 / show a ticket")
    show.add_argument("ticket_no")
    show.add_argument("--history", action="store_true", help="显示变更历史")
    lst = sub.add_parser("list", help="查询工单 / list tickets")
    who = lst.add_mutually_exclusive_group(required=True)
    who.add_argument("--merchant", help="商户号")
    who.add_argument("--phone", help="联系电话")
    who.add_argument("--sender", help="会话 sender_id")
    adv = sub.add_parser("advance", help="更新步骤状态 / set a step's status")
    adv.add_argument("ticket_no")
    adv.add_argument("step", help="、".join(STEPS))
    adv.add_argument("status", help="、".join(s.value for s in StepStatus))
    adv.add_argument("--note", default="")
    adv.add_argument("--actor", default=None)
    cancel = sub.add_parser("cancel", help="取消工单 / cancel a ticket")
    cancel.add_argument("ticket_no")
    cancel.add_argument("--note", default="")
    cancel.add_argument("--actor", default=None)
    return parser


def _actor(value: str | None) -> str:
    if value:
        return value
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "cli"


def run(args: argparse.Namespace) -> int:
    if args.command == "migrate":
        from bot.tickets.migrate import upgrade

        upgrade()
        print("数据库已升级到最新版本 / schema is at head")
        return 0
    service = TicketService.from_url()
    try:
        if args.command == "show":
            ticket = service.get_ticket(args.ticket_no)
            if ticket is None:
                raise TicketNotFound(f"找不到工单 {args.ticket_no} / no such ticket")
            _print_ticket(ticket, service.history(ticket.ticket_no) if args.history else ())
        elif args.command == "list":
            if args.merchant:
                rows = service.tickets_for_merchant(args.merchant)
            elif args.phone:
                rows = service.tickets_for_phone(args.phone)
            else:
                rows = service.tickets_for_sender(args.sender)
            for t in rows:
                _print_row(t)
            print(f"共 {len(rows)} 张工单 / {len(rows)} ticket(s)")
        elif args.command == "advance":
            ticket = service.advance_step(
                args.ticket_no, args.step, args.status, args.note, _actor(args.actor)
            )
            print(f"已更新 {ticket.ticket_no}: {args.step} → {args.status}")
            _print_ticket(ticket)
        elif args.command == "cancel":
            ticket = service.cancel_ticket(args.ticket_no, _actor(args.actor), args.note)
            print(f"已取消工单 {ticket.ticket_no}")
        return 0
    finally:
        service.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except TicketStoreUnavailable as exc:
        print(f"错误: {exc}", file=sys.stderr)
        return 3
    except TicketError as exc:
        print(f"错误: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
