"""``python -m bot.outbox``: run the outbox worker, or look at the outbox.

- ``python -m bot.outbox`` (or ``worker [--rasa-url URL] [--port N]``): deliver agent
  replies and notices until SIGTERM; ``make run`` starts it. Uses ``DATABASE_URL``,
  ``TRACKER_STORE_URL``, ``RASA_URL`` (+ ``RASA_AUTH_TOKEN``) and the ``WECHAT_*`` /
  ``WECOM_*`` settings; with ``--port``, ``GET /health`` answers on 127.0.0.1.
- ``python -m bot.outbox list [--ticket UB-…] [--state failed]``: rows and their state.
- ``python -m bot.outbox resend ID``: send a failed or uncertain row again.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from bot.db import make_engine
from bot.logmask import install as mask_logs
from bot.outbox.store import STATE_LABELS, OutboxStore
from bot.tickets.values import SHANGHAI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.outbox")
    sub = parser.add_subparsers(dest="command")
    work = sub.add_parser("worker", help="deliver queued messages (the default)")
    work.add_argument("--rasa-url", help="Rasa's address (default: RASA_URL)")
    work.add_argument("--port", type=int, help="serve GET /health on HOST:PORT")
    work.add_argument("--host", default="127.0.0.1", help="the health address (127.0.0.1)")
    listing = sub.add_parser("list", help="show outbox rows, newest first")
    listing.add_argument("--ticket")
    listing.add_argument("--state", choices=sorted(STATE_LABELS))
    listing.add_argument("--limit", type=int, default=50)
    resend = sub.add_parser("resend", help="send a failed or uncertain row again")
    resend.add_argument("id", type=int)
    args = parser.parse_args(argv)
    if args.command in (None, "worker"):
        from bot.outbox.adapters import rasa_recorder
        from bot.outbox.worker import build_worker, serve

        mask_logs()
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        recorder = rasa_recorder(getattr(args, "rasa_url", None))
        asyncio.run(serve(build_worker(recorder=recorder), getattr(args, "port", None),
                          getattr(args, "host", "127.0.0.1")))
        return 0
    store = OutboxStore(make_engine())
    if args.command == "resend":
        row = store.resend(args.id)
        if row is None:
            print(f"错误: 第 {args.id} 条不存在，或不是“发送失败/可能已送达”状态", file=sys.stderr)
            return 1
        print(f"第 {row.id} 条已重新排队发送")
        return 0
    rows = (store.of_ticket(args.ticket) if args.ticket
            else store.recent(args.limit, ("notice", "agent", "handoff"),
                              [args.state] if args.state else None))
    for row in rows[: args.limit]:
        when = row.created_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
        label = STATE_LABELS.get(row.state, row.state)
        error = f"  {row.last_error}" if row.last_error else ""
        print(f"{row.id:>6}  {when}  {row.kind:<7} {row.channel:<8} {row.sender_id[:24]:<24} "
              f"{row.ticket_no or '-':<17} {label}{error}")
    print(f"共 {len(rows[: args.limit])} 条")
    return 0


if __name__ == "__main__":
    sys.exit(main())
